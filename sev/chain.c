/*
 * Certificate chains: validating a peer platform's chain as SEND_START does
 * (PDH <- PEK <- OCA for the DOMAIN policy bit, PDH <- PEK <- CEK <- ASK <-
 * ARK for the SEV bit), and making a platform's own key set for the
 * software firmware model: OCA self-signed, PEK signed by OCA and CEK, CEK
 * signed by the ASK of an AMD root, PDH signed by the PEK.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "crypto-internal.h"

bool sev__same_pubkey(EVP_PKEY *a, EVP_PKEY *b)
{
	return a && b && EVP_PKEY_eq(a, b) == 1;
}

static bool same_amd_key(const struct sev_amd_cert *a, const struct sev_amd_cert *b)
{
	return a->hdr.key_id_0 == b->hdr.key_id_0 && a->hdr.key_id_1 == b->hdr.key_id_1 &&
	       a->hdr.modulus_size == b->hdr.modulus_size &&
	       a->hdr.pub_exp_size == b->hdr.pub_exp_size &&
	       !memcmp(a->modulus, b->modulus, a->hdr.modulus_size / 8) &&
	       !memcmp(a->pub_exp, b->pub_exp, a->hdr.pub_exp_size / 8);
}

static int parse_usage(const u8 *buf, u32 usage, struct sev_cert *out)
{
	int ret = sev_cert__parse(buf, SEV_CERT_SIZE, out);

	if (ret)
		return ret;
	return out->pub_usage == usage ? 0 : SEV_RET_INVALID_CERTIFICATE;
}

int sev_amd_chain__check(const void *amd, size_t amd_len, const struct sev_amd_cert *trusted_ark,
			 struct sev_amd_cert *ask, struct sev_amd_cert *ark)
{
	size_t a, b;
	int ret;

	if (!amd)
		return SEV_RET_INVALID_LEN;
	ret = sev_amd_cert__parse(amd, amd_len, ask, &a);
	if (ret)
		return ret;
	ret = sev_amd_cert__parse((const u8 *)amd + a, amd_len - a, ark, &b);
	if (ret)
		return ret;
	if (a + b != amd_len)
		return SEV_RET_INVALID_LEN;
	if (ask->hdr.key_usage != SEV_USAGE_ASK || ark->hdr.key_usage != SEV_USAGE_ARK)
		return SEV_RET_INVALID_CERTIFICATE;
	ret = sev_amd_cert__verify(ark, ark);
	if (ret)
		return ret;
	if (trusted_ark && !same_amd_key(ark, trusted_ark))
		return SEV_RET_BAD_SIGNATURE;
	return sev_amd_cert__verify(ask, ark);
}

int sev_amd_ark__check(const void *buf, size_t len, struct sev_amd_cert *ark)
{
	size_t used;
	int ret = sev_amd_cert__parse(buf, len, ark, &used);

	if (ret)
		return ret;
	if (used != len)
		return SEV_RET_INVALID_LEN;
	if (ark->hdr.key_usage != SEV_USAGE_ARK)
		return SEV_RET_INVALID_CERTIFICATE;
	return sev_amd_cert__verify(ark, ark);
}

static int validate_amd(const u8 *amd, size_t amd_len, const struct sev_amd_cert *trusted_ark,
			struct sev_chain *c)
{
	EVP_PKEY *ask;
	int ret;

	ret = sev_amd_chain__check(amd, amd_len, trusted_ark, &c->ask, &c->ark);
	if (ret)
		return ret;
	ret = sev_amd_cert__pubkey(&c->ask, &ask);
	if (ret)
		return ret;
	ret = sev_cert__verify_with(&c->cek, SEV_USAGE_ASK, ask);
	EVP_PKEY_free(ask);
	if (ret)
		return ret;
	return sev_cert__verify(&c->pek, &c->cek);
}

int sev_chain__validate(const void *pdh, size_t pdh_len, const void *plat, size_t plat_len,
			const void *amd, size_t amd_len, unsigned int flags,
			const struct sev_amd_cert *trusted_ark, struct sev_chain *out)
{
	struct sev_chain *c = calloc(1, sizeof(*c));
	const u8 *p = plat;
	int ret;

	if (!c)
		return -ENOMEM;
	ret = sev_cert__parse_pdh(pdh, pdh_len, &c->pdh);
	if (ret || !(flags & (SEV_CHAIN_DOMAIN | SEV_CHAIN_SEV)))
		goto out;
	if (!p || plat_len != SEV_CHAIN_SIZE) {
		ret = SEV_RET_INVALID_LEN;
		goto out;
	}
	ret = parse_usage(p, SEV_USAGE_PEK, &c->pek) ?:
	      parse_usage(p + SEV_CERT_SIZE, SEV_USAGE_OCA, &c->oca) ?:
	      parse_usage(p + 2 * SEV_CERT_SIZE, SEV_USAGE_CEK, &c->cek) ?:
	      sev_cert__verify(&c->pdh, &c->pek);
	if (ret)
		goto out;
	if (flags & SEV_CHAIN_DOMAIN) {
		ret = sev_cert__verify(&c->oca, &c->oca) ?: sev_cert__verify(&c->pek, &c->oca);
		if (ret)
			goto out;
	}
	if (flags & SEV_CHAIN_SEV)
		ret = validate_amd(amd, amd_len, trusted_ark, c);
out:
	if (!ret && out)
		*out = *c;
	free(c);
	return ret;
}

/* ---- a platform's own keys --------------------------------------------- */

