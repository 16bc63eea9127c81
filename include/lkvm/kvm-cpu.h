/*
 * vCPU threads and exit dispatch.  One thread per vCPU runs KVM_RUN and
 * hands exits to the I/O dispatch, the page map (hypercall, MSR exits) and
 * the diagnostics.  Pausing uses a signal to kick a vCPU out of KVM_RUN
 * (SIGLKVM_KICK) and parks it on the VM's run_cond.
 */
#ifndef LKVM__KVM_CPU_H
#define LKVM__KVM_CPU_H

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <linux/kvm.h>

#include "lkvm/util.h"

#define SIGLKVM_KICK	(SIGRTMIN + 0)

struct kvm;

struct kvm_cpu {
	struct kvm *kvm;
	int cpu_id;
	int vcpu_fd;
	struct kvm_run *kvm_run;
	pthread_t thread;		/* set by the thread itself, under run_lock */
	bool thread_started;		/* thread published; may be kicked */
	bool thread_done;		/* left its run loop */
	pthread_t join;			/* for kvm_cpu__wait_all() */
	bool joinable;

	/* Dirty ring (KVM_CAP_DIRTY_LOG_RING), mapped at KVM_DIRTY_LOG_PAGE_OFFSET. */
	struct kvm_dirty_gfn *dirty_gfns;
	u32 dirty_ring_entries;
	u32 dirty_ring_fetch;		/* next entry to harvest */

	volatile bool parked;		/* out of KVM_RUN, waiting on run_cond */
	u64 throttle_until;		/* now_ns() (monotonic): sleep till then; under run_lock */

	/*
	 * vCPU 0: the CPUID KVM reports right after KVM_SET_CPUID2, before the
	 * vCPU ever runs.  Read later, KVM_GET_CPUID2 would wait for the vCPU
	 * to leave KVM_RUN (it holds the vCPU mutex), which a halted guest may
	 * not do for a long time.
	 */
	struct kvm_cpuid2 *cpuid;
};

int kvm_cpu__init_all(struct kvm *kvm);	/* create vCPUs, set CPUID, reset */
int kvm_cpu__start_all(struct kvm *kvm);	/* threads; returns at once */
int kvm_cpu__wait_all(struct kvm *kvm);	/* join; returns the VM's exit status */
void kvm_cpu__exit_all(struct kvm *kvm);
int kvm_cpu__reset(struct kvm_cpu *vcpu);	/* boot state for the loaded kernel */

/*
 * Exit handlers other modules add for exit reasons the core does not own
 * (hypercalls, user-space MSRs, a full dirty ring).  fn returns 0 to resume
 * the guest, or a negative errno to stop the VM as failed.
 */
typedef int (*kvm_exit_fn)(struct kvm_cpu *vcpu);
int kvm_cpu__register_exit_handler(u32 exit_reason, kvm_exit_fn fn);

/* Registers, segments, control registers and code bytes at RIP. */
void kvm_cpu__dump(struct kvm_cpu *vcpu, FILE *out);
/* Translate a guest virtual address with the vCPU's current page tables. */
int kvm_cpu__gva_to_gpa(struct kvm_cpu *vcpu, u64 gva, u64 *gpa);

#endif
