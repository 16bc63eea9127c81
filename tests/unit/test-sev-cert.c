/*
 * SEV certificates: layout, build/sign/parse/verify, AMD ARK/ASK
 * certificates, chain validation in both policy modes with any slot order,
 * platform key sets through a state directory, and rejection of every kind of
 * corrupted or truncated certificate with the firmware's error code.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "lkvm/sev-crypto.h"

#define OK(expr) do { int __ret = (expr); REQUIRE(__ret == 0); } while (0)

static struct sev_amd_root root;
static struct sev_platform_keys plat;
static u8 pdh[SEV_CERT_SIZE], chain[SEV_CHAIN_SIZE], amd[2 * SEV_AMD_CERT_MAX_SIZE];
static size_t amd_len;

static void setup(void)
{
	amd_len = sizeof(amd);
	if (sev_amd_root__test(&root) || sev_platform_keys__generate(&plat, &root, 0, 24) ||
	    sev_amd_root__write_chain(&root, amd, &amd_len)) {
		printf("FAIL: test-sev-cert/setup: cannot make keys\n");
		exit(1);
	}
	sev_platform_keys__export(&plat, pdh, chain);
}

static void test_layout(void)
{
	struct sev_cert c;

	CHECK_EQ(sizeof(c), 0x824);
	CHECK_EQ((u8 *)&c.pub_usage - (u8 *)&c, 0x8);
	CHECK_EQ((u8 *)&c.pubkey - (u8 *)&c, 0x10);
	CHECK_EQ((u8 *)&c.pubkey.ec.qx - (u8 *)&c, 0x14);
	CHECK_EQ((u8 *)&c.pubkey.ec.qy - (u8 *)&c, 0x14 + 0x48);
	CHECK_EQ((u8 *)&c.pubkey.rsa.modulus - (u8 *)&c, 0x10 + 0x204);
	CHECK_EQ((u8 *)&c.sig[0].usage - (u8 *)&c, 0x414);
	CHECK_EQ((u8 *)&c.sig[0].sig - (u8 *)&c, 0x41C);
	CHECK_EQ((u8 *)&c.sig[1].usage - (u8 *)&c, 0x61C);
	CHECK_EQ((u8 *)&c.sig[1].sig - (u8 *)&c, 0x624);
	CHECK_EQ(sizeof(struct sev_amd_cert_hdr), 0x40);
	CHECK_EQ(sizeof(struct sev_session), 0x80);
	CHECK_EQ(sizeof(struct sev_pkt_hdr), 0x34);
	CHECK_EQ(sizeof(struct sev_measure_blob), 0x30);
	/* sizes of the test root: RSA-4096 -> 0x640 each */
	CHECK_EQ(sev_amd_cert__size(&root.ark_cert), 0x640);
	CHECK_EQ(amd_len, 2 * 0x640);
}

static void test_platform_certs_well_formed(void)
{
	struct sev_cert c;

	CHECK_EQ(sev_cert__parse(pdh, sizeof(pdh), &c), 0);
	CHECK_EQ(c.version, 1);
	CHECK_EQ(c.pub_usage, SEV_USAGE_PDH);
	CHECK_EQ(c.pub_algo, SEV_ALGO_ECDH_SHA256);
	CHECK_EQ(c.pubkey.ec.curve, SEV_EC_CURVE_P384);
	CHECK_EQ(c.api_minor, 24);
	CHECK_EQ(c.sig[0].usage, SEV_USAGE_PEK);
	CHECK_EQ(c.sig[1].usage, SEV_USAGE_INVALID);
	CHECK_EQ(c.sig[1].algo, SEV_ALGO_INVALID);
	CHECK_EQ(sev_cert__parse_pdh(pdh, sizeof(pdh), NULL), 0);
	CHECK_EQ(plat.pek_cert.sig[0].usage, SEV_USAGE_OCA);
	CHECK_EQ(plat.pek_cert.sig[1].usage, SEV_USAGE_CEK);
	CHECK_EQ(plat.cek_cert.sig[0].usage, SEV_USAGE_ASK);
	CHECK_EQ(plat.cek_cert.sig[0].algo, SEV_ALGO_RSA_SHA384);
	CHECK_EQ(sev_cert__verify(&plat.pdh_cert, &plat.pek_cert), 0);
	CHECK_EQ(sev_cert__verify(&plat.pek_cert, &plat.oca_cert), 0);
	CHECK_EQ(sev_cert__verify(&plat.pek_cert, &plat.cek_cert), 0);
	CHECK_EQ(sev_cert__verify(&plat.oca_cert, &plat.oca_cert), 0);
	/* the wrong signer: no slot names it / the signature does not match */
	CHECK_EQ(sev_cert__verify(&plat.pdh_cert, &plat.oca_cert), SEV_RET_INVALID_CERTIFICATE);
	CHECK_EQ(sev_cert__verify(&plat.pdh_cert, &plat.pdh_cert), SEV_RET_INVALID_CERTIFICATE);
	/* the public key in the cert is the platform's PDH key */
	{
		EVP_PKEY *pub;

		OK(sev_cert__pubkey(&c, &pub));
		CHECK(EVP_PKEY_eq(pub, plat.pdh) == 1);
		EVP_PKEY_free(pub);
	}
}

