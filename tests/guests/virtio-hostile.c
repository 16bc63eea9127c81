/*
 * A hostile virtio driver (run with --rng -d DISK -m 64M): malformed rings,
 * buffers at the end of RAM, in the PCI hole or wrapping 2^64, indirect
 * tables misused, an avail index a ring ahead, rings past the end of RAM,
 * a queue resized while it runs, doorbells of every width and for queues
 * that do not exist, a reset between posting and kicking, odd register
 * accesses, and block requests whose sector * 512 wraps or that pass the
 * end of the disk.  Each malformed ring must stop the device (NEEDS_RESET)
 * and leave the VMM running; after a reset the device must work again.
 * Prints one line per step; exits 0 only if every step went as expected.
 */
#include "virtio-drv.h"

#define NEEDS_RESET	0x40
#define F_INDIRECT	(1UL << 28)
#define VF_INDIRECT	4
#define SPINS		20000000	/* a completion or a stop that must come */
#define SPINS_NEVER	200000		/* one that must not (the I/O thread takes ms) */

struct blk_hdr { u32 type, ioprio; u64 sector; };

static struct vqueue vq;
static struct vdesc itable[4] __attribute__((aligned(16)));
static u8 buf[4096] __attribute__((aligned(4096)));
static struct blk_hdr hdr;
static u8 status;
static u64 ramend;
static int bad;

static u8 st(struct vdev *d)
{
	return r8(d->common + 20);
}

static void report(const char *what, int ok)
{
	printf("%s: %s\n", what, ok ? "ok" : "BAD");
	bad |= !ok;
}

/* Wait until the device stops itself. */
static int stopped(struct vdev *d)
{
	u64 i;

	for (i = 0; i < SPINS && !(st(d) & NEEDS_RESET); i++)
		cpu_relax();
	return st(d) & NEEDS_RESET;
}

static struct vqueue *qs[1] = { &vq };

/* One chain of one descriptor on queue 0, kicked. */
static void post1(u64 addr, u32 len, u16 flags)
{
	void *p = (void *)addr;

	vq_post(&vq, 1, &p, &len, &flags);
	vq_kick(&vq, 0);
}

/* The device answers a good 32-byte rng request after a fresh init. */
static int rng_works(struct vdev *d)
{
	if (vdev_init(d, VERSION_1, qs, 1) != (1 | 2 | 4 | 8))
		return 0;
	post1((u64)buf, 32, VF_WRITE);
	return vq_wait(&vq, SPINS) == 32 && !(st(d) & NEEDS_RESET);
}

/* Fresh init, one malformed chain: the device must stop, then work again. */
static void must_stop(struct vdev *d, const char *what, u64 features, u64 addr, u32 len,
		      u16 flags)
{
	int ok;

	vdev_init(d, VERSION_1 | features, qs, 1);
	post1(addr, len, flags);
	ok = stopped(d) && vq.used.idx == 0;
	report(what, ok && rng_works(d));
}

