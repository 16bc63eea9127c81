/*
 * Dirty page tracking without KVM: the bitmap fallback fed with synthetic
 * KVM_GET_DIRTY_LOG bitmaps, and the dirty ring fed with synthetic
 * struct kvm_dirty_gfn entries exactly as KVM writes them.
 */
#include <linux/kvm.h>

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

TEST_MAIN_BEGIN("test-migration-dirty")
	RUN(test_bitmap_merge);
	RUN(test_bitmap_repeat_and_set);
	RUN(test_ring_harvest);
	RUN(test_ring_overflow);
	RUN(test_ring_full_cycle);
TEST_MAIN_END()
