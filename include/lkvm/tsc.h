/* The guest TSC rate (x86/tsc.c). */
#ifndef LKVM__TSC_H
#define LKVM__TSC_H

#include <stdbool.h>
#include <stddef.h>

#include "lkvm/util.h"

struct kvm;
struct kvm_cpu;

/*
 * The guest's TSC rate (x86/tsc.c): `lkvm run --tsc-khz`, and matching the
 * source's rate on a migration's destination before any page moves.
 *
 * KVM runs a guest TSC within tsc_tolerance_ppm (250 by default) of the
 * host's without scaling it; lkvm calls two rates that close the same.
 */
#define TSC_TOLERANCE_PPM	250
#define TSC_KHZ_MIN		1000ULL		/* --tsc-khz range: 1 MHz .. */
#define TSC_KHZ_MAX		10000000ULL	/* .. 10 GHz */

static inline bool tsc__close(u32 a, u32 b)
{
	u64 diff = a > b ? (u64)a - b : (u64)b - a;

	return diff * 1000000ULL <= (u64)(a > b ? a : b) * TSC_TOLERANCE_PPM;
}

/*
 * The vCPU's guest TSC rate in kHz (KVM_GET_TSC_KHZ), or -errno.  Not while
 * the vCPU may be in KVM_RUN (it waits for it): kvm->tsc_khz has the rate.
 */
int tsc__khz(struct kvm_cpu *vcpu);
/* --tsc-khz: set on a new vCPU before it first runs, and note the rate in
 * kvm->tsc_khz; 0 or -errno, said. */
int tsc__setup_vcpu(struct kvm_cpu *vcpu);
/*
 * Make one vCPU's TSC tick at khz (0: leave it): nothing if already close,
 * else KVM_SET_TSC_KHZ.  On failure the vCPU keeps its old rate and `why`
 * says what stands in the way.
 */
int tsc__match(struct kvm_cpu *vcpu, u32 khz, char *why, size_t n);
/* tsc__match on every vCPU, all or none. */
int tsc__adopt(struct kvm *kvm, u32 khz, char *why, size_t n);

#endif
