/*
 * Throughput of the SEV crypto the software firmware model runs per guest
 * page: SEND_UPDATE_DATA (AES-128-CTR + HMAC-SHA256 seal of a 4 KiB page),
 * RECEIVE_UPDATE_DATA (MAC check + decrypt), the LAUNCH_UPDATE_DATA digest
 * (SHA-256), and the per-session costs (ECDH + KDF, chain validation).
 * Figures only; nothing here asserts a time.
 *   build/bench/sev-crypto-bench [seconds-per-figure]   (default 1)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "lkvm/sev-crypto.h"

static double budget_ns = 1e9;

#define MEASURE(label, unit_bytes, body) do {				\
	u64 __t0 = now_ns(), __n = 0;					\
	double __s;							\
	do {								\
		body;							\
		__n++;							\
	} while (now_ns() - __t0 < budget_ns);				\
	__s = (now_ns() - __t0) / 1e9;					\
	if (unit_bytes)							\
		printf("%-44s %9.1f MB/s  (%llu x %zu bytes)\n", label,	\
		       (double)__n * (unit_bytes) / __s / 1e6,		\
		       (unsigned long long)__n, (size_t)(unit_bytes));	\
	else								\
		printf("%-44s %9.1f ops/s (%llu ops)\n", label,		\
		       (double)__n / __s, (unsigned long long)__n);	\
} while (0)

static void fail(const char *what)
{
	fprintf(stderr, "sev-crypto-bench: %s failed\n", what);
	exit(1);
}

int main(int argc, char **argv)
{
	static u8 page[4096], trans[4096], back[4096];
	static u8 big[1 << 20];
	struct sev_tks tks;
	struct sev_pkt_hdr hdr;
	struct sev_digest d;
	struct sev_amd_root root;
	struct sev_platform_keys plat;
	u8 pdh[SEV_CERT_SIZE], chain[SEV_CHAIN_SIZE], amd[2 * SEV_AMD_CERT_MAX_SIZE];
	size_t amd_len = sizeof(amd);
	EVP_PKEY *owner;
	u8 digest[32];

	if (argc > 1)
		budget_ns = atof(argv[1]) * 1e9;
	memset(page, 0x5a, sizeof(page));
	memset(big, 0xa5, sizeof(big));
	if (sev_random(&tks, sizeof(tks)))
		fail("random");

	printf("SEV crypto (OpenSSL %s), one thread\n", OpenSSL_version(OPENSSL_VERSION_STRING));
	MEASURE("SEND_UPDATE_DATA seal, 4 KiB page", sizeof(page),
		if (sev_packet__seal(&tks, SEV_CTX_DATA, NULL, NULL, page, sizeof(page), &hdr,
				     trans)) fail("seal"));
	MEASURE("RECEIVE_UPDATE_DATA open, 4 KiB page", sizeof(page),
		if (sev_packet__open(&tks, SEV_CTX_DATA, NULL, &hdr, sizeof(hdr), trans,
				     sizeof(trans), back)) fail("open"));
	if (sev_digest__init(&d))
		fail("digest");
	MEASURE("LAUNCH_UPDATE_DATA digest (SHA-256), 4 KiB", sizeof(page),
		if (sev_digest__update(&d, page, sizeof(page))) fail("digest"));
	MEASURE("LAUNCH_UPDATE_DATA digest (SHA-256), 1 MiB", sizeof(big),
		if (sev_digest__update(&d, big, sizeof(big))) fail("digest"));
	if (sev_digest__final(&d, digest))
		fail("digest");
	sev_digest__free(&d);

	if (sev_amd_root__test(&root) || sev_platform_keys__generate(&plat, &root, 0, 24) ||
	    sev_amd_root__write_chain(&root, amd, &amd_len))
		fail("platform keys");
	sev_platform_keys__export(&plat, pdh, chain);
	owner = sev_key__gen_ec();
	if (!owner)
		fail("owner key");
	{
		struct sev_cert oc;
		struct sev_session s;
		struct sev_tks t, got;

		if (sev_cert__init(&oc, SEV_USAGE_PDH, SEV_ALGO_ECDH_SHA256, owner, 0, 0))
			fail("owner cert");
		MEASURE("session create (ECDH P-384 + KDF + wrap)", 0,
			if (sev_session__create(owner, pdh, sizeof(pdh), 0, &t, &s)) fail("create"));
		MEASURE("session open (LAUNCH/RECEIVE_START)", 0,
			if (sev_session__open(plat.pdh, &oc, sizeof(oc), &s, sizeof(s), 0, &got))
				fail("open"));
	}
	MEASURE("chain validation, DOMAIN + SEV (SEND_START)", 0,
		if (sev_chain__validate(pdh, sizeof(pdh), chain, sizeof(chain), amd, amd_len,
					SEV_CHAIN_DOMAIN | SEV_CHAIN_SEV, &root.ark_cert, NULL))
			fail("chain"));
	EVP_PKEY_free(owner);
	sev_platform_keys__free(&plat);
	sev_amd_root__free(&root);
	return 0;
}
