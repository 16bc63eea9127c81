/*
 * A tiny polling virtio-pci (modern) driver for the test guests: PCI
 * enumeration through 0xcf8/0xcfc, the vendor capabilities, one request at
 * a time on a small split queue, no interrupts.  Guest code is slow on
 * software KVM, so everything here is straight-line and short.
 */
#ifndef VIRTIO_DRV_H
#define VIRTIO_DRV_H

#include "rt.h"

#define VQ_N		8
#define VF_NEXT		1
#define VF_WRITE	2
#define VERSION_1	(1UL << 32)
#define ACCESS_PLATFORM	(1UL << 33)

struct vdesc { u64 addr; u32 len; u16 flags, next; };
struct vavail { u16 flags, idx, ring[VQ_N], used_event; };
struct vused_elem { u32 id, len; };
struct vused { u16 flags, idx; struct vused_elem ring[VQ_N]; u16 avail_event; };

struct vqueue {
	struct vdesc desc[VQ_N];
	struct vavail avail;
	u16 pad;
	struct vused used;
	u16 next_avail, last_used;
	u64 notify;
} __attribute__((aligned(4096)));

struct vdev {
	int slot;
	u64 bar, common, notify, isr, devcfg;
	u32 mult;
};

#define barrier() __asm__ volatile("" ::: "memory")

static inline u32 pci_rd(int slot, int off)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
	return inl(0xcfc) >> (8 * (off & 3));
}

static inline void w8(u64 a, u8 v) { *(volatile u8 *)a = v; }
static inline void w16(u64 a, u16 v) { *(volatile u16 *)a = v; }
static inline void w32(u64 a, u32 v) { *(volatile u32 *)a = v; }
static inline u8 r8(u64 a) { return *(volatile u8 *)a; }
static inline u16 r16(u64 a) { return *(volatile u16 *)a; }
static inline u32 r32(u64 a) { return *(volatile u32 *)a; }

struct iframe;
typedef void (*irq_handler_fn)(struct iframe *);

/*
 * Send `vector` to an __attribute__((interrupt)) handler: rt's IDT (its
 * exception gates kept) copied into one of 256 gates, which is loaded.
 */
static __attribute__((unused)) void irq_gate(u8 vector, irq_handler_fn fn)
{
	static struct idt_entry idt[256] __attribute__((aligned(16)));
	struct { u16 limit; u64 base; } __attribute__((packed)) old, desc;
	u64 h = (u64)fn;
	u16 cs;

	__asm__ volatile("sidt %0" : "=m"(old));
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	if (old.base != (u64)idt)
		memcpy(idt, (void *)old.base, old.limit + 1);
	idt[vector] = (struct idt_entry){ h & 0xffff, cs, 0, 0x8e, (h >> 16) & 0xffff,
					  h >> 32, 0 };
	desc.limit = sizeof(idt) - 1;
	desc.base = (u64)idt;
	__asm__ volatile("lidt %0" :: "m"(desc));
}

/* Find the first virtio device of a type; 0 on success. */
static __attribute__((unused)) int vdev_find(struct vdev *d, u16 type)
{
	int slot, cap;

	memset(d, 0, sizeof(*d));

	for (slot = 0; slot < 32; slot++) {
		if (pci_rd(slot, 0) != (0x1af4u | (0x1040u + type) << 16))
			continue;
		d->slot = slot;
		d->bar = pci_rd(slot, 0x10) & ~0xfu;
		for (cap = pci_rd(slot, 0x34) & 0xff; cap; cap = pci_rd(slot, cap + 1) & 0xff) {
			u64 off;

			if ((pci_rd(slot, cap) & 0xff) != 0x09)
				continue;
			off = d->bar + pci_rd(slot, cap + 8);
			switch (pci_rd(slot, cap + 3) & 0xff) {
			case 1: d->common = off; break;
			case 2: d->notify = off; d->mult = pci_rd(slot, cap + 16); break;
			case 3: d->isr = off; break;
			case 4: d->devcfg = off; break;
			}
		}
		return d->common && d->notify ? 0 : -1;
	}
	return -1;
}

/* Negotiate features and set up queues 0..nq-1; returns the final status. */
static __attribute__((unused)) u8 vdev_init(struct vdev *d, u64 features, struct vqueue **qs, int nq)
{
	u64 c = d->common;
	int q;

	w8(c + 20, 0);
	w8(c + 20, 1 | 2);
	w32(c + 8, 0);
	w32(c + 12, (u32)features);
	w32(c + 8, 1);
	w32(c + 12, features >> 32);
	w8(c + 20, 1 | 2 | 8);
	if (!(r8(c + 20) & 8))
		return r8(c + 20);
	for (q = 0; q < nq; q++) {
		struct vqueue *vq = qs[q];

		memset(vq, 0, sizeof(*vq));
		w16(c + 22, q);
		w16(c + 24, VQ_N);
		w32(c + 32, (u64)vq->desc);
		w32(c + 36, 0);
		w32(c + 40, (u64)&vq->avail);
		w32(c + 44, 0);
		w32(c + 48, (u64)&vq->used);
		w32(c + 52, 0);
		vq->notify = d->notify + (u64)r16(c + 30) * d->mult;
		w16(c + 28, 1);
	}
	w8(c + 20, 1 | 2 | 8 | 4);
	return r8(c + 20);
}

/* Post a chain of n buffers (no kick). */
static __attribute__((unused)) void vq_post(struct vqueue *vq, int n, void **buf, const u32 *len, const u16 *flags)
{
	int i, base = (vq->next_avail * 2) % VQ_N;	/* room for chains of <= 2 ... */

	if (n > 2)
		base = 0;				/* ... or one long chain alone */
	for (i = 0; i < n; i++) {
		vq->desc[base + i].addr = (u64)buf[i];
		vq->desc[base + i].len = len[i];
		vq->desc[base + i].flags = flags[i] | (i + 1 < n ? VF_NEXT : 0);
		vq->desc[base + i].next = base + i + 1;
	}
	vq->avail.ring[vq->next_avail % VQ_N] = base;
	barrier();
	vq->avail.idx = ++vq->next_avail;
	barrier();
}

static __attribute__((unused)) void vq_kick(struct vqueue *vq, u16 q)
{
	w16(vq->notify, q);
}

/* Wait for the next used buffer; returns its length or -1 on timeout. */
static __attribute__((unused)) s64 vq_wait(struct vqueue *vq, u64 spins)
{
	s64 len;

	while (*(volatile u16 *)&vq->used.idx == vq->last_used) {
		if (!spins--)
			return -1;
		cpu_relax();
	}
	barrier();
	len = vq->used.ring[vq->last_used % VQ_N].len;
	vq->last_used++;
	return len;
}

/* One synchronous request on queue q. */
static __attribute__((unused)) s64 vq_request(struct vqueue *vq, u16 q, int n, void **buf, const u32 *len,
		      const u16 *flags)
{
	vq_post(vq, n, buf, len, flags);
	vq_kick(vq, q);
	return vq_wait(vq, 20000000);
}

#endif
