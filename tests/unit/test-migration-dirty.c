/*
 * Dirty page tracking without KVM: the bitmap fallback fed with synthetic
 * KVM_GET_DIRTY_LOG bitmaps, and the dirty ring fed with synthetic
 * struct kvm_dirty_gfn entries exactly as KVM writes them.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "lkvm/kvm.h"
#include "lkvm/kvm-cpu.h"
#include "lkvm/migration.h"
#include "test.h"

#define BPL	(8 * sizeof(long))

static u64 take_all(struct mig_dirty *d, unsigned long *out)
{
	memset(out, 0, DIV_ROUND_UP(d->nr_pages, BPL) * sizeof(long));
	return mig_dirty__take(d, out);
}

static bool bit(const unsigned long *bm, u64 n)
{
	return bm[n / BPL] & (1UL << (n % BPL));
}

static void test_bitmap_merge(void)
{
	struct mig_dirty d;
	unsigned long slot[3] = { 0 }, out[8];

	int r = mig_dirty__init(&d, 300);

	REQUIRE(r == 0);
	/* A 130-page slot at page 100: bits 0, 63, 64, 129 set, and 130.. (past
	 * the slot's end, garbage KVM would never set) must be ignored. */
	slot[0] = 1UL | (1UL << 63);
	slot[1] = 1UL;
	slot[2] = (1UL << 1) | (1UL << 2) | (1UL << 40);
	CHECK_EQ(mig_dirty__merge_bitmap(&d, 100, slot, 130), 4);
	CHECK_EQ(take_all(&d, out), 4);
	CHECK(bit(out, 100));
	CHECK(bit(out, 163));
	CHECK(bit(out, 164));
	CHECK(bit(out, 229));
	CHECK(!bit(out, 230));
	/* Taking clears. */
	CHECK_EQ(take_all(&d, out), 0);
	/* A slot that would reach past nr_pages is refused whole. */
	CHECK_EQ(mig_dirty__merge_bitmap(&d, 200, slot, 130), 0);
	CHECK_EQ(mig_dirty__merge_bitmap(&d, ~0ULL - 5, slot, 130), 0);
	CHECK_EQ(take_all(&d, out), 0);
	/* Exactly filling the end is fine. */
	slot[0] = ~0UL; slot[1] = ~0UL; slot[2] = ~0UL;
	CHECK_EQ(mig_dirty__merge_bitmap(&d, 170, slot, 130), 130);
	CHECK_EQ(take_all(&d, out), 130);
	CHECK(bit(out, 299));
	CHECK(!bit(out, 169));
	mig_dirty__free(&d);
}

static void test_bitmap_repeat_and_set(void)
{
	struct mig_dirty d;
	unsigned long slot[1] = { 0xf0 }, out[2];

	int r = mig_dirty__init(&d, 64);

	REQUIRE(r == 0);
	mig_dirty__merge_bitmap(&d, 0, slot, 64);
	mig_dirty__merge_bitmap(&d, 0, slot, 64);	/* same pages twice: once */
	mig_dirty__set(&d, 1);
	mig_dirty__set(&d, 64);				/* out of range: ignored */
	CHECK_EQ(take_all(&d, out), 5);
	CHECK_EQ(out[0], 0xf2);
	mig_dirty__free(&d);
}

