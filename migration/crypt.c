/*
 * An authenticated, encrypted migration stream (lkvm migrate --key,
 * lkvm run --incoming-key): both sides hold the same key file, and every
 * byte after a connection's preamble travels in AES-256-GCM frames.
 *
 * Why a pre-shared key and not TLS: both ends are lkvm, started by the same
 * operator, who already copies machine options to both hosts; a key file is
 * one more file, with no CA, no certificate expiry and no new dependency
 * (libcrypto is already linked for SEV).
 *
 * Keys: the file's bytes are hashed into a 32-byte master key on the host
 * that reads the file.  Each connection and direction gets its own AES key,
 * HKDF-SHA256(master, salt = source nonce || destination nonce,
 * info = label || the connection's 24-byte preamble || direction).  The
 * destination's nonce is fresh for every migration, so a recorded stream
 * cannot be replayed to it; the preamble in the info means a changed
 * channel number or session id gives a different key.
 *
 * Frames: u32 length (1..MIG_FRAME_MAX, authenticated as GCM's AAD),
 * ciphertext, 16-byte tag.  The GCM nonce is the frame's number on that
 * connection and direction, so a dropped, repeated or reordered frame fails
 * like a changed one.  Nothing of a frame is handed on before its tag is
 * checked: the record parser only ever sees bytes the key holder wrote.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "lkvm/migration.h"

#define TAG_SIZE	16
#define LEN_SIZE	4

struct mig_crypt {
	EVP_CIPHER_CTX *enc, *dec;
	u64 n_out, n_in;	/* frames sealed / opened: the GCM nonces */
	u8 *wbuf;		/* length + ciphertext + tag, allocated on first write */
	u8 *rbuf;		/* ciphertext + tag, opened in place, on first read */
	u32 r_len, r_pos;	/* opened plaintext in rbuf not yet read */
	int r_err;		/* sticky: after a forged frame nothing more is read */
};

static const char key_label[] = "lkvm migration key v1";
static const char conn_label[] = "lkvm migration connection v1";

void mig_key__from_bytes(const void *buf, size_t len, u8 key[MIG_KEY_SIZE])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int n = 0;

	/* Labelled, so that the same file used elsewhere gives another key. */
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(md, key_label, sizeof(key_label)) ||
	    !EVP_DigestUpdate(md, buf, len) || !EVP_DigestFinal_ex(md, key, &n) ||
	    n != MIG_KEY_SIZE)
		abort();	/* SHA-256 from libcrypto does not fail but for ENOMEM */
	EVP_MD_CTX_free(md);
}

int mig_key__load(const char *path, u8 key[MIG_KEY_SIZE], char *why, size_t n)
{
	u8 buf[MIG_KEY_FILE_MAX + 1];
	struct stat st;
	ssize_t got = 0, r;
	int fd, ret = -EINVAL;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		snprintf(why, n, "cannot read key file '%s': %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, n, "key file '%s' is not a regular file", path);
		goto out;
	}
	/* As ssh does with private keys: a secret others can read is not one. */
	if (st.st_mode & 077) {
		ret = -EPERM;
		snprintf(why, n, "key file '%s' is open to other users (mode %04o): "
			 "chmod 600 '%s'", path, (unsigned int)(st.st_mode & 07777), path);
		goto out;
	}
	while ((size_t)got < sizeof(buf)) {
		r = read(fd, buf + got, sizeof(buf) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			snprintf(why, n, "cannot read key file '%s': %s", path, strerror(errno));
			goto out;
		}
		if (!r)
			break;
		got += r;
	}
	if (got < MIG_KEY_FILE_MIN || got > MIG_KEY_FILE_MAX) {
		snprintf(why, n, "key file '%s' holds %s%zd bytes; a key needs %d to %d "
			 "(make one with: head -c 32 /dev/urandom > FILE; chmod 600 FILE)", path,
			 got > MIG_KEY_FILE_MAX ? "more than " : "",
			 got > MIG_KEY_FILE_MAX ? (ssize_t)MIG_KEY_FILE_MAX : got,
			 MIG_KEY_FILE_MIN, MIG_KEY_FILE_MAX);
		goto out;
	}
	/*
	 * One byte over and over is no secret: a file filled from /dev/zero
	 * by mistake, or a placeholder.  Anyone could guess it.
	 */
	for (r = 1; r < got && buf[r] == buf[0]; r++)
		;
	if (r == got) {
		snprintf(why, n, "key file '%s' is one byte (0x%02x) %zd times, not a secret "
			 "(make one with: head -c 32 /dev/urandom > FILE; chmod 600 FILE)", path,
			 buf[0], got);
		goto out;
	}
	mig_key__from_bytes(buf, got, key);
	ret = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return ret;
}

