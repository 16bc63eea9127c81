/*
 * Reading a fuzzer's input as fields: past the end every field reads 0,
 * so any input is a complete script.  Included by one file per fuzzer.
 */
#ifndef LKVM_FUZZ_INPUT_H
#define LKVM_FUZZ_INPUT_H

#include <string.h>

#include "lkvm/util.h"

struct rd {
	const u8 *p;
	size_t n;
};

static inline u8 take_u8(struct rd *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static inline u16 take_u16(struct rd *r)
{
	return take_u8(r) | take_u8(r) << 8;
}

static inline u32 take_u32(struct rd *r)
{
	return take_u16(r) | (u32)take_u16(r) << 16;
}

static inline u64 take_u64(struct rd *r)
{
	return take_u32(r) | (u64)take_u32(r) << 32;
}

static inline void take_bytes(struct rd *r, u8 *out, size_t len)
{
	size_t k = len < r->n ? len : r->n;

	memcpy(out, r->p, k);
	memset(out + k, 0, len - k);
	r->p += k;
	r->n -= k;
}

#endif
