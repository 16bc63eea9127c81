/*
 * The authenticated stream (migration/crypt.c): HKDF against RFC 5869,
 * sealed frames read back through any chunking, and every way a stream
 * can be altered (a flipped bit anywhere, a cut, a dropped, repeated,
 * reordered or reflected frame, another key, nonce or preamble) failing
 * as "does not authenticate" before a byte of it is handed on, also when
 * a read wants whole frames and they are opened straight into the
 * caller's memory (RAM page data into guest memory).  A connection's
 * first frame can be opened on its own (a keyed destination does so
 * before it gives a data connection its channel), and a stream cut into
 * small frames (another writer's, or LKVM_MIG_FAULT=frame:N) reads back
 * the same; one altered past its first frame fails with that frame
 * opened.  Key files are refused when open to others, too short or too
 * long.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lkvm/migration.h"
#include "test.h"

/* Set-up in a helper that returns a value: a failure there ends the run. */
#define MUST(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: set-up failed: %s\n", __FILE__, __LINE__, #c); \
		abort();						\
	}								\
} while (0)

static u8 key[MIG_KEY_SIZE], nc[MIG_NONCE_SIZE], ns[MIG_NONCE_SIZE], pre[MIG_PREAMBLE_SIZE];
static u32 seal_frame_max;	/* seal(): frames at most this long (0: MIG_FRAME_MAX) */

static void setup_keys(void)
{
	mig_key__from_bytes("a key of more than sixteen bytes", 32, key);
	memset(nc, 0x11, sizeof(nc));
	memset(ns, 0x22, sizeof(ns));
	mig_preamble__encode(pre, 1 | MIG_PRE_AUTH, 0x1234);
}

/* RFC 5869 test case 1 (SHA-256, L = 42). */
static void test_hkdf_rfc5869(void)
{
	static const u8 okm_want[42] = {
		0x3c, 0xb2, 0x5f, 0x25, 0xfa, 0xac, 0xd5, 0x7a, 0x90, 0x43, 0x4f, 0x64, 0xd0, 0x36,
		0x2f, 0x2a, 0x2d, 0x2d, 0x0a, 0x90, 0xcf, 0x1a, 0x5a, 0x4c, 0x5d, 0xb0, 0x2d, 0x56,
		0xec, 0xc4, 0xc5, 0xbf, 0x34, 0x00, 0x72, 0x08, 0xd5, 0xb8, 0x87, 0x18, 0x58, 0x65,
	};
	u8 ikm[22], salt[13], info[10], okm[42];
	unsigned int i;

	memset(ikm, 0x0b, sizeof(ikm));
	for (i = 0; i < sizeof(salt); i++)
		salt[i] = i;
	for (i = 0; i < sizeof(info); i++)
		info[i] = 0xf0 + i;
	CHECK_EQ(mig_hkdf_sha256(ikm, sizeof(ikm), salt, sizeof(salt), info, sizeof(info),
				 okm, sizeof(okm)), 0);
	CHECK(!memcmp(okm, okm_want, sizeof(okm)));
}

/*
 * Seal what the iovecs hold (times over, or with each, one write per
 * iovec) through a channel writing to a temporary file, and give back the
 * bytes that would have gone on the wire.
 */
static u8 *seal(struct iovec *iov, int cnt, int times, bool each, size_t *len)
{
	struct mig_chan c;
	FILE *f = tmpfile();
	u8 *buf;
	off_t n;

	MUST(f);
	mig_chan__init_fd(&c, dup(fileno(f)));
	MUST(!mig_crypt__attach(&c, key, nc, ns, pre, true));
	c.fault_frame_max = seal_frame_max;
	for (int i = 0; i < times; i++) {
		if (!each) {
			MUST(!mig_chan__writev(&c, iov, cnt));
			continue;
		}
		for (int k = 0; k < cnt; k++)
			MUST(!mig_chan__writev(&c, &iov[k], 1));
	}
	mig_chan__close(&c);
	n = lseek(fileno(f), 0, SEEK_END);
	MUST(n > 0);
	buf = malloc(n);
	MUST(buf);
	MUST(pread(fileno(f), buf, n, 0) == n);
	fclose(f);
	*len = n;
	return buf;
}