static void rng_steps(struct vdev *d)
{
	u64 c = d->common;
	u16 idx;
	int ok;

	report("rng good request", rng_works(d));

	/* A descriptor whose next is itself. */
	vdev_init(d, VERSION_1, qs, 1);
	vq.desc[0] = (struct vdesc){ (u64)buf, 16, VF_WRITE | VF_NEXT, 0 };
	vq.avail.ring[0] = 0;
	vq.avail.idx = vq.next_avail = 1;
	vq_kick(&vq, 0);
	report("chain that loops", stopped(d) && rng_works(d));

	must_stop(d, "buffer across the end of RAM", 0, ramend - 16, 32, VF_WRITE);
	must_stop(d, "buffer just past the end of RAM", 0, ramend, 16, VF_WRITE);
	must_stop(d, "buffer in the PCI hole (the LAPIC)", 0, 0xfee00000, 16, VF_WRITE);
	must_stop(d, "buffer on the device's own BAR", 0, d->bar, 64, VF_WRITE);
	must_stop(d, "buffer wrapping 2^64", 0, ~0UL - 7, 16, VF_WRITE);
	must_stop(d, "buffer of 4 GiB - 1", 0, (u64)buf, ~0u, VF_WRITE);
	must_stop(d, "indirect table not negotiated", 0, (u64)itable, 32, VF_INDIRECT);
	must_stop(d, "indirect table of 24 bytes", F_INDIRECT, (u64)itable, 24, VF_INDIRECT);
	itable[0] = (struct vdesc){ (u64)itable, 32, VF_INDIRECT, 0 };
	must_stop(d, "indirect table inside one", F_INDIRECT, (u64)itable, 32, VF_INDIRECT);
	itable[0] = (struct vdesc){ (u64)buf, 16, VF_WRITE | VF_NEXT, 0 };
	must_stop(d, "indirect chain that loops", F_INDIRECT, (u64)itable, 16, VF_INDIRECT);
	must_stop(d, "indirect table past the end of RAM", F_INDIRECT, ramend - 16, 32,
		  VF_INDIRECT);

	/* The avail index a whole ring and more ahead. */
	vdev_init(d, VERSION_1, qs, 1);
	vq.avail.idx = 100;
	vq_kick(&vq, 0);
	report("avail index 100 ahead", stopped(d) && rng_works(d));

	/* A head beyond the table. */
	vdev_init(d, VERSION_1, qs, 1);
	vq.avail.ring[0] = 200;
	vq.avail.idx = 1;
	vq_kick(&vq, 0);
	report("head beyond the table", stopped(d) && rng_works(d));

	/* Rings that end past the end of RAM: refused when enabled. */
	vdev_init(d, VERSION_1, qs, 1);
	w8(c + 20, 0);
	w8(c + 20, 1 | 2);
	w32(c + 8, 1);
	w32(c + 12, 1);
	w8(c + 20, 1 | 2 | 8);
	w16(c + 22, 0);
	w16(c + 24, 8);
	w32(c + 32, (u32)(ramend - 64));
	w32(c + 36, 0);
	w32(c + 40, (u32)(u64)&vq.avail);
	w32(c + 48, (u32)(u64)&vq.used);
	w16(c + 28, 1);
	w8(c + 20, 1 | 2 | 4 | 8);
	report("descriptor table past the end of RAM", (st(d) & NEEDS_RESET) && rng_works(d));

	/* Resized while it runs: ignored, the queue goes on. */
	vdev_init(d, VERSION_1, qs, 1);
	w16(c + 24, 4);
	w32(c + 32, 0x1000);		/* and moved: ignored too */
	ok = r16(c + 24) == VQ_N && r32(c + 32) == (u32)(u64)vq.desc;
	post1((u64)buf, 32, VF_WRITE);
	report("queue resized and moved while enabled", ok && vq_wait(&vq, SPINS) == 32);

	/* Doorbells of every width (MMIO exits on the vCPU thread, not the ioeventfd). */
	post1((u64)buf, 32, VF_WRITE);			/* 2 bytes, as drivers do */
	ok = vq_wait(&vq, SPINS) == 32;
	vq_post(&vq, 1, (void *[]){ buf }, (u32[]){ 32 }, (u16[]){ VF_WRITE });
	w8(vq.notify, 0);
	ok &= vq_wait(&vq, SPINS) == 32;
	vq_post(&vq, 1, (void *[]){ buf }, (u32[]){ 32 }, (u16[]){ VF_WRITE });
	w32(vq.notify, 0);
	ok &= vq_wait(&vq, SPINS) == 32;
	report("doorbells of 1, 2 and 4 bytes", ok);
	/* 8 bytes would reach into the next queue's doorbell: ignored. */
	vq_post(&vq, 1, (void *[]){ buf }, (u32[]){ 32 }, (u16[]){ VF_WRITE });
	*(volatile u64 *)(vq.notify) = 0;
	ok = vq_wait(&vq, SPINS_NEVER) == -1;
	vq_kick(&vq, 0);
	report("doorbell of 8 bytes ignored", ok && vq_wait(&vq, SPINS) == 32);

	/* Doorbells of queues the device does not have, and past the notify region. */
	vq_post(&vq, 1, (void *[]){ buf }, (u32[]){ 32 }, (u16[]){ VF_WRITE });
	w16(d->notify + 4, 1);
	w16(d->notify + 4 * 3, 3);
	w16(d->notify + 0x1000 - 2, 0);
	ok = vq_wait(&vq, SPINS_NEVER) == -1;
	vq_kick(&vq, 0);
	report("doorbells of queues that do not exist", ok && vq_wait(&vq, SPINS) == 32);

	/* A reset between posting and kicking: the old ring is never taken. */
	vq_post(&vq, 1, (void *[]){ buf }, (u32[]){ 32 }, (u16[]){ VF_WRITE });
	w8(c + 20, 0);
	vq_kick(&vq, 0);
	idx = vq.used.idx;
	report("reset before the kick", vq_wait(&vq, SPINS_NEVER) == -1 && idx == vq.used.idx &&
	       st(d) == 0 && rng_works(d));

	/* Every register byte and odd widths across region ends. */
	for (idx = 0; idx < 0x40; idx++)
		(void)r8(c + idx);
	(void)*(volatile u64 *)(c + 0x34);		/* past common config's end */
	(void)*(volatile u64 *)(d->bar + 0x8000 - 4);	/* past the BAR's end */
	w8(d->bar + 0x4001, 0xff);			/* MSI-X table: a byte */
	*(volatile u64 *)(d->bar + 0x4000 + 16 * 40) = ~0UL;	/* past the table */
	w32(d->isr + 1, 0);
	(void)r32(d->isr);
	w32(c + 16, 0x1234);				/* config vector out of range */
	w16(c + 26, 0xfffe);				/* queue vector out of range */
	report("odd register accesses", r16(c + 16) == 0xffff && r16(c + 26) == 0xffff &&
	       rng_works(d));
}

