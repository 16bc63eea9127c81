/*
 * zlib's crc32 (the reflected IEEE CRC-32), computed with carry-less
 * multiplication where the CPU has PCLMULQDQ: the stream checksums every
 * byte of guest RAM twice (sender and receiver), and zlib's table-driven
 * crc32 (~2.4 GB/s here) would otherwise cost more CPU than the TCP copy.
 *
 * The method is Intel's "Fast CRC Computation for Generic Polynomials
 * Using PCLMULQDQ" (Gopal et al.): fold 64 bytes at a time by x^512, then
 * 128 bits down to 64 and 32 bits, then a Barrett reduction; where the
 * CPU has VPCLMULQDQ, the same folding runs on two 128-bit lanes per AVX2
 * register (128 bytes a step) or four per AVX-512 register (256 bytes).
 * Each level also copies a page as it folds it (mig_crc32_copy_page()).
 * The result is bit-identical to zlib's crc32()
 * (tests/unit/test-migration-stream.c compares them over many lengths and
 * alignments, at every level the CPU has).  The vector loops load
 * unaligned, so there is no head to peel; zlib does the tail under 16
 * bytes and every buffer under 128.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lkvm/migration.h"

/* zlib's crc32 takes a uInt length: feed it at most 1 GiB at a time. */
static u32 zlib_crc32(u32 crc, const u8 *b, size_t n)
{
	while (n) {
		uInt c = n > (1u << 30) ? (1u << 30) : (uInt)n;

		crc = crc32(crc, b, c);
		b += c;
		n -= c;
	}
	return crc;
}

/* What crc_probe() finds and LKVM_CRC_LEVEL may force; each needs the ones below. */
enum {
	CRC_ZLIB,		/* table-driven, any CPU */
	CRC_PCLMUL,		/* 128-bit PCLMULQDQ (SSE4.1): AMD Rome (Zen 2) */
	CRC_VPCLMUL256,		/* VPCLMULQDQ on 256-bit AVX2: AMD Milan (Zen 3) */
	CRC_VPCLMUL512,		/* VPCLMULQDQ with AVX-512 */
};

/* Where there is no one-pass copy: the copy, then a crc of what it wrote. */
static u32 copy_then_crc(void *dst, const void *src)
{
	memcpy(dst, src, PAGE_SIZE);
	return mig_crc32(0, dst, PAGE_SIZE);
}

#if defined(__x86_64__)
#include <immintrin.h>

/* x^(512+64) mod P, x^512 mod P (bit-reflected, shifted by one) ... */
#define K1	0x154442bd4ULL		/* x^(4*128+32) mod P */
#define K2	0x1c6e41596ULL		/* x^(4*128-32) mod P */
#define K3	0x1751997d0ULL		/* x^(128+32) mod P */
#define K4	0x0ccaa009eULL		/* x^(128-32) mod P */
#define K5	0x163cd6124ULL		/* x^64 mod P */
#define POLY	0x1db710641ULL		/* P' (reflected) */
#define MU	0x1f7011641ULL		/* floor(x^64 / P) (reflected) */

static __attribute__((target("pclmul,sse4.1"))) __m128i fold(__m128i x, __m128i k)
{
	return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

/* Fold the 128-bit remainder x with the rest of a 16-byte-multiple buffer, then reduce. */
static __attribute__((target("pclmul,sse4.1"))) u32 crc_finish(__m128i x1, const u8 *p, size_t len)
{
	const __m128i mask32 = _mm_set_epi32(0, 0, 0, ~0);
	__m128i k = _mm_set_epi64x(K4, K3), t;

	while (len >= 16) {
		x1 = _mm_xor_si128(fold(x1, k), _mm_loadu_si128((const __m128i *)p));
		p += 16;
		len -= 16;
	}
	/* 128 -> 64 bits. */
	t = _mm_srli_si128(x1, 8);
	x1 = _mm_xor_si128(_mm_clmulepi64_si128(x1, k, 0x10), t);
	/* 64 -> 32 bits. */
	k = _mm_set_epi64x(0, K5);
	t = _mm_srli_si128(x1, 4);
	x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k, 0x00), t);
	/* Barrett reduction to the 32-bit remainder. */
	k = _mm_set_epi64x(MU, POLY);
	t = _mm_and_si128(x1, mask32);
	t = _mm_clmulepi64_si128(t, k, 0x10);
	t = _mm_and_si128(t, mask32);
	t = _mm_clmulepi64_si128(t, k, 0x00);
	x1 = _mm_xor_si128(x1, t);
	return _mm_extract_epi32(x1, 1);
}