/* Open wire bytes as the other side would, into out (len bytes wanted). */
static int open_wire(const u8 *wire, size_t wlen, void *out, size_t len, size_t chunk,
		     bool source)
{
	struct mig_chan c;
	size_t off = 0;
	int ret = 0;

	mig_chan__init_buf(&c, wire, wlen);
	MUST(!mig_crypt__attach(&c, key, nc, ns, pre, source));
	while (off < len && !ret) {
		size_t k = min(chunk, len - off);

		ret = mig_chan__read(&c, (u8 *)out + off, k);
		off += k;
	}
	mig_chan__close(&c);
	return ret;
}

static u8 *pattern(size_t n, u8 seed)
{
	u8 *p = malloc(n);

	MUST(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (u8)(i * 131 + seed + (i >> 12));
	return p;
}

/*
 * A read whose last iovec is empty ends with the bytes it wants: it does
 * not wait for a frame that may never come (the stream's last one was).
 */
static void test_trailing_empty_iovec(void)
{
	u8 src[100], dst[100] = { 0 }, *wire;
	struct iovec w = { src, sizeof(src) };
	struct iovec r1[2] = { { dst, 60 }, { NULL, 0 } }, r2[2] = { { dst + 60, 40 }, { NULL, 0 } };
	struct mig_chan c;
	size_t wlen;

	memset(src, 0x5a, sizeof(src));
	wire = seal(&w, 1, 1, false, &wlen);
	mig_chan__init_buf(&c, wire, wlen);
	REQUIRE(!mig_crypt__attach(&c, key, nc, ns, pre, false));
	/* Less than the frame: opened in the buffer, then copied out in two reads. */
	CHECK_EQ(mig_chan__readv(&c, r1, 2), 0);
	CHECK_EQ(mig_chan__readv(&c, r2, 2), 0);
	CHECK(!memcmp(dst, src, sizeof(src)));
	mig_chan__close(&c);
	free(wire);
}

/* Frames of every size up to and past MIG_FRAME_MAX, read in odd chunks. */
static void test_roundtrip(void)
{
	size_t sizes[] = { 1, 40, 4096, MIG_FRAME_MAX - 1, MIG_FRAME_MAX, MIG_FRAME_MAX + 1,
			   3 * MIG_FRAME_MAX + 12345 };
	size_t chunks[] = { 1, 7, 40, 4096, 1 << 20 };

	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t n = sizes[i], half = n / 3, wlen;
		u8 *src = pattern(n, i), *dst = malloc(n), *wire;
		struct iovec iov[3] = { { src, half }, { NULL, 0 }, { src + half, n - half } };

		REQUIRE(dst);
		wire = seal(iov, 3, 1, false, &wlen);
		/* 4 bytes of length and a 16-byte tag per frame, nothing else. */
		CHECK_EQ(wlen, n + 20 * ((n + MIG_FRAME_MAX - 1) / MIG_FRAME_MAX));
		CHECK(n < 64 || memcmp(wire + 4, src, 64));	/* not the plaintext */
		for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
			memset(dst, 0, n);
			CHECK_EQ(open_wire(wire, wlen, dst, n, chunks[c], false), 0);
			CHECK(!memcmp(dst, src, n));
		}
		/* One byte more than was sealed: the end of the stream, not data. */
		{
			u8 *more = malloc(n + 1);

			REQUIRE(more);
			CHECK_EQ(open_wire(wire, wlen, more, n + 1, n + 1, false), -EPIPE);
			free(more);
		}
		free(wire);
		free(dst);
		free(src);
	}
}

