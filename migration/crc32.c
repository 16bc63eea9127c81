/*
 * zlib's crc32 (the reflected IEEE CRC-32), computed with carry-less
 * multiplication where the CPU has PCLMULQDQ: the stream checksums every
 * byte of guest RAM twice (sender and receiver), and zlib's table-driven
 * crc32 (~2.4 GB/s here) would otherwise cost more CPU than the TCP copy.
 *
 * The method is Intel's "Fast CRC Computation for Generic Polynomials
 * Using PCLMULQDQ" (Gopal et al.): fold 64 bytes at a time by x^512, then
 * 128 bits down to 64 and 32 bits, then a Barrett reduction.  The result
 * is bit-identical to zlib's crc32() (tests/unit/test-migration-stream.c
 * compares them over many lengths and alignments); zlib does the
 * unaligned head and the short tail.
 */
#include <zlib.h>

#include "lkvm/migration.h"

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

/* crc is the raw (not inverted) register; len >= 64, a multiple of 16. */
static __attribute__((target("pclmul,sse4.1"))) u32 crc_pclmul(u32 crc, const u8 *p, size_t len)
{
	__m128i x1, x2, x3, x4, k, t;
	const __m128i mask32 = _mm_set_epi32(0, 0, 0, ~0);

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

static int have_pclmul = -1;

u32 mig_crc32(u32 crc, const void *buf, size_t n)
{
	const u8 *b = buf;

	if (have_pclmul < 0)
		have_pclmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
	if (have_pclmul && n >= 128) {
		size_t body = n & ~(size_t)15;

		/* zlib's crc32 is the raw CRC with inversion before and after. */
		crc = ~crc_pclmul(~crc, b, body);
		b += body;
		n -= body;
	}
	while (n) {
		uInt c = n > (1u << 30) ? (1u << 30) : (uInt)n;

		crc = crc32(crc, b, c);
		b += c;
		n -= c;
	}
	return crc;
}

#else

u32 mig_crc32(u32 crc, const void *buf, size_t n)
{
	const u8 *b = buf;

	while (n) {
		uInt c = n > (1u << 30) ? (1u << 30) : (uInt)n;

		crc = crc32(crc, b, c);
		b += c;
		n -= c;
	}
	return crc;
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
