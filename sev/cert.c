/*
 * The SEV certificate (0x824 bytes): build, sign, parse with every field
 * checked, verify.  Layout and rules: docs/sev-attestation.md and the
 * reference notes, section 2.4.  Numbers are little-endian throughout: EC
 * coordinates and ECDSA r/s zero-padded to 72 bytes, RSA numbers reversed
 * relative to PKCS#1.  The body (bytes 0x000-0x413) is what is signed.
 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "crypto-internal.h"

BUILD_BUG_ON(sizeof(struct sev_cert) != SEV_CERT_SIZE);
BUILD_BUG_ON(offsetof(struct sev_cert, sig[0]) != SEV_CERT_BODY_SIZE);
BUILD_BUG_ON(offsetof(struct sev_cert, sig[1]) != 0x61C);
BUILD_BUG_ON(offsetof(struct sev_cert, pubkey) != 0x10);
BUILD_BUG_ON(sizeof(struct sev_cert_ec) != 0x404);
BUILD_BUG_ON(sizeof(struct sev_cert_rsa) != 0x404);

#define P384_BYTES	48
#define EC_COORD	72

static bool is_zero(const u8 *p, size_t len)
{
	u8 acc = 0;

	while (len--)
		acc |= *p++;
	return !acc;
}

static bool algo_is_ecdsa(u32 a)
{
	return a == SEV_ALGO_ECDSA_SHA256 || a == SEV_ALGO_ECDSA_SHA384;
}

static bool algo_is_ecdh(u32 a)
{
	return a == SEV_ALGO_ECDH_SHA256 || a == SEV_ALGO_ECDH_SHA384;
}

static bool algo_is_rsa(u32 a)
{
	return a == SEV_ALGO_RSA_SHA256 || a == SEV_ALGO_RSA_SHA384;
}

static const EVP_MD *algo_md(u32 a)
{
	return (a & 0x100) ? EVP_sha384() : EVP_sha256();
}

/* Which public-key algorithms a key of this usage may carry. */
static bool usage_algo_ok(u32 usage, u32 algo)
{
	switch (usage) {
	case SEV_USAGE_ARK:
	case SEV_USAGE_ASK:
		return algo_is_rsa(algo);
	case SEV_USAGE_OCA:
	case SEV_USAGE_PEK:
	case SEV_USAGE_CEK:
		return algo_is_ecdsa(algo);
	case SEV_USAGE_PDH:
		return algo_is_ecdh(algo);
	default:
		return false;
	}
}

/* ---- key <-> certificate public key --------------------------------- */

static int ec_pub_to_cert(EVP_PKEY *pub, struct sev_cert_ec *ec)
{
	BIGNUM *x = NULL, *y = NULL;
	int ret = -EINVAL;

	if (!EVP_PKEY_is_a(pub, "EC") || EVP_PKEY_get_bits(pub) != 384)
		return -EINVAL;
	if (!EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
	    !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_EC_PUB_Y, &y))
		goto out;
	memset(ec, 0, sizeof(*ec));
	ec->curve = SEV_EC_CURVE_P384;
	if (sev__bn2le(x, ec->qx, EC_COORD) || sev__bn2le(y, ec->qy, EC_COORD))
		goto out;
	ret = 0;
out:
	BN_free(x);
	BN_free(y);
	return ret;
}

static int rsa_pub_to_cert(EVP_PKEY *pub, struct sev_cert_rsa *rsa)
{
	BIGNUM *n = NULL, *e = NULL;
	int bits = EVP_PKEY_get_bits(pub), ret = -EINVAL;

	if (!EVP_PKEY_is_a(pub, "RSA") || (bits != 2048 && bits != 4096))
		return -EINVAL;
	if (!EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_E, &e))
		goto out;
	memset(rsa, 0, sizeof(*rsa));
	rsa->modulus_size = bits;
	if (sev__bn2le(n, rsa->modulus, sizeof(rsa->modulus)) ||
	    sev__bn2le(e, rsa->pub_exp, sizeof(rsa->pub_exp)))
		goto out;
	ret = 0;
out:
	BN_free(n);
	BN_free(e);
	return ret;
}

/* A P-384 public key from little-endian x, y; NULL if not a curve point. */
EVP_PKEY *sev__ec_from_le(const u8 *qx, const u8 *qy)
{
	u8 point[1 + 2 * P384_BYTES];
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *key = NULL;
	int i;

	point[0] = 0x04;	/* uncompressed */
	for (i = 0; i < P384_BYTES; i++) {
		point[1 + i] = qx[P384_BYTES - 1 - i];
		point[1 + P384_BYTES + i] = qy[P384_BYTES - 1 - i];
	}
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
						     (char *)"P-384", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point,
						      sizeof(point));
	params[2] = OSSL_PARAM_construct_end();
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!ctx)
		return NULL;
	if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		key = NULL;
	EVP_PKEY_CTX_free(ctx);
	if (key) {
		/* fromdata decodes the point; check it properly anyway. */
		ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
		if (!ctx || EVP_PKEY_public_check(ctx) != 1) {
			EVP_PKEY_free(key);
			key = NULL;
		}
		EVP_PKEY_CTX_free(ctx);
	}
	ERR_clear_error();
	return key;
}

