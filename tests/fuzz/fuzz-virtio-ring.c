/*
 * libFuzzer target for the virtqueue walker: the input becomes a small
 * guest memory holding a descriptor table, avail and used rings and
 * whatever indirect tables and buffers the fuzzer invents.  The walker must
 * never read or write outside that memory (ASan says if it does), never loop
 * forever, and its chains must always lie inside RAM and below the caps.
 *
 *   input[0]   log2 of the queue size (mod 7: 1 to 64 entries)
 *   input[1]   bit 0 event idx, bit 1 indirect descriptors
 *   input[2-3] starting last_avail (little endian)
 *   input[4..] guest memory from gpa 0
 *
 * The rings sit in the first 2 KiB (descriptors at 0, avail at 0x400, used
 * at 0x800), where short inputs reach them: they used to start at 0x4000,
 * past make check's -max_len of 4096, so every avail entry read 0 (only
 * head 0 was ever walked, and a head past the queue never came).
 */
#include <stdlib.h>
#include <string.h>

#include "lkvm/virtio.h"

#define MEM_SIZE	0x10000
#define PRIV_START	0xc000	/* a "private" page the walker must refuse */
#define PRIV_END	0xd000

static u8 *mem;

static void *fz_ptr(void *ctx, u64 gpa, u64 len)
{
	if (len > MEM_SIZE || gpa > MEM_SIZE - len)
		return NULL;
	if (gpa < PRIV_END && gpa + len > PRIV_START)
		return NULL;
	return mem + gpa;
}

static void fz_dirty(void *ctx, u64 gpa, u64 len)
{
	if (!fz_ptr(ctx, gpa, len))
		abort();
}

static const struct virtio_mem fz_mem = { .ptr = fz_ptr, .dirty = fz_dirty };

int LLVMFuzzerTestOneInput(const u8 *data, size_t size);

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	static struct virtq_chain c;
	struct virt_queue vq;
	u8 tmp[64];
	int i, ret, j;

	if (size < 4)
		return 0;
	if (!mem)
		mem = malloc(MEM_SIZE);
	memset(mem, 0, MEM_SIZE);
	memcpy(mem, data + 4, min(size - 4, (size_t)MEM_SIZE));

	memset(&vq, 0, sizeof(vq));
	vq.mem = &fz_mem;
	vq.size = 1u << (data[0] % 7);
	virtq__reset(&vq);
	vq.desc_gpa = 0;		/* 16 * 64 bytes at most */
	vq.avail_gpa = 0x400;		/* 6 + 2 * 64 */
	vq.used_gpa = 0x800;		/* 6 + 8 * 64 */
	vq.event_idx = data[1] & 1;
	vq.indirect = data[1] & 2;
	vq.last_avail = data[2] | data[3] << 8;
	vq.used_idx = vq.last_avail;
	if (virtq__map(&vq))
		abort();	/* this layout is always valid */

	for (i = 0; i < 64; i++) {
		ret = virtq__pop(&vq, &c);
		if (ret <= 0)
			break;
		if (c.nr_out + c.nr_in > VIRTQ_MAX_SEGS ||
		    c.out_len > VIRTQ_MAX_CHAIN_BYTES || c.in_len > VIRTQ_MAX_CHAIN_BYTES)
			abort();
		for (j = 0; j < c.nr_out + c.nr_in; j++)
			if (fz_ptr(NULL, c.seg[j].gpa, c.seg[j].len) != c.seg[j].addr)
				abort();
		virtq_chain__read(&c, 0, tmp, sizeof(tmp));
		virtq_chain__write(&c, c.in_len / 2, tmp, sizeof(tmp));
		virtq__push(&vq, &c, c.in_len);
		virtq__should_signal(&vq);
	}
	return 0;
}
