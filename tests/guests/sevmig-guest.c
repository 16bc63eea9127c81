/*
 * The SEV migration test guest (tests/integration/sevmig-*.sh).
 *
 * Plants known patterns in 8 private pages and 4 pages it declares shared
 * through the test doorbell (the stand-in for KVM_HC_MAP_GPA_RANGE here),
 * declares itself migration-ready (MSR_KVM_MIGRATION_CONTROL = 1), then
 * counts: each count dirties one private and one shared page and checks
 * every byte of both regions, printing
 *     count N priv ok shared ok
 * so the destination shows that both kinds of memory arrived intact.
 * The pattern strings are assembled at run time: the literal bytes the
 * stream capture looks for exist only in the pattern pages themselves.
 *
 * "delay=N"   pause loops per count
 * "noready=1" never write the MSR (a guest that is not migration-ready)
 * "blink=1"   every 128 pause loops write MSR 0 and at once 1 again (a
 *             reboot-like withdrawal, as Linux's reboot notifier does)
 * "flip=1"    every 128 pause loops declare one more page shared, then
 *             private again, and so on, WITHOUT writing it: only the page
 *             map says it must travel again, the other way
 * "rng=1"     (with lkvm run --rng) drive virtio-rng from a shared ring and
 *             buffer, one request per count, and add "rng ok" (or "rng BAD")
 *             to each count line: a live virtio queue migrates with the guest
 */
#include "doorbell.h"
#include "virtio-drv.h"

#define MSR_KVM_MIGRATION_CONTROL	0x4b564d08
#define NPRIV		8
#define NSHARED		4
#define SLOT		64
#define COUNT_OFF	(4096 - 8)	/* the dirtied word of each page */

static u8 priv[NPRIV][4096] __attribute__((aligned(4096)));
static u8 shared[NSHARED][4096] __attribute__((aligned(4096)));
static u8 flipper[4096] __attribute__((aligned(4096)));
static u64 last_priv[NPRIV], last_shared[NSHARED];
static struct vqueue rng_vq;
static u8 rng_buf[4096] __attribute__((aligned(4096)));

/* virtio-rng on pages declared shared; 0 when its queue is live. */
static int rng_setup(struct vdev *d)
{
	struct vqueue *qs[1] = { &rng_vq };

	if (vdev_find(d, 4)) {
		puts("sevmig: no virtio-rng device\n");
		return -1;
	}
	if (db_call(DB_MAP_GPA_RANGE, (u64)(unsigned long)&rng_vq, 1, 0) ||
	    db_call(DB_MAP_GPA_RANGE, (u64)(unsigned long)rng_buf, 1, 0)) {
		puts("sevmig: declaring the virtio pages shared failed\n");
		return -1;
	}
	if (vdev_init(d, VERSION_1 | ACCESS_PLATFORM, qs, 1) != (1 | 2 | 4 | 8)) {
		puts("sevmig: virtio-rng refused the driver\n");
		return -1;
	}
	return 0;
}

/* One 32-byte request; a device that stopped (NEEDS_RESET) or never answers fails. */
static int rng_once(struct vdev *d)
{
	void *p = rng_buf;
	u32 len = 32;
	u16 fl = VF_WRITE;

	return vq_request(&rng_vq, 0, 1, &p, &len, &fl) == 32 && !(r8(d->common + 20) & 0x40);
}

static const char hex[] = "0123456789abcdef";

/* "LKVM-PRIVATE-PATTERN-" or "LKVM-SHARED-PATTERN-" from '+'-separated templates. */
static void marker(char *out, int is_priv)
{
	const char *t = is_priv ? "LKVM+PRIVATE+PATTERN+" : "LKVM+SHARED+PATTERN+";
	int i;

	for (i = 0; t[i]; i++)
		out[i] = t[i] == '+' ? '-' : t[i];
	out[i] = 0;
}