/* crc is the raw (not inverted) register; len >= 64, a multiple of 16. */
static __attribute__((target("pclmul,sse4.1"))) u32 crc_pclmul(u32 crc, const u8 *p, size_t len)
{
	__m128i x1, x2, x3, x4, k;

	x1 = _mm_loadu_si128((const __m128i *)p);
	x2 = _mm_loadu_si128((const __m128i *)(p + 16));
	x3 = _mm_loadu_si128((const __m128i *)(p + 32));
	x4 = _mm_loadu_si128((const __m128i *)(p + 48));
	x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128(crc));
	p += 64;
	len -= 64;

	k = _mm_set_epi64x(K2, K1);
	while (len >= 64) {
		x1 = _mm_xor_si128(fold(x1, k), _mm_loadu_si128((const __m128i *)p));
		x2 = _mm_xor_si128(fold(x2, k), _mm_loadu_si128((const __m128i *)(p + 16)));
		x3 = _mm_xor_si128(fold(x3, k), _mm_loadu_si128((const __m128i *)(p + 32)));
		x4 = _mm_xor_si128(fold(x4, k), _mm_loadu_si128((const __m128i *)(p + 48)));
		p += 64;
		len -= 64;
	}

	k = _mm_set_epi64x(K4, K3);
	x1 = _mm_xor_si128(fold(x1, k), x2);
	x1 = _mm_xor_si128(fold(x1, k), x3);
	x1 = _mm_xor_si128(fold(x1, k), x4);
	return crc_finish(x1, p, len);
}

/*
 * crc_pclmul over one page while copying it to dst (the fused copy of
 * mig_crc32_copy_page(), below, for CPUs without VPCLMULQDQ): one read of
 * the page feeds both.  nt: non-temporal stores, dst 16-byte aligned.
 */
static __attribute__((target("pclmul,sse4.1"))) inline __attribute__((always_inline))
void store16(u8 *dst, __m128i v, bool nt)
{
	if (nt)
		_mm_stream_si128((__m128i *)dst, v);
	else
		_mm_storeu_si128((__m128i *)dst, v);
}

static __attribute__((target("pclmul,sse4.1"))) inline __attribute__((always_inline))
u32 crc_pclmul_copy_page(u32 crc, u8 *dst, const u8 *p, bool nt)
{
	__m128i x1, x2, x3, x4, d1, d2, d3, d4, k;
	size_t off;

	x1 = _mm_loadu_si128((const __m128i *)p);
	x2 = _mm_loadu_si128((const __m128i *)(p + 16));
	x3 = _mm_loadu_si128((const __m128i *)(p + 32));
	x4 = _mm_loadu_si128((const __m128i *)(p + 48));
	store16(dst, x1, nt);
	store16(dst + 16, x2, nt);
	store16(dst + 32, x3, nt);
	store16(dst + 48, x4, nt);
	x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128(crc));
	k = _mm_set_epi64x(K2, K1);
	for (off = 64; off < PAGE_SIZE; off += 64) {
		d1 = _mm_loadu_si128((const __m128i *)(p + off));
		d2 = _mm_loadu_si128((const __m128i *)(p + off + 16));
		d3 = _mm_loadu_si128((const __m128i *)(p + off + 32));
		d4 = _mm_loadu_si128((const __m128i *)(p + off + 48));
		store16(dst + off, d1, nt);
		store16(dst + off + 16, d2, nt);
		store16(dst + off + 32, d3, nt);
		store16(dst + off + 48, d4, nt);
		x1 = _mm_xor_si128(fold(x1, k), d1);
		x2 = _mm_xor_si128(fold(x2, k), d2);
		x3 = _mm_xor_si128(fold(x3, k), d3);
		x4 = _mm_xor_si128(fold(x4, k), d4);
	}
	k = _mm_set_epi64x(K4, K3);
	x1 = _mm_xor_si128(fold(x1, k), x2);
	x1 = _mm_xor_si128(fold(x1, k), x3);
	x1 = _mm_xor_si128(fold(x1, k), x4);
	return crc_finish(x1, p + PAGE_SIZE, 0);
}

