/*
 * The guest's TSC rate.  A guest calibrates its clocks against the TSC once,
 * at boot, so the rate must not change under it: `lkvm run --tsc-khz` pins
 * it, and a migration's destination takes the source's rate in the
 * handshake, before any page moves, or refuses there (docs/migration.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "lkvm/kvm-cpu.h"
#include "lkvm/kvm.h"
#include "lkvm/tsc.h"

#define MSR_IA32_TSC	0x10

int tsc__khz(struct kvm_cpu *vcpu)
{
	int r = ioctl(vcpu->vcpu_fd, KVM_GET_TSC_KHZ, 0);

	if (r < 0)
		return -errno;
	return r ? r : -ENODATA;
}

int tsc__match(struct kvm_cpu *vcpu, u32 khz, char *why, size_t n)
{
	int have = tsc__khz(vcpu), err;

	if (!khz)
		return 0;
	if (have < 0) {
		snprintf(why, n, "KVM_GET_TSC_KHZ: %s", strerror(-have));
		return have;
	}
	if ((u32)have == khz)
		return 0;
	/*
	 * Set even a rate within KVM's tolerance of this one: KVM then leaves
	 * the TSC unscaled but records the rate, which KVM_GET_TSC_KHZ, the
	 * vCPU state and the next HELLO report, rather than this host's.
	 */
	if (ioctl(vcpu->vcpu_fd, KVM_SET_TSC_KHZ, (unsigned long)khz) == 0)
		return 0;
	err = errno;
	/*
	 * KVM records the new rate before it finds that it cannot provide it,
	 * and KVM_GET_TSC_KHZ would then report a rate the guest does not get.
	 */
	if (ioctl(vcpu->vcpu_fd, KVM_SET_TSC_KHZ, (unsigned long)have) < 0)
		pr_warn("vCPU %d: KVM_SET_TSC_KHZ back to %d kHz: %s", vcpu->cpu_id, have,
			strerror(errno));
	/* Without scaling KVM can only run a TSC faster, by catching it up on entry. */
	if (khz < (u32)have && ioctl(vcpu->kvm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_CONTROL) <= 0)
		snprintf(why, n, "KVM cannot run a guest TSC at %u kHz here, where it runs at %d kHz: "
			 "a slower guest TSC needs TSC scaling, which this host lacks", khz, have);
	else
		snprintf(why, n, "KVM cannot run a guest TSC at %u kHz here, where it runs at %d kHz: "
			 "KVM_SET_TSC_KHZ: %s", khz, have, strerror(err));
	return -ERANGE;
}

int tsc__setup_vcpu(struct kvm_cpu *vcpu)
{
	u64 khz = vcpu->kvm->cfg.tsc_khz;
	char why[256];
	int ret = 0, now, host = khz ? tsc__khz(vcpu) : 0;

	if (khz)
		ret = tsc__match(vcpu, (u32)khz, why, sizeof(why));
	if (ret) {
		pr_err("--tsc-khz %llu: %s", (unsigned long long)khz, why);
		return ret;
	}
	/* Taken, but without scaling only a faster rate is, and only roughly. */
	if (khz && vcpu->cpu_id == 0 && host > 0 && !tsc__close((u32)host, (u32)khz) &&
	    ioctl(vcpu->kvm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_CONTROL) <= 0)
		pr_warn("--tsc-khz %llu: without TSC scaling KVM runs the guest's TSC faster "
			"than this host's (%d kHz) by catching it up at each VM entry; between "
			"entries it ticks at this host's rate", (unsigned long long)khz, host);
	/*
	 * KVM set the vCPU's TSC to 0 when it made it, at the old rate: a new
	 * scaling ratio would turn that offset into a TSC far from 0 (wrapped
	 * below 0 for a slower rate).  Start it at 0 again, at the new rate.
	 */
	if (khz) {
		union {
			struct kvm_msrs hdr;
			u8 room[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
		} msrs;

		memset(&msrs, 0, sizeof(msrs));		/* .data = 0 */
		msrs.hdr.nmsrs = 1;
		msrs.hdr.entries[0].index = MSR_IA32_TSC;
		if (ioctl(vcpu->vcpu_fd, KVM_SET_MSRS, &msrs) != 1)
			pr_warn("vCPU %d: TSC not reset after --tsc-khz", vcpu->cpu_id);
	}
	if (vcpu->cpu_id == 0) {
		now = tsc__khz(vcpu);
		vcpu->kvm->tsc_khz = now > 0 ? (u32)now : 0;
	}
	return 0;
}

int tsc__adopt(struct kvm *kvm, u32 khz, char *why, size_t n)
{
	int old[KVM_MAX_VCPUS];
	int i, ret = 0;

	if (!khz)
		return 0;
	for (i = 0; i < kvm->nr_cpus && i < KVM_MAX_VCPUS; i++) {
		if (!kvm->cpus[i]) {
			snprintf(why, n, "vCPU %d does not exist", i);
			ret = -ENODEV;
			break;
		}
		old[i] = tsc__khz(kvm->cpus[i]);
		ret = tsc__match(kvm->cpus[i], khz, why, n);
		if (ret)
			break;
	}
	if (!ret) {
		kvm->tsc_khz = khz;
		if (!i || old[0] <= 0 || tsc__close((u32)old[0], khz))
			return 0;
		if (ioctl(kvm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_CONTROL) > 0)
			pr_info("the guest's TSC runs at %u kHz (here: %d kHz): "
				"KVM scales it to the guest's rate", khz, old[0]);
		else	/* khz is faster: KVM refuses a slower rate without scaling */
			pr_warn("the guest's TSC runs at %u kHz (here: %d kHz): without TSC "
				"scaling KVM keeps its rate by catching it up at each VM entry; "
				"between entries it ticks at this host's rate", khz, old[0]);
		return 0;
	}
	/*
	 * All or none: a guest whose vCPUs tick at different rates is worse
	 * than a refusal.  (A vCPU put back from catch-up mode stays in it:
	 * KVM never leaves it; harmless for the rate this host has anyway.)
	 */
	while (--i >= 0)
		if (old[i] > 0 && ioctl(kvm->cpus[i]->vcpu_fd, KVM_SET_TSC_KHZ,
					(unsigned long)old[i]) < 0)
			pr_warn("vCPU %d: KVM_SET_TSC_KHZ back to %d kHz: %s", i, old[i],
				strerror(errno));
	return ret;
}
