/*
 * Guest side of lkvm's test-only page-map doorbell (lkvm run
 * --test-doorbell; layout in docs/page-map-abi.md): the same
 * (gpa, npages, attrs) request as KVM_HC_MAP_GPA_RANGE, over I/O ports.
 */
#ifndef DOORBELL_H
#define DOORBELL_H

#include "rt.h"

#define DB_SELECT	0xe0
#define DB_DATA		0xe4
#define DB_CMD		0xe8
#define DB_MAP_GPA_RANGE	1
#define DB_COUNT_SHARED		2

#define KVM_ENOSYS	1000
#define KVM_EINVAL	22
#define MAP_ENCRYPTED	0x10
#define MAP_SZ_2M	0x1
#define MAP_SZ_1G	0x2

static inline s64 db_call(u32 cmd, u64 a0, u64 a1, u64 a2)
{
	u64 lo, hi;

	outl(DB_SELECT, 0);
	outl(DB_DATA, (u32)a0);
	outl(DB_DATA, (u32)(a0 >> 32));
	outl(DB_DATA, (u32)a1);
	outl(DB_DATA, (u32)(a1 >> 32));
	outl(DB_DATA, (u32)a2);
	outl(DB_DATA, (u32)(a2 >> 32));
	outl(DB_CMD, cmd);
	outl(DB_SELECT, 6);
	lo = inl(DB_DATA);
	hi = inl(DB_DATA);
	return (s64)(hi << 32 | lo);
}

#endif
