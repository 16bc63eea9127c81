/*
 * Dirty page tracking for pre-copy.  Where KVM offers the dirty ring
 * (KVM_CAP_DIRTY_LOG_RING) every guest write to a logged slot lands as a
 * (slot, offset) entry in the writing vCPU's ring, which we harvest into
 * one bitmap over all pages; elsewhere KVM_GET_DIRTY_LOG hands us a
 * bitmap per slot.  On the project's hosts only the ring reports writes.
 *
 * The ring must be enabled on the VM before any vCPU exists: kvm.c does
 * that (kvm->dirty_ring_bytes) and kvm-cpu.c maps each vCPU's ring.
 * Nothing is pushed to the rings until migration__log_start() turns on
 * KVM_MEM_LOG_DIRTY_PAGES for the memory slots.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "lkvm/kvm.h"
#include "lkvm/kvm-cpu.h"
#include "lkvm/migration.h"
#include "lkvm/virtio.h"

#define BITS_PER_LONG	(8 * sizeof(long))

static struct mig_dirty *active;	/* the migration in progress, if any */
static pthread_mutex_t active_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The rings are drained every HARVEST_PERIOD_MS while logging is on, not
 * only at the end of a round.  KVM_EXIT_DIRTY_RING_FULL alone is not
 * enough: the vCPU reaches KVM's soft limit and is meant to exit, but a
 * vCPU may push well past it before it does (on a software hypervisor
 * every guest write is an entry, and 64Ki entries go by in well under a
 * second), and a ring that wraps loses entries, i.e. writes.  Worse, once
 * KVM's count is beyond the ring, its reset never catches up and the vCPU
 * exits with a full ring forever: the guest stalls.  A round under a
 * bandwidth cap lasts seconds, so the engine's own harvest comes too late.
 */
#define HARVEST_PERIOD_MS	5

static struct {
	pthread_t tid;
	bool running, stop;
	pthread_cond_t cond;
	struct kvm *kvm;
	int err;			/* the first harvest error, for log_take */
} harvester = { .cond = PTHREAD_COND_INITIALIZER };

int mig_dirty__init(struct mig_dirty *d, u64 nr_pages)
{
	memset(d, 0, sizeof(*d));
	d->nr_pages = nr_pages;
	d->bits = calloc(DIV_ROUND_UP(nr_pages, BITS_PER_LONG) + 1, sizeof(long));
	if (!d->bits)
		return -ENOMEM;
	pthread_mutex_init(&d->lock, NULL);
	return 0;
}

void mig_dirty__free(struct mig_dirty *d)
{
	free((void *)d->bits);
	d->bits = NULL;
	pthread_mutex_destroy(&d->lock);
}

void mig_dirty__set(struct mig_dirty *d, u64 page)
{
	if (page < d->nr_pages)
		atomic_fetch_or_explicit(&d->bits[page / BITS_PER_LONG],
					 1UL << (page % BITS_PER_LONG), memory_order_relaxed);
}

u64 mig_dirty__take(struct mig_dirty *d, unsigned long *out)
{
	u64 i, n = 0, words = DIV_ROUND_UP(d->nr_pages, BITS_PER_LONG);
	bool all = atomic_exchange(&d->lost, false);

	for (i = 0; i < words; i++) {
		unsigned long w = atomic_exchange_explicit(&d->bits[i], 0, memory_order_relaxed);

		if (all)	/* entries were lost: any page may have been written */
			w = i == d->nr_pages / BITS_PER_LONG ?
			    (1UL << (d->nr_pages % BITS_PER_LONG)) - 1 : ~0UL;

		out[i] = w;
		n += __builtin_popcountl(w);
	}
	return n;
}

u64 mig_dirty__merge_bitmap(struct mig_dirty *d, u64 page_base, const unsigned long *bm,
			    u64 npages)
{
	u64 i, n = 0;

	if (page_base > d->nr_pages || npages > d->nr_pages - page_base)
		return 0;
	for (i = 0; i < DIV_ROUND_UP(npages, BITS_PER_LONG); i++) {
		unsigned long w = bm[i];

		if (i == npages / BITS_PER_LONG)	/* ignore bits past the slot */
			w &= (1UL << (npages % BITS_PER_LONG)) - 1;
		while (w) {
			int b = __builtin_ctzl(w);

			mig_dirty__set(d, page_base + i * BITS_PER_LONG + b);
			w &= w - 1;
			n++;
		}
	}
	return n;
}

