/*
 * Declares shared ranges through the test doorbell and checks every
 * answer: valid and adjacent ranges, an encrypted hole punched back in,
 * each kind of invalid request, then a count of what the VMM recorded.
 * "nopm=1": lkvm runs without a page map, so every request is -KVM_ENOSYS.
 * "reset=1": reset the machine at the end (the VMM must drop the map).
 * Exit status = number of failed checks.
 */
#include "doorbell.h"

static int failed;

static void expect(const char *what, s64 got, s64 want)
{
	if (got != want) {
		printf("doorbell-map: FAIL %s: got %ld, want %ld\n", what, got, want);
		failed++;
	}
}

int main(void)
{
	if (rt_cmdline_has("nopm")) {
		expect("no map", db_call(DB_MAP_GPA_RANGE, 0x100000, 1, 0), -KVM_ENOSYS);
		return failed;
	}
	expect("16 pages", db_call(DB_MAP_GPA_RANGE, 0x100000, 16, 0), 0);
	expect("adjacent 16", db_call(DB_MAP_GPA_RANGE, 0x110000, 16, 0), 0);
	expect("hole", db_call(DB_MAP_GPA_RANGE, 0x108000, 1, MAP_ENCRYPTED), 0);
	expect("2M page", db_call(DB_MAP_GPA_RANGE, 0x400000, 512, MAP_SZ_2M), 0);
	expect("count", db_call(DB_COUNT_SHARED, 0x100000, 32, 0), 31);
	expect("count 2M", db_call(DB_COUNT_SHARED, 0x400000, 1024, 0), 512);

	expect("unaligned", db_call(DB_MAP_GPA_RANGE, 0x100800, 1, 0), -KVM_EINVAL);
	expect("zero pages", db_call(DB_MAP_GPA_RANGE, 0x100000, 0, 0), -KVM_EINVAL);
	expect("reserved", db_call(DB_MAP_GPA_RANGE, 0x100000, 1, 1 << 5), -KVM_EINVAL);
	expect("page size", db_call(DB_MAP_GPA_RANGE, 0x100000, 1, 3), -KVM_EINVAL);
	expect("2M misaligned", db_call(DB_MAP_GPA_RANGE, 0x101000, 512, MAP_SZ_2M),
	       -KVM_EINVAL);
	expect("outside RAM", db_call(DB_MAP_GPA_RANGE, 1UL << 40, 1, 0), -KVM_EINVAL);
	expect("huge count", db_call(DB_MAP_GPA_RANGE, 0, 1UL << 52, 0), -KVM_EINVAL);
	expect("bad command", db_call(99, 0, 1, 0), -KVM_ENOSYS);
	expect("count after", db_call(DB_COUNT_SHARED, 0x100000, 32, 0), 31);

	printf("doorbell-map: %s\n", failed ? "FAILED" : "ok");
	if (!failed && rt_cmdline_has("reset")) {
		puts("doorbell-map: resetting");
		outb(0xcf9, 0x06);
	}
	return failed;
}
