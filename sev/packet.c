/*
 * Transport packets (SEND/RECEIVE_UPDATE_DATA, LAUNCH_SECRET), the launch
 * digest and the launch measurement.  A packet is AES-128-CTR(TEK, IV)
 * ciphertext plus a 52-byte header {flags, IV, MAC}; the MAC is
 * HMAC-SHA256(TIK) over a context byte, the header fields, both lengths and
 * the ciphertext, and for LAUNCH_SECRET also the launch measure, which binds
 * the secret to the measured launch.
 */
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>

#include "crypto-internal.h"

BUILD_BUG_ON(sizeof(struct sev_pkt_hdr) != SEV_PKT_HDR_SIZE);
BUILD_BUG_ON(sizeof(struct sev_measure_blob) != SEV_MEASURE_BLOB_SIZE);

/*
 * HMAC(TIK, ctx || LE32(flags) || IV || LE32(len) || LE32(len) || ct
 *      [|| measure]).  The two lengths are the firmware's uncompressed and
 * transport sizes, always equal since compression is unsupported.
 */
static int packet_mac(const u8 tik[SEV_KEY_SIZE], u8 ctx, u32 flags, const u8 iv[16],
		      const void *ct, size_t len, const u8 *measure, u8 mac[SEV_MAC_SIZE])
{
	u8 aad[1 + 4 + 16 + 4 + 4];
	EVP_MAC_CTX *m;

	if (len > UINT32_MAX)
		return -EINVAL;
	aad[0] = ctx;
	sev__put_le32(aad + 1, flags);
	memcpy(aad + 5, iv, 16);
	sev__put_le32(aad + 21, (u32)len);
	sev__put_le32(aad + 25, (u32)len);
	m = sev__hmac_new(tik, SEV_KEY_SIZE);
	if (!m)
		return -ENOMEM;
	if (!EVP_MAC_update(m, aad, sizeof(aad)) || !EVP_MAC_update(m, ct, len) ||
	    (measure && !EVP_MAC_update(m, measure, SEV_MAC_SIZE))) {
		EVP_MAC_CTX_free(m);
		return -EIO;
	}
	return sev__hmac_final(m, mac);
}

int sev_packet__seal(const struct sev_tks *tks, u8 ctx, const u8 *measure, const u8 *iv,
		     const void *plain, size_t len, struct sev_pkt_hdr *hdr, void *trans)
{
	int ret;

	if (!len)
		return SEV_RET_INVALID_LEN;
	memset(hdr, 0, sizeof(*hdr));
	if (iv)
		memcpy(hdr->iv, iv, sizeof(hdr->iv));
	else if ((ret = sev_random(hdr->iv, sizeof(hdr->iv))))
		return ret;
	return sev_aes128_ctr(tks->tek, hdr->iv, plain, trans, len) ?:
	       packet_mac(tks->tik, ctx, hdr->flags, hdr->iv, trans, len, measure, hdr->mac);
}

int sev_packet__open(const struct sev_tks *tks, u8 ctx, const u8 *measure,
		     const void *hdr, size_t hdr_len, const void *trans, size_t len, void *plain)
{
	struct sev_pkt_hdr h;
	u8 mac[SEV_MAC_SIZE];
	int ret;

	if (!hdr || hdr_len < SEV_PKT_HDR_SIZE)
		return SEV_RET_INVALID_LEN;
	memcpy(&h, hdr, sizeof(h));
	if (h.flags & SEV_PKT_FLAG_COMPRESSED)
		return SEV_RET_UNSUPPORTED;
	if (!len || !trans)
		return SEV_RET_INVALID_LEN;
	ret = packet_mac(tks->tik, ctx, h.flags, h.iv, trans, len, measure, mac);
	if (ret)
		return ret;
	if (!sev_mac_equal(mac, h.mac, SEV_MAC_SIZE))
		return SEV_RET_BAD_MEASUREMENT;
	return sev_aes128_ctr(tks->tek, h.iv, trans, plain, len);
}

/* ---- launch digest ------------------------------------------------------- */

int sev_digest__init(struct sev_digest *d)
{
	d->md = EVP_MD_CTX_new();
	if (!d->md)
		return -ENOMEM;
	if (!EVP_DigestInit_ex(d->md, EVP_sha256(), NULL)) {
		sev_digest__free(d);
		return -EIO;
	}
	return 0;
}

int sev_digest__update(struct sev_digest *d, const void *data, size_t len)
{
	return EVP_DigestUpdate(d->md, data, len) ? 0 : -EIO;
}

int sev_digest__final(struct sev_digest *d, u8 out[SEV_DIGEST_SIZE])
{
	EVP_MD_CTX *copy = EVP_MD_CTX_new();
	unsigned int n = 0;
	int ret = -EIO;

	if (!copy)
		return -ENOMEM;
	if (EVP_MD_CTX_copy_ex(copy, d->md) && EVP_DigestFinal_ex(copy, out, &n) &&
	    n == SEV_DIGEST_SIZE)
		ret = 0;
	EVP_MD_CTX_free(copy);
	return ret;
}

void sev_digest__free(struct sev_digest *d)
{
	EVP_MD_CTX_free(d->md);
	d->md = NULL;
}

/* ---- launch measurement ------------------------------------------------ */

int sev_measure__compute(const u8 tik[SEV_KEY_SIZE], u8 api_major, u8 api_minor, u8 build,
			 u32 policy, const u8 digest[SEV_DIGEST_SIZE],
			 const u8 mnonce[SEV_NONCE_SIZE], u8 measure[SEV_MAC_SIZE])
{
	u8 buf[1 + 3 + 4 + SEV_DIGEST_SIZE + SEV_NONCE_SIZE];
	size_t skip = 0;

	buf[0] = SEV_CTX_MEASURE;
	buf[1] = api_major;
	buf[2] = api_minor;
	buf[3] = build;
	sev__put_le32(buf + 4, policy);
	memcpy(buf + 8, digest, SEV_DIGEST_SIZE);
	memcpy(buf + 8 + SEV_DIGEST_SIZE, mnonce, SEV_NONCE_SIZE);
	/* Firmware before API 0.17 did not MAC context byte and version. */
	if (api_major == 0 && api_minor < 17)
		skip = 4;
	return sev_hmac_sha256(tik, SEV_KEY_SIZE, buf + skip, sizeof(buf) - skip, measure);
}

int sev_measure__verify(const u8 tik[SEV_KEY_SIZE], u8 api_major, u8 api_minor, u8 build,
			u32 policy, const u8 digest[SEV_DIGEST_SIZE], const void *blob,
			size_t len)
{
	struct sev_measure_blob b;
	u8 mac[SEV_MAC_SIZE];
	int ret;

	if (!blob || len != SEV_MEASURE_BLOB_SIZE)
		return SEV_RET_INVALID_LEN;
	memcpy(&b, blob, sizeof(b));
	ret = sev_measure__compute(tik, api_major, api_minor, build, policy, digest, b.mnonce, mac);
	if (ret)
		return ret;
	return sev_mac_equal(mac, b.measure, SEV_MAC_SIZE) ? 0 : SEV_RET_BAD_MEASUREMENT;
}
