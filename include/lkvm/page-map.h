/*
 * The guest's shared/private page map and its migration-readiness flag.
 *
 * One bit per 4 KiB guest page over all memory banks, indexed like the
 * rest of lkvm (bank->page_base + offset in the bank).  A SET bit means
 * the page is SHARED (plaintext, the guest cleared its C-bit); a clear bit
 * means PRIVATE (encrypted).  Every map starts all-private: that is the
 * SEV default ("by default all guest pages are considered encrypted") and
 * for a plain guest with --page-map it simply means "nothing declared".
 *
 * Writers are vCPU threads (the KVM_HC_MAP_GPA_RANGE exit, the test
 * doorbell); the reader is the migration thread.  See page-map.c for why
 * the words are updated with atomics rather than under a seqlock.
 *
 * The readiness part mirrors MSR_KVM_MIGRATION_CONTROL (x86/msr-migration.c
 * is the only writer besides reset) and keeps enough history for migration
 * to tell "never ready" from "was ready, withdrawn" (a rebooting guest).
 */
#ifndef LKVM__PAGE_MAP_H
#define LKVM__PAGE_MAP_H

#include <stdatomic.h>
#include <stdio.h>

#include "lkvm/util.h"

struct kvm;
struct kvm_mem_bank;
struct page_map;

/*
 * A map over the given banks (only guest_phys_addr, size and page_base
 * are used).  encrypted = SEV guest: decides the MSR's start value
 * (0 for an encrypted guest, KVM_MIGRATION_READY otherwise, as KVM's MSR
 * documentation specifies).  Returns NULL on bad geometry or no memory.
 */
struct page_map *page_map__new(const struct kvm_mem_bank *banks, int nr_banks,
			       bool encrypted);
void page_map__free(struct page_map *pm);
u64 page_map__nr_pages(const struct page_map *pm);

/* Is the feature on for this VM: SEV guests always, plain ones with --page-map. */
bool page_map__wanted(const struct kvm *kvm);
/* kvm->page_map = a new map over kvm->mem_banks (if wanted and not yet there). */
int page_map__create(struct kvm *kvm);

/*
 * Which guest interfaces feed this map (set by the x86 init once each is
 * live; CPUID advertises only those).
 */
#define PAGE_MAP_HYPERCALL	(1u << 0)	/* KVM_HC_MAP_GPA_RANGE exits on */
#define PAGE_MAP_MSR		(1u << 1)	/* MSR filter for MIGRATION_CONTROL on */
#define PAGE_MAP_DOORBELL	(1u << 2)	/* --test-doorbell ports registered */
void page_map__set_features(struct page_map *pm, unsigned int features);
unsigned int page_map__features(const struct page_map *pm);

/*
 * Guest physical range -> first page index, for a range that lies wholly
 * in RAM.  It may cross from one bank into the next only where the two
 * banks touch in guest-physical space (no hole between them).  Returns
 * -ERANGE outside RAM or across a hole, -EINVAL for len 0 or overflow.
 * The pages of such a range may still be non-consecutive indexes when
 * banks are not in page_base order, so callers that change state go
 * through page_map__set_gpa_range(), which applies it bank by bank.
 */
int page_map__check_gpa_range(const struct page_map *pm, u64 gpa, u64 len);
/* Set [gpa, gpa+len) shared/private; the same checks first, map untouched on error. */
int page_map__set_gpa_range(struct page_map *pm, u64 gpa, u64 len, bool shared);

/* Shared pages in [gpa, gpa+len) (whole pages touched), or the errors above. */
s64 page_map__count_gpa_range(const struct page_map *pm, u64 gpa, u64 len);

/* Page-index ranges.  Return -ERANGE (map untouched) if past the end. */
int page_map__set_shared(struct page_map *pm, u64 first, u64 n);
int page_map__set_private(struct page_map *pm, u64 first, u64 n);
bool page_map__is_shared(const struct page_map *pm, u64 page);

