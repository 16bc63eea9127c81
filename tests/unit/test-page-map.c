/*
 * The page map and its guest interfaces, without /dev/kvm: a fake struct
 * kvm with bank geometry only (the map never touches guest memory), and
 * kvm_run records written byte by byte at the offsets KVM uses, in both
 * the 6.1 (`longmode` + pad) and the newer (`flags`) layout.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <linux/kvm.h>
#include <linux/kvm_para.h>

#include "test.h"
#include "lkvm/kvm.h"
#include "lkvm/kvm-cpu.h"
#include "lkvm/ioport.h"
#include "lkvm/kvm-uapi.h"
#include "lkvm/mig-section.h"
#include "lkvm/page-map.h"
#include "lkvm/pv-page-map.h"

#define GiB (1ULL << 30)
#define MiB (1ULL << 20)
#define ENC KVM_MAP_GPA_RANGE_ENCRYPTED
#define SZ2M KVM_MAP_GPA_RANGE_PAGE_SZ_2M
#define SZ1G KVM_MAP_GPA_RANGE_PAGE_SZ_1G

/*
 * Two layouts: "holed" is the usual x86 one (RAM below the PCI hole and
 * above 4 GiB); "touching" has two banks back to back in gpa space but
 * numbered out of gpa order, so a range across them is legal and its
 * page indexes are not consecutive.
 */
static void fake_kvm(struct kvm *kvm, bool holed, bool sev)
{
	memset(kvm, 0, sizeof(*kvm));
	kvm->vm_fd = -1;
	kvm->cfg.page_map = !sev;
	kvm->cfg.sev_mode = sev ? SEV_MODE_EMULATED : SEV_MODE_NONE;
	if (holed) {
		kvm->mem_banks[0] = (struct kvm_mem_bank){ .guest_phys_addr = 0,
			.size = 3 * GiB, .page_base = 0 };
		kvm->mem_banks[1] = (struct kvm_mem_bank){ .guest_phys_addr = 4 * GiB,
			.size = 2 * GiB, .page_base = (3 * GiB) >> 12 };
	} else {
		kvm->mem_banks[0] = (struct kvm_mem_bank){ .guest_phys_addr = 16 * MiB,
			.size = 48 * MiB, .page_base = 0 };
		kvm->mem_banks[1] = (struct kvm_mem_bank){ .guest_phys_addr = 0,
			.size = 16 * MiB, .page_base = (48 * MiB) >> 12 };
	}
	kvm->nr_mem_banks = 2;
	kvm->nr_pages = (kvm->mem_banks[0].size + kvm->mem_banks[1].size) >> 12;
}

static int make_map(struct kvm *kvm, bool holed, bool sev)
{
	fake_kvm(kvm, holed, sev);
	if (page_map__create(kvm))
		return -1;
	page_map__set_features(kvm->page_map, PAGE_MAP_HYPERCALL | PAGE_MAP_MSR);
	return 0;
}

/* REQUIRE evaluates its condition twice: never hand it a call. */
#define MAKE_MAP(kvm, holed, sev) do {					\
	int __r = make_map(kvm, holed, sev);				\
	REQUIRE(!__r);							\
} while (0)

/* ---- kvm_run records, written at KVM's byte offsets ---- */

static union {
	struct kvm_run run;
	u8 bytes[4096];
} rec;

static void put32(size_t off, u32 v) { memcpy(rec.bytes + off, &v, 4); }
static void put64(size_t off, u64 v) { memcpy(rec.bytes + off, &v, 8); }
static u64 get64(size_t off) { u64 v; memcpy(&v, rec.bytes + off, 8); return v; }
static u8 get8(size_t off) { return rec.bytes[off]; }

enum layout { LAYOUT_61, LAYOUT_FLAGS };

/*
 * 6.1: u32 longmode @96, pad @100 left as whatever was there (garbage);
 * newer: u64 flags @96.  ret is left non-zero to catch a handler that
 * does not write it (newer KVM zeroes it, older ones do not).
 */
static void hc_record(enum layout l, bool longmode, u64 nr, u64 a0, u64 a1, u64 a2)
{
	memset(rec.bytes, 0xa5, sizeof(rec.bytes));
	put32(8, KVM_EXIT_HYPERCALL);		/* exit_reason */
	put64(32, nr);
	put64(40, a0);
	put64(48, a1);
	put64(56, a2);
	put64(64, 0); put64(72, 0); put64(80, 0);
	put64(88, 0x5555);			/* ret */
	if (l == LAYOUT_61)
		put32(96, longmode);		/* pad @100 stays 0xa5a5a5a5 */
	else
		put64(96, longmode ? KVM_EXIT_HYPERCALL_LONG_MODE : 0);
}

static s64 hc(struct kvm *kvm, enum layout l, u64 gpa, u64 npages, u64 attrs)
{
	hc_record(l, true, KVM_HC_MAP_GPA_RANGE, gpa, npages, attrs);
	if (hypercall__handle_exit(kvm, &rec.run))
		return 0x7777;
	return (s64)get64(88);
}

/* Is [gpa, gpa + npages pages) shared, page by page? */
static bool range_is(struct kvm *kvm, u64 gpa, u64 npages, bool shared)
{
	s64 n = page_map__count_gpa_range(kvm->page_map, gpa, npages << 12);

	return n == (s64)(shared ? npages : 0);
}

/* Snapshot of everything an invalid request must leave alone. */
struct snap {
	u64 gen, count;
	u64 *bits;
};

static void take(struct kvm *kvm, struct snap *s)
{
	struct page_map *pm = kvm->page_map;
	u64 *changed = calloc(page_map__nr_words(pm), 8);

	s->gen = page_map__generation(pm);
	s->count = page_map__count_shared(pm);
	s->bits = calloc(page_map__nr_words(pm), 8);
	for (u64 p = 0; p < page_map__nr_pages(pm); p++)
		if (page_map__is_shared(pm, p))
			s->bits[p / 64] |= 1ULL << (p % 64);
	page_map__harvest_changed(pm, changed);
	free(changed);
}