EVP_PKEY *sev__rsa_from_le(const u8 *n_le, size_t n_len, const u8 *e_le, size_t e_len)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *n = sev__le2bn(n_le, n_len), *e = sev__le2bn(e_le, e_len);
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;

	if (!bld || !n || !e || BN_is_zero(e) || !BN_is_odd(n))
		goto out;
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		key = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	ERR_clear_error();
	return key;
}

int sev_cert__init(struct sev_cert *cert, u32 usage, u32 algo, EVP_PKEY *pub,
		   u8 api_major, u8 api_minor)
{
	int ret, i;

	if (!usage_algo_ok(usage, algo))
		return -EINVAL;
	memset(cert, 0, sizeof(*cert));
	cert->version = 1;
	cert->api_major = api_major;
	cert->api_minor = api_minor;
	cert->pub_usage = usage;
	cert->pub_algo = algo;
	if (algo_is_rsa(algo))
		ret = rsa_pub_to_cert(pub, &cert->pubkey.rsa);
	else
		ret = ec_pub_to_cert(pub, &cert->pubkey.ec);
	if (ret)
		return ret;
	for (i = 0; i < 2; i++) {
		cert->sig[i].usage = SEV_USAGE_INVALID;
		cert->sig[i].algo = SEV_ALGO_INVALID;
	}
	return 0;
}

/* ---- signatures ------------------------------------------------------- */

/*
 * Sign @len bytes with @priv: EC -> ECDSA, output r || s (72 bytes each, LE);
 * RSA -> RSA-PSS (salt = digest length), output s little-endian.  @out has
 * @out_len bytes, zeroed first.
 */
int sev__sign(EVP_PKEY *priv, const EVP_MD *md, const void *data, size_t len,
	      u8 *out, size_t out_len)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	bool rsa = EVP_PKEY_is_a(priv, "RSA");
	u8 sig[1024];
	size_t sig_len = sizeof(sig);
	int ret = -EIO, i;

	if (!mctx)
		return -ENOMEM;
	memset(out, 0, out_len);
	if (EVP_DigestSignInit(mctx, &pctx, md, NULL, priv) <= 0)
		goto out;
	if (rsa && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
		goto out;
	if (EVP_DigestSign(mctx, sig, &sig_len, data, len) <= 0)
		goto out;
	if (rsa) {
		if (sig_len > out_len)
			goto out;
		for (i = 0; i < (int)sig_len; i++)
			out[i] = sig[sig_len - 1 - i];
	} else {
		const u8 *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
		const BIGNUM *r, *s;

		if (!es || out_len < 2 * EC_COORD) {
			ECDSA_SIG_free(es);
			goto out;
		}
		ECDSA_SIG_get0(es, &r, &s);
		ret = sev__bn2le(r, out, EC_COORD) ?: sev__bn2le(s, out + EC_COORD, EC_COORD);
		ECDSA_SIG_free(es);
		if (ret)
			goto out;
	}
	ret = 0;
out:
	if (ret)
		ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	return ret;
}

/*
 * Verify the matching signature format; 0 if valid, SEV_RET_BAD_SIGNATURE if
 * not (including malformed encodings), -errno on local failure.
 */
