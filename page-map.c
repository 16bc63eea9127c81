/*
 * The guest's shared/private page map (see include/lkvm/page-map.h).
 *
 * Concurrency: atomics on 64-bit words, not a seqlock.
 *  - Writers are vCPU threads, possibly several at once.  A seqlock needs
 *    a writer lock on top, and its reader retries for as long as writers
 *    keep going: flipping a 1 GiB range touches 4096 words, so a reader
 *    could spin behind a busy guest.  With one atomic OR/AND per word,
 *    writers never wait for each other or for the reader, and the reader
 *    never retries.
 *  - What migration needs is per-page consistency, not a snapshot of the
 *    whole map: a page must be sent in the state it has when it is sent,
 *    and sent again if it flips afterwards.  Each word update returns the
 *    old word, so the writer knows exactly which pages flipped and ORs
 *    them into the `changed` bitmap AFTER the state word (release order).
 *    The reader exchanges a `changed` word with 0 (acquire) BEFORE it
 *    reads state, so a flip it harvests is visible to it, and a flip it
 *    misses lands in the next harvest.  Whole-map consistency comes from
 *    the final round, which runs with the vCPUs paused.
 *  - A range that spans several words is not applied atomically as a
 *    whole; a reader may see half of it.  That is the same as the guest
 *    issuing it as several smaller calls, which it is allowed to do.
 *
 * Readiness (the MSR) changes rarely and is read rarely, so it uses a
 * plain mutex and a condition variable for page_map__wait_ready().
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lkvm/kvm.h"
#include "lkvm/mig-section.h"
#include "lkvm/page-map.h"

/* From <asm/kvm_para.h>; repeated so this file stays arch-neutral. */
#define MIGRATION_READY		1ULL

struct pm_bank {
	u64 gpa, size;		/* size rounded down to whole pages */
	u64 page_base, nr_pages;
};

struct page_map {
	u64 nr_pages, nr_words;
	u64 *shared;		/* bit set = page shared */
	u64 *changed;		/* bit set = flipped since last harvest */
	u64 nr_shared;		/* atomic */
	u64 generation;		/* atomic */

	struct pm_bank banks[KVM_MAX_MEM_BANKS];	/* sorted by gpa */
	int nr_banks;
	bool encrypted;
	unsigned int features;	/* PAGE_MAP_* */

	pthread_mutex_t lock;	/* readiness below */
	pthread_cond_t cond;
	struct page_map_readiness rd;
};