static bool same(struct kvm *kvm, struct snap *s)
{
	struct snap now;
	bool eq;
	u64 *changed = calloc(page_map__nr_words(kvm->page_map), 8);
	u64 nr_changed = page_map__harvest_changed(kvm->page_map, changed);

	free(changed);
	take(kvm, &now);
	eq = now.gen == s->gen && now.count == s->count && !nr_changed &&
	     !memcmp(now.bits, s->bits, page_map__nr_words(kvm->page_map) * 8);
	free(now.bits);
	return eq;
}

static void drop(struct kvm *kvm)
{
	page_map__free(kvm->page_map);
	kvm->page_map = NULL;
}

/* ---- tests ---- */

static void test_geometry_checked(void)
{
	struct kvm_mem_bank b[2] = {
		{ .guest_phys_addr = 0, .size = 1 * MiB, .page_base = 0 },
		{ .guest_phys_addr = 512 * 1024, .size = 1 * MiB, .page_base = 256 },
	};
	struct page_map *pm;

	CHECK(!page_map__new(b, 2, false));		/* overlap in gpa */
	b[1].guest_phys_addr = 2 * MiB;
	b[1].page_base = 100;
	CHECK(!page_map__new(b, 2, false));		/* overlap in page indexes */
	b[1].page_base = 256;
	b[1].guest_phys_addr = 2 * MiB + 1;
	CHECK(!page_map__new(b, 2, false));		/* unaligned bank */
	CHECK(!page_map__new(b, 0, false));
	b[1].guest_phys_addr = 2 * MiB;
	pm = page_map__new(b, 2, false);
	REQUIRE(pm);
	CHECK_EQ(page_map__nr_pages(pm), 512);
	CHECK_EQ(page_map__nr_words(pm), 8);
	CHECK_EQ(page_map__page_to_gpa(pm, 256), 2 * MiB);
	CHECK_EQ(page_map__page_to_gpa(pm, 512), ~0ULL);
	page_map__free(pm);
}

static void test_starts_all_private(void)
{
	struct kvm kvm;
	u64 s, l;

	MAKE_MAP(&kvm, true, true);
	CHECK_EQ(page_map__nr_pages(kvm.page_map), (5 * GiB) >> 12);
	CHECK_EQ(page_map__count_shared(kvm.page_map), 0);
	CHECK(!page_map__next_run(kvm.page_map, 0, true, &s, &l));
	CHECK(page_map__next_run(kvm.page_map, 0, false, &s, &l));
	CHECK_EQ(s, 0);
	CHECK_EQ(l, (5 * GiB) >> 12);
	drop(&kvm);

	/* A plain guest without --page-map gets no map at all. */
	fake_kvm(&kvm, true, false);
	kvm.cfg.page_map = false;
	CHECK_EQ(page_map__create(&kvm), 0);
	CHECK(!kvm.page_map);
}

static void test_word_edges(void)
{
	struct kvm kvm;
	struct page_map *pm;
	u64 s, l;

	MAKE_MAP(&kvm, false, false);
	pm = kvm.page_map;
	/* Runs that start/end on and off word boundaries. */
	CHECK_EQ(page_map__set_shared(pm, 63, 2), 0);
	CHECK_EQ(page_map__set_shared(pm, 128, 64), 0);
	CHECK_EQ(page_map__set_shared(pm, 1000, 1000), 0);
	CHECK_EQ(page_map__count_shared(pm), 2 + 64 + 1000);
	CHECK_EQ(page_map__count_range(pm, 0, 129), 3);
	CHECK_EQ(page_map__count_range(pm, 64, 1), 1);
	CHECK_EQ(page_map__count_range(pm, 1500, 1000), 500);
	CHECK(page_map__next_run(pm, 0, true, &s, &l));
	CHECK(s == 63 && l == 2);
	CHECK(page_map__next_run(pm, 64, true, &s, &l));
	CHECK(s == 64 && l == 1);
	CHECK(page_map__next_run(pm, 65, true, &s, &l));
	CHECK(s == 128 && l == 64);
	CHECK(page_map__next_run(pm, 192, true, &s, &l));
	CHECK(s == 1000 && l == 1000);
	CHECK(!page_map__next_run(pm, 2000, true, &s, &l));
	CHECK(page_map__next_run(pm, 65, false, &s, &l));
	CHECK(s == 65 && l == 63);
	/* Last page of the map, and one past it. */
	CHECK_EQ(page_map__set_shared(pm, page_map__nr_pages(pm) - 1, 1), 0);
	CHECK(page_map__next_run(pm, 2000, true, &s, &l));
	CHECK(s == page_map__nr_pages(pm) - 1 && l == 1);
	CHECK_EQ(page_map__set_shared(pm, page_map__nr_pages(pm), 1), -ERANGE);
	CHECK_EQ(page_map__set_private(pm, 1, ~0ULL), -ERANGE);
	CHECK_EQ(page_map__set_private(pm, 0, page_map__nr_pages(pm)), 0);
	CHECK_EQ(page_map__count_shared(pm), 0);
	CHECK_EQ(page_map__count_range(pm, 0, page_map__nr_pages(pm)), 0);
	drop(&kvm);
}

static void test_hypercall_each_page_size(void)
{
	struct kvm kvm;
	enum layout layouts[] = { LAYOUT_61, LAYOUT_FLAGS };

	for (unsigned i = 0; i < ARRAY_SIZE(layouts); i++) {
		enum layout l = layouts[i];

		MAKE_MAP(&kvm, true, true);
		CHECK_EQ(hc(&kvm, l, 0x1000, 1, 0), 0);
		CHECK(range_is(&kvm, 0x1000, 1, true));
		CHECK(range_is(&kvm, 0, 1, false) && range_is(&kvm, 0x2000, 1, false));
		CHECK_EQ(hc(&kvm, l, 2 * MiB, 512, SZ2M), 0);
		CHECK(range_is(&kvm, 2 * MiB, 512, true));
		CHECK_EQ(hc(&kvm, l, 1 * GiB, 262144, SZ1G), 0);
		CHECK(range_is(&kvm, 1 * GiB, 262144, true));
		CHECK_EQ(page_map__count_shared(kvm.page_map), 1 + 512 + 262144);
		/* And back to encrypted at each size. */
		CHECK_EQ(hc(&kvm, l, 1 * GiB, 262144, SZ1G | ENC), 0);
		CHECK_EQ(hc(&kvm, l, 2 * MiB, 512, SZ2M | ENC), 0);
		CHECK_EQ(hc(&kvm, l, 0x1000, 1, ENC), 0);
		CHECK_EQ(page_map__count_shared(kvm.page_map), 0);
		/* 4K size over a large, odd range is fine. */
		CHECK_EQ(hc(&kvm, l, 0x3000, 1001, 0), 0);
		CHECK(range_is(&kvm, 0x3000, 1001, true));
		drop(&kvm);
	}
}