int mig_nonce__new(u8 nonce[MIG_NONCE_SIZE])
{
	return RAND_bytes(nonce, MIG_NONCE_SIZE) == 1 ? 0 : -EIO;
}

int mig_hkdf_sha256(const u8 *ikm, size_t ikm_len, const u8 *salt, size_t salt_len,
		    const u8 *info, size_t info_len, u8 *out, size_t out_len)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5];
	int ret = -EIO;

	if (!ctx)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, out_len, params) == 1)
		ret = 0;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ret;
}

int mig_key__derive(const u8 key[MIG_KEY_SIZE], const u8 nc[MIG_NONCE_SIZE],
		    const u8 ns[MIG_NONCE_SIZE], const u8 pre[MIG_PREAMBLE_SIZE], bool to_dst,
		    u8 out[MIG_KEY_SIZE])
{
	u8 salt[2 * MIG_NONCE_SIZE], info[sizeof(conn_label) + MIG_PREAMBLE_SIZE + 1];

	memcpy(salt, nc, MIG_NONCE_SIZE);
	memcpy(salt + MIG_NONCE_SIZE, ns, MIG_NONCE_SIZE);
	memcpy(info, conn_label, sizeof(conn_label));
	memcpy(info + sizeof(conn_label), pre, MIG_PREAMBLE_SIZE);
	info[sizeof(info) - 1] = to_dst ? 'd' : 's';
	return mig_hkdf_sha256(key, MIG_KEY_SIZE, salt, sizeof(salt), info, sizeof(info),
			       out, MIG_KEY_SIZE);
}

static EVP_CIPHER_CTX *gcm_new(const u8 key[MIG_KEY_SIZE], bool enc)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, NULL, enc) == 1)
		return ctx;
	EVP_CIPHER_CTX_free(ctx);
	return NULL;
}

int mig_crypt__attach(struct mig_chan *c, const u8 key[MIG_KEY_SIZE], const u8 nc[MIG_NONCE_SIZE],
		      const u8 ns[MIG_NONCE_SIZE], const u8 pre[MIG_PREAMBLE_SIZE], bool source)
{
	u8 k_out[MIG_KEY_SIZE], k_in[MIG_KEY_SIZE];
	struct mig_crypt *k;
	int ret;

	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	/* The source writes with the to-destination key and reads with the other. */
	ret = mig_key__derive(key, nc, ns, pre, source, k_out);
	if (!ret)
		ret = mig_key__derive(key, nc, ns, pre, !source, k_in);
	if (!ret) {
		k->enc = gcm_new(k_out, true);
		k->dec = gcm_new(k_in, false);
		if (!k->enc || !k->dec)
			ret = -ENOMEM;
	}
	OPENSSL_cleanse(k_out, sizeof(k_out));
	OPENSSL_cleanse(k_in, sizeof(k_in));
	if (ret) {
		EVP_CIPHER_CTX_free(k->enc);
		EVP_CIPHER_CTX_free(k->dec);
		free(k);
		return ret;
	}
	mig_crypt__detach(c);
	c->crypt = k;
	return 0;
}

void mig_crypt__detach(struct mig_chan *c)
{
	struct mig_crypt *k = c->crypt;

	if (!k)
		return;
	EVP_CIPHER_CTX_free(k->enc);
	EVP_CIPHER_CTX_free(k->dec);
	if (k->rbuf) {
		OPENSSL_cleanse(k->rbuf, MIG_FRAME_MAX + TAG_SIZE);
		free(k->rbuf);
	}
	free(k->wbuf);
	free(k);
	c->crypt = NULL;
}

/* The 96-bit GCM nonce: the frame's number, never repeated under one key. */
static void frame_iv(u64 n, u8 iv[12])
{
	memset(iv, 0, 12);
	for (int i = 0; i < 8; i++)
		iv[4 + i] = n >> (8 * i);
}