static __attribute__((target("pclmul,sse4.1"))) u32 crc_pclmul_copy_page_nt(u32 crc, u8 *dst,
									       const u8 *p)
{
	return crc_pclmul_copy_page(crc, dst, p, true);
}

static __attribute__((target("pclmul,sse4.1"))) u32 crc_pclmul_copy_page_cached(u32 crc, u8 *dst,
										   const u8 *p)
{
	return crc_pclmul_copy_page(crc, dst, p, false);
}

/*
 * The same folding four times wider: VPCLMULQDQ on 512-bit registers, each
 * holding four 128-bit lanes, 256 bytes per step.  ~3x the speed of the
 * 128-bit loop here, and the receiver and sender each crc every page.
 */
#define K1_2048	0x11542778aULL		/* x^(16*128+32) mod P */
#define K2_2048	0x1322d1430ULL		/* x^(16*128-32) mod P */

#define VTARGET	__attribute__((target("avx512f,vpclmulqdq,pclmul,sse4.1")))

static VTARGET __m512i fold512(__m512i x, __m512i k, __m512i data)
{
	return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
					 _mm512_clmulepi64_epi128(x, k, 0x11), data, 0x96);
}

/* Four registers into one: each lane moves 512 bits on. */
static VTARGET __m512i fold_regs(__m512i z0, __m512i z1, __m512i z2, __m512i z3)
{
	__m512i k = _mm512_broadcast_i32x4(_mm_set_epi64x(K2, K1));

	z0 = fold512(z0, k, z1);
	z0 = fold512(z0, k, z2);
	return fold512(z0, k, z3);
}

/* Four lanes into one; lane 0 holds the oldest bytes. */
static VTARGET __m128i fold_lanes(__m512i z)
{
	__m128i k = _mm_set_epi64x(K4, K3), x;

	x = _mm512_extracti32x4_epi32(z, 0);
	x = _mm_xor_si128(fold(x, k), _mm512_extracti32x4_epi32(z, 1));
	x = _mm_xor_si128(fold(x, k), _mm512_extracti32x4_epi32(z, 2));
	return _mm_xor_si128(fold(x, k), _mm512_extracti32x4_epi32(z, 3));
}

/* len >= 256, a multiple of 16. */
static VTARGET u32 crc_vpclmul(u32 crc, const u8 *p, size_t len)
{
	__m512i z0, z1, z2, z3, k;

	z0 = _mm512_loadu_si512(p);
	z1 = _mm512_loadu_si512(p + 64);
	z2 = _mm512_loadu_si512(p + 128);
	z3 = _mm512_loadu_si512(p + 192);
	z0 = _mm512_xor_si512(z0, _mm512_inserti32x4(_mm512_setzero_si512(),
						     _mm_cvtsi32_si128(crc), 0));
	p += 256;
	len -= 256;

	k = _mm512_broadcast_i32x4(_mm_set_epi64x(K2_2048, K1_2048));
	while (len >= 256) {
		z0 = fold512(z0, k, _mm512_loadu_si512(p));
		z1 = fold512(z1, k, _mm512_loadu_si512(p + 64));
		z2 = fold512(z2, k, _mm512_loadu_si512(p + 128));
		z3 = fold512(z3, k, _mm512_loadu_si512(p + 192));
		p += 256;
		len -= 256;
	}
	z0 = fold_regs(z0, z1, z2, z3);
	k = _mm512_broadcast_i32x4(_mm_set_epi64x(K2, K1));
	while (len >= 64) {
		z0 = fold512(z0, k, _mm512_loadu_si512(p));
		p += 64;
		len -= 64;
	}
	return crc_finish(fold_lanes(z0), p, len);
}

/*
 * crc_vpclmul over one page while copying it to dst with non-temporal
 * stores: the destination's receive path reads a page out of a small,
 * cache-hot buffer once for both, and guest memory it will not read again
 * soon is written without being read for ownership first.
 */
static VTARGET inline __attribute__((always_inline)) void store64(u8 *dst, __m512i v, bool nt)
{
	if (nt)
		_mm512_stream_si512((void *)dst, v);
	else
		_mm512_storeu_si512(dst, v);
}