/* Shared pages in the whole map: a counter, exact whenever no update runs. */
u64 page_map__count_shared(const struct page_map *pm);
/* Shared pages in [first, first+n), popcount a word at a time. */
u64 page_map__count_range(const struct page_map *pm, u64 first, u64 n);

/*
 * The next run of pages in the given state at or after `from`: true and
 * [*start, *start + *len) if there is one.  Runs are in page-index space;
 * use page_map__page_to_gpa() to turn them into guest addresses.
 */
bool page_map__next_run(const struct page_map *pm, u64 from, bool shared,
			u64 *start, u64 *len);
/* Same walk over a plain bitmap of nbits bits (e.g. a harvested one). */
bool bitmap__next_run(const u64 *bm, u64 nbits, u64 from, bool set,
		      u64 *start, u64 *len);

/* Guest physical address of a page index (~0ULL if out of range). */
u64 page_map__page_to_gpa(const struct page_map *pm, u64 page);

/*
 * "Changed since the last look": every page whose state flipped (either
 * way, including by reset) since the previous harvest has its bit set in
 * a second bitmap.  Harvest copies that bitmap into dst (nr_words() words,
 * bit i = page i) and clears it, a word at a time with an atomic exchange,
 * and returns the number of pages in it.  A page harvested here is seen
 * by the following is_shared()/next_run() in its new state or a newer one;
 * a flip that happens after its word was harvested shows in the next
 * harvest.  So a migration that resends every harvested page in its
 * current state never leaves a page sent the wrong way.
 */
u64 page_map__nr_words(const struct page_map *pm);
u64 page_map__harvest_changed(struct page_map *pm, u64 *dst);
/* Bumped by every update that flipped at least one page, and by reset. */
u64 page_map__generation(const struct page_map *pm);

/* MSR_KVM_MIGRATION_CONTROL state. */
struct page_map_readiness {
	u64 msr;		/* current MSR value (bit 0 = ready) */
	bool ready;		/* bit 0 now */
	bool withdrawn;		/* not ready now, but was ready before (reboot) */
	u64 nr_ready;		/* 0 -> 1 transitions */
	u64 nr_withdrawn;	/* 1 -> 0 transitions, including by reset */
	u64 last_change_ns;	/* now_ns() of the last transition, 0 if none */
};
u64 page_map__msr_read(struct page_map *pm);
/* -EINVAL (no change) if any bit but KVM_MIGRATION_READY is set. */
int page_map__msr_write(struct page_map *pm, u64 val);
void page_map__readiness(struct page_map *pm, struct page_map_readiness *out);
/*
 * Wait up to timeout_ms for the guest to be ready: 0 when ready, -ETIMEDOUT
 * otherwise (the migration code's "wait a bounded time" option), or
 * -ECANCELED once *stop is set (may be NULL) and page_map__kick() called.
 */
int page_map__wait_ready(struct page_map *pm, u64 timeout_ms, const atomic_bool *stop);
/* Wake page_map__wait_ready() to look at its stop flag again. */
void page_map__kick(struct page_map *pm);

/*
 * Guest reset/reboot: every page back to private (flips recorded as
 * changed), MSR back to its start value; a guest that was ready counts as
 * withdrawn.  Called from the vCPU reset path with the vCPUs stopped.
 */
void page_map__reset(struct page_map *pm);
/* The guest reset/reboot hook: page_map__reset() if the VM has a map. */
void page_map__guest_reset(struct kvm *kvm);

/*
 * Human-readable dump for `lkvm debug --page-map`: totals, readiness, then
 * the shared ranges in guest-physical space, merged, with page counts.
 */
void page_map__dump(struct page_map *pm, FILE *out);

/*
 * Migration section payload (MIG_SEC_PAGE_MAP, docs/page-map-abi.md):
 * shared runs as 64-bit page numbers plus the MSR value.  Load checks
 * every field and leaves the map untouched on error.
 */
struct mig_buf;
int page_map__save(struct page_map *pm, struct mig_buf *out);
int page_map__load(struct page_map *pm, const void *data, size_t len);

#endif
