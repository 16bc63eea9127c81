/*
 * A stream of virtio-blk writes for the migration test: write number i goes
 * to sector i and carries "LKVMSEQ" and i.  After each write the guest checks
 * that exactly one used entry came back, for the request it made, with an OK
 * status: a write lost across a migration shows as a timeout, a write done
 * twice as an extra used entry.  The host then checks every sector.
 *   writes=N (default 2000)
 */
#include "virtio-drv.h"

struct blk_hdr { u32 type, ioprio; u64 sector; };

static struct vqueue vq;
static struct blk_hdr hdr;
static u8 data[512];
static u8 status;

int main(void)
{
	struct vdev d;
	struct vqueue *qs[1] = { &vq };
	u64 n = rt_cmdline_u64("writes", 2000), i, cap;
	void *buf[3] = { &hdr, data, &status };
	u32 lens[3] = { sizeof(hdr), 512, 1 };
	u16 flags[3] = { 0, 0, VF_WRITE };

	if (vdev_find(&d, 2) || !(vdev_init(&d, VERSION_1, qs, 1) & 4)) {
		puts("virtio-blk-stream: no device");
		return 1;
	}
	cap = r32(d.devcfg) | (u64)r32(d.devcfg + 4) << 32;
	if (cap < n) {
		printf("virtio-blk-stream: disk has %lu sectors, need %lu\n", cap, n);
		return 1;
	}
	memcpy(data, "LKVMSEQ", 8);
	for (i = 0; i < n; i++) {
		s64 len;

		*(u64 *)(data + 8) = i;
		hdr.type = 1;
		hdr.sector = i;
		status = 0xee;
		len = vq_request(&vq, 0, 3, buf, lens, flags);
		if (len < 0 || status != 0) {
			printf("virtio-blk-stream: write %lu: %s (status %d)\n", i,
			       len < 0 ? "never completed" : "failed", status);
			return 1;
		}
		barrier();
		if (*(volatile u16 *)&vq.used.idx != vq.last_used ||
		    vq.used.ring[(vq.last_used - 1) % VQ_N].id != 0) {
			printf("virtio-blk-stream: write %lu completed twice or wrongly\n", i);
			return 1;
		}
		if (i % 100 == 0)
			printf("blk seq %lu\n", i);
	}
	printf("virtio-blk-stream: ok %lu writes\n", n);
	return 0;
}