/* Coordinates are little-endian: the cert's qx is the key's X reversed. */
static void test_le_coordinates(void)
{
	unsigned char pt[97];
	size_t n = 0;
	int i, ok = 1;

	REQUIRE(EVP_PKEY_get_octet_string_param(plat.pdh, "encoded-pub-key", pt, sizeof(pt),
						&n) == 1);
	REQUIRE(n == 97 && pt[0] == 4);
	for (i = 0; i < 48; i++)
		if (plat.pdh_cert.pubkey.ec.qx[i] != pt[48 - i] ||
		    plat.pdh_cert.pubkey.ec.qy[i] != pt[96 - i])
			ok = 0;
	CHECK(ok);
}

static int reparse(const struct sev_cert *c)
{
	return sev_cert__parse(c, sizeof(*c), NULL);
}

static void test_corrupt_fields_rejected(void)
{
	const struct sev_cert *good = &plat.pek_cert;
	struct sev_cert c;
	u8 buf[SEV_CERT_SIZE + 1];

	CHECK_EQ(reparse(good), 0);
	/* wrong length: one short, one long, empty */
	memcpy(buf, good, SEV_CERT_SIZE);
	CHECK_EQ(sev_cert__parse(buf, SEV_CERT_SIZE - 1, NULL), SEV_RET_INVALID_LEN);
	CHECK_EQ(sev_cert__parse(buf, SEV_CERT_SIZE + 1, NULL), SEV_RET_INVALID_LEN);
	CHECK_EQ(sev_cert__parse(buf, 0, NULL), SEV_RET_INVALID_LEN);
	CHECK_EQ(sev_cert__parse(NULL, SEV_CERT_SIZE, NULL), SEV_RET_INVALID_LEN);

	c = *good; c.version = 2;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.version = 0;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.reserved = 1;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.pub_usage = 0x1005;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.pub_usage = SEV_USAGE_INVALID;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.pub_algo = SEV_ALGO_ECDH_SHA256;	/* a PEK must be ECDSA */
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.pub_algo = SEV_ALGO_RSA_SHA256;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.pub_algo = 0x7;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.pubkey.ec.curve = SEV_EC_CURVE_P256;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.pubkey.ec.curve = 3;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	/* bad point: y off the curve; x >= 2^384; padding; reserved bytes */
	c = *good; c.pubkey.ec.qy[5] ^= 0x40;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.pubkey.ec.qx[48] = 1;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.pubkey.ec.qy[71] = 1;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.pubkey.ec.reserved[100] = 1;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; memset(c.pubkey.ec.qx, 0, 72); memset(c.pubkey.ec.qy, 0, 72);
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);	/* point at infinity */
	/* signature slots: unknown signer usage, PDH as signer, algo mismatch */
	c = *good; c.sig[0].usage = 0x1007;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.sig[0].usage = SEV_USAGE_PDH;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.sig[1].algo = SEV_ALGO_ECDH_SHA256;
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.sig[1].algo = SEV_ALGO_RSA_SHA256;	/* CEK signs with ECDSA */
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.sig[0].sig[60] = 1;		/* r >= 2^384 */
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = *good; c.sig[0].sig[300] = 1;		/* beyond r || s */
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	c = plat.pdh_cert; c.sig[1].algo = SEV_ALGO_ECDSA_SHA256;	/* unused slot, algo set */
	CHECK_EQ(reparse(&c), SEV_RET_INVALID_CERTIFICATE);
	/* the PDH-only check */
	CHECK_EQ(sev_cert__parse_pdh(good, sizeof(*good), NULL), SEV_RET_INVALID_CERTIFICATE);
	c = plat.pdh_cert; c.pub_algo = SEV_ALGO_ECDH_SHA384;
	CHECK_EQ(reparse(&c), 0);
	CHECK_EQ(sev_cert__parse_pdh(&c, sizeof(c), NULL), SEV_RET_INVALID_CERTIFICATE);
}