u64 mig_dirty__harvest_ring(struct mig_dirty *d, struct kvm_dirty_gfn *gfns, u32 entries,
			    u32 *fetch, const struct mig_slot_map *slots, int nr_slots)
{
	u64 n = 0;

	if (!gfns || !entries || (entries & (entries - 1)))
		return 0;
	for (;;) {
		struct kvm_dirty_gfn *e = &gfns[*fetch & (entries - 1)];
		u32 flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
		int i;

		if (!(flags & KVM_DIRTY_GFN_F_DIRTY))
			break;
		for (i = 0; i < nr_slots; i++) {
			/* slot = address space << 16 | slot id; we use space 0. */
			if (slots[i].slot == e->slot && e->offset < slots[i].npages) {
				mig_dirty__set(d, slots[i].page_base + e->offset);
				break;
			}
		}
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		(*fetch)++;
		n++;
		if (n == entries)	/* every slot was ours: see overflowed() */
			break;
	}
	/*
	 * KVM asks for a harvest (KVM_EXIT_DIRTY_RING_FULL) while some slots are
	 * still free; a ring with every slot dirty means the vCPU pushed past
	 * that limit and may have wrapped over entries not yet harvested.
	 * Their pages are unknown, so all pages count as dirty.
	 */
	if (n == entries) {
		atomic_store(&d->lost, true);
		d->overflows++;
	}
	d->harvested += n;
	return n;
}

/* ---- KVM side ---- */

static int slot_map(struct kvm *kvm, struct mig_slot_map *m)
{
	int i;

	for (i = 0; i < kvm->nr_mem_banks && i < MIG_MAX_BANKS; i++) {
		m[i].slot = kvm->mem_banks[i].slot;
		m[i].page_base = kvm->mem_banks[i].page_base;
		m[i].npages = kvm->mem_banks[i].size / PAGE_SIZE;
	}
	return i;
}