static VTARGET inline __attribute__((always_inline)) u32 crc_vpclmul_copy_page(u32 crc, u8 *dst,
									       const u8 *p, bool nt)
{
	__m512i z0, z1, z2, z3, d0, d1, d2, d3, k;
	size_t off;

	z0 = _mm512_loadu_si512(p);
	z1 = _mm512_loadu_si512(p + 64);
	z2 = _mm512_loadu_si512(p + 128);
	z3 = _mm512_loadu_si512(p + 192);
	store64(dst, z0, nt);
	store64(dst + 64, z1, nt);
	store64(dst + 128, z2, nt);
	store64(dst + 192, z3, nt);
	z0 = _mm512_xor_si512(z0, _mm512_inserti32x4(_mm512_setzero_si512(),
						     _mm_cvtsi32_si128(crc), 0));
	k = _mm512_broadcast_i32x4(_mm_set_epi64x(K2_2048, K1_2048));
	for (off = 256; off < PAGE_SIZE; off += 256) {
		d0 = _mm512_loadu_si512(p + off);
		d1 = _mm512_loadu_si512(p + off + 64);
		d2 = _mm512_loadu_si512(p + off + 128);
		d3 = _mm512_loadu_si512(p + off + 192);
		store64(dst + off, d0, nt);
		store64(dst + off + 64, d1, nt);
		store64(dst + off + 128, d2, nt);
		store64(dst + off + 192, d3, nt);
		z0 = fold512(z0, k, d0);
		z1 = fold512(z1, k, d1);
		z2 = fold512(z2, k, d2);
		z3 = fold512(z3, k, d3);
	}
	return crc_finish(fold_lanes(fold_regs(z0, z1, z2, z3)), p + PAGE_SIZE, 0);
}

static VTARGET u32 crc_vpclmul_copy_page_nt(u32 crc, u8 *dst, const u8 *p)
{
	return crc_vpclmul_copy_page(crc, dst, p, true);
}

static VTARGET u32 crc_vpclmul_copy_page_cached(u32 crc, u8 *dst, const u8 *p)
{
	return crc_vpclmul_copy_page(crc, dst, p, false);
}

/*
 * The folding on 256-bit registers, two 128-bit lanes each, for CPUs with
 * VPCLMULQDQ but no AVX-512 (AMD Zen 3): four registers, 128 bytes a step.
 */
#define K1_1024	0x1e88ef372ULL		/* x^(8*128+32) mod P */
#define K2_1024	0x14a7fe880ULL		/* x^(8*128-32) mod P */
#define K1_256	0x0f1da05aaULL		/* x^(2*128+32) mod P */
#define K2_256	0x15a546366ULL		/* x^(2*128-32) mod P */

#define YTARGET	__attribute__((target("avx2,vpclmulqdq,pclmul,sse4.1")))

static YTARGET __m256i fold256(__m256i x, __m256i k, __m256i data)
{
	return _mm256_xor_si256(_mm256_xor_si256(_mm256_clmulepi64_epi128(x, k, 0x00),
						 _mm256_clmulepi64_epi128(x, k, 0x11)), data);
}

/* Four registers into one (each lane moves 256 bits on), then its two lanes. */
static YTARGET __m128i fold_ymm(__m256i y0, __m256i y1, __m256i y2, __m256i y3)
{
	__m256i k = _mm256_broadcastsi128_si256(_mm_set_epi64x(K2_256, K1_256));

	y0 = fold256(y0, k, y1);
	y0 = fold256(y0, k, y2);
	y0 = fold256(y0, k, y3);
	return _mm_xor_si128(fold(_mm256_extracti128_si256(y0, 0), _mm_set_epi64x(K4, K3)),
			     _mm256_extracti128_si256(y0, 1));
}

static YTARGET __m256i crc_ymm(u32 crc)
{
	return _mm256_inserti128_si256(_mm256_setzero_si256(), _mm_cvtsi32_si128(crc), 0);
}

