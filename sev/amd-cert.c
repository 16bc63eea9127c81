/*
 * The AMD root certificates (ARK, ASK): a 0x40-byte header, then pub_exp,
 * modulus and an RSA-PSS signature, all little-endian and sized by the
 * header.  Signed data = header + pub_exp + modulus; SHA-256 for 2048-bit
 * keys (Naples), SHA-384 for 4096-bit keys (Rome and later).
 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>

#include "crypto-internal.h"

BUILD_BUG_ON(sizeof(struct sev_amd_cert_hdr) != SEV_AMD_CERT_HDR_SIZE);

static size_t signed_size(const struct sev_amd_cert_hdr *h)
{
	return SEV_AMD_CERT_HDR_SIZE + h->pub_exp_size / 8 + h->modulus_size / 8;
}

size_t sev_amd_cert__size(const struct sev_amd_cert *cert)
{
	return signed_size(&cert->hdr) + cert->hdr.modulus_size / 8;
}

static const EVP_MD *amd_md(const struct sev_amd_cert_hdr *h)
{
	return h->modulus_size == 2048 ? EVP_sha256() : EVP_sha384();
}

static int check_hdr(const struct sev_amd_cert_hdr *h)
{
	if (h->version != 1)
		return SEV_RET_INVALID_CERTIFICATE;
	if (h->key_usage != SEV_USAGE_ARK && h->key_usage != SEV_USAGE_ASK)
		return SEV_RET_INVALID_CERTIFICATE;
	if (h->reserved_0 || h->reserved_1)
		return SEV_RET_INVALID_CERTIFICATE;
	if (h->modulus_size != 2048 && h->modulus_size != 4096)
		return SEV_RET_INVALID_CERTIFICATE;
	if (!h->pub_exp_size || h->pub_exp_size % 8 || h->pub_exp_size > h->modulus_size)
		return SEV_RET_INVALID_CERTIFICATE;
	return 0;
}

int sev_amd_cert__parse(const void *buf, size_t len, struct sev_amd_cert *out, size_t *used)
{
	const u8 *p = buf;
	struct sev_amd_cert_hdr h;
	size_t e, m, total;
	EVP_PKEY *key;
	int ret;

	if (!buf || len < SEV_AMD_CERT_HDR_SIZE)
		return SEV_RET_INVALID_LEN;
	memcpy(&h, p, sizeof(h));
	ret = check_hdr(&h);
	if (ret)
		return ret;
	e = h.pub_exp_size / 8;
	m = h.modulus_size / 8;
	total = SEV_AMD_CERT_HDR_SIZE + e + 2 * m;	/* bounded: <= 0x640 */
	if (len < total)
		return SEV_RET_INVALID_LEN;
	memset(out, 0, sizeof(*out));
	out->hdr = h;
	memcpy(out->pub_exp, p + SEV_AMD_CERT_HDR_SIZE, e);
	memcpy(out->modulus, p + SEV_AMD_CERT_HDR_SIZE + e, m);
	memcpy(out->sig, p + SEV_AMD_CERT_HDR_SIZE + e + m, m);
	ret = sev_amd_cert__pubkey(out, &key);	/* full-width odd modulus, e != 0 */
	if (ret)
		return ret;
	EVP_PKEY_free(key);
	if (used)
		*used = total;
	return 0;
}

int sev_amd_cert__write(const struct sev_amd_cert *cert, void *buf, size_t len, size_t *used)
{
	const struct sev_amd_cert_hdr *h = &cert->hdr;
	size_t e = h->pub_exp_size / 8, m = h->modulus_size / 8;
	u8 *p = buf;

	if (check_hdr(h))
		return -EINVAL;
	if (len < sev_amd_cert__size(cert))
		return SEV_RET_INVALID_LEN;
	memcpy(p, h, SEV_AMD_CERT_HDR_SIZE);
	memcpy(p + SEV_AMD_CERT_HDR_SIZE, cert->pub_exp, e);
	memcpy(p + SEV_AMD_CERT_HDR_SIZE + e, cert->modulus, m);
	memcpy(p + SEV_AMD_CERT_HDR_SIZE + e + m, cert->sig, m);
	if (used)
		*used = sev_amd_cert__size(cert);
	return 0;
}