static void test_bad_signatures_rejected(void)
{
	struct sev_cert c;
	size_t off;

	/* a flipped bit anywhere in the signed body breaks both signatures */
	for (off = 0; off < SEV_CERT_BODY_SIZE; off += 97) {
		if (off >= 0x10 && off < 0x10 + 4 + 48)
			continue;	/* would be a bad point: tested above */
		c = plat.pek_cert;
		((u8 *)&c)[off] ^= 0x01;
		if (reparse(&c))
			continue;	/* a field check caught it first */
		CHECK_EQ(sev_cert__verify(&c, &plat.oca_cert), SEV_RET_BAD_SIGNATURE);
		CHECK_EQ(sev_cert__verify(&c, &plat.cek_cert), SEV_RET_BAD_SIGNATURE);
	}
	/* flipped bits in r and in s */
	c = plat.pek_cert;
	c.sig[0].sig[3] ^= 0x08;
	CHECK_EQ(sev_cert__verify(&c, &plat.oca_cert), SEV_RET_BAD_SIGNATURE);
	CHECK_EQ(sev_cert__verify(&c, &plat.cek_cert), 0);	/* other slot intact */
	c = plat.pek_cert;
	c.sig[1].sig[72 + 47] ^= 0x80;
	CHECK_EQ(sev_cert__verify(&c, &plat.cek_cert), SEV_RET_BAD_SIGNATURE);
	/* r = s = 0 */
	c = plat.pek_cert;
	memset(c.sig[0].sig, 0, sizeof(c.sig[0].sig));
	CHECK_EQ(sev_cert__verify(&c, &plat.oca_cert), SEV_RET_BAD_SIGNATURE);
	/* an RSA signature with a bit flipped (CEK by ASK) */
	{
		EVP_PKEY *ask;

		OK(sev_amd_cert__pubkey(&root.ask_cert, &ask));
		c = plat.cek_cert;
		CHECK_EQ(sev_cert__verify_with(&c, SEV_USAGE_ASK, ask), 0);
		c.sig[0].sig[100] ^= 1;
		CHECK_EQ(sev_cert__verify_with(&c, SEV_USAGE_ASK, ask), SEV_RET_BAD_SIGNATURE);
		c = plat.cek_cert;
		c.sig[0].sig[511] ^= 0x80;	/* top bit of s: s >= modulus */
		CHECK_EQ(sev_cert__verify_with(&c, SEV_USAGE_ASK, ask), SEV_RET_BAD_SIGNATURE);
		EVP_PKEY_free(ask);
	}
}

/* The validator finds the signer's slot wherever it is. */
static void test_slot_order_not_fixed(void)
{
	struct sev_cert swapped = plat.pek_cert;
	struct sev_cert_sig t = swapped.sig[0];
	u8 ch[SEV_CHAIN_SIZE];

	swapped.sig[0] = swapped.sig[1];
	swapped.sig[1] = t;
	CHECK_EQ(sev_cert__verify(&swapped, &plat.oca_cert), 0);
	CHECK_EQ(sev_cert__verify(&swapped, &plat.cek_cert), 0);
	memcpy(ch, chain, sizeof(ch));
	memcpy(ch, &swapped, SEV_CERT_SIZE);
	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh), ch, sizeof(ch), amd, amd_len,
				     SEV_CHAIN_DOMAIN | SEV_CHAIN_SEV, &root.ark_cert, NULL), 0);
}

