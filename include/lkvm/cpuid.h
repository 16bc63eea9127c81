/* Guest CPUID construction (x86/cpuid.c). */
#ifndef LKVM__CPUID_H
#define LKVM__CPUID_H

#include <linux/kvm.h>
#include "lkvm/util.h"

struct kvm;
struct kvm_cpu;
struct kvm_config;
struct cpuid_mask_bit;

int cpuid__parse_mask(const char *item, struct kvm_config *cfg);
const char *cpuid__feature_names(void);
struct kvm_cpuid2 *cpuid__get_supported(struct kvm *kvm);
struct kvm_cpuid_entry2 *cpuid__find(struct kvm_cpuid2 *c, u32 leaf, u32 subleaf);
void cpuid__filter(struct kvm_cpuid2 *c, const struct kvm_config *cfg, int cpu_id,
		   int nr_cpus);
int cpuid__setup_vcpu(struct kvm_cpu *vcpu);
/* One register of an entry (0 when the leaf is absent); reg 0..3 = eax..edx. */
u32 cpuid__reg(struct kvm_cpuid2 *c, u32 leaf, u32 subleaf, int reg);
/* "avx2" for 0x7.0 ebx bit 5 (the --cpuid-mask names); NULL if it has none. */
const char *cpuid__bit_name(u32 leaf, u32 subleaf, u32 reg, u32 bit);
/*
 * Where a mask applies, in --cpuid-mask's own syntax: "0x7.ebx bit 5" (every
 * subleaf) or "0xd.1.eax bit 0" (that one), with its name when it has one.
 */
void cpuid__mask_where(const struct cpuid_mask_bit *b, char *buf, size_t n);

/*
 * A hook edits the entries (c->nent may grow up to the allocation made by
 * cpuid__get_supported, which leaves room: check c->nent < CPUID_MAX_NENT).
 */
#define CPUID_MAX_NENT 256
typedef void (*cpuid_hook_fn)(struct kvm *kvm, struct kvm_cpuid2 *c);
int cpuid__register_hook(cpuid_hook_fn fn);
void cpuid__run_hooks(struct kvm *kvm, struct kvm_cpuid2 *c);

#endif