/* A flipped bit in the length, the ciphertext or the tag of any frame. */
static void test_any_flip_rejected(void)
{
	size_t n = MIG_FRAME_MAX + 5000, wlen;
	u8 *src = pattern(n, 9), *dst = malloc(n), *wire;
	struct iovec iov = { src, n };
	struct { size_t off; u8 bit; } flips[] = {
		{ 0, 0x01 },			/* frame 1's length, low byte: over the cap */
		{ 2, 0x01 },			/* its third byte: 0x40000 -> 0x50000 */
		{ 2, 0x04 },			/* 0x40000 -> 0: no empty frames */
		{ 4, 0x01 },			/* first ciphertext byte */
		{ 4 + MIG_FRAME_MAX - 1, 0x80 },	/* the last one */
		{ 4 + MIG_FRAME_MAX + 15, 0x01 },	/* the tag's last byte */
		{ 4 + MIG_FRAME_MAX + 16 + 1, 0x10 },	/* frame 2's length, 5000 -> 904 */
		{ 0, 0 },			/* (filled below: frame 2's last ciphertext byte) */
		{ 0, 0 },			/* (its tag's last byte) */
	};

	REQUIRE(dst);
	wire = seal(&iov, 1, 1, false, &wlen);
	flips[7].off = wlen - 17, flips[7].bit = 0x02;
	flips[8].off = wlen - 1, flips[8].bit = 0x40;
	for (size_t i = 0; i < ARRAY_SIZE(flips); i++) {
		int ret;

		wire[flips[i].off] ^= flips[i].bit;
		memset(dst, 0, n);
		ret = open_wire(wire, wlen, dst, n, n, false);
		CHECK_EQ(ret, -EKEYREJECTED);
		if (ret != -EKEYREJECTED)
			fprintf(stderr, "  flip 0x%02x at %zu: %d\n", flips[i].bit, flips[i].off, ret);
		/* Frame 1's bytes come out only when frame 1 was not the one changed. */
		if (flips[i].off < 4 + MIG_FRAME_MAX + 16)
			CHECK(!dst[0] && !dst[MIG_FRAME_MAX - 1]);
		wire[flips[i].off] ^= flips[i].bit;
	}
	/* A forged frame ends the stream: no later read gets anything. */
	{
		struct mig_chan c;
		u8 b[8];

		wire[10] ^= 0x80;
		mig_chan__init_buf(&c, wire, wlen);
		REQUIRE(!mig_crypt__attach(&c, key, nc, ns, pre, false));
		CHECK_EQ(mig_chan__read(&c, b, sizeof(b)), -EKEYREJECTED);
		CHECK_EQ(mig_chan__read(&c, b, sizeof(b)), -EKEYREJECTED);
		mig_chan__close(&c);
		wire[10] ^= 0x80;
	}
	free(wire);
	free(dst);
	free(src);
}

/*
 * As the RAM path reads: a record header, its table, then the page data
 * in one readv over scattered pages (out of address order, with empty
 * iovecs between), which wants whole frames and so has them opened into
 * the pages themselves.  Batches of 2 MiB + 12 KiB, three of them.
 */
#define BATCH_HDR	(40 + 512 * 24)
#define BATCH_PAGES	512

static void test_scattered_pages(void)
{
	size_t per = BATCH_HDR + BATCH_PAGES * 4096, n = 3 * per, wlen;
	u8 *src = pattern(n, 21), *wire, *dst = malloc(n), hdr[BATCH_HDR];
	struct iovec iov[2 * BATCH_PAGES], w = { src, per };
	struct mig_chan c;

	REQUIRE(dst);
	/* One write per batch, as ram.c's flush. */
	{
		struct iovec ws[3] = { w, { src + per, per }, { src + 2 * per, per } };

		wire = seal(ws, 3, 1, true, &wlen);
	}
	mig_chan__init_buf(&c, wire, wlen);
	REQUIRE(!mig_crypt__attach(&c, key, nc, ns, pre, false));
	memset(dst, 0, n);
	for (int b = 0; b < 3; b++) {
		u8 *pages = dst + b * per;

		CHECK_EQ(mig_chan__read(&c, hdr, 40), 0);
		CHECK_EQ(mig_chan__read(&c, hdr + 40, BATCH_HDR - 40), 0);
		CHECK(!memcmp(hdr, src + b * per, BATCH_HDR));
		/* Page i of the batch lands at slot 511 - i: nothing is contiguous. */
		for (int i = 0; i < BATCH_PAGES; i++) {
			iov[2 * i] = (struct iovec){ pages + (size_t)(BATCH_PAGES - 1 - i) * 4096, 4096 };
			iov[2 * i + 1] = (struct iovec){ NULL, 0 };
		}
		CHECK_EQ(mig_chan__readv(&c, iov, 2 * BATCH_PAGES), 0);
		for (int i = 0; i < BATCH_PAGES; i++)
			CHECK(!memcmp(pages + (size_t)(BATCH_PAGES - 1 - i) * 4096,
				      src + b * per + BATCH_HDR + (size_t)i * 4096, 4096));
	}
	CHECK_EQ(mig_chan__read(&c, hdr, 1), -EPIPE);	/* and nothing more */
	mig_chan__close(&c);
	free(wire);
	free(dst);
	free(src);
}

