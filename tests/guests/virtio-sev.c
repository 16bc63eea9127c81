/*
 * virtio in an SEV guest (run with --sev=emulated --test-doorbell --rng):
 * memory starts private, so the device must refuse rings and buffers there
 * (NEEDS_RESET, nothing written) until the guest declares those pages
 * shared through the page map; a driver that does not accept
 * VIRTIO_F_ACCESS_PLATFORM is refused.  Then a request goes through.
 */
#include "virtio-drv.h"
#include "doorbell.h"

static struct vqueue vq;
static u8 buf[4096] __attribute__((aligned(4096)));

static s64 share(void *p, u64 pages)
{
	return db_call(DB_MAP_GPA_RANGE, (u64)p, pages, 0);	/* decrypted */
}

/*
 * Spin budgets: about 8 s per 2M on the software-KVM host.  A completion
 * that must come gets ten times that (a loaded host may starve the I/O
 * thread); one that must not come is waited for only briefly.
 */
#define SPINS_NEVER	2000000
#define SPINS_SURE	20000000

static s64 one_request(struct vdev *d, u64 spins)
{
	void *p = buf;
	u32 len = 32;
	u16 fl = VF_WRITE;

	vq_post(&vq, 1, &p, &len, &fl);
	vq_kick(&vq, 0);
	return vq_wait(&vq, spins);
}

/* The device status once NEEDS_RESET shows (or the budget is spent). */
static u8 status_after_reset(struct vdev *d)
{
	u64 i;

	for (i = 0; i < SPINS_SURE && !(r8(d->common + 20) & 0x40); i++)
		cpu_relax();
	return r8(d->common + 20);
}

int main(void)
{
	struct vdev d;
	struct vqueue *qs[1] = { &vq };
	int bad = 0;
	u8 st;
	s64 r;

	if (vdev_find(&d, 4)) {
		puts("virtio-sev: no rng device");
		return 1;
	}
	w32(d.common + 0, 1);
	if (!(r32(d.common + 4) & 2)) {
		puts("virtio-sev: ACCESS_PLATFORM not offered");
		return 1;
	}
	st = vdev_init(&d, VERSION_1, qs, 1);
	printf("without ACCESS_PLATFORM: status %x\n", st);
	bad |= (st & 8) != 0;

	st = vdev_init(&d, VERSION_1 | ACCESS_PLATFORM, qs, 1);
	printf("ring private: status %x\n", st);
	bad |= !(st & 0x40);

	r = share(&vq, 1);
	st = vdev_init(&d, VERSION_1 | ACCESS_PLATFORM, qs, 1);
	r = one_request(&d, SPINS_NEVER);
	st = status_after_reset(&d);
	printf("ring shared (%s), buffer private: status %x, used %ld\n",
	       r == -1 ? "no completion" : "completed", st, r);
	bad |= r != -1 || !(st & 0x40) || buf[0] || buf[1];

	share(buf, 1);
	st = vdev_init(&d, VERSION_1 | ACCESS_PLATFORM, qs, 1);
	r = one_request(&d, SPINS_SURE);
	printf("ring and buffer shared: status %x, used %ld\n", r8(d.common + 20), r);
	bad |= r != 32 || (r8(d.common + 20) & 0x40);
	puts(bad ? "virtio-sev: FAILED" : "virtio-sev: ok");
	return bad;
}