static void test_ring_harvest(void)
{
	struct kvm_dirty_gfn ring[8];
	struct mig_slot_map slots[2] = { { 0, 0, 16 }, { 1, 16, 4 } };
	struct mig_dirty d;
	unsigned long out[1];
	u32 fetch = 6, i;

	int r = mig_dirty__init(&d, 20);

	REQUIRE(r == 0);
	memset(ring, 0, sizeof(ring));
	/* Entries 6, 7, 0, 1 (wrapping), then an empty slot stops the harvest. */
	ring[6] = (struct kvm_dirty_gfn){ KVM_DIRTY_GFN_F_DIRTY, 0, 3 };
	ring[7] = (struct kvm_dirty_gfn){ KVM_DIRTY_GFN_F_DIRTY, 1, 2 };	/* page 18 */
	ring[0] = (struct kvm_dirty_gfn){ KVM_DIRTY_GFN_F_DIRTY, 1, 4 };	/* past slot 1 */
	ring[1] = (struct kvm_dirty_gfn){ KVM_DIRTY_GFN_F_DIRTY, 7, 0 };	/* unknown slot */
	ring[3] = (struct kvm_dirty_gfn){ KVM_DIRTY_GFN_F_DIRTY, 0, 9 };	/* after a hole */
	CHECK_EQ(mig_dirty__harvest_ring(&d, ring, 8, &fetch, slots, 2), 4);
	CHECK_EQ(fetch, 10);
	for (i = 6; i < 10; i++)
		CHECK_EQ(ring[i % 8].flags, KVM_DIRTY_GFN_F_RESET);	/* handed back */
	CHECK_EQ(ring[3].flags, KVM_DIRTY_GFN_F_DIRTY);			/* not reached */
	CHECK_EQ(take_all(&d, out), 2);
	CHECK_EQ(out[0], (1UL << 3) | (1UL << 18));
	/* Nothing new: no harvest. */
	CHECK_EQ(mig_dirty__harvest_ring(&d, ring, 8, &fetch, slots, 2), 0);
	/* Entries KVM has not collected yet (RESET only) are not dirty. */
	ring[2].flags = KVM_DIRTY_GFN_F_RESET;
	CHECK_EQ(mig_dirty__harvest_ring(&d, ring, 8, &fetch, slots, 2), 0);
	/* A ring size that is not a power of two is refused. */
	CHECK_EQ(mig_dirty__harvest_ring(&d, ring, 6, &fetch, slots, 2), 0);
	CHECK_EQ(d.harvested, 4);
	mig_dirty__free(&d);
}

static void test_ring_full_cycle(void)
{
	static struct kvm_dirty_gfn ring[4096];
	struct mig_slot_map slots[1] = { { 0, 0, 8192 } };
	struct mig_dirty d;
	static unsigned long out[8192 / 64];
	u32 fetch = 0, i, round;

	int r = mig_dirty__init(&d, 8192);

	REQUIRE(r == 0);
	/* Several times around the ring, as KVM and we take turns. */
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 4096; i++)
			ring[(fetch + i) % 4096] = (struct kvm_dirty_gfn){
				KVM_DIRTY_GFN_F_DIRTY, 0, (round * 4096 + i * 7) % 8192 };
		CHECK_EQ(mig_dirty__harvest_ring(&d, ring, 4096, &fetch, slots, 1), 4096);
	}
	CHECK_EQ(fetch, 3 * 4096);
	CHECK(take_all(&d, out) > 4096);
	mig_dirty__free(&d);
}

/*
 * A ring with every slot dirty: the vCPU went past KVM's soft limit and may
 * have wrapped over entries never harvested, so the next take reports
 * every page, once.
 */
static void test_ring_overflow(void)
{
	struct kvm_dirty_gfn ring[8];
	struct mig_slot_map slots[1] = { { 0, 0, 100 } };
	struct mig_dirty d;
	unsigned long out[2];
	u32 fetch = 5, i;

	int r = mig_dirty__init(&d, 100);

	REQUIRE(r == 0);
	/* One slot short of full: an ordinary harvest. */
	for (i = 0; i < 7; i++)
		ring[(fetch + i) % 8] = (struct kvm_dirty_gfn){ KVM_DIRTY_GFN_F_DIRTY, 0, i };
	ring[(fetch + 7) % 8].flags = 0;
	CHECK_EQ(mig_dirty__harvest_ring(&d, ring, 8, &fetch, slots, 1), 7);
	CHECK_EQ(d.overflows, 0);
	CHECK_EQ(mig_dirty__take(&d, out), 7);
	/* Every slot dirty: the harvest stops after one lap and flags the loss. */
	for (i = 0; i < 8; i++)
		ring[i] = (struct kvm_dirty_gfn){ KVM_DIRTY_GFN_F_DIRTY, 0, 2 };
	CHECK_EQ(mig_dirty__harvest_ring(&d, ring, 8, &fetch, slots, 1), 8);
	CHECK_EQ(fetch, 20);
	CHECK_EQ(d.overflows, 1);
	CHECK_EQ(mig_dirty__take(&d, out), 100);
	CHECK_EQ(out[0], ~0UL);
	CHECK_EQ(out[1], (1UL << (100 - 64)) - 1);	/* nothing past the last page */
	/* Reported once: the next take is the real dirty set again. */
	mig_dirty__set(&d, 42);
	CHECK_EQ(mig_dirty__take(&d, out), 1);
	mig_dirty__free(&d);
}