int sev__verify(EVP_PKEY *pub, const EVP_MD *md, const void *data, size_t len,
		const u8 *sig, size_t sig_len)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	u8 der[1024], *p;
	size_t der_len = 0;
	int ret = SEV_RET_BAD_SIGNATURE, i;

	if (!mctx)
		return -ENOMEM;
	if (EVP_PKEY_is_a(pub, "RSA")) {
		size_t n = (size_t)EVP_PKEY_get_size(pub);

		/* s occupies exactly the modulus width; the rest must be zero. */
		if (n > sig_len || n > sizeof(der) || !is_zero(sig + n, sig_len - n))
			goto out;
		for (i = 0; i < (int)n; i++)
			der[i] = sig[n - 1 - i];
		der_len = n;
	} else {
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r, *s;
		int l;

		if (!es || sig_len < 2 * EC_COORD ||
		    !is_zero(sig + P384_BYTES, EC_COORD - P384_BYTES) ||
		    !is_zero(sig + EC_COORD + P384_BYTES, EC_COORD - P384_BYTES) ||
		    !is_zero(sig + 2 * EC_COORD, sig_len - 2 * EC_COORD)) {
			ECDSA_SIG_free(es);
			goto out;
		}
		r = sev__le2bn(sig, P384_BYTES);
		s = sev__le2bn(sig + EC_COORD, P384_BYTES);
		if (!r || !s || !ECDSA_SIG_set0(es, r, s)) {
			BN_free(r);
			BN_free(s);
			ECDSA_SIG_free(es);
			ret = -ENOMEM;
			goto out;
		}
		p = der;
		l = i2d_ECDSA_SIG(es, NULL);
		if (l <= 0 || l > (int)sizeof(der) || i2d_ECDSA_SIG(es, &p) != l) {
			ECDSA_SIG_free(es);
			goto out;
		}
		der_len = l;
		ECDSA_SIG_free(es);
	}
	if (EVP_DigestVerifyInit(mctx, &pctx, md, NULL, pub) <= 0) {
		ret = -EIO;
		goto out;
	}
	if (EVP_PKEY_is_a(pub, "RSA") &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) <= 0)) {
		ret = -EIO;
		goto out;
	}
	if (EVP_DigestVerify(mctx, der, der_len, data, len) == 1)
		ret = 0;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	return ret;
}

int sev_cert__sign(struct sev_cert *cert, int slot, u32 signer_usage, u32 signer_algo,
		   EVP_PKEY *priv)
{
	struct sev_cert_sig *s;
	int ret;

	if (slot < 0 || slot > 1)
		return -EINVAL;
	if (algo_is_rsa(signer_algo) != EVP_PKEY_is_a(priv, "RSA") ||
	    !(algo_is_rsa(signer_algo) || algo_is_ecdsa(signer_algo)))
		return -EINVAL;
	s = &cert->sig[slot];
	ret = sev__sign(priv, algo_md(signer_algo), cert, SEV_CERT_BODY_SIZE, s->sig,
			sizeof(s->sig));
	if (ret)
		return ret;
	s->usage = signer_usage;
	s->algo = signer_algo;
	return 0;
}

/* ---- parsing ------------------------------------------------------------ */

static int check_sig_slot(const struct sev_cert_sig *s)
{
	if (s->usage == SEV_USAGE_INVALID)
		return s->algo == SEV_ALGO_INVALID ? 0 : SEV_RET_INVALID_CERTIFICATE;
	switch (s->usage) {
	case SEV_USAGE_ARK:
	case SEV_USAGE_ASK:
		return algo_is_rsa(s->algo) ? 0 : SEV_RET_INVALID_CERTIFICATE;
	case SEV_USAGE_OCA:
	case SEV_USAGE_PEK:
	case SEV_USAGE_CEK:
		if (!algo_is_ecdsa(s->algo))
			return SEV_RET_INVALID_CERTIFICATE;
		/* r and s are P-384 numbers: the high padding must be zero. */
		if (!is_zero(s->sig + P384_BYTES, EC_COORD - P384_BYTES) ||
		    !is_zero(s->sig + EC_COORD + P384_BYTES, EC_COORD - P384_BYTES) ||
		    !is_zero(s->sig + 2 * EC_COORD, sizeof(s->sig) - 2 * EC_COORD))
			return SEV_RET_INVALID_CERTIFICATE;
		return 0;
	default:		/* PDH never signs; anything else is unknown */
		return SEV_RET_INVALID_CERTIFICATE;
	}
}

static int check_pubkey(const struct sev_cert *c)
{
	if (algo_is_rsa(c->pub_algo)) {
		const struct sev_cert_rsa *r = &c->pubkey.rsa;
		size_t nb = r->modulus_size / 8;

		if (r->modulus_size != 2048 && r->modulus_size != 4096)
			return SEV_RET_INVALID_CERTIFICATE;
		if (!is_zero(r->modulus + nb, sizeof(r->modulus) - nb) ||
		    !(r->modulus[nb - 1] & 0x80) || is_zero(r->pub_exp, sizeof(r->pub_exp)))
			return SEV_RET_INVALID_CERTIFICATE;
		return 0;
	}
	if (c->pubkey.ec.curve != SEV_EC_CURVE_P384 ||
	    !is_zero(c->pubkey.ec.qx + P384_BYTES, EC_COORD - P384_BYTES) ||
	    !is_zero(c->pubkey.ec.qy + P384_BYTES, EC_COORD - P384_BYTES) ||
	    !is_zero(c->pubkey.ec.reserved, sizeof(c->pubkey.ec.reserved)))
		return SEV_RET_INVALID_CERTIFICATE;
	return 0;
}

