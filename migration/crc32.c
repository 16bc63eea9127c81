/*
 * zlib's crc32 (the reflected IEEE CRC-32), computed with carry-less
 * multiplication where the CPU has PCLMULQDQ: the stream checksums every
 * byte of guest RAM twice (sender and receiver), and zlib's table-driven
 * crc32 (~2.4 GB/s here) would otherwise cost more CPU than the TCP copy.
 *
 * The method is Intel's "Fast CRC Computation for Generic Polynomials
 * Using PCLMULQDQ" (Gopal et al.): fold 64 bytes at a time by x^512, then
 * 128 bits down to 64 and 32 bits, then a Barrett reduction; where the
 * CPU has VPCLMULQDQ and AVX-512, the same folding runs on four 128-bit
 * lanes per register, 256 bytes a step.  The result
 * is bit-identical to zlib's crc32() (tests/unit/test-migration-stream.c
 * compares them over many lengths and alignments); zlib does the
 * unaligned head and the short tail.
 */
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

/* 0 zlib only, 1 PCLMULQDQ, 2 VPCLMULQDQ (AVX-512). */
static int crc_level;

static int crc_probe(void)
{
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("pclmul") || !__builtin_cpu_supports("sse4.1"))
		return 0;
	/* libgcc also checks that the OS saves the zmm state (XCR0). */
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vpclmulqdq"))
		return 2;
	return 1;
}

/* Before main: every thread then only reads crc_level. */
__attribute__((constructor)) static void crc_init(void)
{
	crc_level = crc_probe();
}

int mig_crc32__set_level(int level)
{
	int best = crc_probe();

	crc_level = level < 0 || level > best ? best : level;
	return crc_level;
}

u32 mig_crc32(u32 crc, const void *buf, size_t n)
{
	const u8 *b = buf;

	if (crc_level && n >= 128) {
		size_t body = n & ~(size_t)15;

		/* zlib's crc32 is the raw CRC with inversion before and after. */
		if (crc_level == 2 && body >= 256)
			crc = ~crc_vpclmul(~crc, b, body);
		else
			crc = ~crc_pclmul(~crc, b, body);
		b += body;
		n -= body;
	}
	return zlib_crc32(crc, b, n);
}

u32 mig_crc32_copy_page(void *dst, const void *src, bool cached)
{
	if (cached && crc_level == 2)
		return ~crc_vpclmul_copy_page_cached(~0u, dst, src);
	/* Non-temporal stores want dst 64-byte aligned; guest pages are. */
	if (!cached && crc_level == 2 && !((unsigned long)dst & 63))
		return ~crc_vpclmul_copy_page_nt(~0u, dst, src);
	return copy_then_crc(dst, src);
}

void mig_crc32_copy_fence(void)
{
	_mm_sfence();
}

#else

int mig_crc32__set_level(int level)
{
	(void)level;
	return 0;
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

/* The --verify checksum: every page of every bank, in page order. */
u32 mig_mem_crc(const struct mig_mem_bank *banks, int nr_banks)
{
	u32 crc = 0;
	int i;

	for (i = 0; i < nr_banks; i++)
		crc = mig_crc32(crc, banks[i].host, banks[i].nr_pages * PAGE_SIZE);
	return crc;
}