/* Seal len bytes starting at (*iov, *off) into one frame and send it. */
static int seal_frame(struct mig_chan *c, struct iovec **iov, size_t *off, size_t len)
{
	struct mig_crypt *k = c->crypt;
	u8 iv[12], *p;
	size_t left = len;
	int outl;

	if (!k->wbuf) {
		k->wbuf = malloc(LEN_SIZE + MIG_FRAME_MAX + TAG_SIZE);
		if (!k->wbuf)
			return -ENOMEM;
	}
	frame_iv(k->n_out, iv);
	put_le32(k->wbuf, (u32)len);
	if (EVP_EncryptInit_ex(k->enc, NULL, NULL, NULL, iv) != 1 ||
	    EVP_EncryptUpdate(k->enc, NULL, &outl, k->wbuf, LEN_SIZE) != 1)
		return -EIO;
	p = k->wbuf + LEN_SIZE;
	while (left) {
		size_t piece = min((*iov)->iov_len - *off, left);

		if (piece && EVP_EncryptUpdate(k->enc, p, &outl, (u8 *)(*iov)->iov_base + *off,
					       (int)piece) != 1)
			return -EIO;
		p += piece;
		left -= piece;
		*off += piece;
		if (*off == (*iov)->iov_len) {
			(*iov)++;
			*off = 0;
		}
	}
	if (EVP_EncryptFinal_ex(k->enc, p, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(k->enc, EVP_CTRL_GCM_GET_TAG, TAG_SIZE, p) != 1)
		return -EIO;
	k->n_out++;
	return mig_chan__raw_writev(c, &(struct iovec){ k->wbuf, LEN_SIZE + len + TAG_SIZE }, 1);
}

int mig_crypt__writev(struct mig_chan *c, struct iovec *iov, int cnt)
{
	size_t total = 0, off = 0;
	int i, ret;

	for (i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	while (cnt && !iov->iov_len)
		iov++, cnt--;
	while (total) {
		size_t len = min(total, (size_t)(c->fault_frame_max ?: MIG_FRAME_MAX));

		ret = seal_frame(c, &iov, &off, len);
		if (ret)
			return ret;
		total -= len;
	}
	return 0;
}

/* The next frame's length word: checked before use; a changed one that passes fails the tag. */
static int read_len(struct mig_chan *c, u8 hdr[LEN_SIZE], u32 *len)
{
	int ret = mig_chan__raw_read(c, hdr, LEN_SIZE);

	if (ret)
		return ret;
	*len = get_le32(hdr);
	return *len && *len <= MIG_FRAME_MAX ? 0 : -EKEYREJECTED;
}

static int open_begin(struct mig_crypt *k, const u8 hdr[LEN_SIZE])
{
	u8 iv[12];
	int outl;

	frame_iv(k->n_in, iv);
	if (EVP_DecryptInit_ex(k->dec, NULL, NULL, NULL, iv) != 1 ||
	    EVP_DecryptUpdate(k->dec, NULL, &outl, hdr, LEN_SIZE) != 1)
		return -EIO;
	return 0;
}

/* The tag: 0 if the frame authenticates, else -EKEYREJECTED. */
static int open_end(struct mig_crypt *k, u8 tag[TAG_SIZE])
{
	u8 dummy[16];
	int outl;

	if (EVP_CIPHER_CTX_ctrl(k->dec, EVP_CTRL_GCM_SET_TAG, TAG_SIZE, tag) != 1)
		return -EIO;
	if (EVP_DecryptFinal_ex(k->dec, dummy, &outl) != 1)
		return -EKEYREJECTED;
	k->n_in++;
	return 0;
}

/* The frame's ciphertext and tag (its length word already read) into rbuf. */
static int read_body(struct mig_chan *c, u32 len)
{
	struct mig_crypt *k = c->crypt;

	if (!k->rbuf) {
		k->rbuf = malloc(MIG_FRAME_MAX + TAG_SIZE);
		if (!k->rbuf)
			return -ENOMEM;
	}
	return mig_chan__raw_read(c, k->rbuf, (size_t)len + TAG_SIZE);
}

/* The frame (length word already read), opened in rbuf. */
static int open_frame(struct mig_chan *c, const u8 hdr[LEN_SIZE], u32 len)
{
	struct mig_crypt *k = c->crypt;
	int outl, ret;

	ret = read_body(c, len);
	if (!ret)
		ret = open_begin(k, hdr);
	if (ret)
		return ret;
	if (EVP_DecryptUpdate(k->dec, k->rbuf, &outl, k->rbuf, (int)len) != 1)
		return -EIO;
	ret = open_end(k, k->rbuf + len);
	if (ret) {
		OPENSSL_cleanse(k->rbuf, len);
		return ret;
	}
	k->r_len = len;
	k->r_pos = 0;
	return 0;
}

/* len bytes of an iovec array, from (v, off) on, walked piece by piece. */
struct span {
	const struct iovec *v;
	size_t off, left;
};

static size_t span_next(struct span *s, u8 **p)
{
	size_t n;

	if (!s->left)
		return 0;
	while (s->off == s->v->iov_len) {
		s->v++;
		s->off = 0;
	}
	n = min(s->v->iov_len - s->off, s->left);
	*p = (u8 *)s->v->iov_base + s->off;
	s->off += n;
	s->left -= n;
	return n;
}

/*
 * The frame (length word already read) opened where the caller wants its
 * bytes: read into rbuf as any frame, but decrypted from there straight
 * into the caller's iovecs from (iov, off) on.  This saves a copy of every
 * byte for the bulk reads (RAM page data into guest memory), which want a
 * whole frame or more; record headers and tables still go through rbuf.
 *
 * The tag is checked only after the plaintext is in the caller's memory,
 * so until then those bytes are not the stream's: if the tag fails they
 * are wiped, the read fails with -EKEYREJECTED and so does every later one
 * (mig_crypt__readv), and the record parser never sees them.  On the
 * destination that memory is guest RAM, and a guest whose stream failed
 * never runs: a data channel's error fails the migration in dest.c ("the
 * guest is not started"), the incoming run hook returns it, and
 * builtin-run.c then starts no vCPU.
 */
static int open_into(struct mig_chan *c, const u8 hdr[LEN_SIZE], u32 len,
		     const struct iovec *iov, size_t off)
{
	struct mig_crypt *k = c->crypt;
	struct span s = { iov, off, len };
	u8 *p, *q;
	size_t n;
	int outl, ret;

	ret = read_body(c, len);
	if (!ret)
		ret = open_begin(k, hdr);
	if (ret)
		return ret;		/* nothing written to the caller's memory yet */
	for (q = k->rbuf; !ret && (n = span_next(&s, &p)); q += n)
		if (EVP_DecryptUpdate(k->dec, p, &outl, q, (int)n) != 1)
			ret = -EIO;
	if (!ret)
		ret = open_end(k, k->rbuf + len);
	if (ret) {
		s = (struct span){ iov, off, len };
		while ((n = span_next(&s, &p)))
			OPENSSL_cleanse(p, n);
	}
	return ret;
}

/*
 * Move (iov, cnt, off) on by n bytes, and past every iovec then full or
 * empty: afterwards cnt is 0 or (iov, off) is a byte the caller wants.
 */
static void iov_forward(struct iovec **iov, int *cnt, size_t *off, size_t n)
{
	while (*cnt) {
		size_t step = min((*iov)->iov_len - *off, n);

		*off += step;
		n -= step;
		if (*off < (*iov)->iov_len)
			return;
		(*iov)++;
		(*cnt)--;
		*off = 0;
	}
}

bool mig_crypt__opened(const struct mig_chan *c)
{
	return c->crypt && c->crypt->n_in;
}

int mig_crypt__open_first(struct mig_chan *c)
{
	struct mig_crypt *k = c->crypt;
	u8 hdr[LEN_SIZE];
	u32 len;
	int ret;

	if (k->n_in || k->r_err)
		return -EINVAL;		/* only a connection's first frame */
	ret = read_len(c, hdr, &len);
	if (!ret)
		ret = open_frame(c, hdr, len);
	if (ret)
		k->r_err = ret;		/* as in mig_crypt__readv: nothing more */
	return ret;
}

int mig_crypt__readv(struct mig_chan *c, struct iovec *iov, int cnt)
{
	struct mig_crypt *k = c->crypt;
	size_t off = 0, want = 0;
	int i;

	for (i = 0; i < cnt; i++)
		want += iov[i].iov_len;
	iov_forward(&iov, &cnt, &off, 0);
	while (cnt) {
		size_t piece;

		if (k->r_pos == k->r_len) {
			u8 hdr[LEN_SIZE];
			u32 len;
			int ret;

			if (k->r_err)
				return k->r_err;
			/*
			 * A timeout here is the caller's (no caller retries one).  Had
			 * part of the length word come, the stream is out of step and
			 * the next frame fails its tag: it fails safe.
			 */
			ret = read_len(c, hdr, &len);
			if (ret == -EKEYREJECTED)
				k->r_err = ret;
			if (ret)
				return ret;
			/*
			 * Past its length word a frame cannot be resumed: any failure
			 * from here on ends the stream (a tag that fails, a cut, a
			 * timeout mid-frame).
			 */
			if (want < len) {
				ret = open_frame(c, hdr, len);
			} else {
				ret = open_into(c, hdr, len, iov, off);
				want -= len;
				if (!ret)
					iov_forward(&iov, &cnt, &off, len);
			}
			if (ret) {
				k->r_err = ret;
				return ret;
			}
			if (k->r_pos == k->r_len)
				continue;	/* opened into the caller's iovecs */
		}
		piece = min(iov->iov_len - off, (size_t)(k->r_len - k->r_pos));
		memcpy((u8 *)iov->iov_base + off, k->rbuf + k->r_pos, piece);
		k->r_pos += piece;
		want -= piece;
		iov_forward(&iov, &cnt, &off, piece);
	}
	return 0;
}
