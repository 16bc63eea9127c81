/*
 * A stream of virtio-blk writes for the migration test: write number i goes
 * to sector i and carries "LKVMSEQ" and i.  After each write the guest checks
 * that exactly one used entry came back, for the request it made, with an OK
 * status: a write lost across a migration shows as a timeout, a write done
 * twice as an extra used entry.  The host then checks every sector.
 *   writes=N (default 2000)
 *   stop=1   also read the disk's last sector after every 100th write, and
 *            end the stream there once it begins with "stop" (the host
 *            writes that when it has seen enough: a fixed N long enough to
 *            outlast a migration on a fast host takes minutes on a busy one)
 */
#include "virtio-drv.h"

struct blk_hdr { u32 type, ioprio; u64 sector; };

static struct vqueue vq;
static struct blk_hdr hdr;
static u8 data[512], rdata[512];
static u8 status;

/* Sector SECTOR begins with "stop"; -1 if the read failed. */
static int stop_asked(struct vqueue *q, u64 sector)
{
	void *buf[3] = { &hdr, rdata, &status };
	u32 lens[3] = { sizeof(hdr), 512, 1 };
	u16 flags[3] = { 0, VF_WRITE, VF_WRITE };

	hdr.type = 0;
	hdr.sector = sector;
	status = 0xee;
	if (vq_request(q, 0, 3, buf, lens, flags) < 0 || status != 0)
		return -1;
	return !memcmp(rdata, "stop", 4);
}

int main(void)
{
	struct vdev d;
	struct vqueue *qs[1] = { &vq };
	u64 n = rt_cmdline_u64("writes", 2000), stop = rt_cmdline_u64("stop", 0), i, cap;
	void *buf[3] = { &hdr, data, &status };
	u32 lens[3] = { sizeof(hdr), 512, 1 };
	u16 flags[3] = { 0, 0, VF_WRITE };

	if (vdev_find(&d, 2) || !(vdev_init(&d, VERSION_1, qs, 1) & 4)) {
		puts("virtio-blk-stream: no device");
		return 1;
	}
	cap = r32(d.devcfg) | (u64)r32(d.devcfg + 4) << 32;
	if (cap < n + !!stop) {
		printf("virtio-blk-stream: disk has %lu sectors, need %lu\n", cap, n + !!stop);
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
		if (i % 100 == 0) {
			printf("blk seq %lu\n", i);
			if (stop) {
				int r = stop_asked(&vq, cap - 1);

				if (r < 0) {
					printf("virtio-blk-stream: reading sector %lu failed (status %d)\n",
					       cap - 1, status);
					return 1;
				}
				if (r) {
					n = i + 1;
					break;
				}
			}
		}
	}
	printf("virtio-blk-stream: ok %lu writes\n", n);
	return 0;
}
