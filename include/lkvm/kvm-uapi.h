/*
 * KVM UAPI that Debian 12's linux-libc-dev (6.1) lacks, defined here once
 * behind #ifndef so a newer header wins.  Values come from the upstream
 * UAPI (docs: /work/shared/reference/sev-facts.md 1.7, 3.2).  SEV
 * commands and structs live in lkvm/sev-uapi.h.
 */
#ifndef LKVM__KVM_UAPI_H
#define LKVM__KVM_UAPI_H

#include <string.h>
#include <linux/kvm.h>
#include <linux/kvm_para.h>

#include "lkvm/util.h"

/*
 * KVM_EXIT_HYPERCALL: 6.1 has `__u32 longmode; __u32 pad;` at offset 96
 * of kvm_run; newer kernels made it `union { __u32 longmode; __u64 flags; }`
 * with bit 0 = the guest was in 64-bit mode.  The layouts are binary
 * compatible; a 6.1 kernel leaves the upper half (pad) unwritten, so only
 * bit 0 of the low 32 bits carries meaning with either kernel.
 */
#ifndef KVM_EXIT_HYPERCALL_LONG_MODE
#define KVM_EXIT_HYPERCALL_LONG_MODE	(1ULL << 0)
#endif

BUILD_BUG_ON(offsetof(struct kvm_run, hypercall.nr) != 32);
BUILD_BUG_ON(offsetof(struct kvm_run, hypercall.args) != 40);
BUILD_BUG_ON(offsetof(struct kvm_run, hypercall.ret) != 88);
BUILD_BUG_ON(offsetof(struct kvm_run, hypercall.longmode) != 96);
BUILD_BUG_ON(offsetof(struct kvm_run, msr.error) != 32);
BUILD_BUG_ON(offsetof(struct kvm_run, msr.reason) != 40);
BUILD_BUG_ON(offsetof(struct kvm_run, msr.index) != 44);
BUILD_BUG_ON(offsetof(struct kvm_run, msr.data) != 48);

/* The 64-bit flags word of a hypercall exit, whichever header we have. */
static inline u64 kvm_run__hypercall_flags(const struct kvm_run *run)
{
	u64 flags;

	memcpy(&flags, (const u8 *)run + 96, sizeof(flags));
	return flags;
}

static inline bool kvm_run__hypercall_longmode(const struct kvm_run *run)
{
	/* Low half only: see above. */
	return (u32)kvm_run__hypercall_flags(run) & KVM_EXIT_HYPERCALL_LONG_MODE;
}

#ifndef KVM_MSR_EXIT_REASON_VALID_MASK
#define KVM_MSR_EXIT_REASON_VALID_MASK	(KVM_MSR_EXIT_REASON_INVAL |	\
					 KVM_MSR_EXIT_REASON_UNKNOWN |	\
					 KVM_MSR_EXIT_REASON_FILTER)
#endif

/* Hypercall attribute fields (KVM_HC_MAP_GPA_RANGE, a2), named in one place. */
#define LKVM_MAP_GPA_PAGE_SZ_MASK	0xfULL		/* bits 3:0 */
#define LKVM_MAP_GPA_ENC_BIT		(1ULL << 4)
#define LKVM_MAP_GPA_RESERVED		(~0ULL << 5)	/* bits 63:5 */

#endif