static int make_cert(struct sev_cert *cert, EVP_PKEY **key, u32 usage, u32 algo,
		     u8 api_major, u8 api_minor)
{
	int ret;

	*key = sev_key__gen_ec();
	if (!*key)
		return -ENOMEM;
	ret = sev_cert__init(cert, usage, algo, *key, api_major, api_minor);
	return ret;
}

static int make_pdh(struct sev_platform_keys *k, u8 maj, u8 min)
{
	EVP_PKEY *old = k->pdh;
	int ret = make_cert(&k->pdh_cert, &k->pdh, SEV_USAGE_PDH, SEV_ALGO_ECDH_SHA256, maj, min);

	EVP_PKEY_free(old);
	return ret ?: sev_cert__sign(&k->pdh_cert, 0, SEV_USAGE_PEK, SEV_ALGO_ECDSA_SHA256, k->pek);
}

static int make_oca_pek(struct sev_platform_keys *k, u8 maj, u8 min)
{
	EVP_PKEY *old_oca = k->oca, *old_pek = k->pek;
	int ret;

	ret = make_cert(&k->oca_cert, &k->oca, SEV_USAGE_OCA, SEV_ALGO_ECDSA_SHA256, maj, min);
	EVP_PKEY_free(old_oca);
	if (ret)
		return ret;
	ret = sev_cert__sign(&k->oca_cert, 0, SEV_USAGE_OCA, SEV_ALGO_ECDSA_SHA256, k->oca);
	if (ret)
		return ret;
	ret = make_cert(&k->pek_cert, &k->pek, SEV_USAGE_PEK, SEV_ALGO_ECDSA_SHA256, maj, min);
	EVP_PKEY_free(old_pek);
	return ret ?: sev_cert__sign(&k->pek_cert, 0, SEV_USAGE_OCA, SEV_ALGO_ECDSA_SHA256, k->oca) ?:
		sev_cert__sign(&k->pek_cert, 1, SEV_USAGE_CEK, SEV_ALGO_ECDSA_SHA256, k->cek);
}

int sev_platform_keys__generate(struct sev_platform_keys *k, const struct sev_amd_root *root,
				u8 api_major, u8 api_minor)
{
	u32 ask_algo;
	int ret;

	memset(k, 0, sizeof(*k));
	if (!root || !root->ask)
		return -EINVAL;
	ask_algo = EVP_PKEY_get_bits(root->ask) == 2048 ? SEV_ALGO_RSA_SHA256 : SEV_ALGO_RSA_SHA384;
	ret = make_cert(&k->cek_cert, &k->cek, SEV_USAGE_CEK, SEV_ALGO_ECDSA_SHA256,
			api_major, api_minor) ?:
	      sev_cert__sign(&k->cek_cert, 0, SEV_USAGE_ASK, ask_algo, root->ask) ?:
	      make_oca_pek(k, api_major, api_minor) ?:
	      make_pdh(k, api_major, api_minor);
	if (ret)
		sev_platform_keys__free(k);
	return ret;
}

int sev_platform_keys__regen_pek(struct sev_platform_keys *k, u8 api_major, u8 api_minor)
{
	return make_oca_pek(k, api_major, api_minor) ?: make_pdh(k, api_major, api_minor);
}

