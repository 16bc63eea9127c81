/*
 * KVM_HC_MAP_GPA_RANGE: the guest tells us which pages it made shared
 * (plaintext) or private (encrypted).  KVM does not track this; with
 * KVM_CAP_EXIT_HYPERCALL it hands the call to us as KVM_EXIT_HYPERCALL and
 * puts whatever we leave in run->hypercall.ret into the guest's RAX.
 *
 * Also here: the CPUID bits that advertise the interface and the init
 * that switches everything on for a VM that wants a page map.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "lkvm/cpuid.h"
#include "lkvm/init.h"
#include "lkvm/kvm-cpu.h"
#include "lkvm/kvm-uapi.h"
#include "lkvm/kvm.h"
#include "lkvm/page-map.h"
#include "lkvm/pv-page-map.h"

static s64 reject(const char *why, u64 gpa, u64 npages, u64 attrs)
{
	pr_debug("MAP_GPA_RANGE gpa 0x%llx npages 0x%llx attrs 0x%llx: %s",
		 (unsigned long long)gpa, (unsigned long long)npages,
		 (unsigned long long)attrs, why);
	return -KVM_EINVAL;
}

s64 hypercall__map_gpa_range(struct page_map *pm, u64 gpa, u64 npages, u64 attrs)
{
	u64 align, len;

	if (!pm)
		return -KVM_ENOSYS;

	/*
	 * Attributes first: bits 63:5 reserved, bit 4 encrypted, bits 3:0 the
	 * page size the guest uses for the range.  We take the size as a
	 * promise about alignment (a 2M range is made of whole 2M pages) and
	 * refuse a request that breaks it: a guest that says 2M and sends an
	 * odd range has lost track of its own page tables.
	 */
	if (attrs & LKVM_MAP_GPA_RESERVED)
		return reject("reserved attribute bits set", gpa, npages, attrs);
	switch (attrs & LKVM_MAP_GPA_PAGE_SZ_MASK) {
	case KVM_MAP_GPA_RANGE_PAGE_SZ_4K:
		align = SZ_4K;
		break;
	case KVM_MAP_GPA_RANGE_PAGE_SZ_2M:
		align = SZ_2M;
		break;
	case KVM_MAP_GPA_RANGE_PAGE_SZ_1G:
		align = SZ_1G;
		break;
	default:
		return reject("unknown page size", gpa, npages, attrs);
	}

	/* KVM checks these itself, but a doorbell request did not pass KVM. */
	if (!npages)
		return reject("no pages", gpa, npages, attrs);
	if (npages > (~0ULL >> PAGE_SHIFT))
		return reject("page count overflows", gpa, npages, attrs);
	len = npages << PAGE_SHIFT;
	if (!IS_ALIGNED(gpa, align) || !IS_ALIGNED(len, align))
		return reject("range not aligned to its page size", gpa, npages, attrs);
	if (gpa + len < gpa)
		return reject("range wraps around", gpa, npages, attrs);

	/* Inside RAM, across banks only where they touch: else untouched. */
	if (page_map__set_gpa_range(pm, gpa, len, !(attrs & LKVM_MAP_GPA_ENC_BIT)))
		return reject("range not inside guest memory", gpa, npages, attrs);
	return 0;
}

int hypercall__handle_exit(struct kvm *kvm, struct kvm_run *run)
{
	u64 a0 = run->hypercall.args[0];
	u64 a1 = run->hypercall.args[1];
	u64 a2 = run->hypercall.args[2];
	s64 ret;

	/*
	 * KVM already cut the arguments of a 32-bit guest to 32 bits and will
	 * cut the result; do the same to the arguments here so a stale upper
	 * half can never widen a 32-bit guest's request.
	 */
	if (!kvm_run__hypercall_longmode(run)) {
		a0 = (u32)a0;
		a1 = (u32)a1;
		a2 = (u32)a2;
	}

	if (run->hypercall.nr == KVM_HC_MAP_GPA_RANGE)
		ret = hypercall__map_gpa_range(kvm->page_map, a0, a1, a2);
	else
		ret = -KVM_ENOSYS;
	run->hypercall.ret = (u64)ret;
	return 0;
}

int hypercall__enable(struct kvm *kvm)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_EXIT_HYPERCALL,
		.args[0] = 1ULL << KVM_HC_MAP_GPA_RANGE,
	};
	int mask;

	mask = ioctl(kvm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_EXIT_HYPERCALL);
	if (mask < 0 || !(mask & (1 << KVM_HC_MAP_GPA_RANGE)))
		return -EOPNOTSUPP;
	if (ioctl(kvm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		return -errno;
	return 0;
}

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *cpuid, u32 fn)
{
	for (u32 i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == fn)
			return &cpuid->entries[i];
	return NULL;
}