static u64 ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ull + ts.tv_nsec / 1000000;
}

/*
 * A harvest sets a page's bit before KVM_RESET_DIRTY_RINGS protects the
 * page again; until then the guest writes it with no new entry.  So a
 * page must not be handed out between the two.  The harvester thread is
 * held there (LKVM_MIG_FAULT=hold-harvest) with a page harvested from a
 * ring KVM never saw (a real VM with the ring enabled and no vCPU, so the
 * reset itself succeeds); migration__log_take() must wait for it.
 * mig_dirty__take(), which the engine called after a sync without the
 * lock, hands the page out at once, 0 ms into the 300 ms hold.
 */
static void test_take_waits_for_reset(void)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_DIRTY_LOG_RING, .args = { 4096 } };
	static struct kvm_dirty_gfn ring[64];
	static unsigned long out[1];
	struct kvm *kvm = calloc(1, sizeof(*kvm));
	struct kvm_cpu *vcpu = calloc(1, sizeof(*vcpu));
	struct mig_dirty d;
	u64 n = 0, t0, seen;
	void *mem;
	int ret;

	REQUIRE(kvm && vcpu);
	kvm->sys_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm->sys_fd < 0) {
		free(kvm);
		free(vcpu);
		SKIP("no /dev/kvm");
	}
	kvm->vm_fd = ioctl(kvm->sys_fd, KVM_CREATE_VM, 0);
	REQUIRE(kvm->vm_fd >= 0);
	if (ioctl(kvm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING) < 4096 ||
	    ioctl(kvm->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
		close(kvm->vm_fd);
		close(kvm->sys_fd);
		free(kvm);
		free(vcpu);
		SKIP("no KVM dirty ring");
	}
	mem = mmap(NULL, 16 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(mem != MAP_FAILED);
	kvm->dirty_ring_bytes = 4096;
	kvm->nr_pages = 16;
	kvm->nr_mem_banks = 1;
	kvm->mem_banks[0] = (struct kvm_mem_bank){ .size = 16 * PAGE_SIZE, .host_addr = mem };
	REQUIRE(kvm__set_memslot(kvm, &kvm->mem_banks[0], false) == 0);
	vcpu->dirty_gfns = ring;
	vcpu->dirty_ring_entries = 64;
	kvm->cpus[0] = vcpu;
	kvm->nr_cpus = 1;
	REQUIRE(mig_dirty__init(&d, 16) == 0);

	setenv("LKVM_MIG_FAULT", "hold-harvest:300", 1);
	REQUIRE(migration__log_start(kvm, &d) == 0);
	__atomic_store_n(&ring[0].offset, 3, __ATOMIC_RELAXED);
	__atomic_store_n(&ring[0].flags, KVM_DIRTY_GFN_F_DIRTY, __ATOMIC_RELEASE);
	/* The harvester (every 5 ms) takes the entry, then holds before its reset. */
	t0 = ms_now();
	while (!(__atomic_load_n(&d.bits[0], __ATOMIC_ACQUIRE) & (1UL << 3)) && ms_now() - t0 < 5000)
		usleep(1000);
	seen = ms_now();
	CHECK(seen - t0 < 5000);
	ret = migration__log_take(kvm, out, &n);
	CHECK_EQ(ret, 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(out[0], 1UL << 3);
	/* Not before the hold (and so the reset) was over. */
	CHECK(ms_now() - seen >= 250);
	unsetenv("LKVM_MIG_FAULT");
	migration__log_stop(kvm);
	mig_dirty__free(&d);
	munmap(mem, 16 * PAGE_SIZE);
	close(kvm->vm_fd);
	close(kvm->sys_fd);
	free(vcpu);
	free(kvm);
}

TEST_MAIN_BEGIN("test-migration-dirty")
	RUN(test_bitmap_merge);
	RUN(test_bitmap_repeat_and_set);
	RUN(test_ring_harvest);
	RUN(test_ring_overflow);
	RUN(test_ring_full_cycle);
	RUN(test_take_waits_for_reset);
TEST_MAIN_END()
