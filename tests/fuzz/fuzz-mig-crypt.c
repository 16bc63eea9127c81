/*
 * libFuzzer target for the sealed stream's reader (migration/crypt.c):
 * open_frame() and mig_crypt__readv() are the first code to see a keyed
 * connection's bytes.  Two properties, from one input:
 *
 *   - the input's tail, sealed in writes of the sizes its head gives, then
 *     changed as its head says (a byte flipped, the stream cut, the first
 *     frame repeated, any one frame dropped, or nothing), is read back in
 *     chunks of the sizes it gives, each chunk into three iovecs cut where
 *     the head's byte 4 says (as a RAM record's pages are read): with no
 *     change every byte comes back as written; with a change the reader
 *     fails before returning any byte of a changed frame, and never
 *     returns bytes that differ from what was sealed; reads that want a
 *     whole frame or more (chunk bit 6: up to 1 MiB) have it opened
 *     straight into the caller's memory, across the iovecs, and a read
 *     that fails leaves there nothing but bytes of frames that opened (a
 *     forged frame's plaintext or a cut one's ciphertext is wiped or was
 *     never written);
 *   - the raw input read as a stream under a fixed key never yields a
 *     byte (nobody without the key makes a frame that opens), whatever its
 *     lengths say, without reading past its end.
 *
 * As the head also says, the writer cuts its frames small (64 to 960
 * bytes, LKVM_MIG_FAULT=frame:N's hook), and the reader opens the first
 * frame on its own before its reads (mig_crypt__open_first(), as a keyed
 * destination does with a data connection): the same properties hold.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lkvm/migration.h"

static u8 key[MIG_KEY_SIZE], nc[MIG_NONCE_SIZE], ns[MIG_NONCE_SIZE], pre[MIG_PREAMBLE_SIZE];
static u32 frame_max;		/* the writer's frames at most this long, 0: MIG_FRAME_MAX */
static int first_alone;		/* the reader opens the first frame before reading */

static void setup(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	mig_key__from_bytes("lkvm fuzz key, sixteen+ bytes", 29, key);
	memset(nc, 1, sizeof(nc));
	memset(ns, 2, sizeof(ns));
	mig_preamble__encode(pre, 1 | MIG_PRE_AUTH, 5);
}

#define ASSERT(c) do { if (!(c)) { fprintf(stderr, "broken: %s\n", #c); abort(); } } while (0)

/*
 * Seal pt in writes of the sizes sz[] gives, at least min bytes each (but
 * the last); the wire bytes in *out.
 */
static size_t seal(const u8 *pt, size_t n, const u8 *sz, size_t nsz, size_t min, u8 **out)
{
	struct mig_chan c;
	FILE *f = tmpfile();
	size_t off = 0, i = 0;
	long len;

	ASSERT(f);
	mig_chan__init_fd(&c, dup(fileno(f)));
	ASSERT(!mig_crypt__attach(&c, key, nc, ns, pre, true));
	c.fault_frame_max = frame_max;
	while (off < n) {
		/* Writes of 1 byte to past two frames (512 KiB), as the input says. */
		size_t k = nsz ? ((size_t)sz[i % nsz] << 11) + sz[(i + 1) % nsz] + 1 : n;

		i++;
		k = k < min ? min : k;
		k = k > n - off ? n - off : k;
		ASSERT(!mig_chan__writev(&c, &(struct iovec){ (void *)(pt + off), k }, 1));
		off += k;
	}
	mig_chan__close(&c);
	len = lseek(fileno(f), 0, SEEK_END);
	*out = malloc(len > 0 ? len : 1);
	ASSERT(*out);
	if (len > 0)
		ASSERT(pread(fileno(f), *out, len, 0) == len);
	fclose(f);
	return len > 0 ? (size_t)len : 0;
}

#define POISON	0xa5

/*
 * Read n bytes from wire into got, in chunks; returns the bytes read and
 * the error.  pt: what was sealed (NULL: nothing opens).
 */