static void test_hypercall_overlap_and_adjacent(void)
{
	struct kvm kvm;
	struct page_map *pm;
	u64 s, l;

	MAKE_MAP(&kvm, true, true);
	pm = kvm.page_map;
	CHECK_EQ(hc(&kvm, LAYOUT_FLAGS, 10 << 12, 10, 0), 0);	/* [10,20) */
	CHECK_EQ(hc(&kvm, LAYOUT_FLAGS, 15 << 12, 15, 0), 0);	/* [15,30) overlaps */
	CHECK_EQ(page_map__count_shared(pm), 20);
	CHECK_EQ(hc(&kvm, LAYOUT_61, 12 << 12, 2, ENC), 0);	/* hole [12,14) */
	CHECK_EQ(hc(&kvm, LAYOUT_61, 30 << 12, 10, 0), 0);		/* adjacent [30,40) */
	CHECK_EQ(hc(&kvm, LAYOUT_61, 30 << 12, 10, 0), 0);		/* repeated: no-op */
	CHECK_EQ(page_map__count_shared(pm), 28);
	CHECK(page_map__next_run(pm, 0, true, &s, &l));
	CHECK(s == 10 && l == 2);
	CHECK(page_map__next_run(pm, 12, true, &s, &l));
	CHECK(s == 14 && l == 26);				/* merged to 40 */
	CHECK(!page_map__next_run(pm, 40, true, &s, &l));
	/* Arrival order wins: all private, then a piece shared again. */
	CHECK_EQ(hc(&kvm, LAYOUT_61, 0, 64, ENC), 0);
	CHECK_EQ(hc(&kvm, LAYOUT_61, 20 << 12, 1, 0), 0);
	CHECK_EQ(page_map__count_shared(pm), 1);
	CHECK(page_map__is_shared(pm, 20));
	drop(&kvm);
}

static void test_hypercall_end_of_memory_and_banks(void)
{
	struct kvm kvm;
	struct snap sn;

	/* Holed: end of each bank is fine, crossing the hole is not. */
	MAKE_MAP(&kvm, true, true);
	CHECK_EQ(hc(&kvm, LAYOUT_FLAGS, 3 * GiB - 4096, 1, 0), 0);
	CHECK_EQ(hc(&kvm, LAYOUT_FLAGS, 6 * GiB - 2 * MiB, 512, SZ2M), 0);
	CHECK(range_is(&kvm, 6 * GiB - 2 * MiB, 512, true));
	CHECK_EQ(page_map__count_shared(kvm.page_map), 513);
	CHECK(page_map__is_shared(kvm.page_map, page_map__nr_pages(kvm.page_map) - 1));
	take(&kvm, &sn);
	CHECK_EQ(hc(&kvm, LAYOUT_FLAGS, 3 * GiB - 4096, 2, 0), -KVM_EINVAL);	/* into hole */
	CHECK_EQ(hc(&kvm, LAYOUT_FLAGS, 3 * GiB, 1, 0), -KVM_EINVAL);		/* in hole */
	CHECK_EQ(hc(&kvm, LAYOUT_FLAGS, 6 * GiB - 4096, 2, 0), -KVM_EINVAL);	/* past end */
	CHECK_EQ(hc(&kvm, LAYOUT_FLAGS, 6 * GiB, 1, 0), -KVM_EINVAL);
	CHECK_EQ(hc(&kvm, LAYOUT_FLAGS, 0, (6 * GiB) >> 12, 0), -KVM_EINVAL);	/* spans hole */
	CHECK(same(&kvm, &sn));
	free(sn.bits);
	drop(&kvm);

	/* Touching banks: one range across both, pages not consecutive in index. */
	MAKE_MAP(&kvm, false, true);
	CHECK_EQ(hc(&kvm, LAYOUT_61, 16 * MiB - 3 * 4096, 5, 0), 0);
	CHECK_EQ(page_map__count_shared(kvm.page_map), 5);
	CHECK(range_is(&kvm, 16 * MiB - 3 * 4096, 5, true));
	CHECK(page_map__is_shared(kvm.page_map, 0) && page_map__is_shared(kvm.page_map, 1));
	CHECK(!page_map__is_shared(kvm.page_map, 2));
	CHECK(page_map__is_shared(kvm.page_map, (64 * MiB >> 12) - 1));
	/* The whole of memory, as one 2M-size request. */
	CHECK_EQ(hc(&kvm, LAYOUT_61, 0, (64 * MiB) >> 12, SZ2M), 0);
	CHECK_EQ(page_map__count_shared(kvm.page_map), (64 * MiB) >> 12);
	CHECK_EQ(hc(&kvm, LAYOUT_61, 0, ((64 * MiB) >> 12) + 1, 0), -KVM_EINVAL);
	drop(&kvm);
}

