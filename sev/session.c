/*
 * The SEV session blob: ECDH P-384 between two DH keys gives Z; the KDF gives
 * master, KEK and KIK; TEK || TIK travel AES-128-CTR-encrypted under KEK,
 * authenticated by HMAC(KIK) and bound to the guest policy by HMAC(TIK).
 * The "client" (guest owner, or the source firmware at SEND_START) wraps; the
 * "server" (firmware at LAUNCH_START / RECEIVE_START) unwraps and checks.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "crypto-internal.h"

BUILD_BUG_ON(sizeof(struct sev_session) != SEV_SESSION_SIZE);

void sev_tks__wipe(struct sev_tks *tks)
{
	OPENSSL_cleanse(tks, sizeof(*tks));
}

int sev_session__derive(const u8 *z, size_t z_len, const u8 nonce[16],
			u8 kek[SEV_KEY_SIZE], u8 kik[SEV_KEY_SIZE])
{
	u8 master[SEV_KEY_SIZE];
	int ret;

	ret = sev_kdf(z, z_len, "sev-master-secret", nonce, 16, master, sizeof(master)) ?:
	      sev_kdf(master, sizeof(master), "sev-kek", NULL, 0, kek, SEV_KEY_SIZE) ?:
	      sev_kdf(master, sizeof(master), "sev-kik", NULL, 0, kik, SEV_KEY_SIZE);
	OPENSSL_cleanse(master, sizeof(master));
	return ret;
}

static int policy_mac(const u8 tik[SEV_KEY_SIZE], u32 policy, u8 mac[SEV_MAC_SIZE])
{
	u8 le[4];

	sev__put_le32(le, policy);
	return sev_hmac_sha256(tik, SEV_KEY_SIZE, le, sizeof(le), mac);
}

int sev_session__wrap_z(const u8 *z, size_t z_len, u32 policy, const struct sev_tks *tks,
			const u8 *nonce, const u8 *iv, struct sev_session *out)
{
	u8 kek[SEV_KEY_SIZE], kik[SEV_KEY_SIZE];
	int ret;

	memset(out, 0, sizeof(*out));
	if (nonce)
		memcpy(out->nonce, nonce, sizeof(out->nonce));
	else if ((ret = sev_random(out->nonce, sizeof(out->nonce))))
		return ret;
	if (iv)
		memcpy(out->wrap_iv, iv, sizeof(out->wrap_iv));
	else if ((ret = sev_random(out->wrap_iv, sizeof(out->wrap_iv))))
		return ret;
	BUILD_BUG_ON(sizeof(*tks) != sizeof(out->wrap_tk));
	ret = sev_session__derive(z, z_len, out->nonce, kek, kik) ?:
	      sev_aes128_ctr(kek, out->wrap_iv, tks, out->wrap_tk, sizeof(out->wrap_tk)) ?:
	      sev_hmac_sha256(kik, sizeof(kik), out->wrap_tk, sizeof(out->wrap_tk),
			      out->wrap_mac) ?:
	      policy_mac(tks->tik, policy, out->policy_mac);
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(kik, sizeof(kik));
	return ret;
}

int sev_session__unwrap_z(const u8 *z, size_t z_len, u32 policy, const struct sev_session *s,
			  struct sev_tks *out)
{
	u8 kek[SEV_KEY_SIZE], kik[SEV_KEY_SIZE], mac[SEV_MAC_SIZE];
	struct sev_tks tks;
	int ret;

	ret = sev_session__derive(z, z_len, s->nonce, kek, kik) ?:
	      sev_hmac_sha256(kik, sizeof(kik), s->wrap_tk, sizeof(s->wrap_tk), mac);
	if (ret)
		goto out;
	/* Authenticate before decrypting anything. */
	if (!sev_mac_equal(mac, s->wrap_mac, SEV_MAC_SIZE)) {
		ret = SEV_RET_BAD_MEASUREMENT;
		goto out;
	}
	ret = sev_aes128_ctr(kek, s->wrap_iv, s->wrap_tk, &tks, sizeof(tks)) ?:
	      policy_mac(tks.tik, policy, mac);
	if (ret)
		goto out;
	if (!sev_mac_equal(mac, s->policy_mac, SEV_MAC_SIZE)) {
		ret = SEV_RET_BAD_MEASUREMENT;
		goto out;
	}
	*out = tks;
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(kik, sizeof(kik));
	sev_tks__wipe(&tks);
	return ret;
}

/* Z from our private key and the peer's DH certificate. */
static int shared_secret(EVP_PKEY *own_priv, const void *peer_cert, size_t peer_cert_len,
			 u8 z[SEV_ECDH_SECRET_SIZE])
{
	struct sev_cert cert;
	EVP_PKEY *peer;
	int ret;

	ret = sev_cert__parse_pdh(peer_cert, peer_cert_len, &cert) ?:
	      sev_cert__pubkey(&cert, &peer);
	if (ret)
		return ret;
	ret = sev_ecdh(own_priv, peer, z);
	EVP_PKEY_free(peer);
	return ret;
}

int sev_session__create(EVP_PKEY *own_priv, const void *peer_cert, size_t peer_cert_len,
			u32 policy, struct sev_tks *tks, struct sev_session *out)
{
	u8 z[SEV_ECDH_SECRET_SIZE];
	int ret;

	ret = shared_secret(own_priv, peer_cert, peer_cert_len, z) ?:
	      sev_random(tks, sizeof(*tks)) ?:
	      sev_session__wrap_z(z, sizeof(z), policy, tks, NULL, NULL, out);
	OPENSSL_cleanse(z, sizeof(z));
	if (ret)
		sev_tks__wipe(tks);
	return ret;
}

int sev_session__open(EVP_PKEY *own_priv, const void *peer_cert, size_t peer_cert_len,
		      const void *session, size_t session_len, u32 policy, struct sev_tks *out)
{
	struct sev_session s;
	u8 z[SEV_ECDH_SECRET_SIZE];
	int ret;

	if (peer_cert_len != SEV_CERT_SIZE || session_len != SEV_SESSION_SIZE || !session)
		return SEV_RET_INVALID_LEN;
	memcpy(&s, session, sizeof(s));
	ret = shared_secret(own_priv, peer_cert, peer_cert_len, z) ?:
	      sev_session__unwrap_z(z, sizeof(z), policy, &s, out);
	OPENSSL_cleanse(z, sizeof(z));
	return ret;
}