static size_t open_all(const u8 *wire, size_t wlen, u8 *got, const u8 *pt, size_t n, u8 chunk,
		       u8 split, int *err)
{
	struct mig_chan c;
	size_t off = 0;

	*err = 0;
	memset(got, POISON, n);
	mig_chan__init_buf(&c, wire, wlen);
	ASSERT(!mig_crypt__attach(&c, key, nc, ns, pre, false));
	if (first_alone && n) {
		*err = mig_crypt__open_first(&c);
		if (*err) {
			for (size_t i = 0; i < n; i++)
				ASSERT(got[i] == POISON);	/* nothing handed on */
			mig_chan__close(&c);
			return 0;
		}
	}
	while (off < n) {
		/* Up to 24 KiB, or up to 1 MiB: whole frames, opened in place. */
		size_t k = chunk & 0x40 ? (size_t)(chunk & 0x3f) * 16411 + 1 : (size_t)chunk * 97 + 1;

		k = k > n - off ? n - off : k;
		/*
		 * In three iovecs (each may be empty) cut where split says, as
		 * recv_ram() reads a record's pages: frames opened in place
		 * then cross from one iovec into the next.
		 */
		{
			size_t a = k * (split & 15) / 15, b = k * (split >> 4) / 15, t;
			struct iovec v[3];

			if (a > b)
				t = a, a = b, b = t;
			v[0] = (struct iovec){ got + off, a };
			v[1] = (struct iovec){ got + off + a, b - a };
			v[2] = (struct iovec){ got + off + b, k - b };
			*err = mig_chan__readv(&c, v, 3);
		}
		if (*err) {
			for (size_t i = off; i < off + k; i++)
				ASSERT(got[i] == POISON || !got[i] || (pt && got[i] == pt[i]));
			break;
		}
		off += k;
	}
	mig_chan__close(&c);
	return off;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	u8 mode, chunk, *wire = NULL, *got;
	size_t nsz, n, wlen, off, read;
	const u8 *sz, *pt;
	u32 where;
	int err;

	setup();
	if (size < 8)
		return 0;
	mode = data[0] % 6;
	chunk = data[1];
	where = data[2] | data[3] << 8 | (u32)data[4] << 16;
	nsz = data[5] % 8;
	first_alone = data[5] & 8;
	frame_max = (data[5] >> 4) * 64;
	if (size < 6 + nsz)
		return 0;
	sz = data + 6;
	pt = data + 6 + nsz;
	n = size - 6 - nsz;
	/* Fuzzer inputs are small: repeat them to reach past one frame. */
	if (data[1] & 0x80 && n) {
		size_t big = MIG_FRAME_MAX + 4096, i;
		u8 *rep = malloc(big);

		ASSERT(rep);
		for (i = 0; i < big; i++)
			rep[i] = pt[i % n] ^ (u8)(i >> 8);
		pt = rep;
		n = big;
	}
	got = malloc((n > size ? n : size) + 1);	/* case 4 reads size bytes */
	ASSERT(got);
	/*
	 * The repeated input in writes of 4 KiB at least: in writes of a byte
	 * its 260 KiB took 6 s a run (a frame each), and such inputs held the
	 * fuzzer to 30 runs a second.  Small inputs still go a byte at a time.
	 */
	wlen = seal(pt, n, sz, nsz, pt != data + 6 + nsz ? 4096 : 1, &wire);
	off = wlen ? where % wlen : 0;
	switch (mode) {
	case 0:					/* unchanged */
		read = open_all(wire, wlen, got, pt, n, chunk, data[4], &err);
		ASSERT(!err && read == n && !memcmp(got, pt, n));
		break;
	case 1:					/* one bit flipped */
		if (!wlen)
			break;
		wire[off] ^= 1u << (data[2] & 7);
		read = open_all(wire, wlen, got, pt, n, chunk, data[4], &err);
		ASSERT(err && !memcmp(got, pt, read) && read <= off);
		break;
	case 2:					/* cut */
		read = open_all(wire, off, got, pt, n, chunk, data[4], &err);
		ASSERT((err == -EPIPE || (!n && !err)) && !memcmp(got, pt, read));
		break;
	case 3: {				/* the first frame repeated */
		u32 flen = wlen >= 4 ? (wire[0] | wire[1] << 8 | wire[2] << 16 | (u32)wire[3] << 24) + 20 : 0;
		u8 *dup2;

		if (!flen || flen >= wlen)	/* one frame: the reader is done before the copy */
			break;
		dup2 = malloc(wlen + flen);
		ASSERT(dup2);
		memcpy(dup2, wire, flen);
		memcpy(dup2 + flen, wire, wlen);
		read = open_all(dup2, wlen + flen, got, pt, n, chunk, data[4], &err);
		ASSERT(err == -EKEYREJECTED && !memcmp(got, pt, read) && read <= flen - 20);
		free(dup2);
		break;
	}
	case 5: {				/* one frame dropped */
		size_t at = 0, before = 0, k, nfr = 0, drop, flen;
		u8 *cut;

		/* The frames' boundaries, from their length words (wire is well formed). */
		while (at + 4 <= wlen) {
			at += 4 + get_le32(wire + at) + 16;
			nfr++;
		}
		ASSERT(at == wlen);
		if (nfr < 2)
			break;
		drop = where % nfr;
		for (at = 0, k = 0; k < drop; k++) {
			before += get_le32(wire + at);
			at += 4 + get_le32(wire + at) + 16;
		}
		flen = 4 + get_le32(wire + at) + 16;
		cut = malloc(wlen - flen + 1);
		ASSERT(cut);
		memcpy(cut, wire, at);
		memcpy(cut + at, wire + at + flen, wlen - at - flen);
		read = open_all(cut, wlen - flen, got, pt, n, chunk, data[4], &err);
		/* Nothing after the gap: a later frame fails its tag (or, the last
		 * one dropped, the stream ends short). */
		ASSERT(err && read <= before && !memcmp(got, pt, read));
		free(cut);
		break;
	}
	case 4:					/* the raw input as a stream: nothing opens */
		read = open_all(data, size, got, NULL, size, chunk, data[4], &err);
		ASSERT(err && !read);
		break;
	}
	if (pt != data + 6 + nsz)
		free((void *)pt);
	free(wire);
	free(got);
	return 0;
}