static void test_hypercall_invalid_arguments(void)
{
	static const struct {
		const char *what;
		u64 gpa, npages, attrs;
	} bad[] = {
		{ "unaligned gpa", 0x1001, 1, 0 },
		{ "unaligned gpa 0x800", 0x800, 1, 0 },
		{ "zero pages", 0x1000, 0, 0 },
		{ "page count overflows bytes", 0x1000, 1ULL << 52, 0 },
		{ "range wraps", 0xfffffffffffff000ULL, 2, 0 },
		{ "outside memory", 64 * GiB, 1, 0 },
		{ "reserved bit 5", 0x1000, 1, 1 << 5 },
		{ "reserved bit 63", 0x1000, 1, 1ULL << 63 },
		{ "reserved with enc", 0x1000, 1, ENC | (1 << 8) },
		{ "page size 3", 0x200000, 512, 3 },
		{ "page size 0xf", 0x200000, 512, 0xf },
		{ "2M unaligned gpa", 0x1000, 512, SZ2M },
		{ "2M partial count", 0x200000, 1, SZ2M },
		{ "1G unaligned gpa", 2 * MiB, 262144, SZ1G },
		{ "1G partial count", 0, 512, SZ1G },
	};
	struct kvm kvm;
	struct snap sn;

	MAKE_MAP(&kvm, true, true);
	CHECK_EQ(hc(&kvm, LAYOUT_61, 0x10000, 16, 0), 0);	/* some state to keep */
	take(&kvm, &sn);
	for (unsigned i = 0; i < ARRAY_SIZE(bad); i++) {
		for (int l = LAYOUT_61; l <= LAYOUT_FLAGS; l++) {
			s64 r = hc(&kvm, l, bad[i].gpa, bad[i].npages, bad[i].attrs);

			if (r != -KVM_EINVAL || !same(&kvm, &sn)) {
				printf("  case '%s' layout %d: ret %lld\n", bad[i].what, l,
				       (long long)r);
				CHECK(!"invalid request accepted or map changed");
			}
		}
	}
	/* Any other hypercall: -KVM_ENOSYS, map untouched. */
	hc_record(LAYOUT_FLAGS, true, KVM_HC_VAPIC_POLL_IRQ, 0x1000, 1, 0);
	CHECK_EQ(hypercall__handle_exit(&kvm, &rec.run), 0);
	CHECK_EQ((s64)get64(88), -KVM_ENOSYS);
	hc_record(LAYOUT_61, true, 0xdead, 0x1000, 1, 0);
	hypercall__handle_exit(&kvm, &rec.run);
	CHECK_EQ((s64)get64(88), -KVM_ENOSYS);
	CHECK(same(&kvm, &sn));
	free(sn.bits);
	drop(&kvm);

	/* No map (feature off): -KVM_ENOSYS. */
	fake_kvm(&kvm, true, false);
	CHECK_EQ(hc(&kvm, LAYOUT_61, 0x1000, 1, 0), -KVM_ENOSYS);
}

static void test_hypercall_32bit_guest(void)
{
	struct kvm kvm;

	MAKE_MAP(&kvm, true, true);
	/* Upper halves are noise for a 32-bit guest (KVM cut them already). */
	for (int l = LAYOUT_61; l <= LAYOUT_FLAGS; l++) {
		hc_record(l, false, KVM_HC_MAP_GPA_RANGE, 0xffffffff00004000ULL,
			  0x1234567800000002ULL, 0xabcd000000000000ULL);
		hypercall__handle_exit(&kvm, &rec.run);
		CHECK_EQ((s64)get64(88), 0);
		CHECK(range_is(&kvm, 0x4000, 2, true));
		/* The same record from a 64-bit guest is out of range. */
		hc_record(l, true, KVM_HC_MAP_GPA_RANGE, 0xffffffff00004000ULL, 2, 0);
		hypercall__handle_exit(&kvm, &rec.run);
		CHECK_EQ((s64)get64(88), -KVM_EINVAL);
	}
	CHECK_EQ(page_map__count_shared(kvm.page_map), 2);
	drop(&kvm);
}

/* ---- MSR_KVM_MIGRATION_CONTROL ---- */

static void msr_record(u32 reason, u32 index, u64 data)
{
	memset(rec.bytes, 0x5a, sizeof(rec.bytes));
	put32(8, reason);
	rec.bytes[32] = 0;			/* error */
	put32(40, KVM_MSR_EXIT_REASON_FILTER);
	put32(44, index);
	put64(48, data);
}

static int wrmsr(struct kvm *kvm, u64 v)
{
	msr_record(KVM_EXIT_X86_WRMSR, MSR_KVM_MIGRATION_CONTROL, v);
	msr_migration__handle_exit(kvm, &rec.run);
	return get8(32);
}

static u64 rdmsr(struct kvm *kvm, int *err)
{
	msr_record(KVM_EXIT_X86_RDMSR, MSR_KVM_MIGRATION_CONTROL, 0xdeadbeef);
	msr_migration__handle_exit(kvm, &rec.run);
	*err = get8(32);
	return get64(48);
}

static void test_msr_semantics(void)
{
	struct kvm kvm;
	struct page_map_readiness rd;
	int err;

	MAKE_MAP(&kvm, true, true);
	CHECK_EQ(rdmsr(&kvm, &err), 0);			/* encrypted: starts 0 */
	CHECK_EQ(err, 0);
	page_map__readiness(kvm.page_map, &rd);
	CHECK(!rd.ready && !rd.withdrawn && rd.nr_ready == 0 && rd.last_change_ns == 0);

	CHECK_EQ(wrmsr(&kvm, KVM_MIGRATION_READY), 0);
	CHECK_EQ(rdmsr(&kvm, &err), 1);
	page_map__readiness(kvm.page_map, &rd);
	CHECK(rd.ready && !rd.withdrawn && rd.nr_ready == 1 && rd.last_change_ns);
	CHECK_EQ(page_map__wait_ready(kvm.page_map, 0, NULL), 0);

	/* Reserved bits: #GP, value unchanged. */
	CHECK_EQ(wrmsr(&kvm, 2), 1);
	CHECK_EQ(wrmsr(&kvm, 3), 1);
	CHECK_EQ(wrmsr(&kvm, 1ULL << 63), 1);
	CHECK_EQ(rdmsr(&kvm, &err), 1);

	/* Withdrawn: a reboot or CPU offline. */
	CHECK_EQ(wrmsr(&kvm, 0), 0);
	CHECK_EQ(rdmsr(&kvm, &err), 0);
	page_map__readiness(kvm.page_map, &rd);
	CHECK(!rd.ready && rd.withdrawn && rd.nr_withdrawn == 1);
	CHECK_EQ(page_map__wait_ready(kvm.page_map, 20, NULL), -ETIMEDOUT);
	CHECK_EQ(wrmsr(&kvm, 0), 0);			/* no transition */
	page_map__readiness(kvm.page_map, &rd);
	CHECK_EQ(rd.nr_withdrawn, 1);
	CHECK_EQ(wrmsr(&kvm, 1), 0);
	page_map__readiness(kvm.page_map, &rd);
	CHECK(rd.ready && !rd.withdrawn && rd.nr_ready == 2);

	/* Some other MSR (not ours): #GP, our state untouched. */
	msr_record(KVM_EXIT_X86_WRMSR, 0x4b564d00, 0);
	msr_migration__handle_exit(&kvm, &rec.run);
	CHECK_EQ(get8(32), 1);
	CHECK_EQ(rdmsr(&kvm, &err), 1);
	drop(&kvm);

	/* Plain guest: KVM's documented start value is 1 (migratable). */
	MAKE_MAP(&kvm, true, false);
	CHECK_EQ(rdmsr(&kvm, &err), 1);
	page_map__readiness(kvm.page_map, &rd);
	CHECK(rd.ready && rd.nr_ready == 0);
	drop(&kvm);

	/* No page map: the MSR does not exist, #GP. */
	fake_kvm(&kvm, true, false);
	CHECK_EQ(wrmsr(&kvm, 1), 1);
	rdmsr(&kvm, &err);
	CHECK_EQ(err, 1);
}

