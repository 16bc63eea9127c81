/*
 * libFuzzer target for the VM-state blob decoders (x86/cpu-state.c,
 * x86/irqchip-state.c, x86/clock-state.c over util/state-fdt.c).  The first
 * byte picks the decoder, the rest is the blob: nothing a peer sends may
 * crash, leak or read out of bounds.  No /dev/kvm is touched.
 *
 * With FUZZ_CPU_STATE_SEEDS=DIR set, the binary writes one valid blob per
 * format into DIR, and two more of the CPU's (the legacy registers, a bad
 * xsave length), and exits: a seed corpus that gets the fuzzer past
 * fdt_check_full() at once (tests/integration/cpustate-fuzz.sh).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lkvm/cpu-state.h"
#include "lkvm/mig-section.h"
#include "lkvm/state-fdt.h"

static void decode(u8 kind, const u8 *data, size_t len)
{
	struct cpu_state cs;
	struct irqchip_state is;
	struct kvm_pit_state2 ps;
	struct clock_state ks;

	switch (kind & 3) {
	case 0:
		if (cpu_state__decode(data, len, &cs) == 0) {
			/* What set() would rely on, re-encoded: must not fail. */
			struct mig_buf b = { 0 };

			if (cs.nr_msrs > CPU_STATE_MAX_MSRS || cs.xcrs.nr_xcrs > KVM_MAX_XCRS ||
			    cpu_state__encode(&cs, &b))
				abort();
			mig_buf__free(&b);
			cpu_state__free(&cs);
		}
		break;
	case 1:
		irqchip_state__decode(data, len, &is);
		break;
	case 2:
		pit_state__decode(data, len, &ps);
		break;
	case 3:
		clock_state__decode(data, len, &ks);
		break;
	}
}

static void write_seed(const char *dir, int kind, const struct mig_buf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%d", dir, kind);
	f = fopen(path, "wb");
	if (!f)
		exit(1);
	fputc(kind, f);
	fwrite(b->data, 1, b->len, f);
	fclose(f);
}

static void write_seeds(const char *dir)
{
	struct kvm_msr_entry msrs[3] = { { .index = 0x10, .data = 12345 },
					 { .index = 0x6e0, .data = 99999 },
					 { .index = 0xc0000082, .data = 0xffffffff81000000ULL } };
	struct cpu_state cs = { .cpu_id = 0, .tsc_khz = 2000000, .mp_state = 0,
				.have = CPU_HAVE_SREGS2 | CPU_HAVE_XSAVE | CPU_HAVE_XCRS |
					CPU_HAVE_EVENTS | CPU_HAVE_DEBUGREGS };
	struct mig_buf b = { 0 };
	u8 xsave[4096] = { 0 };

	cs.xsave = xsave;
	cs.xsave_size = sizeof(xsave);
	cs.msrs = msrs;
	cs.nr_msrs = 3;
	cs.xcrs.nr_xcrs = 1;
	cs.xcrs.xcrs[0].value = 7;
	if (cpu_state__encode(&cs, &b))
		exit(1);
	write_seed(dir, 0, &b);
	b.len = 0;
	/*
	 * The format's other branches (seeds 4 and 8: the first byte is still
	 * 0 modulo 4, the CPU decoder): a host without KVM_CAP_SREGS2 and
	 * XSAVE sends kvm-sregs and kvm-fpu, and an xsave area shorter than
	 * struct kvm_xsave must be refused.  Neither is a mutation away from
	 * seed 0, whose node and property names and lengths are fixed by the
	 * FDT around them.
	 */
	cs.have = 0;
	cs.nr_msrs = 1;
	if (cpu_state__encode(&cs, &b))
		exit(1);
	write_seed(dir, 4, &b);
	b.len = 0;
	cs.have = CPU_HAVE_SREGS2 | CPU_HAVE_XSAVE;
	cs.xsave_size = sizeof(xsave) - 2;
	if (cpu_state__encode(&cs, &b) || cpu_state__decode(b.data, b.len, &cs) != -EINVAL)
		exit(1);
	write_seed(dir, 8, &b);
	b.len = 0;
	/* The VM-wide formats need a VM to save from: build them by hand. */
	{
		struct irqchip_state is;
		struct kvm_pit_state2 ps;
		struct clock_state ks = { .clock = 5000000000ULL, .flags = 0, .realtime = 1 };

		memset(&is, 0, sizeof(is));
		memset(&ps, 0, sizeof(ps));
		if (irqchip_state__encode(&is, &b))
			exit(1);
		write_seed(dir, 1, &b);
		b.len = 0;
		if (pit_state__encode(&ps, &b))
			exit(1);
		write_seed(dir, 2, &b);
		b.len = 0;
		if (clock_state__encode(&ks, &b))
			exit(1);
		write_seed(dir, 3, &b);
	}
	mig_buf__free(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_CPU_STATE_SEEDS");

	if (dir) {
		write_seeds(dir);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	if (size < 1)
		return 0;
	decode(data[0], data + 1, size - 1);
	return 0;
}