int sev_platform_keys__regen_pdh(struct sev_platform_keys *k, u8 api_major, u8 api_minor)
{
	return make_pdh(k, api_major, api_minor);
}

void sev_platform_keys__export(const struct sev_platform_keys *k, u8 pdh[SEV_CERT_SIZE],
			       u8 chain[SEV_CHAIN_SIZE])
{
	memcpy(pdh, &k->pdh_cert, SEV_CERT_SIZE);
	memcpy(chain, &k->pek_cert, SEV_CERT_SIZE);
	memcpy(chain + SEV_CERT_SIZE, &k->oca_cert, SEV_CERT_SIZE);
	memcpy(chain + 2 * SEV_CERT_SIZE, &k->cek_cert, SEV_CERT_SIZE);
}

static const char *const key_names[] = { "cek", "oca", "pek", "pdh" };

static EVP_PKEY **key_slot(struct sev_platform_keys *k, int i)
{
	EVP_PKEY **slots[] = { &k->cek, &k->oca, &k->pek, &k->pdh };

	return slots[i];
}

static struct sev_cert *cert_slot(struct sev_platform_keys *k, int i)
{
	struct sev_cert *slots[] = { &k->cek_cert, &k->oca_cert, &k->pek_cert, &k->pdh_cert };

	return slots[i];
}

static int path_of(char *buf, size_t len, const char *dir, const char *name, const char *ext)
{
	int n = snprintf(buf, len, "%s/%s.%s", dir, name, ext);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int sev_platform_keys__save(const struct sev_platform_keys *k, const char *dir)
{
	struct sev_platform_keys *kk = (struct sev_platform_keys *)k;
	char path[PATH_MAX];
	int i, ret;

	for (i = 0; i < 4; i++) {
		ret = path_of(path, sizeof(path), dir, key_names[i], "pem") ?:
		      sev_key__save(*key_slot(kk, i), path) ?:
		      path_of(path, sizeof(path), dir, key_names[i], "cert") ?:
		      sev__write_public_file(path, cert_slot(kk, i), SEV_CERT_SIZE);
		if (ret)
			return ret;
	}
	return 0;
}

int sev_platform_keys__load(struct sev_platform_keys *k, const char *dir)
{
	static const u32 usages[] = { SEV_USAGE_CEK, SEV_USAGE_OCA, SEV_USAGE_PEK, SEV_USAGE_PDH };
	char path[PATH_MAX];
	int i, ret;

	memset(k, 0, sizeof(*k));
	for (i = 0; i < 4; i++) {
		EVP_PKEY *pub;
		void *buf;
		size_t len;

		ret = path_of(path, sizeof(path), dir, key_names[i], "pem") ?:
		      sev_key__load(path, key_slot(k, i)) ?:
		      path_of(path, sizeof(path), dir, key_names[i], "cert");
		if (ret)
			goto err;
		ret = read_file(path, &buf, &len, 2 * SEV_CERT_SIZE);
		if (ret)
			goto err;
		ret = sev_cert__parse(buf, len, cert_slot(k, i));
		free(buf);
		if (ret)
			goto err;
		if (cert_slot(k, i)->pub_usage != usages[i]) {
			ret = SEV_RET_INVALID_CERTIFICATE;
			goto err;
		}
		ret = sev_cert__pubkey(cert_slot(k, i), &pub);
		if (ret)
			goto err;
		/* A certificate from another key set would break every session. */
		if (!sev__same_pubkey(pub, *key_slot(k, i)))
			ret = SEV_RET_INVALID_CERTIFICATE;
		EVP_PKEY_free(pub);
		if (ret)
			goto err;
	}
	ret = sev_cert__verify(&k->oca_cert, &k->oca_cert) ?:
	      sev_cert__verify(&k->pek_cert, &k->oca_cert) ?:
	      sev_cert__verify(&k->pek_cert, &k->cek_cert) ?:
	      sev_cert__verify(&k->pdh_cert, &k->pek_cert);
	if (!ret)
		return 0;
err:
	sev_platform_keys__free(k);
	return ret;
}

void sev_platform_keys__free(struct sev_platform_keys *k)
{
	EVP_PKEY_free(k->cek);
	EVP_PKEY_free(k->oca);
	EVP_PKEY_free(k->pek);
	EVP_PKEY_free(k->pdh);
	OPENSSL_cleanse(k, sizeof(*k));
}