static void *set_ready_later(void *arg)
{
	usleep(20000);
	page_map__msr_write(arg, 1);
	return NULL;
}

static void test_wait_ready_wakes(void)
{
	struct kvm kvm;
	pthread_t t;

	MAKE_MAP(&kvm, true, true);
	pthread_create(&t, NULL, set_ready_later, kvm.page_map);
	CHECK_EQ(page_map__wait_ready(kvm.page_map, 5000, NULL), 0);
	pthread_join(t, NULL);
	drop(&kvm);
}

static void test_reset_all_private(void)
{
	struct kvm kvm;
	struct page_map_readiness rd;
	u64 *changed, s, l;
	int err;

	MAKE_MAP(&kvm, true, true);
	CHECK_EQ(hc(&kvm, LAYOUT_FLAGS, 0x100000, 256, 0), 0);
	CHECK_EQ(hc(&kvm, LAYOUT_FLAGS, 4 * GiB, 512, SZ2M), 0);
	CHECK_EQ(wrmsr(&kvm, 1), 0);
	changed = calloc(page_map__nr_words(kvm.page_map), 8);
	CHECK_EQ(page_map__harvest_changed(kvm.page_map, changed), 256 + 512);

	page_map__reset(kvm.page_map);
	CHECK_EQ(page_map__count_shared(kvm.page_map), 0);
	CHECK(!page_map__next_run(kvm.page_map, 0, true, &s, &l));
	CHECK_EQ(page_map__count_range(kvm.page_map, 0, page_map__nr_pages(kvm.page_map)), 0);
	CHECK_EQ(rdmsr(&kvm, &err), 0);
	page_map__readiness(kvm.page_map, &rd);
	CHECK(!rd.ready && rd.withdrawn && rd.nr_withdrawn == 1);
	/* The flips made by reset are visible to a migration in progress. */
	CHECK_EQ(page_map__harvest_changed(kvm.page_map, changed), 256 + 512);
	CHECK_EQ(changed[0x100000 >> 12 >> 6], ~0ULL);
	/* And the map works as before. */
	CHECK_EQ(hc(&kvm, LAYOUT_61, 0x1000, 1, 0), 0);
	CHECK_EQ(page_map__count_shared(kvm.page_map), 1);
	free(changed);
	drop(&kvm);
}

static void test_harvest_only_flips(void)
{
	struct kvm kvm;
	struct page_map *pm;
	u64 *changed, s, l;

	MAKE_MAP(&kvm, true, true);
	pm = kvm.page_map;
	changed = calloc(page_map__nr_words(pm), 8);
	CHECK_EQ(page_map__harvest_changed(pm, changed), 0);
	CHECK_EQ(hc(&kvm, LAYOUT_61, 0, 100, ENC), 0);		/* already private */
	CHECK_EQ(page_map__harvest_changed(pm, changed), 0);
	CHECK_EQ(hc(&kvm, LAYOUT_61, 50 << 12, 100, 0), 0);
	CHECK_EQ(hc(&kvm, LAYOUT_61, 60 << 12, 10, ENC), 0);	/* flips back */
	CHECK_EQ(page_map__harvest_changed(pm, changed), 100);	/* still "changed" */
	CHECK(bitmap__next_run(changed, page_map__nr_pages(pm), 0, true, &s, &l));
	CHECK(s == 50 && l == 100);
	CHECK_EQ(page_map__harvest_changed(pm, changed), 0);	/* cleared */
	free(changed);
	drop(&kvm);
}

/* ---- concurrency ---- */

/*
 * Writers flip 64-page aligned blocks through the real handler; a reader
 * plays migration: harvests `changed`, and for each harvested page copies
 * its current state into a mirror.  Invariants: every word the reader
 * sees is all-shared or all-private (one atomic op per word), and once
 * the writers stop, one last harvest makes the mirror equal the map.
 */
#define CW_WRITERS	3
#define CW_BLOCKS	4096		/* 16 MiB of pages per writer region */

static struct kvm cw_kvm;
static volatile int cw_stop;
static int cw_bad_word, cw_bad_ret;