/*
 * A frame changed or cut where the read wants it whole (opened into the
 * caller's memory): the read fails, nothing of that frame is left in the
 * caller's memory (neither what it decrypted to nor its ciphertext), and
 * every later read fails too.  Frames before it in the same read were
 * checked and may be there.
 */
static void test_direct_forged(void)
{
	size_t n = 3 * MIG_FRAME_MAX, wlen, f = 4 + MIG_FRAME_MAX + 16;
	u8 *src = pattern(n, 33), *dst = malloc(n), *wire;
	struct iovec iov = { src, n };
	struct { size_t off; u8 bit; const char *what; } cases[] = {
		{ f + 4 + 1000, 0x04, "frame 1's ciphertext" },
		{ 2 * f - 1, 0x80, "frame 1's tag" },
		{ f + 2, 0x01, "frame 1's length" },
		{ 0, 0, "frame 1 cut in its middle" },
	};
	struct mig_chan c;

	REQUIRE(dst);
	wire = seal(&iov, 1, 1, false, &wlen);
	REQUIRE(wlen == 3 * f);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t len = cases[i].bit ? wlen : f + 4 + 5000;
		bool clean = true;
		int ret;

		wire[cases[i].off] ^= cases[i].bit;
		memset(dst, 0xee, n);
		mig_chan__init_buf(&c, wire, len);
		REQUIRE(!mig_crypt__attach(&c, key, nc, ns, pre, false));
		ret = mig_chan__read(&c, dst, n);
		CHECK_EQ(ret, cases[i].bit ? -EKEYREJECTED : -EPIPE);
		/* Frame 0 opened (checked) before; frame 1 wiped or never written. */
		CHECK(!memcmp(dst, src, MIG_FRAME_MAX));
		for (size_t k = MIG_FRAME_MAX; k < 2 * MIG_FRAME_MAX; k++)
			clean &= dst[k] == 0 || dst[k] == 0xee;
		CHECK(clean);
		if (!clean)
			fprintf(stderr, "  %s: bytes of frame 1 left in the caller's memory\n",
				cases[i].what);
		CHECK_EQ(mig_chan__read(&c, dst, 1), ret);	/* and so stays */
		CHECK_EQ(mig_chan__read(&c, dst, n), ret);
		mig_chan__close(&c);
		wire[cases[i].off] ^= cases[i].bit;
	}
	/* Unchanged, the same read opens all three. */
	mig_chan__init_buf(&c, wire, wlen);
	REQUIRE(!mig_crypt__attach(&c, key, nc, ns, pre, false));
	CHECK_EQ(mig_chan__read(&c, dst, n), 0);
	CHECK(!memcmp(dst, src, n));
	mig_chan__close(&c);
	free(wire);
	free(dst);
	free(src);
}