/* Harvest every vCPU's ring (or the bitmaps); called with active_lock held. */
static int sync_locked(struct kvm *kvm, struct mig_dirty *d)
{
	struct mig_slot_map m[MIG_MAX_BANKS];
	int nr = slot_map(kvm, m), i;
	u64 n = 0;

	if (kvm->dirty_ring_bytes) {
		for (i = 0; i < kvm->nr_cpus; i++) {
			struct kvm_cpu *v = kvm->cpus[i];

			if (v && v->dirty_gfns)
				n += mig_dirty__harvest_ring(d, v->dirty_gfns, v->dirty_ring_entries,
							     &v->dirty_ring_fetch, m, nr);
		}
		if (n)
			mig__test_hold("hold-harvest", "ring entries harvested, not reset yet");
		if (n && ioctl(kvm->vm_fd, KVM_RESET_DIRTY_RINGS, 0) < 0)
			return -errno;
		return 0;
	}
	for (i = 0; i < nr; i++) {
		struct kvm_dirty_log log = { .slot = m[i].slot };
		unsigned long *bm = calloc(DIV_ROUND_UP(m[i].npages, BITS_PER_LONG) + 1,
					   sizeof(long));

		if (!bm)
			return -ENOMEM;
		log.dirty_bitmap = bm;
		if (ioctl(kvm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0) {
			free(bm);
			return -errno;
		}
		mig_dirty__merge_bitmap(d, m[i].page_base, bm, m[i].npages);
		free(bm);
	}
	return 0;
}

/* KVM_EXIT_DIRTY_RING_FULL: the vCPU waits here until its ring has room. */
static int dirty_ring_full(struct kvm_cpu *vcpu)
{
	struct kvm *kvm = vcpu->kvm;
	struct mig_dirty scratch;
	int ret;

	pthread_mutex_lock(&active_lock);
	if (active) {
		ret = sync_locked(kvm, active);
	} else {
		/* Logging was just stopped: entries are stale, drop them. */
		ret = mig_dirty__init(&scratch, kvm->nr_pages);
		if (!ret) {
			ret = sync_locked(kvm, &scratch);
			mig_dirty__free(&scratch);
		}
	}
	pthread_mutex_unlock(&active_lock);
	return ret;
}

static void __attribute__((constructor)) register_ring_full(void)
{
	kvm_cpu__register_exit_handler(KVM_EXIT_DIRTY_RING_FULL, dirty_ring_full);
}

static void *harvester_fn(void *arg)
{
	struct timespec ts;
	int ret;

	(void)arg;
	pthread_setname_np(pthread_self(), "lkvm-harvest");
	pthread_mutex_lock(&active_lock);
	while (!harvester.stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		timespec_add_ms(&ts, HARVEST_PERIOD_MS);
		pthread_cond_timedwait(&harvester.cond, &active_lock, &ts);
		if (harvester.stop || !active)
			break;
		ret = sync_locked(harvester.kvm, active);
		if (ret && !harvester.err)
			harvester.err = ret;
	}
	pthread_mutex_unlock(&active_lock);
	return NULL;
}

/* Called with active_lock held. */
static void harvester_start(struct kvm *kvm)
{
	harvester.kvm = kvm;
	harvester.stop = false;
	harvester.err = 0;
	/* Without it the ring-full exits still work: no failure. */
	harvester.running = !pthread_create(&harvester.tid, NULL, harvester_fn, NULL);
	if (!harvester.running)
		pr_warn("migration: no dirty ring harvester thread; relying on ring-full exits");
}

/* Called without active_lock. */
static void harvester_stop(void)
{
	pthread_mutex_lock(&active_lock);
	if (!harvester.running) {
		pthread_mutex_unlock(&active_lock);
		return;
	}
	harvester.stop = true;
	pthread_cond_broadcast(&harvester.cond);
	pthread_mutex_unlock(&active_lock);
	pthread_join(harvester.tid, NULL);
	harvester.running = false;
}

static int set_logging(struct kvm *kvm, bool on)
{
	int i, ret;

	for (i = 0; i < kvm->nr_mem_banks; i++) {
		ret = kvm__set_memslot(kvm, &kvm->mem_banks[i], on);
		if (ret)
			return ret;
	}
	return 0;
}

/*
 * Devices write guest memory from userspace (used rings, read data): KVM's
 * dirty tracking never sees those writes, so the devices report them here.
 */
static void device_wrote(void *ctx, u64 gpa, u64 len)
{
	struct kvm *kvm = ctx;
	u64 a, end = gpa + len;

	if (end < gpa)
		return;
	pthread_mutex_lock(&active_lock);
	for (a = ALIGN_DOWN(gpa, PAGE_SIZE); active && a < end; a += PAGE_SIZE) {
		s64 page = kvm__gpa_to_page(kvm, a);

		if (page >= 0)
			mig_dirty__set(active, page);
	}
	pthread_mutex_unlock(&active_lock);
}

int migration__log_start(struct kvm *kvm, struct mig_dirty *d)
{
	int ret;

	d->ring = kvm->dirty_ring_bytes != 0;
	pthread_mutex_lock(&active_lock);
	ret = set_logging(kvm, true);
	if (!ret) {
		active = d;
		d->active = true;
		virtio__set_dirty_hook(device_wrote);
		/* The bitmap path: the first GET_DIRTY_LOG clears what enabling set. */
		if (!d->ring)
			ret = sync_locked(kvm, d);
		else
			harvester_start(kvm);
	}
	pthread_mutex_unlock(&active_lock);
	return ret;
}

void migration__log_stop(struct kvm *kvm)
{
	harvester_stop();
	pthread_mutex_lock(&active_lock);
	if (active) {
		active->active = false;
		active = NULL;
		virtio__set_dirty_hook(NULL);
		set_logging(kvm, false);
	}
	pthread_mutex_unlock(&active_lock);
}

/*
 * One step under active_lock, because a harvest sets a page's bit before
 * KVM_RESET_DIRTY_RINGS write-protects the page again, and in between
 * the guest writes it with no new ring entry.  A take between the two
 * (the harvester's, every 5 ms, or a ring-full exit's) would send the
 * page while such a write could still come after its read and never be
 * heard of: the destination would keep the old bytes.  Under the lock
 * every harvested page is protected again before it is handed out.
 */
int migration__log_take(struct kvm *kvm, unsigned long *out, u64 *n)
{
	int ret = 0;

	*n = 0;
	pthread_mutex_lock(&active_lock);
	if (!active)
		ret = -EINVAL;
	if (!ret)
		ret = sync_locked(kvm, active);
	if (!ret && harvester.err)
		ret = harvester.err;
	if (!ret)
		*n = mig_dirty__take(active, out);
	pthread_mutex_unlock(&active_lock);
	return ret;
}