static void *cw_writer(void *arg)
{
	unsigned id = (unsigned)(long)arg, seed = id * 7919 + 1;
	u64 base = (u64)id * CW_BLOCKS * 64;

	for (int i = 0; i < 20000; i++) {
		u64 blk = rand_r(&seed) % CW_BLOCKS;
		u64 n = 1 + rand_r(&seed) % min(8, CW_BLOCKS - blk);
		u64 attrs = (rand_r(&seed) & 1) ? ENC : 0;

		if (hypercall__map_gpa_range(cw_kvm.page_map, (base + blk * 64) << 12,
					     n * 64, attrs))
			__atomic_store_n(&cw_bad_ret, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void mirror_harvest(struct page_map *pm, u64 *changed, u8 *mirror)
{
	u64 pos = 0, s, l;

	page_map__harvest_changed(pm, changed);
	while (bitmap__next_run(changed, page_map__nr_pages(pm), pos, true, &s, &l)) {
		for (u64 p = s; p < s + l; p++)
			mirror[p] = page_map__is_shared(pm, p);
		pos = s + l;
	}
}

static void *cw_reader(void *arg)
{
	struct page_map *pm = cw_kvm.page_map;
	u64 *changed = calloc(page_map__nr_words(pm), 8);
	u8 *mirror = arg;

	while (!__atomic_load_n(&cw_stop, __ATOMIC_ACQUIRE)) {
		mirror_harvest(pm, changed, mirror);
		for (u64 w = 0; w < (u64)CW_WRITERS * CW_BLOCKS; w++) {
			u64 c = page_map__count_range(pm, w * 64, 64);

			if (c != 0 && c != 64)
				cw_bad_word = 1;
		}
	}
	free(changed);
	return NULL;
}

static void test_concurrent_readers(void)
{
	pthread_t w[CW_WRITERS], r;
	struct page_map *pm;
	u64 *changed;
	u8 *mirror;
	u64 pop = 0;

	MAKE_MAP(&cw_kvm, true, true);
	pm = cw_kvm.page_map;
	mirror = calloc(page_map__nr_pages(pm), 1);
	changed = calloc(page_map__nr_words(pm), 8);
	cw_stop = 0;
	pthread_create(&r, NULL, cw_reader, mirror);
	for (long i = 0; i < CW_WRITERS; i++)
		pthread_create(&w[i], NULL, cw_writer, (void *)i);
	for (int i = 0; i < CW_WRITERS; i++)
		pthread_join(w[i], NULL);
	__atomic_store_n(&cw_stop, 1, __ATOMIC_RELEASE);
	pthread_join(r, NULL);

	CHECK(!cw_bad_ret);
	CHECK(!cw_bad_word);
	mirror_harvest(pm, changed, mirror);		/* the paused final round */
	for (u64 p = 0; p < page_map__nr_pages(pm); p++) {
		if (mirror[p] != page_map__is_shared(pm, p)) {
			CHECK(!"mirror differs from the map after the final harvest");
			break;
		}
		pop += mirror[p];
	}
	CHECK_EQ(page_map__count_shared(pm), pop);
	CHECK(pop > 0);
	free(mirror);
	free(changed);
	drop(&cw_kvm);
}

/* ---- dump, CPUID, migration section ---- */

static void test_dump_merges_ranges(void)
{
	struct kvm kvm;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	MAKE_MAP(&kvm, false, true);
	/* Across the bank edge at 16 MiB (index order differs): one range. */
	CHECK_EQ(hc(&kvm, LAYOUT_61, 16 * MiB - 2 * 4096, 4, 0), 0);
	CHECK_EQ(hc(&kvm, LAYOUT_61, 32 * MiB, 3, 0), 0);
	CHECK_EQ(hc(&kvm, LAYOUT_61, 32 * MiB + 3 * 4096, 1, 0), 0);	/* adjacent */
	CHECK_EQ(wrmsr(&kvm, 1), 0);
	f = open_memstream(&buf, &len);
	REQUIRE(f);
	page_map__dump(kvm.page_map, f);
	fclose(f);
	CHECK(strstr(buf, "16384 pages (64 MiB), encrypted guest"));
	CHECK(strstr(buf, "msr 0x1, ready; became ready 1 time(s), withdrawn 0 time(s)"));
	CHECK(strstr(buf, "shared 0x000000ffe000-0x000001001fff          4 pages"));
	CHECK(strstr(buf, "shared 0x000002000000-0x000002003fff          4 pages"));
	CHECK(strstr(buf, "shared: 8 pages in 2 range(s); private: 16376 pages"));
	if (t_failed_here)
		fputs(buf, stdout);
	free(buf);
	drop(&kvm);
}

/*
 * A plain guest starts ready without becoming ready: the state says so,
 * not "ready" next to "became ready 0 time(s)"; an SEV guest that never
 * wrote the MSR is "never ready".
 */
static char *dump_of(struct kvm *kvm)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f) {
		page_map__dump(kvm->page_map, f);
		fclose(f);
	}
	return buf;
}

static void test_dump_readiness(void)
{
	struct kvm kvm;
	char *buf;

	MAKE_MAP(&kvm, false, false);
	buf = dump_of(&kvm);
	REQUIRE(buf);
	CHECK(strstr(buf, "msr 0x1, ready from the start; became ready 0 time(s), withdrawn 0 time(s)"));
	free(buf);
	CHECK_EQ(wrmsr(&kvm, 0), 0);
	buf = dump_of(&kvm);
	REQUIRE(buf);
	CHECK(strstr(buf, "msr 0x0, withdrawn; became ready 0 time(s), withdrawn 1 time(s)"));
	free(buf);
	drop(&kvm);

	MAKE_MAP(&kvm, false, true);
	buf = dump_of(&kvm);
	REQUIRE(buf);
	CHECK(strstr(buf, "msr 0x0, never ready; became ready 0 time(s), withdrawn 0 time(s)"));
	free(buf);
	drop(&kvm);
}

/*
 * A plain guest that withdrew (1 -> 0, never 0 -> 1) arrives withdrawn:
 * page_map__load() derived the state from nr_ready alone, so the
 * destination's dump said "never ready; ... withdrawn 1 time(s)".
 */
static void test_load_keeps_withdrawn(void)
{
	struct kvm src, dst;
	struct mig_buf b = { 0 };
	struct page_map_readiness rd;
	char *buf;
	int err;

	MAKE_MAP(&src, false, false);
	MAKE_MAP(&dst, false, false);
	CHECK_EQ(wrmsr(&src, 0), 0);
	err = page_map__save(src.page_map, &b);
	REQUIRE(!err);
	CHECK_EQ(page_map__load(dst.page_map, b.data, b.len), 0);
	page_map__readiness(dst.page_map, &rd);
	CHECK(!rd.ready && rd.withdrawn && rd.nr_ready == 0 && rd.nr_withdrawn == 1);
	buf = dump_of(&dst);
	REQUIRE(buf);
	CHECK(strstr(buf, "msr 0x0, withdrawn; became ready 0 time(s), withdrawn 1 time(s)"));
	free(buf);
	mig_buf__free(&b);
	drop(&src);
	drop(&dst);
}

static struct kvm_cpuid_entry2 *find_leaf(struct kvm_cpuid2 *c, u32 fn)
{
	for (u32 i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn)
			return &c->entries[i];
	return NULL;
}

static void test_cpuid_leaves(void)
{
	struct kvm kvm;
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[4];
	} t = { .c.nent = 1 };
	struct kvm_cpuid_entry2 *sig, *feat;

	t.e[0].function = 0;
	MAKE_MAP(&kvm, true, true);
	CHECK_EQ(hypercall__cpuid(&kvm, &t.c, 4), 0);
	CHECK_EQ(t.c.nent, 3);
	sig = find_leaf(&t.c, 0x40000000);
	feat = find_leaf(&t.c, 0x40000001);
	REQUIRE(sig && feat);
	CHECK(sig->eax >= 0x40000001);
	CHECK(!memcmp(&sig->ebx, "KVMK", 4) && !memcmp(&sig->ecx, "VMKV", 4) &&
	      !memcmp(&sig->edx, "M\0\0\0", 4));
	CHECK_EQ(feat->eax, (1u << 16) | (1u << 17));

	/* Existing leaves are kept and ORed into; no duplicates. */
	feat->eax = 0x01007efb & ~(3u << 16);
	CHECK_EQ(hypercall__cpuid(&kvm, &t.c, 4), 0);
	CHECK_EQ(t.c.nent, 3);
	CHECK_EQ(feat->eax, 0x01007efb | (3u << 16));

	/* No hypercall exits: neither bit (Linux keys hypercalls off bit 17). */
	feat->eax = 0;
	page_map__set_features(kvm.page_map, PAGE_MAP_MSR);
	CHECK_EQ(hypercall__cpuid(&kvm, &t.c, 4), 0);
	CHECK_EQ(feat->eax, 0);
	page_map__set_features(kvm.page_map, PAGE_MAP_HYPERCALL);
	CHECK_EQ(hypercall__cpuid(&kvm, &t.c, 4), 0);
	CHECK_EQ(feat->eax, 1u << 16);

	/* No room. */
	t.c.nent = 1;
	CHECK_EQ(hypercall__cpuid(&kvm, &t.c, 1), -ENOSPC);
	drop(&kvm);

	/* Feature off: table untouched. */
	fake_kvm(&kvm, true, false);
	t.c.nent = 1;
	CHECK_EQ(hypercall__cpuid(&kvm, &t.c, 4), 0);
	CHECK_EQ(t.c.nent, 1);
}