int sev_cert__parse(const void *buf, size_t len, struct sev_cert *out)
{
	struct sev_cert c;
	EVP_PKEY *key;
	int ret;

	if (!buf || len != SEV_CERT_SIZE)
		return SEV_RET_INVALID_LEN;
	memcpy(&c, buf, sizeof(c));
	if (c.version != 1 || c.reserved != 0 || !usage_algo_ok(c.pub_usage, c.pub_algo))
		return SEV_RET_INVALID_CERTIFICATE;
	ret = check_pubkey(&c) ?: check_sig_slot(&c.sig[0]) ?: check_sig_slot(&c.sig[1]);
	if (ret)
		return ret;
	ret = sev_cert__pubkey(&c, &key);	/* point on the curve, sane RSA */
	if (ret)
		return ret;
	EVP_PKEY_free(key);
	if (out)
		*out = c;
	return 0;
}

int sev_cert__parse_pdh(const void *buf, size_t len, struct sev_cert *out)
{
	struct sev_cert c;
	int ret = sev_cert__parse(buf, len, &c);

	if (ret)
		return ret;
	if (c.pub_usage != SEV_USAGE_PDH || c.pub_algo != SEV_ALGO_ECDH_SHA256)
		return SEV_RET_INVALID_CERTIFICATE;
	if (out)
		*out = c;
	return 0;
}

int sev_cert__pubkey(const struct sev_cert *cert, EVP_PKEY **out)
{
	EVP_PKEY *key;

	if (algo_is_rsa(cert->pub_algo)) {
		const struct sev_cert_rsa *r = &cert->pubkey.rsa;

		if (r->modulus_size != 2048 && r->modulus_size != 4096)
			return SEV_RET_INVALID_CERTIFICATE;
		key = sev__rsa_from_le(r->modulus, r->modulus_size / 8, r->pub_exp,
				       sizeof(r->pub_exp));
	} else {
		if (cert->pubkey.ec.curve != SEV_EC_CURVE_P384 ||
		    !is_zero(cert->pubkey.ec.qx + P384_BYTES, EC_COORD - P384_BYTES) ||
		    !is_zero(cert->pubkey.ec.qy + P384_BYTES, EC_COORD - P384_BYTES))
			return SEV_RET_INVALID_CERTIFICATE;
		key = sev__ec_from_le(cert->pubkey.ec.qx, cert->pubkey.ec.qy);
	}
	if (!key)
		return SEV_RET_INVALID_CERTIFICATE;
	*out = key;
	return 0;
}

/* ---- verification ----------------------------------------------------- */

static const struct sev_cert_sig *find_slot(const struct sev_cert *cert, u32 usage,
					    bool rsa, u32 algo)
{
	int i;

	for (i = 0; i < 2; i++) {
		const struct sev_cert_sig *s = &cert->sig[i];

		if (s->usage != usage)
			continue;
		if (algo ? s->algo == algo : (rsa ? algo_is_rsa(s->algo) : algo_is_ecdsa(s->algo)))
			return s;
	}
	return NULL;
}

static int verify_slot(const struct sev_cert *cert, const struct sev_cert_sig *s, EVP_PKEY *pub)
{
	if (!s)
		return SEV_RET_INVALID_CERTIFICATE;
	return sev__verify(pub, algo_md(s->algo), cert, SEV_CERT_BODY_SIZE, s->sig,
			   sizeof(s->sig));
}

int sev_cert__verify(const struct sev_cert *cert, const struct sev_cert *signer)
{
	const struct sev_cert_sig *s;
	EVP_PKEY *pub;
	u32 want;
	int ret;

	/*
	 * The signer's own key algorithm names the signature algorithm: an
	 * ECDSA_SHA256 key signs as ECDSA_SHA256, an RSA_SHA384 key as RSA_SHA384.
	 */
	want = signer->pub_algo;
	if (!algo_is_ecdsa(want) && !algo_is_rsa(want))
		return SEV_RET_INVALID_CERTIFICATE;	/* a PDH never signs */
	s = find_slot(cert, signer->pub_usage, algo_is_rsa(want), want);
	if (!s)
		return SEV_RET_INVALID_CERTIFICATE;
	ret = sev_cert__pubkey(signer, &pub);
	if (ret)
		return ret;
	ret = verify_slot(cert, s, pub);
	EVP_PKEY_free(pub);
	return ret;
}

int sev_cert__verify_with(const struct sev_cert *cert, u32 signer_usage, EVP_PKEY *signer_pub)
{
	bool rsa = EVP_PKEY_is_a(signer_pub, "RSA");

	return verify_slot(cert, find_slot(cert, signer_usage, rsa, 0), signer_pub);
}
