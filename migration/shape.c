/*
 * The machine shape both ends describe in HELLO: memory banks, vCPUs, SEV
 * mode, the device list and the CPU the guest sees.  Devices with an
 * identity worth comparing (a disk image) add themselves with
 * migration__register_device().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lkvm/cpuid.h"
#include "lkvm/tsc.h"
#include "lkvm/kvm.h"
#include "lkvm/kvm-cpu.h"
#include "lkvm/migration.h"

/*
 * The CPUID registers that list features a guest may probe once and use
 * ever after, as KVM reported them for vCPU 0 after set-up (what the guest
 * really sees: some KVM back ends override what lkvm set).  Bits KVM
 * changes as the guest runs are left out, or a running source would never
 * match a fresh destination: OSXSAVE and OSPKE follow CR4, APIC follows the
 * APIC base MSR, MONITOR follows MISC_ENABLE.
 */
static const struct {
	u32 leaf, subleaf, reg, dynamic;
} cpuid_words[] = {
	{ 0x1, 0, 2, (1u << 27) | (1u << 3) },	/* ecx: OSXSAVE, MONITOR */
	{ 0x1, 0, 3, 1u << 9 },			/* edx: APIC */
	{ 0x7, 0, 1, 0 },
	{ 0x7, 0, 2, 1u << 4 },			/* ecx: OSPKE */
	{ 0x7, 0, 3, 0 },
	{ 0x7, 1, 0, 0 },
	{ 0xd, 0, 0, 0 },			/* XCR0 bits the guest may set */
	{ 0xd, 0, 3, 0 },
	{ 0xd, 1, 0, 0 },			/* XSAVEOPT/XSAVEC/XSAVES */
	{ 0x80000001, 0, 2, 0 },
	{ 0x80000001, 0, 3, 0 },
	{ 0x80000007, 0, 3, 0 },		/* invariant TSC */
	{ 0x80000008, 0, 1, 0 },
};

static void __attribute__((constructor)) shape_names(void)
{
	mig_cpuid_bit_name = cpuid__bit_name;
}

static int shape_cpuid(struct kvm *kvm, struct mig_shape *s)
{
	struct kvm_cpuid2 *c;
	size_t i;

	if (!kvm->nr_cpus || !kvm->cpus[0] || !kvm->cpus[0]->cpuid)
		return -ENODEV;
	c = kvm->cpus[0]->cpuid;	/* taken before the vCPU first ran */
	for (i = 0; i < ARRAY_SIZE(cpuid_words); i++) {
		struct mig_cpuid_word *w = &s->cpuid[i];

		w->leaf = cpuid_words[i].leaf;
		w->subleaf = cpuid_words[i].subleaf;
		w->reg = cpuid_words[i].reg;
		w->value = cpuid__reg(c, w->leaf, w->subleaf, w->reg) & ~cpuid_words[i].dynamic;
	}
	s->nr_cpuid = i;
	s->features |= MIG_F_CPUID;
	return 0;
}

static char devices[MIG_MAX_DEVICES_LEN + 1];

/*
 * The list goes over the wire as printable ASCII (the destination refuses
 * anything else, and prints it in its reasons), so bytes outside that, and
 * the list's own ';' and the escape '%', are sent as %XX: a disk path
 * with an accent or a space migrates, and compares equal on both sides.
 */
int migration__register_device(const char *desc)
{
	size_t start = strlen(devices), have = start, i;

	if (have && have + 1 <= MIG_MAX_DEVICES_LEN)
		devices[have++] = ';';
	for (i = 0; desc[i]; i++) {
		unsigned char c = desc[i];
		bool plain = c >= 0x20 && c <= 0x7e && c != ';' && c != '%';

		if (have + (plain ? 1 : 3) > MIG_MAX_DEVICES_LEN)
			goto too_long;
		if (plain)
			devices[have++] = c;
		else
			have += snprintf(devices + have, 4, "%%%02X", c);
	}
	devices[have] = 0;
	return 0;
too_long:
	devices[start] = 0;	/* the list stays as it was */
	pr_err("migration: the machine's device list is longer than %d bytes "
	       "(the disks' paths?)", MIG_MAX_DEVICES_LEN);
	return -ENOSPC;
}

int mig_shape__from_kvm(struct kvm *kvm, struct mig_shape *s)
{
	int i;

	memset(s, 0, sizeof(*s));
	/*
	 * Sections behind a feature (MIG_SEC_PCI) go whenever this machine has
	 * them: the console's typed input only with a virtio-console, so a
	 * guest without one still migrates to a destination older than it.
	 */
	s->features = MIG_F_ZERO_PAGES | mig_section__features_of(kvm);
	s->nr_channels = 1;
	s->nr_cpus = kvm->nr_cpus;
	s->nr_banks = min(kvm->nr_mem_banks, MIG_MAX_BANKS);
	for (i = 0; i < (int)s->nr_banks; i++) {
		s->banks[i].gpa = kvm->mem_banks[i].guest_phys_addr;
		s->banks[i].size = kvm->mem_banks[i].size;
		s->nr_pages += kvm->mem_banks[i].size / PAGE_SIZE;
	}
	s->sev_mode = kvm->cfg.sev_mode;
	if (s->sev_mode)	/* SEV handshake + ENCRYPTED pages (issue 6) */
		s->features |= MIG_F_SEV_PAGES;
	s->devices_len = strlen(devices);
	memcpy(s->devices, devices, s->devices_len + 1);
	/*
	 * A page map (or the test doorbell that drives one) on one side only
	 * would fail at its section after all of RAM, or in the guest later.
	 */
	if (kvm->page_map) {
		int n = snprintf(s->devices + s->devices_len,
				 sizeof(s->devices) - s->devices_len, "%spage-map%s",
				 s->devices_len ? ";" : "",
				 kvm->cfg.debug_ioport ? ";test-doorbell" : "");

		if (n < 0 || (size_t)n >= sizeof(s->devices) - s->devices_len ||
		    s->devices_len + n > MIG_MAX_DEVICES_LEN) {
			pr_err("migration: the machine's device list is longer than %d bytes",
			       MIG_MAX_DEVICES_LEN);
			return -ENOSPC;
		}
		s->devices_len += n;
	}
	if (kvm->tsc_khz) {	/* not KVM_GET_TSC_KHZ: the vCPUs may be running */
		s->features |= MIG_F_TSC;
		s->tsc_khz = kvm->tsc_khz;
		s->tsc_pinned = kvm->cfg.tsc_khz != 0;
	}
	return shape_cpuid(kvm, s);
}

int mig_shape__adopt(struct kvm *kvm, const struct mig_shape *peer, const struct mig_shape *local,
		     char *why, size_t n)
{
	return tsc__adopt(kvm, peer->features & MIG_F_TSC ? peer->tsc_khz : local->tsc_khz,
			  why, n);
}
