/*
 * SEV primitives: the SP 800-108 KDF, HMAC-SHA256, AES-128-CTR, ECDH P-384
 * and key (de)serialisation, all on OpenSSL 3 EVP interfaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "crypto-internal.h"
#include "lkvm/out-files.h"

const char *sev_ret__str(int ret)
{
	static const char *const names[] = {
		[SEV_RET_SUCCESS] = "SUCCESS",
		[SEV_RET_INVALID_PLATFORM_STATE] = "INVALID_PLATFORM_STATE",
		[SEV_RET_INVALID_GUEST_STATE] = "INVALID_GUEST_STATE",
		[SEV_RET_INAVLID_CONFIG] = "INVALID_CONFIG",
		[SEV_RET_INVALID_LEN] = "INVALID_LENGTH",
		[SEV_RET_ALREADY_OWNED] = "ALREADY_OWNED",
		[SEV_RET_INVALID_CERTIFICATE] = "INVALID_CERTIFICATE",
		[SEV_RET_POLICY_FAILURE] = "POLICY_FAILURE",
		[SEV_RET_INACTIVE] = "INACTIVE",
		[SEV_RET_INVALID_ADDRESS] = "INVALID_ADDRESS",
		[SEV_RET_BAD_SIGNATURE] = "BAD_SIGNATURE",
		[SEV_RET_BAD_MEASUREMENT] = "BAD_MEASUREMENT",
		[SEV_RET_ASID_OWNED] = "ASID_OWNED",
		[SEV_RET_INVALID_ASID] = "INVALID_ASID",
		[SEV_RET_WBINVD_REQUIRED] = "WBINVD_REQUIRED",
		[SEV_RET_DFFLUSH_REQUIRED] = "DFFLUSH_REQUIRED",
		[SEV_RET_INVALID_GUEST] = "INVALID_GUEST",
		[SEV_RET_INVALID_COMMAND] = "INVALID_COMMAND",
		[SEV_RET_ACTIVE] = "ACTIVE",
		[SEV_RET_HWSEV_RET_PLATFORM] = "HWERROR_PLATFORM",
		[SEV_RET_HWSEV_RET_UNSAFE] = "HWERROR_UNSAFE",
		[SEV_RET_UNSUPPORTED] = "UNSUPPORTED",
		[SEV_RET_INVALID_PARAM] = "INVALID_PARAM",
		[SEV_RET_RESOURCE_LIMIT] = "RESOURCE_LIMIT",
		[SEV_RET_SECURE_DATA_INVALID] = "SECURE_DATA_INVALID",
	};

	if (ret < 0)
		return "LOCAL_ERROR";
	if ((size_t)ret < ARRAY_SIZE(names) && names[ret])
		return names[ret];
	return "UNKNOWN";
}

/*
 * EVP_MAC_fetch() walks the provider tables; do it once per process.  The
 * HMAC context is then keyed per call (EVP_MAC_init), which is cheap next to
 * the fetch.
 */
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;
static EVP_MAC *hmac_alg;