static void test_amd_certs(void)
{
	struct sev_amd_cert c, ark;
	u8 buf[SEV_AMD_CERT_MAX_SIZE + 8];
	size_t used;

	CHECK_EQ(sev_amd_cert__verify(&root.ark_cert, &root.ark_cert), 0);
	CHECK_EQ(sev_amd_cert__verify(&root.ask_cert, &root.ark_cert), 0);
	CHECK_EQ(sev_amd_cert__verify(&root.ark_cert, &root.ask_cert), SEV_RET_BAD_SIGNATURE);
	/* write -> parse round trip */
	OK(sev_amd_cert__write(&root.ask_cert, buf, sizeof(buf), &used));
	CHECK_EQ(used, 0x640);
	CHECK_EQ(sev_amd_cert__parse(buf, used, &c, NULL), 0);
	CHECK_EQ(sev_amd_cert__verify(&c, &root.ark_cert), 0);
	CHECK_EQ(sev_amd_cert__write(&root.ask_cert, buf, used - 1, NULL), SEV_RET_INVALID_LEN);
	/* truncated and corrupted */
	CHECK_EQ(sev_amd_cert__parse(buf, used - 1, &c, NULL), SEV_RET_INVALID_LEN);
	CHECK_EQ(sev_amd_cert__parse(buf, 0x3f, &c, NULL), SEV_RET_INVALID_LEN);
	buf[0] = 2;		/* version */
	CHECK_EQ(sev_amd_cert__parse(buf, used, &c, NULL), SEV_RET_INVALID_CERTIFICATE);
	buf[0] = 1;
	buf[0x24] = 0x14;	/* key_usage */
	CHECK_EQ(sev_amd_cert__parse(buf, used, &c, NULL), SEV_RET_INVALID_CERTIFICATE);
	buf[0x24] = 0x13;
	buf[0x30] = 1;		/* reserved_1 */
	CHECK_EQ(sev_amd_cert__parse(buf, used, &c, NULL), SEV_RET_INVALID_CERTIFICATE);
	buf[0x30] = 0;
	buf[0x3c] = 0x01;	/* modulus_size 4097 */
	CHECK_EQ(sev_amd_cert__parse(buf, used, &c, NULL), SEV_RET_INVALID_CERTIFICATE);
	buf[0x3c] = 0;
	buf[0x38] = 0x04;	/* pub_exp_size 4100: not a byte multiple, > modulus */
	CHECK_EQ(sev_amd_cert__parse(buf, used, &c, NULL), SEV_RET_INVALID_CERTIFICATE);
	buf[0x38] = 0;
	CHECK_EQ(sev_amd_cert__parse(buf, used, &c, NULL), 0);
	buf[0x40 + 512 + 7] ^= 1;	/* modulus bit: signature no longer valid */
	CHECK_EQ(sev_amd_cert__parse(buf, used, &c, NULL), 0);
	CHECK_EQ(sev_amd_cert__verify(&c, &root.ark_cert), SEV_RET_BAD_SIGNATURE);
	buf[0x40 + 512 + 7] ^= 1;
	buf[used - 3] ^= 1;		/* signature */
	OK(sev_amd_cert__parse(buf, used, &c, NULL));
	CHECK_EQ(sev_amd_cert__verify(&c, &root.ark_cert), SEV_RET_BAD_SIGNATURE);
	/* certifying id must name the signer */
	c = root.ask_cert;
	c.hdr.certifying_id_1 ^= 1;
	CHECK_EQ(sev_amd_cert__verify(&c, &root.ark_cert), SEV_RET_BAD_SIGNATURE);
	/* a fresh 2048-bit root (SHA-256 variant) also signs and verifies */
	{
		struct sev_amd_root r2;

		OK(sev_amd_root__generate(&r2, 2048));
		CHECK_EQ(sev_amd_cert__size(&r2.ark_cert), 0x340);
		CHECK_EQ(sev_amd_cert__verify(&r2.ask_cert, &r2.ark_cert), 0);
		CHECK_EQ(sev_amd_cert__verify(&r2.ask_cert, &root.ark_cert), SEV_RET_BAD_SIGNATURE);
		sev_amd_root__free(&r2);
	}
	ark = root.ark_cert;
	CHECK_EQ(sev_amd_cert__verify(&ark, &ark), 0);
}