/* len >= 128, a multiple of 16. */
static YTARGET u32 crc_vpclmul256(u32 crc, const u8 *p, size_t len)
{
	__m256i y0, y1, y2, y3, k;

	y0 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)p), crc_ymm(crc));
	y1 = _mm256_loadu_si256((const __m256i *)(p + 32));
	y2 = _mm256_loadu_si256((const __m256i *)(p + 64));
	y3 = _mm256_loadu_si256((const __m256i *)(p + 96));
	p += 128;
	len -= 128;

	k = _mm256_broadcastsi128_si256(_mm_set_epi64x(K2_1024, K1_1024));
	while (len >= 128) {
		y0 = fold256(y0, k, _mm256_loadu_si256((const __m256i *)p));
		y1 = fold256(y1, k, _mm256_loadu_si256((const __m256i *)(p + 32)));
		y2 = fold256(y2, k, _mm256_loadu_si256((const __m256i *)(p + 64)));
		y3 = fold256(y3, k, _mm256_loadu_si256((const __m256i *)(p + 96)));
		p += 128;
		len -= 128;
	}
	return crc_finish(fold_ymm(y0, y1, y2, y3), p, len);
}

static YTARGET inline __attribute__((always_inline)) void store32(u8 *dst, __m256i v, bool nt)
{
	if (nt)
		_mm256_stream_si256((__m256i *)dst, v);
	else
		_mm256_storeu_si256((__m256i *)dst, v);
}

/* crc_vpclmul256 over one page while copying it; nt: dst 32-byte aligned. */
static YTARGET inline __attribute__((always_inline)) u32 crc_vpclmul256_copy_page(u32 crc, u8 *dst,
										  const u8 *p, bool nt)
{
	__m256i y0, y1, y2, y3, d0, d1, d2, d3, k;
	size_t off;

	y0 = _mm256_loadu_si256((const __m256i *)p);
	y1 = _mm256_loadu_si256((const __m256i *)(p + 32));
	y2 = _mm256_loadu_si256((const __m256i *)(p + 64));
	y3 = _mm256_loadu_si256((const __m256i *)(p + 96));
	store32(dst, y0, nt);
	store32(dst + 32, y1, nt);
	store32(dst + 64, y2, nt);
	store32(dst + 96, y3, nt);
	y0 = _mm256_xor_si256(y0, crc_ymm(crc));
	k = _mm256_broadcastsi128_si256(_mm_set_epi64x(K2_1024, K1_1024));
	for (off = 128; off < PAGE_SIZE; off += 128) {
		d0 = _mm256_loadu_si256((const __m256i *)(p + off));
		d1 = _mm256_loadu_si256((const __m256i *)(p + off + 32));
		d2 = _mm256_loadu_si256((const __m256i *)(p + off + 64));
		d3 = _mm256_loadu_si256((const __m256i *)(p + off + 96));
		store32(dst + off, d0, nt);
		store32(dst + off + 32, d1, nt);
		store32(dst + off + 64, d2, nt);
		store32(dst + off + 96, d3, nt);
		y0 = fold256(y0, k, d0);
		y1 = fold256(y1, k, d1);
		y2 = fold256(y2, k, d2);
		y3 = fold256(y3, k, d3);
	}
	return crc_finish(fold_ymm(y0, y1, y2, y3), p + PAGE_SIZE, 0);
}

static YTARGET u32 crc_vpclmul256_copy_page_nt(u32 crc, u8 *dst, const u8 *p)
{
	return crc_vpclmul256_copy_page(crc, dst, p, true);
}

static YTARGET u32 crc_vpclmul256_copy_page_cached(u32 crc, u8 *dst, const u8 *p)
{
	return crc_vpclmul256_copy_page(crc, dst, p, false);
}

static int crc_level;

static int crc_probe(void)
{
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("pclmul") || !__builtin_cpu_supports("sse4.1"))
		return CRC_ZLIB;
	/* libgcc also checks that the OS saves the ymm and zmm state (XCR0). */
	if (!__builtin_cpu_supports("vpclmulqdq") || !__builtin_cpu_supports("avx2"))
		return CRC_PCLMUL;
	if (!__builtin_cpu_supports("avx512f"))
		return CRC_VPCLMUL256;
	return CRC_VPCLMUL512;
}

u32 mig_crc32(u32 crc, const void *buf, size_t n)
{
	const u8 *b = buf;

	if (crc_level != CRC_ZLIB && n >= 128) {
		size_t body = n & ~(size_t)15;

		/* zlib's crc32 is the raw CRC with inversion before and after. */
		if (crc_level == CRC_VPCLMUL512 && body >= 256)
			crc = ~crc_vpclmul(~crc, b, body);
		else if (crc_level >= CRC_VPCLMUL256)
			crc = ~crc_vpclmul256(~crc, b, body);
		else
			crc = ~crc_pclmul(~crc, b, body);
		b += body;
		n -= body;
	}
	return zlib_crc32(crc, b, n);
}

