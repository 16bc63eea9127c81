/*
 * Split virtqueues: mapping the rings, walking descriptor chains, returning
 * used buffers and deciding when to interrupt.  No VM state here, only a
 * struct virtio_mem, so the tests and the fuzzer run this exact code on a
 * fake guest memory.
 */
#include <errno.h>
#include <string.h>

#include "lkvm/virtio.h"

/* The driver and the device share the rings: order our accesses. */
#define mb()	__atomic_thread_fence(__ATOMIC_SEQ_CST)
#define rmb()	__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define wmb()	__atomic_thread_fence(__ATOMIC_RELEASE)

/* Guest-shared fields are read once, through these, never twice. */
static inline u16 read16(const void *p)
{
	return __atomic_load_n((const u16 *)p, __ATOMIC_RELAXED);
}

static inline void write16(void *p, u16 v)
{
	__atomic_store_n((u16 *)p, v, __ATOMIC_RELAXED);
}

static void *mem_ptr(const struct virtio_mem *mem, u64 gpa, u64 len)
{
	if (!len || gpa + len < gpa)
		return NULL;
	return mem->ptr(mem->ctx, gpa, len);
}

int virtq__map(struct virt_queue *vq)
{
	u64 n = vq->size;

	vq->desc = NULL;
	vq->avail = NULL;
	vq->used = NULL;
	if (!n || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
		return -EINVAL;
	/* Alignment the spec requires of the driver (2.7.10.1). */
	if (!IS_ALIGNED(vq->desc_gpa, 16) || !IS_ALIGNED(vq->avail_gpa, 2) ||
	    !IS_ALIGNED(vq->used_gpa, 4))
		return -EINVAL;
	vq->desc = mem_ptr(vq->mem, vq->desc_gpa, 16 * n);
	/* flags, idx, ring[n], used_event */
	vq->avail = mem_ptr(vq->mem, vq->avail_gpa, 6 + 2 * n);
	/* flags, idx, ring[n] of {id, len}, avail_event */
	vq->used = mem_ptr(vq->mem, vq->used_gpa, 6 + 8 * n);
	if (!vq->desc || !vq->avail || !vq->used) {
		vq->desc = NULL;
		vq->avail = NULL;
		vq->used = NULL;
		return -EFAULT;
	}
	return 0;
}

static int add_seg(struct virt_queue *vq, struct virtq_chain *c,
		   const struct vring_desc *d)
{
	bool write = d->flags & VRING_DESC_F_WRITE;
	struct virtq_seg *s;
	u32 *total = write ? &c->in_len : &c->out_len;

	/* The spec puts every device-writable buffer after the readable ones. */
	if (!write && c->nr_in)
		return -EINVAL;
	if (d->len > VIRTQ_MAX_CHAIN_BYTES - *total)
		return -E2BIG;
	if (!d->len)		/* legal and harmless: nothing to map */
		return 0;
	if (c->nr_out + c->nr_in >= VIRTQ_MAX_SEGS)
		return -E2BIG;
	s = &c->seg[c->nr_out + c->nr_in];
	s->addr = mem_ptr(vq->mem, d->addr, d->len);
	if (!s->addr)
		return -EFAULT;
	s->gpa = d->addr;
	s->len = d->len;
	*total += d->len;
	if (write)
		c->nr_in++;
	else
		c->nr_out++;
	return 0;
}

int virtq__walk(struct virt_queue *vq, u16 head, struct virtq_chain *c)
{
	const struct vring_desc *table = vq->desc;
	u32 table_n = vq->size, count = 0, idx = head;
	bool in_indirect = false;
	struct vring_desc d;
	int ret;

	c->head = head;
	c->nr_out = c->nr_in = 0;
	c->out_len = c->in_len = 0;
	if (!table)
		return -EFAULT;

	for (;;) {
		if (idx >= table_n)
			return -ERANGE;
		/* More links than entries means the chain revisits one: a loop. */
		if (++count > table_n)
			return -ELOOP;
		/* One copy: the guest may rewrite the descriptor under us. */
		memcpy(&d, &table[idx], sizeof(d));

		if (d.flags & VRING_DESC_F_INDIRECT) {
			/* One table per request, named by the head alone (2.7.5.3.1). */
			if (!vq->indirect || in_indirect || idx != head || count != 1 ||
			    (d.flags & (VRING_DESC_F_NEXT | VRING_DESC_F_WRITE)))
				return -EINVAL;
			if (!d.len || d.len % sizeof(d) ||
			    d.len / sizeof(d) > VIRTQ_MAX_INDIRECT)
				return -E2BIG;
			table = mem_ptr(vq->mem, d.addr, d.len);
			if (!table)
				return -EFAULT;
			table_n = d.len / sizeof(d);
			in_indirect = true;
			idx = 0;
			count = 0;
			continue;
		}

		ret = add_seg(vq, c, &d);
		if (ret)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		idx = d.next;
	}
}

int virtq__pop(struct virt_queue *vq, struct virtq_chain *c)
{
	u16 avail_idx, pending, head;

	if (!vq->avail)
		return -EFAULT;
	/*
	 * Publish how far we got before looking for more, so a driver that
	 * adds a buffer right after our check sees it must notify us.
	 */
	if (vq->event_idx) {
		if (read16(&vq->used->ring[vq->size]) != vq->last_avail) {
			write16(&vq->used->ring[vq->size], vq->last_avail);
			if (vq->mem->dirty)
				vq->mem->dirty(vq->mem->ctx, vq->used_gpa + 4 + 8 * (u64)vq->size, 2);
		}
		mb();
	}
	avail_idx = read16(&vq->avail->idx);
	pending = avail_idx - vq->last_avail;
	if (!pending)
		return 0;
	if (pending > vq->size)		/* idx moved by more than a ring */
		return -EINVAL;
	rmb();	/* the ring entry after the index that covers it */
	head = read16(&vq->avail->ring[vq->last_avail & (vq->size - 1)]);
	if (head >= vq->size)
		return -ERANGE;
	vq->last_avail++;
	return virtq__walk(vq, head, c) ?: 1;
}

void virtq__push(struct virt_queue *vq, const struct virtq_chain *c, u32 len)
{
	struct vring_used_elem *e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
	const struct virtio_mem *mem = vq->mem;
	int i;

	/* Never claim more than the writable part holds. */
	if (len > c->in_len)
		len = c->in_len;
	__atomic_store_n(&e->id, (u32)c->head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, len, __ATOMIC_RELAXED);
	wmb();	/* the element before the index that exposes it */
	vq->used_idx++;
	write16(&vq->used->idx, vq->used_idx);

	/*
	 * The whole writable part, not the first len bytes: a device may
	 * write past what it reports (virtio-blk's status byte sits at the
	 * end, after data it did not write on an error), and a byte written
	 * but not reported is one a migration leaves stale.
	 */
	if (mem->dirty) {
		for (i = c->nr_out; i < c->nr_out + c->nr_in; i++)
			mem->dirty(mem->ctx, c->seg[i].gpa, c->seg[i].len);
		mem->dirty(mem->ctx, vq->used_gpa, 6 + 8 * (u64)vq->size);
	}
}

bool virtq__should_signal(struct virt_queue *vq)
{
	u16 old, event;
	bool valid;

	if (!vq->avail)
		return false;
	mb();	/* used->idx visible before we read the driver's hint */
	if (!vq->event_idx)
		return !(read16(&vq->avail->flags) & VRING_AVAIL_F_NO_INTERRUPT);

	old = vq->signalled_used;
	valid = vq->signalled_valid;
	vq->signalled_used = vq->used_idx;
	vq->signalled_valid = true;
	if (!valid)
		return true;
	event = read16(&vq->avail->ring[vq->size]);
	return vring_need_event(event, vq->used_idx, old);
}

void virtq__reset(struct virt_queue *vq)
{
	const struct virtio_mem *mem = vq->mem;
	u16 size = vq->size;

	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
	vq->size = size;
	vq->msix_vector = 0xffff;	/* VIRTIO_MSI_NO_VECTOR */
}

size_t virtq_chain__read(const struct virtq_chain *c, size_t off, void *buf, size_t len)
{
	size_t done = 0;
	int i;

	for (i = 0; i < c->nr_out && done < len; i++) {
		const struct virtq_seg *s = &c->seg[i];
		size_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = min(len - done, s->len - off);
		memcpy((u8 *)buf + done, (u8 *)s->addr + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t virtq_chain__write(const struct virtq_chain *c, size_t off, const void *buf, size_t len)
{
	size_t done = 0;
	int i;

	for (i = c->nr_out; i < c->nr_out + c->nr_in && done < len; i++) {
		const struct virtq_seg *s = &c->seg[i];
		size_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = min(len - done, s->len - off);
		memcpy((u8 *)s->addr + off, (const u8 *)buf + done, n);
		done += n;
		off = 0;
	}
	return done;
}