static void test_save_load(void)
{
	struct kvm src, dst;
	struct mig_buf b = { 0 };
	struct snap sn;
	struct page_map_readiness rd;
	u8 *bad;
	int err;

	MAKE_MAP(&src, true, true);
	MAKE_MAP(&dst, true, true);
	CHECK_EQ(hc(&src, LAYOUT_61, 0x5000, 3, 0), 0);
	CHECK_EQ(hc(&src, LAYOUT_61, 5 * GiB, 512, SZ2M), 0);
	CHECK_EQ(wrmsr(&src, 1), 0);
	err = page_map__save(src.page_map, &b);	/* REQUIRE evaluates twice */
	REQUIRE(!err);
	CHECK_EQ(b.len, 48 + 2 * 16);

	CHECK_EQ(hc(&dst, LAYOUT_61, 0x100000, 1, 0), 0);	/* replaced by load */
	take(&dst, &sn);
	bad = malloc(b.len);
	/* Every truncation, and each corrupted field, is refused untouched. */
	for (size_t n = 0; n < b.len; n++)
		CHECK_EQ(page_map__load(dst.page_map, b.data, n), -EINVAL);
	for (size_t off = 0; off < 48; off += 8) {
		memcpy(bad, b.data, b.len);
		bad[off + 4] ^= 0x40;
		if (off == 16 + 8 || off == 16 + 16)	/* nr_ready/nr_withdrawn: free */
			continue;
		CHECK_EQ(page_map__load(dst.page_map, bad, b.len), -EINVAL);
	}
	memcpy(bad, b.data, b.len);
	bad[0] ^= 1;					/* magic */
	CHECK_EQ(page_map__load(dst.page_map, bad, b.len), -EINVAL);
	memcpy(bad, b.data, b.len);
	memcpy(bad + 48 + 16, bad + 48, 16);		/* overlapping runs */
	CHECK_EQ(page_map__load(dst.page_map, bad, b.len), -EINVAL);
	memcpy(bad, b.data, b.len);
	memset(bad + 48 + 16 + 8, 0, 8);		/* zero count */
	CHECK_EQ(page_map__load(dst.page_map, bad, b.len), -EINVAL);
	memcpy(bad, b.data, b.len);
	memset(bad + 48 + 16 + 8, 0xff, 8);		/* past the end */
	CHECK_EQ(page_map__load(dst.page_map, bad, b.len), -EINVAL);
	CHECK(same(&dst, &sn));
	free(sn.bits);

	CHECK_EQ(page_map__load(dst.page_map, b.data, b.len), 0);
	CHECK_EQ(page_map__count_shared(dst.page_map), 3 + 512);
	CHECK(range_is(&dst, 0x5000, 3, true) && range_is(&dst, 5 * GiB, 512, true));
	CHECK(range_is(&dst, 0x100000, 1, false));
	page_map__readiness(dst.page_map, &rd);
	CHECK(rd.ready && rd.msr == 1 && rd.nr_ready == 1);
	free(bad);
	mig_buf__free(&b);
	drop(&src);
	drop(&dst);
}

/* ---- the test doorbell: same path, same answers ---- */

static void db_out(struct kvm_cpu *v, void *db, u16 port, u32 val)
{
	u8 d[4];

	ioport__write_le(d, 4, val);
	test_doorbell__io(v, port, d, 4, true, db);
}

static u32 db_in(struct kvm_cpu *v, void *db, u16 port)
{
	u8 d[4] = { 0 };

	test_doorbell__io(v, port, d, 4, false, db);
	return ioport__read_le(d, 4);
}

