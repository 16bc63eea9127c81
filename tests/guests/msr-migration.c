/*
 * MSR_KVM_MIGRATION_CONTROL through the real exit path (KVM's MSR filter
 * exit, handled by lkvm): CPUID advertises it, reads return what was
 * written, bit 0 toggles readiness, any other bit raises #GP and changes
 * nothing.  "nopm=1": lkvm runs without a page map, so CPUID must not
 * advertise the feature and both accesses must #GP.
 * Exit status: number of failed checks; 100 if the VMM did not offer the
 * interface (the test reports that as a skip).
 */
#include "rt.h"

#define MSR_KVM_MIGRATION_CONTROL	0x4b564d08
#define FEAT_HC_MAP_GPA_RANGE		(1u << 16)
#define FEAT_MIGRATION_CONTROL		(1u << 17)

static volatile int nr_gp;
static int failed;

/* rdmsr and wrmsr are both two bytes long: skip the faulting one. */
static void gp_handler(struct rt_frame *f)
{
	nr_gp++;
	f->rip += 2;
}

static int msr_write(u64 v)
{
	int before = nr_gp;

	__asm__ volatile("wrmsr" :: "c"(MSR_KVM_MIGRATION_CONTROL), "a"((u32)v),
			 "d"((u32)(v >> 32)) : "memory");
	return nr_gp != before;		/* 1 = #GP */
}

static int msr_read(u64 *v)
{
	int before = nr_gp;
	u32 lo = 0xdead, hi = 0;

	__asm__ volatile("rdmsr" : "+a"(lo), "+d"(hi) : "c"(MSR_KVM_MIGRATION_CONTROL)
			 : "memory");
	*v = (u64)hi << 32 | lo;
	return nr_gp != before;
}

static void expect(const char *what, u64 got, u64 want)
{
	if (got != want) {
		printf("msr-migration: FAIL %s: got %lx, want %lx\n", what, got, want);
		failed++;
	}
}

/* Write v, expect #GP or not, then read back and expect `after`. */
static void step(const char *what, u64 v, int want_gp, u64 after)
{
	u64 r;

	expect(what, msr_write(v), want_gp);
	expect("no #GP on read", msr_read(&r), 0);
	expect(what, r, after);
}

int main(void)
{
	u32 a, b, c, d;
	u64 v;

	rt_set_trap(13, gp_handler);
	cpuid(0x40000000, 0, &a, &b, &c, &d);
	if (b != 0x4b4d564b || c != 0x564b4d56 || d != 0x4d || a < 0x40000001) {
		printf("msr-migration: no KVM signature at 0x40000000\n");
		return 1;
	}
	cpuid(0x40000001, 0, &a, &b, &c, &d);
	printf("msr-migration: KVM features eax %x\n", a);

	if (rt_cmdline_has("nopm")) {
		expect("no feature bits", a & (FEAT_HC_MAP_GPA_RANGE | FEAT_MIGRATION_CONTROL), 0);
		expect("wrmsr #GP without page map", msr_write(1), 1);
		expect("rdmsr #GP without page map", msr_read(&v), 1);
		printf("msr-migration: %s\n", failed ? "FAILED" : "ok");
		return failed;
	}
	if (!(a & FEAT_MIGRATION_CONTROL)) {
		puts("msr-migration: KVM_FEATURE_MIGRATION_CONTROL not offered");
		return 100;
	}
	expect("hypercall bit with it", !!(a & FEAT_HC_MAP_GPA_RANGE), 1);

	/* A plain guest starts migratable (KVM's documented start value). */
	expect("no #GP on first read", msr_read(&v), 0);
	expect("start value", v, 1);
	step("withdraw", 0, 0, 0);
	step("ready", 1, 0, 1);
	step("reserved bit 1", 2, 1, 1);
	step("reserved bits 1|0", 3, 1, 1);
	step("reserved bit 63", 1UL << 63 | 1, 1, 1);
	step("withdraw again", 0, 0, 0);
	step("ready again", 1, 0, 1);
	expect("#GP count", nr_gp, 3);
	printf("msr-migration: %s\n", failed ? "FAILED" : "ok");
	return failed;
}