static struct kvm_cpuid_entry2 *cpuid_add(struct kvm_cpuid2 *cpuid, u32 max_nent, u32 fn)
{
	struct kvm_cpuid_entry2 *e;

	if (cpuid->nent >= max_nent)
		return NULL;
	e = &cpuid->entries[cpuid->nent++];
	memset(e, 0, sizeof(*e));
	e->function = fn;
	return e;
}

int hypercall__cpuid(struct kvm *kvm, struct kvm_cpuid2 *cpuid, u32 max_nent)
{
	struct kvm_cpuid_entry2 *sig, *feat;
	unsigned int on;

	if (!kvm->page_map)
		return 0;
	on = page_map__features(kvm->page_map);

	sig = cpuid_find(cpuid, KVM_CPUID_SIGNATURE);
	if (!sig) {
		sig = cpuid_add(cpuid, max_nent, KVM_CPUID_SIGNATURE);
		if (!sig)
			return -ENOSPC;
		/* "KVMKVMKVM\0\0\0" in EBX, ECX, EDX, as guests scan for it. */
		memcpy(&sig->ebx, "KVMK", 4);
		memcpy(&sig->ecx, "VMKV", 4);
		memcpy(&sig->edx, "M\0\0\0", 4);
	}
	if (sig->eax < KVM_CPUID_FEATURES)
		sig->eax = KVM_CPUID_FEATURES;

	feat = cpuid_find(cpuid, KVM_CPUID_FEATURES);
	if (!feat) {
		feat = cpuid_add(cpuid, max_nent, KVM_CPUID_FEATURES);
		if (!feat)
			return -ENOSPC;
	}
	if (on & PAGE_MAP_HYPERCALL)
		feat->eax |= 1u << KVM_FEATURE_HC_MAP_GPA_RANGE;
	/*
	 * Linux starts issuing MAP_GPA_RANGE as soon as it sees bit 17 (it
	 * does not look at bit 16), so bit 17 needs the hypercall exit too.
	 */
	if ((on & PAGE_MAP_HYPERCALL) && (on & PAGE_MAP_MSR))
		feat->eax |= 1u << KVM_FEATURE_MIGRATION_CONTROL;
	return 0;
}

static int hypercall_exit(struct kvm_cpu *vcpu)
{
	return hypercall__handle_exit(vcpu->kvm, vcpu->kvm_run);
}

static int msr_exit(struct kvm_cpu *vcpu)
{
	return msr_migration__handle_exit(vcpu->kvm, vcpu->kvm_run);
}

static void cpuid_hook(struct kvm *kvm, struct kvm_cpuid2 *c)
{
	if (hypercall__cpuid(kvm, c, CPUID_MAX_NENT))
		pr_warn("page map: no room in the CPUID table for the KVM leaves");
}

/*
 * Switch the page map on for a VM that wants it (SEV, or --page-map):
 * after the memory banks exist (kvm__init), before the vCPUs are created
 * (their CPUID comes from the hook registered here).
 */
static int pv_page_map__init(struct kvm *kvm)
{
	unsigned int features = 0;
	int ret;

	if (!page_map__wanted(kvm))
		return 0;
	ret = page_map__create(kvm);
	if (ret) {
		pr_err("page map: cannot allocate a map for %llu pages",
		       (unsigned long long)kvm->nr_pages);
		return ret;
	}

	ret = hypercall__enable(kvm);
	if (!ret)
		features |= PAGE_MAP_HYPERCALL;
	else
		pr_warn("page map: KVM cannot exit on KVM_HC_MAP_GPA_RANGE (%s): "
			"the guest will not be asked to report shared pages",
			strerror(-ret));

	ret = msr_migration__init(kvm);
	if (!ret)
		features |= PAGE_MAP_MSR;
	else
		pr_warn("page map: no user-space MSR filter (%s): "
			"MSR_KVM_MIGRATION_CONTROL not offered", strerror(-ret));

	page_map__set_features(kvm->page_map, features);
	kvm_cpu__register_exit_handler(KVM_EXIT_HYPERCALL, hypercall_exit);
	kvm_cpu__register_exit_handler(KVM_EXIT_X86_RDMSR, msr_exit);
	kvm_cpu__register_exit_handler(KVM_EXIT_X86_WRMSR, msr_exit);
	return cpuid__register_hook(cpuid_hook);
}

static int pv_page_map__exit(struct kvm *kvm)
{
	/* Integration tests read the final map from here (--test-doorbell only). */
	if (kvm->page_map && kvm->cfg.debug_ioport)
		page_map__dump(kvm->page_map, stderr);
	page_map__free(kvm->page_map);
	kvm->page_map = NULL;
	return 0;
}
base_init(pv_page_map__init, pv_page_map__exit);
