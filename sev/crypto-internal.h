/* Helpers shared by the sev/ crypto files; not part of the public API. */
#ifndef LKVM__SEV_CRYPTO_INTERNAL_H
#define LKVM__SEV_CRYPTO_INTERNAL_H

#include <openssl/bn.h>

#include "lkvm/sev-crypto.h"

/* An HMAC-SHA256 context keyed with @key; NULL on failure. */
EVP_MAC_CTX *sev__hmac_new(const u8 *key, size_t key_len);
/* Finish into @mac and free the context. */
int sev__hmac_final(EVP_MAC_CTX *ctx, u8 mac[SEV_MAC_SIZE]);
/* Write @path atomically with mode 0600 (PATH.tmp + rename). */
int sev__write_secret_file(const char *path, const void *data, size_t len);
/* Write @path atomically with mode 0644 (public data: certificates). */
int sev__write_public_file(const char *path, const void *data, size_t len);

/* Little-endian byte arrays <-> BIGNUM (len bytes, zero padded). */
BIGNUM *sev__le2bn(const u8 *le, size_t len);
int sev__bn2le(const BIGNUM *bn, u8 *le, size_t len);

/* A P-384 public key from 48-byte little-endian x, y; NULL if not on the curve. */
EVP_PKEY *sev__ec_from_le(const u8 *qx, const u8 *qy);
/* An RSA public key from little-endian modulus and exponent; NULL if insane. */
EVP_PKEY *sev__rsa_from_le(const u8 *n_le, size_t n_len, const u8 *e_le, size_t e_len);
/*
 * Sign: EC -> ECDSA r || s (72 bytes each, LE); RSA -> RSA-PSS (salt =
 * digest length), s little-endian.  @out (@out_len bytes) is zeroed first.
 */
int sev__sign(EVP_PKEY *priv, const EVP_MD *md, const void *data, size_t len,
	      u8 *out, size_t out_len);
/* 0 valid, SEV_RET_BAD_SIGNATURE invalid or malformed, -errno local failure. */
int sev__verify(EVP_PKEY *pub, const EVP_MD *md, const void *data, size_t len,
		const u8 *sig, size_t sig_len);
/* Same public key (type and value)? */
bool sev__same_pubkey(EVP_PKEY *a, EVP_PKEY *b);

static inline void sev__put_le32(u8 *p, u32 v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

#endif