static s64 db_call(struct kvm_cpu *v, void *db, u32 cmd, u64 a0, u64 a1, u64 a2)
{
	u64 args[3] = { a0, a1, a2 }, lo, hi;

	db_out(v, db, DOORBELL_PORT_SELECT, 0);
	for (int i = 0; i < 3; i++) {
		db_out(v, db, DOORBELL_PORT_DATA, (u32)args[i]);
		db_out(v, db, DOORBELL_PORT_DATA, (u32)(args[i] >> 32));
	}
	db_out(v, db, DOORBELL_PORT_CMD, cmd);
	db_out(v, db, DOORBELL_PORT_SELECT, DOORBELL_REG_RET_LO);
	lo = db_in(v, db, DOORBELL_PORT_DATA);
	hi = db_in(v, db, DOORBELL_PORT_DATA);
	if ((u32)lo != db_in(v, db, DOORBELL_PORT_CMD))
		return 0x7777;
	return (s64)(hi << 32 | lo);
}

static void test_doorbell_matches_hypercall(void)
{
	static const u64 reqs[][3] = {
		{ 0x10000, 16, 0 }, { 0x14000, 4, ENC }, { 2 * MiB, 512, SZ2M },
		{ 0x1001, 1, 0 }, { 0x1000, 0, 0 }, { 0x1000, 1, 1 << 5 },
		{ 3 * GiB, 1, 0 }, { 0, 1ULL << 52, 0 }, { 0x1000, 512, SZ2M },
	};
	struct kvm a, b;
	struct kvm_cpu v0 = { .kvm = &b, .cpu_id = 0 }, v1 = { .kvm = &b, .cpu_id = 1 };
	struct test_doorbell *db;
	u8 d[2] = { 0 };

	MAKE_MAP(&a, true, true);
	MAKE_MAP(&b, true, true);
	db = test_doorbell__new(&b);
	REQUIRE(db);
	for (unsigned i = 0; i < ARRAY_SIZE(reqs); i++) {
		s64 want = hc(&a, LAYOUT_FLAGS, reqs[i][0], reqs[i][1], reqs[i][2]);
		s64 got = db_call(&v0, db, DOORBELL_CMD_MAP_GPA_RANGE,
				  reqs[i][0], reqs[i][1], reqs[i][2]);

		CHECK_EQ(got, want);
		CHECK_EQ(page_map__count_shared(b.page_map), page_map__count_shared(a.page_map));
	}
	CHECK_EQ(page_map__count_shared(b.page_map), 12 + 512);
	CHECK_EQ(db_call(&v0, db, DOORBELL_CMD_COUNT_SHARED, 0x10000, 16, 0), 12);
	CHECK_EQ(db_call(&v0, db, DOORBELL_CMD_COUNT_SHARED, 3 * GiB - 4096, 2, 0), -KVM_EINVAL);
	CHECK_EQ(db_call(&v0, db, 99, 0, 0, 0), -KVM_ENOSYS);

	/* Per-vCPU registers: v1's half-written arguments do not leak into v0. */
	db_out(&v1, db, DOORBELL_PORT_SELECT, 0);
	db_out(&v1, db, DOORBELL_PORT_DATA, 0xdead000);
	CHECK_EQ(db_call(&v0, db, DOORBELL_CMD_COUNT_SHARED, 0x10000, 1, 0), 1);
	db_out(&v1, db, DOORBELL_PORT_SELECT, 0);
	CHECK_EQ(db_in(&v1, db, DOORBELL_PORT_DATA), 0xdead000);
	/* Result registers are read-only; other sizes are ignored. */
	db_out(&v0, db, DOORBELL_PORT_SELECT, DOORBELL_REG_RET_LO);
	db_out(&v0, db, DOORBELL_PORT_DATA, 5);
	CHECK_EQ(db_in(&v0, db, DOORBELL_PORT_CMD), 1);
	test_doorbell__io(&v0, DOORBELL_PORT_CMD, d, 2, false, db);
	CHECK(d[0] == 0xff && d[1] == 0xff);
	test_doorbell__free(db);
	drop(&a);
	drop(&b);

	/* No map: -KVM_ENOSYS. */
	fake_kvm(&b, true, false);
	db = test_doorbell__new(&b);
	REQUIRE(db);
	CHECK_EQ(db_call(&v0, db, DOORBELL_CMD_MAP_GPA_RANGE, 0x1000, 1, 0), -KVM_ENOSYS);
	test_doorbell__free(db);
}

/* kvm.c's checked accessors refuse private memory with SEV on. */
static void test_range_private(void)
{
	struct kvm kvm;

	MAKE_MAP(&kvm, true, true);
	CHECK_EQ(hc(&kvm, LAYOUT_61, 0x10000, 2, 0), 0);
	CHECK(!kvm__range_private(&kvm, 0x10000, 8192));
	CHECK(!kvm__range_private(&kvm, 0x10ffc, 8));		/* across the two */
	CHECK(kvm__range_private(&kvm, 0x11ffc, 8));		/* into a private page */
	CHECK(kvm__range_private(&kvm, 0xf000, 4097));
	CHECK(kvm__range_private(&kvm, 3 * GiB, 1));		/* hole: not shared */
	CHECK(!kvm__range_private(&kvm, 0x10000, 0));
	drop(&kvm);
	fake_kvm(&kvm, true, true);				/* SEV, no map */
	CHECK(kvm__range_private(&kvm, 0x10000, 1));
}

TEST_MAIN_BEGIN("test-page-map")
	RUN(test_geometry_checked);
	RUN(test_starts_all_private);
	RUN(test_word_edges);
	RUN(test_hypercall_each_page_size);
	RUN(test_hypercall_overlap_and_adjacent);
	RUN(test_hypercall_end_of_memory_and_banks);
	RUN(test_hypercall_invalid_arguments);
	RUN(test_hypercall_32bit_guest);
	RUN(test_msr_semantics);
	RUN(test_wait_ready_wakes);
	RUN(test_reset_all_private);
	RUN(test_harvest_only_flips);
	RUN(test_concurrent_readers);
	RUN(test_dump_merges_ranges);
	RUN(test_dump_readiness);
	RUN(test_load_keeps_withdrawn);
	RUN(test_cpuid_leaves);
	RUN(test_save_load);
	RUN(test_doorbell_matches_hypercall);
	RUN(test_range_private);
TEST_MAIN_END()