static void slot_text(u8 *slot, const char *mark, u64 page, u64 s)
{
	u64 i = 0, k;

	for (k = 0; mark[k]; k++)
		slot[i++] = mark[k];
	slot[i++] = hex[(page >> 4) & 15];
	slot[i++] = hex[page & 15];
	slot[i++] = '-';
	slot[i++] = hex[(s >> 4) & 15];
	slot[i++] = hex[s & 15];
	while (i < SLOT)
		slot[i++] = '.';
}

static void fill(u8 *page, const char *mark, u64 n)
{
	u64 s;

	for (s = 0; s < 4096 / SLOT - 1; s++)
		slot_text(page + s * SLOT, mark, n, s);
	memset(page + 4096 - SLOT, 0, SLOT);
}

static int check(u8 *page, const char *mark, u64 n, u64 want_count)
{
	u8 slot[SLOT];
	u64 s;

	for (s = 0; s < 4096 / SLOT - 1; s++) {
		slot_text(slot, mark, n, s);
		if (memcmp(page + s * SLOT, slot, SLOT))
			return 0;
	}
	return *(volatile u64 *)(page + COUNT_OFF) == want_count;
}

int main(void)
{
	u64 delay = rt_cmdline_u64("delay", 20000);
	int blink = rt_cmdline_has("blink");
	int flip = rt_cmdline_has("flip");
	int rng = rt_cmdline_has("rng");
	struct vdev d;
	u64 flips = 0;
	char pm[32], sm[32];
	s64 r;
	u64 n, i;

	marker(pm, 1);
	marker(sm, 0);
	fill(flipper, "LKVM-FLIPPED-PAGE-", 0x80);
	for (i = 0; i < NPRIV; i++)
		fill(priv[i], pm, i);
	for (i = 0; i < NSHARED; i++)
		fill(shared[i], sm, i);
	r = db_call(DB_MAP_GPA_RANGE, (u64)(unsigned long)shared, NSHARED, 0);
	if (r) {
		printf("sevmig: declaring the shared pages failed: %ld\n", r);
		return 1;
	}
	if (rng && rng_setup(&d))
		return 1;
	if (!rt_cmdline_has("noready")) {
		wrmsr(MSR_KVM_MIGRATION_CONTROL, 1);
		puts("sevmig: migration-ready\n");
	} else {
		puts("sevmig: not migration-ready\n");
	}
	for (n = 1;; n++) {
		int ok_p = 1, ok_s = 1, bad = -1;

		*(volatile u64 *)(priv[n % NPRIV] + COUNT_OFF) = n;
		last_priv[n % NPRIV] = n;
		*(volatile u64 *)(shared[n % NSHARED] + COUNT_OFF) = 3 * n;
		last_shared[n % NSHARED] = 3 * n;
		for (i = 0; i < NPRIV; i++)
			if (!check(priv[i], pm, i, last_priv[i]))
				ok_p = 0, bad = i;
		for (i = 0; i < NSHARED; i++)
			ok_s &= check(shared[i], sm, i, last_shared[i]);
		ok_p &= check(flipper, "LKVM-FLIPPED-PAGE-", 0x80, 0);
		if (bad >= 0)	/* which page, and what it holds: for the test's log */
			printf("sevmig: private page %d count word %lu, expected %lu\n", bad,
			       *(volatile u64 *)(priv[bad] + COUNT_OFF), last_priv[bad]);
		printf("count %lu priv %s shared %s%s\n", n, ok_p ? "ok" : "BAD", ok_s ? "ok" : "BAD",
		       !rng ? "" : rng_once(&d) ? " rng ok" : " rng BAD");
		for (i = 0; i < delay; i++) {
			if (blink && i % 128 == 0) {
				/* Back to 1 at once: only the withdrawal count shows it. */
				wrmsr(MSR_KVM_MIGRATION_CONTROL, 0);
				wrmsr(MSR_KVM_MIGRATION_CONTROL, 1);
			}
			if (flip && i % 128 == 0 &&
			    db_call(DB_MAP_GPA_RANGE, (u64)(unsigned long)flipper, 1,
				    ++flips & 1 ? 0 : MAP_ENCRYPTED))
				puts("sevmig: flip refused\n");
			cpu_relax();
		}
	}
	return 0;
}