static void test_chain_validation(void)
{
	struct sev_chain out;
	u8 ch[SEV_CHAIN_SIZE], a[sizeof(amd) + 16];
	unsigned int both = SEV_CHAIN_DOMAIN | SEV_CHAIN_SEV;

	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh), chain, sizeof(chain), amd, amd_len, both,
				     &root.ark_cert, &out), 0);
	CHECK_EQ(out.pek.api_minor, 24);
	CHECK(!memcmp(&out.oca, &plat.oca_cert, SEV_CERT_SIZE));
	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh), chain, sizeof(chain), NULL, 0,
				     SEV_CHAIN_DOMAIN, NULL, NULL), 0);
	/* no flags: PDH sanity only, chain ignored */
	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh), NULL, 0, NULL, 0, 0, NULL, NULL), 0);
	/* lengths */
	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh) - 1, chain, sizeof(chain), amd, amd_len,
				     both, NULL, NULL), SEV_RET_INVALID_LEN);
	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh), chain, sizeof(chain) - 1, amd, amd_len,
				     both, NULL, NULL), SEV_RET_INVALID_LEN);
	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh), chain, sizeof(chain), amd, amd_len - 1,
				     SEV_CHAIN_SEV, NULL, NULL), SEV_RET_INVALID_LEN);
	memcpy(a, amd, amd_len);
	a[amd_len] = 0;
	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh), chain, sizeof(chain), a, amd_len + 1,
				     SEV_CHAIN_SEV, NULL, NULL), SEV_RET_INVALID_LEN);
	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh), chain, sizeof(chain), NULL, 0,
				     SEV_CHAIN_SEV, NULL, NULL), SEV_RET_INVALID_LEN);
	/* certificates in the wrong order: OCA where the PEK belongs */
	memcpy(ch, chain + SEV_CERT_SIZE, SEV_CERT_SIZE);
	memcpy(ch + SEV_CERT_SIZE, chain, SEV_CERT_SIZE);
	memcpy(ch + 2 * SEV_CERT_SIZE, chain + 2 * SEV_CERT_SIZE, SEV_CERT_SIZE);
	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh), ch, sizeof(ch), amd, amd_len, both, NULL,
				     NULL), SEV_RET_INVALID_CERTIFICATE);
	/* ARK || ASK instead of ASK || ARK */
	memcpy(a, amd + 0x640, 0x640);
	memcpy(a + 0x640, amd, 0x640);
	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh), chain, sizeof(chain), a, amd_len,
				     SEV_CHAIN_SEV, NULL, NULL), SEV_RET_INVALID_CERTIFICATE);
	/* a corrupted PDH signature, OCA self-signature, CEK signature */
	{
		u8 p2[SEV_CERT_SIZE];

		memcpy(p2, pdh, sizeof(p2));
		p2[0x41C + 10] ^= 1;
		CHECK_EQ(sev_chain__validate(p2, sizeof(p2), chain, sizeof(chain), amd, amd_len,
					     both, NULL, NULL), SEV_RET_BAD_SIGNATURE);
		/* without validation the PDH is only sanity-checked */
		CHECK_EQ(sev_chain__validate(p2, sizeof(p2), NULL, 0, NULL, 0, 0, NULL, NULL), 0);
	}
	memcpy(ch, chain, sizeof(ch));
	ch[SEV_CERT_SIZE + 0x41C + 5] ^= 1;		/* OCA's self-signature */
	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh), ch, sizeof(ch), amd, amd_len,
				     SEV_CHAIN_DOMAIN, NULL, NULL), SEV_RET_BAD_SIGNATURE);
	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh), ch, sizeof(ch), amd, amd_len,
				     SEV_CHAIN_SEV, NULL, NULL), 0);	/* not checked there */
	memcpy(ch, chain, sizeof(ch));
	ch[2 * SEV_CERT_SIZE + 0x41C + 5] ^= 1;		/* CEK's ASK signature */
	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh), ch, sizeof(ch), amd, amd_len,
				     SEV_CHAIN_SEV, NULL, NULL), SEV_RET_BAD_SIGNATURE);
	CHECK_EQ(sev_chain__validate(pdh, sizeof(pdh), ch, sizeof(ch), amd, amd_len,
				     SEV_CHAIN_DOMAIN, NULL, NULL), 0);
	/* a PDH from another platform does not chain to this PEK */
	{
		struct sev_platform_keys other;
		u8 p2[SEV_CERT_SIZE], c2[SEV_CHAIN_SIZE];

		OK(sev_platform_keys__generate(&other, &root, 0, 24));
		sev_platform_keys__export(&other, p2, c2);
		CHECK_EQ(sev_chain__validate(p2, sizeof(p2), chain, sizeof(chain), amd, amd_len,
					     both, &root.ark_cert, NULL), SEV_RET_BAD_SIGNATURE);
		CHECK_EQ(sev_chain__validate(p2, sizeof(p2), c2, sizeof(c2), amd, amd_len,
					     both, &root.ark_cert, NULL), 0);
		sev_platform_keys__free(&other);
	}
}

