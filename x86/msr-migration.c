/*
 * MSR_KVM_MIGRATION_CONTROL (0x4b564d08): the guest sets bit 0 once it has
 * reported all its shared pages, and clears it when it goes offline or
 * reboots.  KVM does not implement the MSR; we deny it in a user-space MSR
 * filter so every RDMSR/WRMSR of it exits to us (KVM_EXIT_X86_RDMSR/WRMSR
 * with reason FILTER).  A filter rather than "exit on unknown MSRs" keeps
 * working if a later KVM learns the MSR itself, and leaves every other
 * MSR to KVM.  The state lives in the page map (page_map__msr_*).
 */
#include <errno.h>
#include <sys/ioctl.h>

#include "lkvm/kvm-uapi.h"
#include "lkvm/kvm.h"
#include "lkvm/page-map.h"
#include "lkvm/pv-page-map.h"

int msr_migration__init(struct kvm *kvm)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X86_USER_SPACE_MSR,
		.args[0] = KVM_MSR_EXIT_REASON_FILTER,
	};
	u8 deny = 0;	/* bit clear = access denied = exit to us */
	struct kvm_msr_filter filter = {
		.flags = KVM_MSR_FILTER_DEFAULT_ALLOW,
		.ranges[0] = {
			.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
			.nmsrs = 1,
			.base = MSR_KVM_MIGRATION_CONTROL,
			.bitmap = &deny,
		},
	};

	if (ioctl(kvm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_USER_SPACE_MSR) <= 0 ||
	    ioctl(kvm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_MSR_FILTER) <= 0)
		return -EOPNOTSUPP;
	if (ioctl(kvm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		return -errno;
	/* KVM copies the bitmap: `deny` may go out of scope afterwards. */
	if (ioctl(kvm->vm_fd, KVM_X86_SET_MSR_FILTER, &filter) < 0)
		return -errno;
	return 0;
}

int msr_migration__handle_exit(struct kvm *kvm, struct kvm_run *run)
{
	struct page_map *pm = kvm->page_map;
	bool ours = pm && run->msr.index == MSR_KVM_MIGRATION_CONTROL;

	/*
	 * Only our MSR is filtered, so anything else here means someone
	 * else asked KVM for MSR exits; do what KVM does for an MSR it does
	 * not know: #GP.
	 */
	if (!ours) {
		pr_debug("unhandled %s of MSR 0x%x (reason %u): #GP",
			 run->exit_reason == KVM_EXIT_X86_RDMSR ? "rdmsr" : "wrmsr",
			 run->msr.index, run->msr.reason);
		run->msr.error = 1;
		return 0;
	}

	if (run->exit_reason == KVM_EXIT_X86_RDMSR) {
		run->msr.data = page_map__msr_read(pm);
		run->msr.error = 0;
	} else {
		/* Any bit but KVM_MIGRATION_READY: #GP, state unchanged. */
		run->msr.error = page_map__msr_write(pm, run->msr.data) ? 1 : 0;
	}
	return 0;
}