u32 mig_crc32_copy_page(void *dst, const void *src, bool cached)
{
	/* Non-temporal stores want dst 64-byte aligned; guest pages are. */
	if (!cached && ((unsigned long)dst & 63))
		return copy_then_crc(dst, src);
	switch (crc_level) {
	case CRC_VPCLMUL512:
		return cached ? ~crc_vpclmul_copy_page_cached(~0u, dst, src) :
				~crc_vpclmul_copy_page_nt(~0u, dst, src);
	case CRC_VPCLMUL256:
		return cached ? ~crc_vpclmul256_copy_page_cached(~0u, dst, src) :
				~crc_vpclmul256_copy_page_nt(~0u, dst, src);
	case CRC_PCLMUL:
		return cached ? ~crc_pclmul_copy_page_cached(~0u, dst, src) :
				~crc_pclmul_copy_page_nt(~0u, dst, src);
	}
	return copy_then_crc(dst, src);
}

void mig_crc32_copy_fence(void)
{
	_mm_sfence();
}

#else

static int crc_level;

static int crc_probe(void)
{
	return CRC_ZLIB;
}

u32 mig_crc32(u32 crc, const void *buf, size_t n)
{
	return zlib_crc32(crc, buf, n);
}

u32 mig_crc32_copy_page(void *dst, const void *src, bool cached)
{
	(void)cached;
	return copy_then_crc(dst, src);
}

void mig_crc32_copy_fence(void)
{
}

#endif

static const char *const level_names[] = {
	[CRC_ZLIB] = "zlib",
	[CRC_PCLMUL] = "PCLMULQDQ",
	[CRC_VPCLMUL256] = "VPCLMULQDQ with AVX2",
	[CRC_VPCLMUL512] = "VPCLMULQDQ with AVX-512",
};

int mig_crc32__parse_level(const char *s)
{
	int best = crc_probe();

	if (!s || !*s)
		return best;
	if (s[0] < '0' || s[0] > '0' + CRC_VPCLMUL512 || s[1])
		return -EINVAL;
	if (s[0] - '0' > best)
		return -EOPNOTSUPP;
	return s[0] - '0';
}

/*
 * Before main: every thread then only reads crc_level.  LKVM_CRC_LEVEL
 * forces a lower level, a bench knob to see the stream as CPUs without
 * AVX-512 run it (docs/migration.md, "On CPUs without AVX-512").  A bad
 * value stops lkvm rather than run at a level nobody asked for.
 */
__attribute__((constructor)) static void crc_init(void)
{
	const char *s = getenv("LKVM_CRC_LEVEL");
	int level = mig_crc32__parse_level(s);

	if (level == -EINVAL) {
		fprintf(stderr, "lkvm: LKVM_CRC_LEVEL=%s: want 0 (%s), 1 (%s), 2 (%s) or 3 (%s)\n",
			s, level_names[0], level_names[1], level_names[2], level_names[3]);
		exit(1);
	}
	if (level < 0) {
		fprintf(stderr, "lkvm: LKVM_CRC_LEVEL=%s: this CPU has at most level %d (%s)\n",
			s, crc_probe(), level_names[crc_probe()]);
		exit(1);
	}
	crc_level = level;
	if (s && *s)		/* so that a forgotten knob does not go unseen */
		fprintf(stderr, "lkvm: crc32 forced to level %d (%s) by LKVM_CRC_LEVEL\n",
			level, level_names[level]);
}

int mig_crc32__set_level(int level)
{
	int best = crc_probe();

	crc_level = level < 0 || level > best ? best : level;
	return crc_level;
}

/* The --verify checksum: every page of every bank, in page order. */
u32 mig_mem_crc(const struct mig_mem_bank *banks, int nr_banks)
{
	u32 crc = 0;
	int i;

	for (i = 0; i < nr_banks; i++)
		crc = mig_crc32(crc, banks[i].host, banks[i].nr_pages * PAGE_SIZE);
	return crc;
}