/* Frames of the same stream dropped, repeated, swapped, or sent back. */
static void test_frame_order(void)
{
	u8 a[100], b[100], out[200];
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	size_t f = 4 + 100 + 16, wlen, rlen;
	u8 *wire, *re;

	memset(a, 'a', sizeof(a));
	memset(b, 'b', sizeof(b));
	wire = seal(iov, 2, 1, true, &wlen);	/* two writes: two frames */
	REQUIRE(wlen == 2 * f);
	CHECK_EQ(open_wire(wire, wlen, out, 200, 200, false), 0);
	CHECK(!memcmp(out, a, 100) && !memcmp(out + 100, b, 100));

	re = malloc(2 * f);
	REQUIRE(re);
	/* Swapped. */
	memcpy(re, wire + f, f);
	memcpy(re + f, wire, f);
	CHECK_EQ(open_wire(re, 2 * f, out, 100, 100, false), -EKEYREJECTED);
	/* The first one dropped: the second is not frame 0. */
	CHECK_EQ(open_wire(wire + f, f, out, 100, 100, false), -EKEYREJECTED);
	/* The first one repeated. */
	memcpy(re, wire, f);
	memcpy(re + f, wire, f);
	CHECK_EQ(open_wire(re, 2 * f, out, 200, 200, false), -EKEYREJECTED);
	/* Reflected: the source reading its own frames as if the destination's. */
	CHECK_EQ(open_wire(wire, wlen, out, 200, 200, true), -EKEYREJECTED);
	/* Cut inside the second frame: the end of the stream, and only frame 0's bytes. */
	rlen = f + 50;
	memset(out, 0, sizeof(out));
	CHECK_EQ(open_wire(wire, rlen, out, 200, 200, false), -EPIPE);
	CHECK(!memcmp(out, a, 100) && !out[100] && !out[199]);
	free(re);
	free(wire);
}

/*
 * The first frame opened on its own, its bytes kept for the reads after
 * it, which go on into later frames (a whole one opened straight into
 * the caller's buffer); a forged first frame fails there, and so does
 * every read after it; only a connection's first frame.
 */
static void test_open_first(void)
{
	size_t big = MIG_FRAME_MAX + 1000, wlen;
	u8 small[100], *bsrc = pattern(big, 3), *out = malloc(100 + big), *wire;
	struct iovec iov[2] = { { small, sizeof(small) }, { bsrc, big } };
	struct mig_chan c;

	REQUIRE(out);
	memset(small, 's', sizeof(small));
	wire = seal(iov, 2, 1, true, &wlen);	/* frames of 100, MIG_FRAME_MAX, 1000 */
	mig_chan__init_buf(&c, wire, wlen);
	REQUIRE(!mig_crypt__attach(&c, key, nc, ns, pre, false));
	CHECK(!mig_crypt__opened(&c));
	CHECK_EQ(mig_crypt__open_first(&c), 0);
	CHECK(mig_crypt__opened(&c));
	CHECK_EQ(mig_crypt__open_first(&c), -EINVAL);	/* not the first any more */
	CHECK_EQ(mig_chan__read(&c, out, 40), 0);
	CHECK_EQ(mig_chan__read(&c, out + 40, 60 + big), 0);
	CHECK(!memcmp(out, small, 100) && !memcmp(out + 100, bsrc, big));
	mig_chan__close(&c);

	wire[4 + 50] ^= 1;			/* frame 0's ciphertext */
	mig_chan__init_buf(&c, wire, wlen);
	REQUIRE(!mig_crypt__attach(&c, key, nc, ns, pre, false));
	CHECK_EQ(mig_crypt__open_first(&c), -EKEYREJECTED);
	CHECK(!mig_crypt__opened(&c));
	CHECK_EQ(mig_chan__read(&c, out, 1), -EKEYREJECTED);
	mig_chan__close(&c);

	mig_chan__init_buf(&c, wire, 3);	/* cut inside the length word */
	REQUIRE(!mig_crypt__attach(&c, key, nc, ns, pre, false));
	CHECK_EQ(mig_crypt__open_first(&c), -EPIPE);
	mig_chan__close(&c);
	free(wire);
	free(out);
	free(bsrc);
}