/* A chain under a different AMD root is refused when the test ARK is pinned. */
static void test_untrusted_ark_rejected(void)
{
	struct sev_amd_root r2;
	struct sev_platform_keys k2;
	u8 p2[SEV_CERT_SIZE], c2[SEV_CHAIN_SIZE], a2[2 * SEV_AMD_CERT_MAX_SIZE];
	size_t l2 = sizeof(a2);

	OK(sev_amd_root__generate(&r2, 2048));
	OK(sev_platform_keys__generate(&k2, &r2, 1, 0));
	OK(sev_amd_root__write_chain(&r2, a2, &l2));
	sev_platform_keys__export(&k2, p2, c2);
	CHECK_EQ(sev_chain__validate(p2, sizeof(p2), c2, sizeof(c2), a2, l2, SEV_CHAIN_SEV,
				     NULL, NULL), 0);
	CHECK_EQ(sev_chain__validate(p2, sizeof(p2), c2, sizeof(c2), a2, l2, SEV_CHAIN_SEV,
				     &root.ark_cert, NULL), SEV_RET_BAD_SIGNATURE);
	/* its CEK under our ASK */
	CHECK_EQ(sev_chain__validate(p2, sizeof(p2), c2, sizeof(c2), amd, amd_len, SEV_CHAIN_SEV,
				     &root.ark_cert, NULL), SEV_RET_BAD_SIGNATURE);
	/* The test root is told by its key, not by its name alone. */
	CHECK(sev_amd_root__is_test_ark(&root.ark_cert));
	CHECK(!sev_amd_root__is_test_ark(&root.ask_cert));
	CHECK(!sev_amd_root__is_test_ark(&r2.ark_cert));
	{
		struct sev_amd_cert named = r2.ark_cert;

		named.hdr.key_id_0 = root.ark_cert.hdr.key_id_0;
		named.hdr.key_id_1 = root.ark_cert.hdr.key_id_1;
		CHECK(!sev_amd_root__is_test_ark(&named));
	}
	sev_platform_keys__free(&k2);
	sev_amd_root__free(&r2);
}

static void test_state_dir_round_trip(void)
{
	char dir[] = "/tmp/lkvm-sev-cert-XXXXXX", path[256];
	struct sev_platform_keys k;
	struct stat st;

	REQUIRE(mkdtemp(dir));
	OK(sev_platform_keys__save(&plat, dir));
	snprintf(path, sizeof(path), "%s/pdh.pem", dir);
	REQUIRE(!stat(path, &st));
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ(sev_platform_keys__load(&k, dir), 0);
	CHECK(!memcmp(&k.pdh_cert, &plat.pdh_cert, SEV_CERT_SIZE));
	CHECK(EVP_PKEY_eq(k.pek, plat.pek) == 1);
	/* the loaded PDH key still opens sessions made for the exported cert */
	{
		EVP_PKEY *owner = sev_key__gen_ec();
		struct sev_cert oc;
		struct sev_tks tks, got;
		struct sev_session s;

		REQUIRE(owner);
		OK(sev_cert__init(&oc, SEV_USAGE_PDH, SEV_ALGO_ECDH_SHA256, owner, 0, 0));
		OK(sev_session__create(owner, pdh, sizeof(pdh), 0, &tks, &s));
		CHECK_EQ(sev_session__open(k.pdh, &oc, sizeof(oc), &s, sizeof(s), 0, &got), 0);
		CHECK_MEM(&got, &tks, sizeof(tks));
		EVP_PKEY_free(owner);
	}
	sev_platform_keys__free(&k);
	/* a certificate that does not belong to the key is refused */
	{
		char src[256];

		snprintf(src, sizeof(src), "%s/oca.cert", dir);
		snprintf(path, sizeof(path), "%s/pek.cert", dir);
		REQUIRE(!rename(src, path));
		CHECK(sev_platform_keys__load(&k, dir) != 0);
		snprintf(path, sizeof(path), "%s/oca.pem", dir);
		unlink(path);
		CHECK_EQ(sev_platform_keys__load(&k, dir), -ENOENT);
	}
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	CHECK_EQ(system(path), 0);
}