/* One block request: header, a data buffer (device-writable for reads), status. */
static int blk_req(u32 type, u64 sector, u64 data, u32 len)
{
	void *p[3] = { &hdr, (void *)data, &status };
	u32 l[3] = { sizeof(hdr), len, 1 };
	u16 f[3] = { 0, type == 0 ? VF_WRITE : 0, VF_WRITE };
	s64 used;

	hdr.type = type;
	hdr.sector = sector;
	status = 0xee;
	used = vq_request(&vq, 0, 3, p, l, f);
	return used < 0 ? -1 : status;
}

static void blk_steps(struct vdev *d)
{
	u64 cap;
	u8 s;

	if (vdev_init(d, VERSION_1, qs, 1) != (1 | 2 | 4 | 8)) {
		report("blk init", 0);
		return;
	}
	cap = r32(d->devcfg) | (u64)r32(d->devcfg + 4) << 32;
	report("blk read sector 0", blk_req(0, 0, (u64)buf, 512) == 0);
	report("blk read where sector * 512 wraps 2^64", blk_req(0, 1UL << 55, (u64)buf, 512) == 1);
	report("blk read of sector ~0", blk_req(0, ~0UL, (u64)buf, 512) == 1);
	report("blk read across the disk's end", blk_req(0, cap - 1, (u64)buf, 1024) == 1);
	report("blk write across the disk's end", blk_req(1, cap - 1, (u64)buf, 1024) == 1);
	report("blk read of half a sector", blk_req(0, 0, (u64)buf, 256) == 1);
	hdr.sector = ~0UL - 3;
	*(u64 *)buf = ~0UL - 3;				/* discard: sector, num, flags */
	*(u32 *)(buf + 8) = 16;
	*(u32 *)(buf + 12) = 0;
	report("blk discard where sector + count wraps", blk_req(11, 0, (u64)buf, 16) == 1);
	/* 2 GiB in one descriptor: more than a chain may carry. */
	hdr.type = 0;
	hdr.sector = 0;
	vq_post(&vq, 3, (void *[]){ &hdr, buf, &status }, (u32[]){ sizeof(hdr), 0x80000000u, 1 },
		(u16[]){ 0, VF_WRITE, VF_WRITE });
	vq_kick(&vq, 0);
	s = stopped(d);
	report("blk chain of 2 GiB", s && vdev_init(d, VERSION_1, qs, 1) == (1 | 2 | 4 | 8) &&
	       blk_req(0, 0, (u64)buf, 512) == 0);
}

int main(void)
{
	struct vdev d;

	ramend = rt_cmdline_u64("ramend", 64UL << 20);
	if (vdev_find(&d, 4)) {
		puts("virtio-hostile: no rng device");
		return 1;
	}
	rng_steps(&d);
	if (vdev_find(&d, 2)) {
		puts("virtio-hostile: no blk device");
		return 1;
	}
	blk_steps(&d);
	puts(bad ? "virtio-hostile: FAILED" : "virtio-hostile: ok");
	return bad;
}