/*
 * Cut into 16-byte frames, a record spans many and reads back whole in
 * any chunks; a flip in a later frame fails with the first frame opened,
 * which is how a keyed destination tells "altered on the way" from
 * "another key" (dest.c, refuse_altered()).
 */
static void test_small_frames(void)
{
	size_t n = 1000, f = 4 + 16 + 16, wlen;
	u8 *src = pattern(n, 5), out[1000], *wire;
	struct iovec iov = { src, n };
	struct mig_chan c;

	seal_frame_max = 16;
	wire = seal(&iov, 1, 1, false, &wlen);
	seal_frame_max = 0;
	CHECK_EQ(wlen, n + 20 * DIV_ROUND_UP(n, 16));
	CHECK_EQ(get_le32(wire), 16);
	for (size_t chunk = 1; chunk <= n; chunk *= 7) {
		memset(out, 0, n);
		CHECK_EQ(open_wire(wire, wlen, out, n, chunk, false), 0);
		CHECK(!memcmp(out, src, n));
	}
	wire[f + 4 + 3] ^= 0x20;		/* frame 1's ciphertext */
	mig_chan__init_buf(&c, wire, wlen);
	REQUIRE(!mig_crypt__attach(&c, key, nc, ns, pre, false));
	CHECK_EQ(mig_chan__read(&c, out, 40), -EKEYREJECTED);
	CHECK(mig_crypt__opened(&c));
	mig_chan__close(&c);
	free(wire);
	free(src);
}

/* Another key, either nonce, or another preamble: nothing opens. */
static void test_other_keys(void)
{
	u8 data[300], out[300], *wire, save[MIG_PREAMBLE_SIZE];
	struct iovec iov = { data, sizeof(data) };
	size_t wlen;

	memset(data, 0x5a, sizeof(data));
	wire = seal(&iov, 1, 1, false, &wlen);
	CHECK_EQ(open_wire(wire, wlen, out, 300, 300, false), 0);

	mig_key__from_bytes("a key of more than sixteen byteZ", 32, key);	/* one byte off */
	CHECK_EQ(open_wire(wire, wlen, out, 300, 300, false), -EKEYREJECTED);
	setup_keys();
	nc[31] ^= 1;
	CHECK_EQ(open_wire(wire, wlen, out, 300, 300, false), -EKEYREJECTED);
	setup_keys();
	ns[0] ^= 1;
	CHECK_EQ(open_wire(wire, wlen, out, 300, 300, false), -EKEYREJECTED);
	setup_keys();
	memcpy(save, pre, sizeof(pre));
	mig_preamble__encode(pre, 2 | MIG_PRE_AUTH, 0x1234);	/* channel 2's key */
	CHECK_EQ(open_wire(wire, wlen, out, 300, 300, false), -EKEYREJECTED);
	mig_preamble__encode(pre, 1 | MIG_PRE_AUTH, 0x1235);	/* another session */
	CHECK_EQ(open_wire(wire, wlen, out, 300, 300, false), -EKEYREJECTED);
	memcpy(pre, save, sizeof(pre));
	CHECK_EQ(open_wire(wire, wlen, out, 300, 300, false), 0);
	free(wire);
}

/* The flag rides in the channel word; decode hands back the plain channel. */
static void test_preamble_flag(void)
{
	u8 p[MIG_PREAMBLE_SIZE];
	u32 v, ch;
	u64 s;

	mig_preamble__encode(p, 3 | MIG_PRE_AUTH, 77);
	CHECK_EQ(mig_preamble__decode(p, &v, &ch, &s), 0);
	CHECK_EQ(ch, 3u);
	CHECK(mig_preamble__auth(p));
	mig_preamble__encode(p, 3, 77);
	CHECK(!mig_preamble__auth(p));
	mig_preamble__encode(p, (MIG_MAX_CHANNELS + 1) | MIG_PRE_AUTH, 77);
	CHECK_EQ(mig_preamble__decode(p, &v, &ch, &s), -EPROTO);
}