static void fetch_hmac(void)
{
	hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

EVP_MAC_CTX *sev__hmac_new(const u8 *key, size_t key_len)
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;

	pthread_once(&mac_once, fetch_hmac);
	if (!hmac_alg)
		return NULL;
	ctx = EVP_MAC_CTX_new(hmac_alg);
	if (!ctx)
		return NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(ctx, key, key_len, params)) {
		EVP_MAC_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int sev__hmac_final(EVP_MAC_CTX *ctx, u8 mac[SEV_MAC_SIZE])
{
	size_t n = 0;
	int ok = EVP_MAC_final(ctx, mac, &n, SEV_MAC_SIZE) && n == SEV_MAC_SIZE;

	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

int sev_hmac_sha256(const u8 *key, size_t key_len, const void *data, size_t len,
		    u8 mac[SEV_MAC_SIZE])
{
	EVP_MAC_CTX *ctx = sev__hmac_new(key, key_len);

	if (!ctx)
		return -ENOMEM;
	if (!EVP_MAC_update(ctx, data, len)) {
		EVP_MAC_CTX_free(ctx);
		return -EIO;
	}
	return sev__hmac_final(ctx, mac);
}

/*
 * K(i) = HMAC(key, LE32(i) || label || 0x00 || context || LE32(L)).  AMD
 * writes i and L little-endian, unlike the big-endian SP 800-108 examples.
 */
int sev_kdf(const u8 *key, size_t key_len, const char *label, const u8 *ctx, size_t ctx_len,
	    u8 *out, size_t out_len)
{
	u8 counter[4], bits[4], zero = 0, block[SEV_MAC_SIZE];
	size_t done = 0;
	u32 i;
	int ret = 0;

	if (!out_len || out_len > 0x1fffffff)
		return -EINVAL;
	sev__put_le32(bits, (u32)(out_len * 8));
	for (i = 1; done < out_len; i++) {
		EVP_MAC_CTX *mac = sev__hmac_new(key, key_len);
		size_t n;

		if (!mac)
			return -ENOMEM;
		sev__put_le32(counter, i);
		if (!EVP_MAC_update(mac, counter, 4) ||
		    !EVP_MAC_update(mac, (const u8 *)label, strlen(label)) ||
		    !EVP_MAC_update(mac, &zero, 1) ||
		    (ctx_len && !EVP_MAC_update(mac, ctx, ctx_len)) ||
		    !EVP_MAC_update(mac, bits, 4)) {
			EVP_MAC_CTX_free(mac);
			ret = -EIO;
			break;
		}
		ret = sev__hmac_final(mac, block);
		if (ret)
			break;
		n = min(out_len - done, sizeof(block));
		memcpy(out + done, block, n);
		done += n;
	}
	OPENSSL_cleanse(block, sizeof(block));
	return ret;
}

int sev_aes128_ctr(const u8 key[SEV_KEY_SIZE], const u8 iv[SEV_NONCE_SIZE],
		   const void *in, void *out, size_t len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int ret = -EIO, n;

	if (!c)
		return -ENOMEM;
	if (!EVP_EncryptInit_ex(c, EVP_aes_128_ctr(), NULL, key, iv))
		goto out;
	/* EVP lengths are int; a packet is at most 20 KiB, but stay correct. */
	while (len) {
		int chunk = len > (1u << 30) ? 1 << 30 : (int)len;

		if (!EVP_EncryptUpdate(c, out, &n, in, chunk) || n != chunk)
			goto out;
		in = (const u8 *)in + chunk;
		out = (u8 *)out + chunk;
		len -= chunk;
	}
	ret = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return ret;
}

int sev_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

bool sev_mac_equal(const u8 *a, const u8 *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

EVP_PKEY *sev_key__gen_ec(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
}

EVP_PKEY *sev_key__gen_rsa(unsigned int bits)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
}

int sev_key__to_pem(EVP_PKEY *key, char **pem, size_t *len)
{
	BIO *b = BIO_new(BIO_s_secmem());
	char *data, *copy;
	long n;

	if (!b)
		return -ENOMEM;
	if (!PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(b);
		return -EIO;
	}
	n = BIO_get_mem_data(b, &data);
	copy = n > 0 ? malloc(n + 1) : NULL;
	if (!copy) {
		BIO_free(b);
		return -ENOMEM;
	}
	memcpy(copy, data, n);
	copy[n] = 0;
	BIO_free(b);		/* secmem BIO cleanses on free */
	*pem = copy;
	if (len)
		*len = n;
	return 0;
}

int sev_key__from_pem(const void *pem, size_t len, EVP_PKEY **out)
{
	BIO *b;
	EVP_PKEY *k;

	if (len > INT32_MAX)
		return -EINVAL;
	b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		return -ENOMEM;
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	ERR_clear_error();
	if (!k)
		return -EINVAL;
	*out = k;
	return 0;
}

int sev__write_secret_file(const char *path, const void *data, size_t len)
{
	return out_file__write(path, data, len, 0600);
}

int sev__write_public_file(const char *path, const void *data, size_t len)
{
	return out_file__write(path, data, len, 0644);
}

BIGNUM *sev__le2bn(const u8 *le, size_t len)
{
	return BN_lebin2bn(le, (int)len, NULL);
}

int sev__bn2le(const BIGNUM *bn, u8 *le, size_t len)
{
	return BN_bn2lebinpad(bn, le, (int)len) == (int)len ? 0 : -ERANGE;
}

int sev_key__save(EVP_PKEY *key, const char *path)
{
	char *pem;
	size_t len;
	int ret = sev_key__to_pem(key, &pem, &len);

	if (ret)
		return ret;
	ret = sev__write_secret_file(path, pem, len);
	OPENSSL_cleanse(pem, len);
	free(pem);
	return ret;
}

int sev_key__load(const char *path, EVP_PKEY **out)
{
	void *buf;
	size_t len;
	int ret = read_file(path, &buf, &len, 64 * 1024);

	if (ret)
		return ret;
	ret = sev_key__from_pem(buf, len, out);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return ret;
}

int sev_ecdh(EVP_PKEY *priv, EVP_PKEY *peer_pub, u8 z[SEV_ECDH_SECRET_SIZE])
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	size_t len = SEV_ECDH_SECRET_SIZE;
	int ret = -EIO;

	if (!c)
		return -ENOMEM;
	if (EVP_PKEY_derive_init(c) <= 0 || EVP_PKEY_derive_set_peer(c, peer_pub) <= 0)
		goto out;
	if (EVP_PKEY_derive(c, z, &len) <= 0 || len != SEV_ECDH_SECRET_SIZE)
		goto out;
	ret = 0;
out:
	if (ret)
		ERR_clear_error();
	EVP_PKEY_CTX_free(c);
	return ret;
}