static void test_regen(void)
{
	struct sev_platform_keys k;
	struct sev_cert old_pdh, old_pek, old_oca;
	u8 p[SEV_CERT_SIZE], c[SEV_CHAIN_SIZE];

	OK(sev_platform_keys__generate(&k, &root, 0, 24));
	old_pdh = k.pdh_cert;
	old_pek = k.pek_cert;
	old_oca = k.oca_cert;
	OK(sev_platform_keys__regen_pdh(&k, 0, 24));
	CHECK(memcmp(&old_pdh, &k.pdh_cert, SEV_CERT_SIZE));
	CHECK(!memcmp(&old_pek, &k.pek_cert, SEV_CERT_SIZE));
	CHECK_EQ(sev_cert__verify(&k.pdh_cert, &k.pek_cert), 0);
	OK(sev_platform_keys__regen_pek(&k, 0, 24));
	CHECK(memcmp(&old_pek, &k.pek_cert, SEV_CERT_SIZE));
	CHECK(memcmp(&old_oca, &k.oca_cert, SEV_CERT_SIZE));
	sev_platform_keys__export(&k, p, c);
	CHECK_EQ(sev_chain__validate(p, sizeof(p), c, sizeof(c), amd, amd_len,
				     SEV_CHAIN_DOMAIN | SEV_CHAIN_SEV, &root.ark_cert, NULL), 0);
	sev_platform_keys__free(&k);
}

static void test_pem_round_trip(void)
{
	EVP_PKEY *k = sev_key__gen_ec(), *back = NULL;
	char *pem;
	size_t len;

	REQUIRE(k);
	OK(sev_key__to_pem(k, &pem, &len));
	CHECK(strstr(pem, "BEGIN PRIVATE KEY") != NULL);
	CHECK_EQ(sev_key__from_pem(pem, len, &back), 0);
	CHECK(back && EVP_PKEY_eq(k, back) == 1);
	CHECK_EQ(sev_key__from_pem("garbage", 7, &back), -EINVAL);
	free(pem);
	EVP_PKEY_free(back);
	EVP_PKEY_free(k);
}

/* xorshift: deterministic, so a failure reproduces. */
static u64 rng_state = 0x9e3779b97f4a7c15ULL;

static u64 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/*
 * Random 1-4 byte changes to a valid PEK: either a field check refuses the
 * certificate or one of its two signatures no longer verifies.  Never both
 * fine, never a crash (this also runs under ASan/UBSan).
 */
static void test_random_mutations_caught(void)
{
	int i, j, missed = 0, parsed = 0;

	for (i = 0; i < 1500; i++) {
		struct sev_cert c = plat.pek_cert;
		u8 *b = (u8 *)&c;
		int n = 1 + rnd() % 4;

		for (j = 0; j < n; j++) {
			/* Odd rounds: only bytes that are not zero padding. */
			static const u32 live[][2] = { { 0, 0x10 + 4 + 144 },
						       { 0x414, 0x414 + 8 + 144 },
						       { 0x61C, 0x61C + 8 + 144 } };
			u32 r = rnd() % 3, off = i % 2 ?
				live[r][0] + rnd() % (live[r][1] - live[r][0]) : rnd() % sizeof(c);

			b[off] ^= (u8)(1 + rnd() % 255);
		}
		if (!memcmp(&c, &plat.pek_cert, sizeof(c)))
			continue;
		if (reparse(&c))
			continue;
		parsed++;
		if (!sev_cert__verify(&c, &plat.oca_cert) && !sev_cert__verify(&c, &plat.cek_cert))
			missed++;
	}
	CHECK_EQ(missed, 0);
	CHECK(parsed > 100);	/* the signature path was really exercised */
}

