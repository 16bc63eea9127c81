/*
 * virtio-blk through a polling driver: reads sectors 0-3, writes them back
 * as sectors 16-19 (the host compares the two ranges in its file), fills
 * sectors 8-9 with 'L', flushes, and checks that a read past the end fails.
 * With ro=1 on the command line the writes must be refused instead.
 * Prints one line per step; exits 0 only if every step went as expected.
 */
#include "virtio-drv.h"

struct blk_hdr { u32 type, ioprio; u64 sector; };

static struct vqueue vq;
static struct blk_hdr hdr;
static u8 data[2048] __attribute__((aligned(512)));
static u8 status;

static int rw(u32 type, u64 sector, u32 len)
{
	void *buf[3] = { &hdr, data, &status };
	u32 lens[3] = { sizeof(hdr), len, 1 };
	u16 flags[3] = { 0, type == 0 ? VF_WRITE : 0, VF_WRITE };
	s64 used;

	hdr.type = type;
	hdr.sector = sector;
	status = 0xee;
	if (!len) {			/* flush: header and status only */
		buf[1] = &status;
		lens[1] = 1;
		flags[1] = VF_WRITE;
		used = vq_request(&vq, 0, 2, buf, lens, flags);
	} else {
		used = vq_request(&vq, 0, 3, buf, lens, flags);
	}
	return used < 0 ? -1 : status;
}

int main(void)
{
	struct vdev d;
	struct vqueue *qs[1] = { &vq };
	int ro = rt_cmdline_u64("ro", 0), bad = 0, s;
	u64 cap;
	u8 st;

	if (vdev_find(&d, 2)) {
		puts("virtio-blk: no device");
		return 1;
	}
	st = vdev_init(&d, VERSION_1, qs, 1);
	cap = r32(d.devcfg) | (u64)r32(d.devcfg + 4) << 32;
	printf("virtio-blk: slot %d status %x capacity %lu\n", d.slot, st, cap);
	if (!(st & 4))
		return 1;

	s = rw(0, 0, 2048);
	printf("read 0-3: status %d\n", s);
	bad |= s != 0;
	s = rw(1, 16, 2048);
	printf("write 16-19: status %d\n", s);
	bad |= ro ? s != 1 : s != 0;
	memset(data, 'L', 1024);
	s = rw(1, 8, 1024);
	printf("write 8-9: status %d\n", s);
	bad |= ro ? s != 1 : s != 0;
	s = rw(4, 0, 0);
	printf("flush: status %d\n", s);
	bad |= s != 0;
	s = rw(0, cap, 512);
	printf("read past end: status %d\n", s);
	bad |= s != 1;
	puts(bad ? "virtio-blk: FAILED" : "virtio-blk: ok");
	return bad;
}
