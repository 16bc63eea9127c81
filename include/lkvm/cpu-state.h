/*
 * Complete x86 VM state for live migration: per vCPU (registers, special
 * registers, FPU/XSAVE, XCRs, MSRs, LAPIC, pending events, MP state, debug
 * registers, TSC frequency) and VM-wide (PIC, IOAPIC, PIT, kvmclock).
 * Each piece is a migration section (include/lkvm/mig-section.h) whose
 * payload is a self-describing FDT blob (include/lkvm/state-fdt.h);
 * docs/vm-state.md describes the formats and the restore order.
 *
 * Saving runs with every vCPU out of KVM_RUN (kvm__pause_until()).  Loading runs
 * on a VM whose vCPUs exist (CPUID set) but have not run, after guest RAM
 * has been received: some MSRs (kvmclock, steal time, async PF) point into
 * guest memory and KVM touches it when they are written.
 */
#ifndef LKVM__CPU_STATE_H
#define LKVM__CPU_STATE_H

#include <linux/kvm.h>

#include "lkvm/util.h"

struct kvm;
struct kvm_cpu;
struct mig_buf;

#define CPU_STATE_COMPAT	"lkvm,x86-cpu-state"
#define CPU_STATE_VERSION	1
#define CPU_STATE_MAX_MSRS	1024
#define CPU_STATE_MAX_XSAVE	(1U << 20)

/* Which optional parts a cpu_state carries. */
enum {
	CPU_HAVE_SREGS2		= 1 << 0,	/* sregs2 valid, else sregs */
	CPU_HAVE_XSAVE		= 1 << 1,	/* xsave valid, else fpu */
	CPU_HAVE_XCRS		= 1 << 2,
	CPU_HAVE_EVENTS		= 1 << 3,
	CPU_HAVE_DEBUGREGS	= 1 << 4,
};

/* One vCPU's state in memory: what the blob decodes to. */
struct cpu_state {
	u32 cpu_id;
	u32 tsc_khz;			/* 0 when KVM could not say */
	u32 mp_state;
	u32 have;			/* CPU_HAVE_* */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_sregs2 sregs2;
	struct kvm_fpu fpu;
	u8 *xsave;			/* xsave_size bytes (struct kvm_xsave) */
	u32 xsave_size;
	struct kvm_xcrs xcrs;
	struct kvm_msr_entry *msrs;	/* sorted by index, no duplicates */
	u32 nr_msrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
};

/* Section callbacks' halves, usable on their own (tests, snapshots). */
int cpu_state__save(struct kvm_cpu *vcpu, struct mig_buf *out);
int cpu_state__load(struct kvm_cpu *vcpu, const void *data, size_t len);

/*
 * Finish the vCPU's last userspace-handled exit (KVM_RUN with
 * immediate_exit) so its state is complete; cpu_state__save() does it.
 * The vCPU must be parked.  -EAGAIN: more I/O is pending (string I/O).
 */
int cpu_state__complete_io(struct kvm_cpu *vcpu);
int cpu_state__get(struct kvm_cpu *vcpu, struct cpu_state *st);	/* ioctls */
int cpu_state__set(struct kvm_cpu *vcpu, const struct cpu_state *st);
int cpu_state__encode(const struct cpu_state *st, struct mig_buf *out);
int cpu_state__decode(const void *data, size_t len, struct cpu_state *st);
void cpu_state__free(struct cpu_state *st);

/* VM-wide pieces (x86/irqchip-state.c, x86/clock-state.c). */
#define IRQCHIP_STATE_COMPAT	"lkvm,x86-irqchip-state"
#define PIT_STATE_COMPAT	"lkvm,x86-pit-state"
#define CLOCK_STATE_COMPAT	"lkvm,x86-clock-state"

struct irqchip_state {
	struct kvm_pic_state pic[2];	/* master, slave */
	struct kvm_ioapic_state ioapic;
};

struct clock_state {
	u64 clock;		/* kvmclock ns at save */
	u32 flags;		/* KVM_CLOCK_* as KVM_GET_CLOCK said */
	u64 realtime;		/* CLOCK_REALTIME ns at the same instant */
	u64 host_tsc;		/* host TSC then, when KVM_CLOCK_HOST_TSC */
};

int irqchip_state__save(struct kvm *kvm, struct mig_buf *out);
int irqchip_state__load(struct kvm *kvm, const void *data, size_t len);
int irqchip_state__encode(const struct irqchip_state *st, struct mig_buf *out);
int irqchip_state__decode(const void *data, size_t len, struct irqchip_state *st);

int pit_state__save(struct kvm *kvm, struct mig_buf *out);
int pit_state__load(struct kvm *kvm, const void *data, size_t len);
int pit_state__encode(const struct kvm_pit_state2 *st, struct mig_buf *out);
int pit_state__decode(const void *data, size_t len, struct kvm_pit_state2 *st);

int clock_state__save(struct kvm *kvm, struct mig_buf *out);
int clock_state__load(struct kvm *kvm, const void *data, size_t len);
int clock_state__encode(const struct clock_state *st, struct mig_buf *out);
int clock_state__decode(const void *data, size_t len, struct clock_state *st);

#endif