/* Random bytes and random AMD headers: clean refusals only. */
static void test_random_garbage_refused(void)
{
	static u8 buf[2 * SEV_AMD_CERT_MAX_SIZE];
	struct sev_amd_cert a;
	size_t used, k;
	int i;

	for (i = 0; i < 300; i++) {
		for (k = 0; k < sizeof(buf); k++)
			buf[k] = (u8)rnd();
		CHECK(sev_cert__parse(buf, SEV_CERT_SIZE, NULL) > 0);
		CHECK(sev_chain__validate(buf, SEV_CERT_SIZE, buf, SEV_CHAIN_SIZE, buf,
					  sizeof(buf), SEV_CHAIN_DOMAIN | SEV_CHAIN_SEV, NULL,
					  NULL) > 0);
		/* a plausible header with random sizes */
		OK(sev_amd_cert__write(&root.ask_cert, buf, sizeof(buf), &used));
		((struct sev_amd_cert_hdr *)buf)->pub_exp_size = (u32)rnd() % 5000;
		((struct sev_amd_cert_hdr *)buf)->modulus_size = i % 2 ? 4096 : (u32)rnd() % 9000;
		CHECK(sev_amd_cert__parse(buf, rnd() % sizeof(buf), &a, &used) >= 0);
	}
}

static size_t read_in(const char *dir, const char *name, void *buf, size_t max)
{
	char path[512];
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (f) {
		n = fread(buf, 1, max, f);
		fclose(f);
	}
	return n;
}

/*
 * Interoperability with certificates made by real AMD firmware and AMD's
 * root: LKVM_SEV_REAL_CERTS=dir[:dir...], each holding pdh.cert pek.cert
 * oca.cert cek.cert (0x824 each, as PDH_CERT_EXPORT + AMD KDS give them) and
 * ask.cert ark.cert (AMD format).  Third-party data, so not in the tree; the
 * Naples and Rome sets of virtee/sev's test suite pass.
 */
static void test_real_amd_chain(void)
{
	const char *env = getenv("LKVM_SEV_REAL_CERTS");
	char dirs[1024], *dir, *save = NULL;

	if (!env || !*env)
		SKIP("set LKVM_SEV_REAL_CERTS=dir[:dir] to check real AMD certificate chains");
	snprintf(dirs, sizeof(dirs), "%s", env);
	for (dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		static u8 p[SEV_CERT_SIZE + 1], ch[SEV_CHAIN_SIZE], a[2 * SEV_AMD_CERT_MAX_SIZE + 1];
		size_t pl, al, kl;
		struct sev_amd_cert ark;

		pl = read_in(dir, "pdh.cert", p, sizeof(p));
		CHECK_EQ(read_in(dir, "pek.cert", ch, SEV_CERT_SIZE), SEV_CERT_SIZE);
		CHECK_EQ(read_in(dir, "oca.cert", ch + SEV_CERT_SIZE, SEV_CERT_SIZE), SEV_CERT_SIZE);
		CHECK_EQ(read_in(dir, "cek.cert", ch + 2 * SEV_CERT_SIZE, SEV_CERT_SIZE),
			 SEV_CERT_SIZE);
		al = read_in(dir, "ask.cert", a, sizeof(a));
		kl = read_in(dir, "ark.cert", a + al, sizeof(a) - al);
		REQUIRE(al && kl);
		CHECK_EQ(sev_amd_cert__parse(a + al, kl, &ark, NULL), 0);
		CHECK_EQ(sev_chain__validate(p, pl, ch, sizeof(ch), a, al + kl,
					     SEV_CHAIN_DOMAIN | SEV_CHAIN_SEV, &ark, NULL), 0);
		/* and a flipped PDH bit is caught on real data too */
		p[0x20] ^= 1;
		CHECK(sev_chain__validate(p, pl, ch, sizeof(ch), a, al + kl, SEV_CHAIN_DOMAIN,
					  &ark, NULL) != 0);
	}
}

TEST_MAIN_BEGIN("test-sev-cert")
	setup();
	RUN(test_layout);
	RUN(test_platform_certs_well_formed);
	RUN(test_le_coordinates);
	RUN(test_corrupt_fields_rejected);
	RUN(test_bad_signatures_rejected);
	RUN(test_slot_order_not_fixed);
	RUN(test_amd_certs);
	RUN(test_chain_validation);
	RUN(test_untrusted_ark_rejected);
	RUN(test_state_dir_round_trip);
	RUN(test_regen);
	RUN(test_pem_round_trip);
	RUN(test_random_mutations_caught);
	RUN(test_random_garbage_refused);
	RUN(test_real_amd_chain);
	sev_platform_keys__free(&plat);
	sev_amd_root__free(&root);
TEST_MAIN_END()