int sev_amd_cert__init(struct sev_amd_cert *cert, u32 usage, const u8 key_id[16],
		       const u8 certifying_id[16], EVP_PKEY *pub)
{
	BIGNUM *n = NULL, *e = NULL;
	int bits = EVP_PKEY_get_bits(pub), ret = -EINVAL;

	if (!EVP_PKEY_is_a(pub, "RSA") || (bits != 2048 && bits != 4096) ||
	    (usage != SEV_USAGE_ARK && usage != SEV_USAGE_ASK))
		return -EINVAL;
	memset(cert, 0, sizeof(*cert));
	cert->hdr.version = 1;
	memcpy(&cert->hdr.key_id_0, key_id, 8);
	memcpy(&cert->hdr.key_id_1, key_id + 8, 8);
	memcpy(&cert->hdr.certifying_id_0, certifying_id, 8);
	memcpy(&cert->hdr.certifying_id_1, certifying_id + 8, 8);
	cert->hdr.key_usage = usage;
	/* AMD's certs carry the exponent in a field as wide as the modulus. */
	cert->hdr.pub_exp_size = bits;
	cert->hdr.modulus_size = bits;
	if (!EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e))
		goto out;
	if (sev__bn2le(n, cert->modulus, bits / 8) || sev__bn2le(e, cert->pub_exp, bits / 8))
		goto out;
	ret = 0;
out:
	BN_free(n);
	BN_free(e);
	return ret;
}

static int signed_bytes(const struct sev_amd_cert *cert, u8 *buf)
{
	size_t used;
	u8 tmp[SEV_AMD_CERT_MAX_SIZE];
	int ret = sev_amd_cert__write(cert, tmp, sizeof(tmp), &used);

	if (ret)
		return ret > 0 ? -EINVAL : ret;
	memcpy(buf, tmp, signed_size(&cert->hdr));
	return 0;
}

int sev_amd_cert__sign(struct sev_amd_cert *cert, EVP_PKEY *priv)
{
	u8 data[SEV_AMD_CERT_MAX_SIZE];
	int ret = signed_bytes(cert, data);

	if (ret)
		return ret;
	if (!EVP_PKEY_is_a(priv, "RSA") || EVP_PKEY_get_size(priv) > (int)cert->hdr.modulus_size / 8)
		return -EINVAL;
	return sev__sign(priv, amd_md(&cert->hdr), data, signed_size(&cert->hdr), cert->sig,
			 cert->hdr.modulus_size / 8);
}

int sev_amd_cert__pubkey(const struct sev_amd_cert *cert, EVP_PKEY **out)
{
	size_t m = cert->hdr.modulus_size / 8;
	EVP_PKEY *key;

	if (check_hdr(&cert->hdr) || !(cert->modulus[m - 1] & 0x80))
		return SEV_RET_INVALID_CERTIFICATE;
	key = sev__rsa_from_le(cert->modulus, m, cert->pub_exp, cert->hdr.pub_exp_size / 8);
	if (!key)
		return SEV_RET_INVALID_CERTIFICATE;
	*out = key;
	return 0;
}

int sev_amd_cert__verify(const struct sev_amd_cert *cert, const struct sev_amd_cert *signer)
{
	u8 data[SEV_AMD_CERT_MAX_SIZE];
	EVP_PKEY *pub;
	int ret;

	if (cert->hdr.certifying_id_0 != signer->hdr.key_id_0 ||
	    cert->hdr.certifying_id_1 != signer->hdr.key_id_1)
		return SEV_RET_BAD_SIGNATURE;
	/* The signature is as wide as the signer's modulus. */
	if (cert->hdr.modulus_size != signer->hdr.modulus_size)
		return SEV_RET_INVALID_CERTIFICATE;
	ret = signed_bytes(cert, data);
	if (ret)
		return ret < 0 && ret != -EINVAL ? ret : SEV_RET_INVALID_CERTIFICATE;
	ret = sev_amd_cert__pubkey(signer, &pub);
	if (ret)
		return ret;
	ret = sev__verify(pub, amd_md(&cert->hdr), data, signed_size(&cert->hdr), cert->sig,
			  cert->hdr.modulus_size / 8);
	EVP_PKEY_free(pub);
	return ret;
}
