/*
 * KVM_HC_MAP_GPA_RANGE issued with vmmcall, as an SEV guest does: one
 * page shared, back to encrypted, then requests lkvm must refuse.  The
 * effect is checked through the test doorbell's count (lkvm runs with
 * --page-map --test-doorbell).  On hosts whose KVM never delivers the
 * hypercall exit the vCPU spins on the vmmcall: the test script notices
 * "issuing" without "returned" and skips.
 * Exit status: number of failed checks.
 */
#include "doorbell.h"

#define KVM_HC_MAP_GPA_RANGE	12

static u8 page[4096] __attribute__((aligned(4096)));
static int failed;

static s64 vmmcall3(u64 nr, u64 a0, u64 a1, u64 a2)
{
	s64 ret;

	__asm__ volatile("vmmcall" : "=a"(ret) : "a"(nr), "b"(a0), "c"(a1), "d"(a2) : "memory");
	return ret;
}

static void expect(const char *what, s64 got, s64 want)
{
	if (got != want) {
		printf("hypercall-map: FAIL %s: got %ld, want %ld\n", what, got, want);
		failed++;
	}
}

int main(void)
{
	u64 gpa = (u64)page;	/* identity-mapped runtime: va == pa */
	s64 r;

	puts("hypercall-map: issuing vmmcall");
	r = vmmcall3(KVM_HC_MAP_GPA_RANGE, gpa, 1, 0);
	puts("hypercall-map: returned");
	expect("share one page", r, 0);
	expect("count after share", db_call(DB_COUNT_SHARED, gpa, 1, 0), 1);
	expect("encrypt it again", vmmcall3(KVM_HC_MAP_GPA_RANGE, gpa, 1, MAP_ENCRYPTED), 0);
	expect("count after encrypt", db_call(DB_COUNT_SHARED, gpa, 1, 0), 0);
	expect("reserved attrs", vmmcall3(KVM_HC_MAP_GPA_RANGE, gpa, 1, 1 << 7), -KVM_EINVAL);
	expect("2M misaligned", vmmcall3(KVM_HC_MAP_GPA_RANGE, gpa | 0x1000, 512, MAP_SZ_2M),
	       -KVM_EINVAL);
	expect("outside RAM", vmmcall3(KVM_HC_MAP_GPA_RANGE, 1UL << 40, 1, 0), -KVM_EINVAL);
	expect("count unchanged", db_call(DB_COUNT_SHARED, gpa, 1, 0), 0);
	printf("hypercall-map: %s\n", failed ? "FAILED" : "ok");
	return failed;
}