static inline u64 load(const u64 *w)
{
	return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static inline u64 word_mask(u64 bit, u64 n)
{
	return (n >= 64 ? ~0ULL : (1ULL << n) - 1) << bit;
}

static u64 start_msr(const struct page_map *pm)
{
	return pm->encrypted ? 0 : MIGRATION_READY;
}

static int cmp_bank(const void *a, const void *b)
{
	const struct pm_bank *x = a, *y = b;

	return x->gpa < y->gpa ? -1 : x->gpa > y->gpa;
}

struct page_map *page_map__new(const struct kvm_mem_bank *banks, int nr_banks,
			       bool encrypted)
{
	struct page_map *pm;
	pthread_condattr_t ca;
	u64 nr_pages = 0;

	if (nr_banks <= 0 || nr_banks > KVM_MAX_MEM_BANKS)
		return NULL;

	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return NULL;

	for (int i = 0; i < nr_banks; i++) {
		struct pm_bank *b = &pm->banks[i];

		b->gpa = banks[i].guest_phys_addr;
		b->nr_pages = banks[i].size / PAGE_SIZE;
		b->size = b->nr_pages * PAGE_SIZE;
		b->page_base = banks[i].page_base;
		if (!IS_ALIGNED(b->gpa, PAGE_SIZE) || !b->nr_pages ||
		    b->gpa + b->size < b->gpa ||
		    b->page_base + b->nr_pages < b->page_base)
			goto err_free;
		nr_pages = max(nr_pages, b->page_base + b->nr_pages);
	}
	pm->nr_banks = nr_banks;
	qsort(pm->banks, nr_banks, sizeof(pm->banks[0]), cmp_bank);

	/* Banks must not overlap, neither in gpa space nor in page indexes. */
	for (int i = 0; i < nr_banks; i++) {
		for (int j = i + 1; j < nr_banks; j++) {
			const struct pm_bank *a = &pm->banks[i], *b = &pm->banks[j];

			if (a->gpa + a->size > b->gpa)
				goto err_free;
			if (a->page_base < b->page_base + b->nr_pages &&
			    b->page_base < a->page_base + a->nr_pages)
				goto err_free;
		}
	}

	pm->nr_pages = nr_pages;
	pm->nr_words = DIV_ROUND_UP(nr_pages, 64);
	pm->shared = calloc(pm->nr_words, sizeof(u64));
	pm->changed = calloc(pm->nr_words, sizeof(u64));
	if (!pm->shared || !pm->changed)
		goto err_free;

	pm->encrypted = encrypted;
	pm->rd.msr = start_msr(pm);
	pm->rd.ready = pm->rd.msr & MIGRATION_READY;
	pthread_mutex_init(&pm->lock, NULL);
	/* Monotonic: a wall-clock step must not stretch or cut a bounded wait. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pm->cond, &ca);
	pthread_condattr_destroy(&ca);
	return pm;

err_free:
	free(pm->shared);
	free(pm->changed);
	free(pm);
	return NULL;
}

void page_map__free(struct page_map *pm)
{
	if (!pm)
		return;
	pthread_mutex_destroy(&pm->lock);
	pthread_cond_destroy(&pm->cond);
	free(pm->shared);
	free(pm->changed);
	free(pm);
}

u64 page_map__nr_pages(const struct page_map *pm)
{
	return pm->nr_pages;
}

u64 page_map__nr_words(const struct page_map *pm)
{
	return pm->nr_words;
}

void page_map__set_features(struct page_map *pm, unsigned int features)
{
	pm->features = features;
}

unsigned int page_map__features(const struct page_map *pm)
{
	return pm->features;
}

bool page_map__wanted(const struct kvm *kvm)
{
	return kvm->cfg.page_map || kvm->cfg.sev_mode != SEV_MODE_NONE;
}

int page_map__create(struct kvm *kvm)
{
	if (kvm->page_map || !page_map__wanted(kvm))
		return 0;
	kvm->page_map = page_map__new(kvm->mem_banks, kvm->nr_mem_banks,
				      kvm->cfg.sev_mode != SEV_MODE_NONE);
	return kvm->page_map ? 0 : -ENOMEM;
}

/* ---- word-at-a-time range operations ---- */

/* Set or clear [first, first+n); records flips. Caller checked the range. */
static void update(struct page_map *pm, u64 first, u64 n, bool shared)
{
	u64 flipped = 0;

	while (n) {
		u64 w = first / 64, bit = first % 64;
		u64 cnt = min(n, 64 - bit);
		u64 mask = word_mask(bit, cnt);
		u64 old, flip;

		/* Skip the write (and its cache-line bounce) when nothing changes. */
		old = load(&pm->shared[w]);
		if ((shared ? ~old : old) & mask) {
			if (shared)
				old = __atomic_fetch_or(&pm->shared[w], mask, __ATOMIC_ACQ_REL);
			else
				old = __atomic_fetch_and(&pm->shared[w], ~mask, __ATOMIC_ACQ_REL);
			flip = mask & (shared ? ~old : old);
			if (flip) {
				__atomic_fetch_or(&pm->changed[w], flip, __ATOMIC_RELEASE);
				flipped += __builtin_popcountll(flip);
			}
		}
		first += cnt;
		n -= cnt;
	}
	if (!flipped)
		return;
	if (shared)
		__atomic_fetch_add(&pm->nr_shared, flipped, __ATOMIC_RELAXED);
	else
		__atomic_fetch_sub(&pm->nr_shared, flipped, __ATOMIC_RELAXED);
	__atomic_fetch_add(&pm->generation, 1, __ATOMIC_RELEASE);
}

static bool range_ok(const struct page_map *pm, u64 first, u64 n)
{
	return first <= pm->nr_pages && n <= pm->nr_pages - first;
}

int page_map__set_shared(struct page_map *pm, u64 first, u64 n)
{
	if (!range_ok(pm, first, n))
		return -ERANGE;
	update(pm, first, n, true);
	return 0;
}

int page_map__set_private(struct page_map *pm, u64 first, u64 n)
{
	if (!range_ok(pm, first, n))
		return -ERANGE;
	update(pm, first, n, false);
	return 0;
}

bool page_map__is_shared(const struct page_map *pm, u64 page)
{
	if (page >= pm->nr_pages)
		return false;
	return load(&pm->shared[page / 64]) >> (page % 64) & 1;
}

u64 page_map__count_shared(const struct page_map *pm)
{
	return __atomic_load_n(&pm->nr_shared, __ATOMIC_RELAXED);
}

u64 page_map__count_range(const struct page_map *pm, u64 first, u64 n)
{
	u64 count = 0;

	if (!range_ok(pm, first, n))
		n = first < pm->nr_pages ? pm->nr_pages - first : 0;
	while (n) {
		u64 bit = first % 64, cnt = min(n, 64 - bit);

		count += __builtin_popcountll(load(&pm->shared[first / 64]) &
					      word_mask(bit, cnt));
		first += cnt;
		n -= cnt;
	}
	return count;
}

/* First bit at or after `from` whose value is `set`, or nbits. */
static u64 find_bit(const u64 *bm, u64 nbits, u64 from, bool set)
{
	u64 nwords = DIV_ROUND_UP(nbits, 64), w, word;

	if (from >= nbits)
		return nbits;
	w = from / 64;
	word = load(&bm[w]);
	word = (set ? word : ~word) & (~0ULL << (from % 64));
	while (!word) {
		if (++w >= nwords)
			return nbits;
		word = load(&bm[w]);
		word = set ? word : ~word;
	}
	return min(w * 64 + __builtin_ctzll(word), nbits);
}

bool bitmap__next_run(const u64 *bm, u64 nbits, u64 from, bool set,
		      u64 *start, u64 *len)
{
	u64 s = find_bit(bm, nbits, from, set);

	if (s >= nbits)
		return false;
	*start = s;
	*len = find_bit(bm, nbits, s, !set) - s;
	return true;
}

bool page_map__next_run(const struct page_map *pm, u64 from, bool shared,
			u64 *start, u64 *len)
{
	return bitmap__next_run(pm->shared, pm->nr_pages, from, shared, start, len);
}

u64 page_map__harvest_changed(struct page_map *pm, u64 *dst)
{
	u64 count = 0;

	for (u64 w = 0; w < pm->nr_words; w++) {
		/* Cheap check first: most words are clean in a busy migration. */
		dst[w] = load(&pm->changed[w]) ?
			 __atomic_exchange_n(&pm->changed[w], 0, __ATOMIC_ACQUIRE) : 0;
		count += __builtin_popcountll(dst[w]);
	}
	return count;
}

u64 page_map__generation(const struct page_map *pm)
{
	return __atomic_load_n(&pm->generation, __ATOMIC_ACQUIRE);
}

/* ---- guest-physical view ---- */

static const struct pm_bank *bank_of_gpa(const struct page_map *pm, u64 gpa)
{
	for (int i = 0; i < pm->nr_banks; i++) {
		const struct pm_bank *b = &pm->banks[i];

		if (gpa >= b->gpa && gpa - b->gpa < b->size)
			return b;
	}
	return NULL;
}

u64 page_map__page_to_gpa(const struct page_map *pm, u64 page)
{
	for (int i = 0; i < pm->nr_banks; i++) {
		const struct pm_bank *b = &pm->banks[i];

		if (page >= b->page_base && page - b->page_base < b->nr_pages)
			return b->gpa + (page - b->page_base) * PAGE_SIZE;
	}
	return ~0ULL;
}

int page_map__check_gpa_range(const struct page_map *pm, u64 gpa, u64 len)
{
	if (!len || gpa + len < gpa)
		return -EINVAL;
	/* Walk bank to bank; banks are sorted, so a hole ends the walk. */
	while (len) {
		const struct pm_bank *b = bank_of_gpa(pm, gpa);
		u64 in_bank;

		if (!b)
			return -ERANGE;
		in_bank = min(len, b->gpa + b->size - gpa);
		gpa += in_bank;
		len -= in_bank;
	}
	return 0;
}

/*
 * Call fn on each bank's piece of [gpa, gpa+len) in page indexes, widened
 * to whole pages.  The range must have passed page_map__check_gpa_range().
 */
static u64 walk_gpa(struct page_map *pm, u64 gpa, u64 len,
		    u64 (*fn)(struct page_map *pm, u64 first, u64 n, bool shared),
		    bool shared)
{
	u64 first_page = gpa / PAGE_SIZE, sum = 0;

	len = ((gpa + len - 1) / PAGE_SIZE - first_page + 1) * PAGE_SIZE;
	gpa = first_page * PAGE_SIZE;
	while (len) {
		const struct pm_bank *b = bank_of_gpa(pm, gpa);
		u64 in_bank = min(len, b->gpa + b->size - gpa);

		sum += fn(pm, b->page_base + (gpa - b->gpa) / PAGE_SIZE,
			  in_bank / PAGE_SIZE, shared);
		gpa += in_bank;
		len -= in_bank;
	}
	return sum;
}

static u64 walk_update(struct page_map *pm, u64 first, u64 n, bool shared)
{
	update(pm, first, n, shared);
	return 0;
}

static u64 walk_count(struct page_map *pm, u64 first, u64 n, bool shared)
{
	return page_map__count_range(pm, first, n);
}

int page_map__set_gpa_range(struct page_map *pm, u64 gpa, u64 len, bool shared)
{
	int ret = page_map__check_gpa_range(pm, gpa, len);

	if (ret)
		return ret;
	walk_gpa(pm, gpa, len, walk_update, shared);
	return 0;
}

s64 page_map__count_gpa_range(const struct page_map *pm, u64 gpa, u64 len)
{
	int ret = page_map__check_gpa_range(pm, gpa, len);

	if (ret)
		return ret;
	/* walk_count only reads: the cast drops const for the shared walker. */
	return walk_gpa((struct page_map *)pm, gpa, len, walk_count, false);
}

/*
 * kvm.c's checked guest accessors ask this (with SEV on) before they let
 * the VMM read or write guest memory: any private page in the range, or
 * a range outside RAM, or no map at all, counts as private.
 */
bool kvm__range_private(struct kvm *kvm, u64 gpa, u64 len)
{
	s64 shared;

	if (!len)
		return false;
	if (!kvm->page_map)
		return true;
	shared = page_map__count_gpa_range(kvm->page_map, gpa, len);
	return shared < 0 ||
	       (u64)shared != (gpa + len - 1) / PAGE_SIZE - gpa / PAGE_SIZE + 1;
}

/* ---- readiness (MSR_KVM_MIGRATION_CONTROL) ---- */

/* Called with pm->lock held. */
static void set_msr(struct page_map *pm, u64 val)
{
	struct page_map_readiness *rd = &pm->rd;
	bool ready = val & MIGRATION_READY;

	rd->msr = val;
	if (ready == rd->ready)
		return;
	if (ready) {
		rd->nr_ready++;
		rd->withdrawn = false;
	} else {
		rd->nr_withdrawn++;
		rd->withdrawn = true;
	}
	rd->ready = ready;
	rd->last_change_ns = now_ns();
	pthread_cond_broadcast(&pm->cond);
}

u64 page_map__msr_read(struct page_map *pm)
{
	u64 v;

	pthread_mutex_lock(&pm->lock);
	v = pm->rd.msr;
	pthread_mutex_unlock(&pm->lock);
	return v;
}

int page_map__msr_write(struct page_map *pm, u64 val)
{
	if (val & ~MIGRATION_READY)
		return -EINVAL;
	pthread_mutex_lock(&pm->lock);
	set_msr(pm, val);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

void page_map__readiness(struct page_map *pm, struct page_map_readiness *out)
{
	pthread_mutex_lock(&pm->lock);
	*out = pm->rd;
	pthread_mutex_unlock(&pm->lock);
}

int page_map__wait_ready(struct page_map *pm, u64 timeout_ms, const atomic_bool *stop)
{
	struct timespec ts;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	timespec_add_ms(&ts, timeout_ms);
	pthread_mutex_lock(&pm->lock);
	/* stop is read under the lock that page_map__kick() takes: no lost wake-up. */
	while (!pm->rd.ready && ret != ETIMEDOUT && !(stop && atomic_load(stop)))
		ret = pthread_cond_timedwait(&pm->cond, &pm->lock, &ts);
	ret = pm->rd.ready ? 0 : stop && atomic_load(stop) ? -ECANCELED : -ETIMEDOUT;
	pthread_mutex_unlock(&pm->lock);
	return ret;
}

void page_map__kick(struct page_map *pm)
{
	pthread_mutex_lock(&pm->lock);
	pthread_cond_broadcast(&pm->cond);
	pthread_mutex_unlock(&pm->lock);
}

void page_map__reset(struct page_map *pm)
{
	update(pm, 0, pm->nr_pages, false);
	/* The counter can only be off while updates race with reset. */
	__atomic_store_n(&pm->nr_shared, 0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&pm->generation, 1, __ATOMIC_RELEASE);

	pthread_mutex_lock(&pm->lock);
	set_msr(pm, start_msr(pm));
	pthread_mutex_unlock(&pm->lock);
}

void page_map__guest_reset(struct kvm *kvm)
{
	if (kvm->page_map)
		page_map__reset(kvm->page_map);
}

/* ---- dump ---- */

static void dump_range(FILE *out, u64 gpa, u64 len)
{
	fprintf(out, "  shared 0x%012" PRIx64 "-0x%012" PRIx64 " %10" PRIu64 " pages\n",
		gpa, gpa + len - 1, (u64)(len / PAGE_SIZE));
}

void page_map__dump(struct page_map *pm, FILE *out)
{
	struct page_map_readiness rd;
	u64 ranges = 0, shared = 0;
	u64 r_gpa = 0, r_len = 0;	/* pending merged range */

	page_map__readiness(pm, &rd);
	fprintf(out, "page map: %" PRIu64 " pages (%" PRIu64 " MiB), %s guest\n",
		pm->nr_pages, pm->nr_pages >> (20 - PAGE_SHIFT),
		pm->encrypted ? "encrypted" : "plain");
	/*
	 * The counts are transitions, not the state: a plain guest starts
	 * ready (KVM's start value) without ever becoming ready, so "ready"
	 * next to a count of 0 needs saying why.
	 */
	fprintf(out, "migration control: msr 0x%" PRIx64 ", %s; became ready %" PRIu64
		" time(s), withdrawn %" PRIu64 " time(s)\n", rd.msr,
		rd.ready ? (rd.nr_ready ? "ready" : "ready from the start") :
		rd.withdrawn ? "withdrawn" : "never ready",
		rd.nr_ready, rd.nr_withdrawn);

	/*
	 * Walk the banks in gpa order (page indexes need not follow it) and
	 * merge runs that touch in gpa space, so a range the guest declared
	 * across two back-to-back banks prints as the one range it is.
	 */
	for (int i = 0; i < pm->nr_banks; i++) {
		const struct pm_bank *b = &pm->banks[i];
		u64 pos = b->page_base, end = b->page_base + b->nr_pages, start, len;

		while (page_map__next_run(pm, pos, true, &start, &len) && start < end) {
			u64 gpa = b->gpa + (start - b->page_base) * PAGE_SIZE;

			len = min(len, end - start);
			pos = start + len;
			shared += len;
			if (r_len && r_gpa + r_len == gpa) {
				r_len += len * PAGE_SIZE;
				continue;
			}
			if (r_len)
				dump_range(out, r_gpa, r_len);
			r_gpa = gpa;
			r_len = len * PAGE_SIZE;
			ranges++;
		}
	}
	if (r_len)
		dump_range(out, r_gpa, r_len);
	fprintf(out, "shared: %" PRIu64 " pages in %" PRIu64 " range(s); private: %"
		PRIu64 " pages\n", shared, ranges, pm->nr_pages - shared);
}

/* ---- migration section ---- */

#define PM_MAGIC	0x50414d50u	/* "PMAP" little-endian */
#define PM_VERSION	1u

struct pm_hdr {
	u32 magic, version;
	u64 nr_pages, msr, nr_ready, nr_withdrawn, nr_runs;
} __packed;

struct pm_run {
	u64 first, count;
} __packed;

int page_map__save(struct page_map *pm, struct mig_buf *out)
{
	struct page_map_readiness rd;
	struct pm_hdr h = { 0 };
	u64 pos = 0, start, len, nr_runs = 0;
	size_t hdr_at = out->len;

	page_map__readiness(pm, &rd);
	mig_buf__put(out, &h, sizeof(h));	/* patched below */
	while (page_map__next_run(pm, pos, true, &start, &len)) {
		struct pm_run r = { htole64(start), htole64(len) };

		mig_buf__put(out, &r, sizeof(r));
		pos = start + len;
		nr_runs++;
	}
	if (out->err)
		return out->err;
	h.magic = htole32(PM_MAGIC);
	h.version = htole32(PM_VERSION);
	h.nr_pages = htole64(pm->nr_pages);
	h.msr = htole64(rd.msr);
	h.nr_ready = htole64(rd.nr_ready);
	h.nr_withdrawn = htole64(rd.nr_withdrawn);
	h.nr_runs = htole64(nr_runs);
	memcpy(out->data + hdr_at, &h, sizeof(h));
	return 0;
}

int page_map__load(struct page_map *pm, const void *data, size_t len)
{
	const u8 *p = data;
	struct pm_hdr h;
	u64 nr_runs, prev_end = 0;

	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, p, sizeof(h));
	nr_runs = le64toh(h.nr_runs);
	if (le32toh(h.magic) != PM_MAGIC || le32toh(h.version) != PM_VERSION ||
	    le64toh(h.nr_pages) != pm->nr_pages || le64toh(h.msr) & ~MIGRATION_READY ||
	    nr_runs > (len - sizeof(h)) / sizeof(struct pm_run) ||
	    len != sizeof(h) + nr_runs * sizeof(struct pm_run))
		return -EINVAL;

	/* Check everything before touching the map. */
	for (u64 i = 0; i < nr_runs; i++) {
		struct pm_run r;

		memcpy(&r, p + sizeof(h) + i * sizeof(r), sizeof(r));
		r.first = le64toh(r.first);
		r.count = le64toh(r.count);
		if (!r.count || r.first < prev_end || !range_ok(pm, r.first, r.count))
			return -EINVAL;
		prev_end = r.first + r.count;
	}

	update(pm, 0, pm->nr_pages, false);
	for (u64 i = 0; i < nr_runs; i++) {
		struct pm_run r;

		memcpy(&r, p + sizeof(h) + i * sizeof(r), sizeof(r));
		update(pm, le64toh(r.first), le64toh(r.count), true);
	}
	pthread_mutex_lock(&pm->lock);
	pm->rd.msr = le64toh(h.msr);
	pm->rd.ready = pm->rd.msr & MIGRATION_READY;
	pm->rd.nr_ready = le64toh(h.nr_ready);
	pm->rd.nr_withdrawn = le64toh(h.nr_withdrawn);
	/* As set_msr() leaves it: not ready after a 1 -> 0 (a plain guest starts at 1). */
	pm->rd.withdrawn = !pm->rd.ready && pm->rd.nr_withdrawn;
	pm->rd.last_change_ns = now_ns();
	pthread_cond_broadcast(&pm->cond);
	pthread_mutex_unlock(&pm->lock);
	return 0;
}

static u32 page_map_sec_count(struct kvm *kvm)
{
	return kvm->page_map ? 1 : 0;
}

static int page_map_sec_save(struct kvm *kvm, u32 instance, struct mig_buf *out)
{
	return page_map__save(kvm->page_map, out);
}

static int page_map_sec_load(struct kvm *kvm, u32 instance, const void *data, size_t len)
{
	if (!kvm->page_map) {
		pr_err("migration: stream has a page map but this VM has none "
		       "(start the destination with --page-map or --sev)");
		return -EINVAL;
	}
	return page_map__load(kvm->page_map, data, len);
}

static struct mig_section page_map_section = {
	.name = "page-map",
	.id = MIG_SEC_PAGE_MAP,
	.count = page_map_sec_count,
	.save = page_map_sec_save,
	.load = page_map_sec_load,
	.load_first = true,
};
mig_section_register(page_map_section);