static int write_key(const char *path, size_t n, mode_t mode)
{
	u8 *b = pattern(n ? n : 1, 3);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), ok;

	MUST(fd >= 0);
	ok = write(fd, b, n) == (ssize_t)n && !fchmod(fd, mode);
	close(fd);
	free(b);
	return ok ? 0 : -1;
}

static void test_key_file(void)
{
	char dir[] = "/tmp/lkvm-key-XXXXXX", path[64], why[512];
	u8 k1[MIG_KEY_SIZE], k2[MIG_KEY_SIZE], zeros[32] = { 0 };
	int fd;

	REQUIRE(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/key", dir);

	CHECK_EQ(mig_key__load(path, k1, why, sizeof(why)), -ENOENT);
	CHECK(strstr(why, "cannot read key file"));
	REQUIRE(!write_key(path, 32, 0600));
	CHECK_EQ(mig_key__load(path, k1, why, sizeof(why)), 0);
	CHECK_EQ(mig_key__load(path, k2, why, sizeof(why)), 0);
	CHECK(!memcmp(k1, k2, sizeof(k1)));
	REQUIRE(!write_key(path, 33, 0400));
	CHECK_EQ(mig_key__load(path, k2, why, sizeof(why)), 0);
	CHECK(memcmp(k1, k2, sizeof(k1)));		/* another file, another key */

	REQUIRE(!write_key(path, 32, 0644));
	CHECK_EQ(mig_key__load(path, k1, why, sizeof(why)), -EPERM);
	CHECK(strstr(why, "open to other users (mode 0644)") && strstr(why, "chmod 600"));
	REQUIRE(!write_key(path, 32, 0620));
	CHECK_EQ(mig_key__load(path, k1, why, sizeof(why)), -EPERM);

	REQUIRE(!write_key(path, MIG_KEY_FILE_MIN - 1, 0600));
	CHECK_EQ(mig_key__load(path, k1, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "holds 31 bytes; a key needs 32 to 4096"));
	REQUIRE(!write_key(path, 0, 0600));
	CHECK_EQ(mig_key__load(path, k1, why, sizeof(why)), -EINVAL);
	REQUIRE(!write_key(path, MIG_KEY_FILE_MIN, 0600));
	CHECK_EQ(mig_key__load(path, k1, why, sizeof(why)), 0);
	REQUIRE(!write_key(path, MIG_KEY_FILE_MAX, 0600));
	CHECK_EQ(mig_key__load(path, k1, why, sizeof(why)), 0);
	REQUIRE(!write_key(path, MIG_KEY_FILE_MAX + 1, 0600));
	CHECK_EQ(mig_key__load(path, k1, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "holds more than 4096 bytes"));

	/* 32 zero bytes (head -c 32 /dev/zero by mistake): refused, named. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, zeros, sizeof(zeros)) == (ssize_t)sizeof(zeros));
	close(fd);
	CHECK_EQ(mig_key__load(path, k1, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "is one byte (0x00) 32 times, not a secret"));
	/* One byte differing is enough to be taken (no entropy test: a rule). */
	zeros[31] = 1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, zeros, sizeof(zeros)) == (ssize_t)sizeof(zeros));
	close(fd);
	CHECK_EQ(mig_key__load(path, k1, why, sizeof(why)), 0);

	CHECK_EQ(mig_key__load(dir, k1, why, sizeof(why)), -EINVAL);	/* a directory */
	CHECK(strstr(why, "not a regular file"));
	unlink(path);
	rmdir(dir);
}

TEST_MAIN_BEGIN("test-migration-crypt")
	setup_keys();
	RUN(test_hkdf_rfc5869);
	RUN(test_roundtrip);
	RUN(test_any_flip_rejected);
	RUN(test_scattered_pages);
	RUN(test_trailing_empty_iovec);
	RUN(test_direct_forged);
	RUN(test_frame_order);
	RUN(test_open_first);
	RUN(test_small_frames);
	RUN(test_other_keys);
	RUN(test_preamble_flag);
	RUN(test_key_file);
TEST_MAIN_END()
