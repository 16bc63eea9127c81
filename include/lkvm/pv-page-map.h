/*
 * The guest side of the page map on x86: the KVM_HC_MAP_GPA_RANGE exit,
 * MSR_KVM_MIGRATION_CONTROL through the MSR filter, the CPUID bits that
 * advertise both, and the test-only I/O doorbell.  The ABI is described
 * in docs/page-map-abi.md.
 */
#ifndef LKVM__PV_PAGE_MAP_H
#define LKVM__PV_PAGE_MAP_H

#include <linux/kvm.h>

#include "lkvm/util.h"

struct kvm;
struct kvm_cpu;
struct page_map;

/*
 * Validate and apply one MAP_GPA_RANGE request (a0 = gpa, a1 = number of
 * 4 KiB pages, a2 = attributes).  Returns 0 or a negative KVM error
 * (-KVM_EINVAL, -KVM_ENOSYS when there is no map); on error the map is
 * untouched.  The hypercall exit and the doorbell both end here.
 */
s64 hypercall__map_gpa_range(struct page_map *pm, u64 gpa, u64 npages, u64 attrs);

/*
 * KVM_EXIT_HYPERCALL: run as KVM filled it (6.1 `longmode` or newer
 * `flags` layout).  Writes run->hypercall.ret; always returns 0 (the
 * vCPU goes on: the guest gets the error, not the VMM).
 */
int hypercall__handle_exit(struct kvm *kvm, struct kvm_run *run);

/* KVM_ENABLE_CAP(KVM_CAP_EXIT_HYPERCALL, 1 << KVM_HC_MAP_GPA_RANGE) on the VM fd. */
int hypercall__enable(struct kvm *kvm);

/*
 * Add the KVM paravirt leaves to a CPUID table about to go to
 * KVM_SET_CPUID2: 0x40000000 ("KVMKVMKVM") if missing, 0x40000001 if
 * missing, and in 0x40000001.EAX bit 16 (KVM_FEATURE_HC_MAP_GPA_RANGE)
 * and bit 17 (KVM_FEATURE_MIGRATION_CONTROL) for the interfaces that are
 * live.  Does nothing without a page map.  max_nent = room in entries[].
 * Returns 0 or -ENOSPC.
 */
int hypercall__cpuid(struct kvm *kvm, struct kvm_cpuid2 *cpuid, u32 max_nent);

/* KVM_CAP_X86_USER_SPACE_MSR (FILTER) + KVM_X86_SET_MSR_FILTER denying the MSR. */
int msr_migration__init(struct kvm *kvm);
/* KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR.  Sets run->msr.error / data; returns 0. */
int msr_migration__handle_exit(struct kvm *kvm, struct kvm_run *run);

/*
 * Test doorbell (only with --test-doorbell): ports 0xe0-0xeb, see
 * docs/page-map-abi.md.  The handler is exported for unit tests.
 */
#define DOORBELL_PORT_BASE	0xe0
#define DOORBELL_PORT_SELECT	0xe0	/* outl: register index */
#define DOORBELL_PORT_DATA	0xe4	/* inl/outl: selected register, index++ */
#define DOORBELL_PORT_CMD	0xe8	/* outl: command; inl: result low 32 bits */
#define DOORBELL_NR_PORTS	12
enum {
	DOORBELL_REG_A0_LO, DOORBELL_REG_A0_HI,
	DOORBELL_REG_A1_LO, DOORBELL_REG_A1_HI,
	DOORBELL_REG_A2_LO, DOORBELL_REG_A2_HI,
	DOORBELL_REG_RET_LO, DOORBELL_REG_RET_HI,
	DOORBELL_NR_REGS,
};
enum {
	DOORBELL_CMD_MAP_GPA_RANGE = 1,	/* exactly the hypercall: (gpa, npages, attrs) */
	DOORBELL_CMD_COUNT_SHARED = 2,	/* shared pages in [a0, a0 + a1 pages), or error */
};
struct test_doorbell;
struct test_doorbell *test_doorbell__new(struct kvm *kvm);
void test_doorbell__free(struct test_doorbell *db);
void test_doorbell__io(struct kvm_cpu *vcpu, u64 port, u8 *data, u32 len,
		       bool is_write, void *ptr);

#endif
