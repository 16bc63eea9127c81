/*
 * virtio-console input across a migration (section MIG_SEC_CONSOLE).  The
 * guest brings the console up without offering a receive buffer, and a
 * virtio-blk disk; prints "console-input: waiting" on the UART and reads
 * sector 0 of the disk every few ms until it starts with "go!".  The test
 * meanwhile types on the source's terminal (the bytes wait in the device),
 * migrates the guest and writes "go!" into the shared disk.  Only then the
 * guest offers receive buffers, and prints every line it reads as
 * "console-input: line 'TEXT'" until the line "end".
 * "nowait": no disk, read at once.
 * Exit status 0 once "end" came, 1 on any failure (said on the UART).
 */
#include "virtio-drv.h"

struct blk_hdr { u32 type, ioprio; u64 sector; };

static struct vqueue rxq, txq, bq;
static struct blk_hdr hdr;
static u8 sector[512] __attribute__((aligned(512)));
static u8 status;
static char in[4096];
static char line[4200];

/* 1 once sector 0 starts with "go!", 0 before, -1 if the read fails. */
static int go_written(void)
{
	void *buf[3] = { &hdr, sector, &status };
	u32 lens[3] = { sizeof(hdr), sizeof(sector), 1 };
	u16 flags[3] = { 0, VF_WRITE, VF_WRITE };

	hdr.type = 0;		/* VIRTIO_BLK_T_IN */
	hdr.sector = 0;
	status = 0xee;
	if (vq_request(&bq, 0, 3, buf, lens, flags) < 0 || status)
		return -1;
	return !memcmp(sector, "go!", 3);
}

int main(void)
{
	struct vdev con, blk;
	struct vqueue *cqs[2] = { &rxq, &txq }, *bqs[1] = { &bq };
	u64 n = 0, i;
	int r, waits;
	s64 got;

	if (vdev_find(&con, 3) || !(vdev_init(&con, VERSION_1, cqs, 2) & 4)) {
		puts("console-input: no virtio-console");
		return 1;
	}
	if (!rt_cmdline_has("nowait")) {
		if (vdev_find(&blk, 2) || !(vdev_init(&blk, VERSION_1, bqs, 1) & 4)) {
			puts("console-input: no virtio-blk");
			return 1;
		}
		puts("console-input: waiting");
		while ((r = go_written()) == 0)
			for (i = 0; i < 20000; i++)
				cpu_relax();
		if (r < 0) {
			puts("console-input: disk read failed");
			return 1;
		}
	}
	for (;;) {
		void *p = in;
		u32 len = sizeof(in);
		u16 fl = VF_WRITE;

		vq_post(&rxq, 1, &p, &len, &fl);
		vq_kick(&rxq, 0);
		for (waits = 0; (got = vq_wait(&rxq, 20000000)) < 0 && waits < 50; waits++)
			;
		if (got <= 0 || got > (s64)sizeof(in)) {
			printf("console-input: FAIL: no input (used length %d)\n", (int)got);
			return 1;
		}
		for (i = 0; i < (u64)got; i++) {
			if (in[i] != '\n') {
				if (n == sizeof(line) - 1) {
					puts("console-input: FAIL: line too long");
					return 1;
				}
				line[n++] = in[i];
				continue;
			}
			line[n] = 0;
			printf("console-input: line '%s'\n", line);
			if (n == 3 && !memcmp(line, "end", 3))
				return 0;
			n = 0;
		}
	}
}
