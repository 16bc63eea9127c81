/*
 * What the VMM itself spends per virtio-blk request, measured without a
 * guest (guest code is ~1000x slow on software KVM and would drown it):
 * requests are put on a split ring in a malloc'd "guest memory" the way a
 * Linux driver lays them out (header, data pages through an indirect table,
 * status byte) and taken through the same code the I/O thread runs: ring
 * pop and descriptor walk, request execution with preadv/pwritev straight
 * into guest buffers, used-ring push and the interrupt decision.
 *
 * Beside each figure, plain pread()/pwrite() of the same size on the same
 * file: the difference is the virtio overhead.  Host CPU time is the
 * process's (CLOCK_PROCESS_CPUTIME_ID); throughput is wall time.
 *
 *   bench-virtio-blk [FILE]    (default: a 64 MiB file in $TMPDIR)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/virtio_blk.h>

#include "lkvm/virtio-devices.h"

#define MEM_SIZE	(8ULL << 20)
#define QSZ		256
#define DESC_GPA	0x0
#define AVAIL_GPA	0x4000
#define USED_GPA	0x5000
#define INDIR_GPA	0x8000		/* one indirect table per slot, 4 KiB apart */
#define HDR_GPA		0x100000
#define DATA_GPA	0x200000	/* up to 4 MiB of data pages */
#define FILE_SIZE	(64ULL << 20)

static u8 *mem;

static void *b_ptr(void *ctx, u64 gpa, u64 len)
{
	if (len > MEM_SIZE || gpa > MEM_SIZE - len)
		return NULL;
	return mem + gpa;
}

static const struct virtio_mem bmem = { .ptr = b_ptr };

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Lay out request i (slot i % QSZ) as Linux does: one indirect table. */
static void post(struct virt_queue *vq, u16 *avail_idx, u32 type, u64 sector, u32 bytes)
{
	u16 slot = *avail_idx % QSZ;
	struct vring_desc *d = (void *)(mem + DESC_GPA);
	struct vring_desc *t = (void *)(mem + INDIR_GPA + slot * 0x1000ULL);
	struct vring_avail *av = (void *)(mem + AVAIL_GPA);
	struct virtio_blk_outhdr *h = (void *)(mem + HDR_GPA + slot * 32ULL);
	u32 pages = bytes / 4096, i, n = 0;

	h->type = type;
	h->ioprio = 0;
	h->sector = sector;
	t[n++] = (struct vring_desc){ HDR_GPA + slot * 32ULL, sizeof(*h), VRING_DESC_F_NEXT, 1 };
	for (i = 0; i < pages; i++, n++)
		t[n] = (struct vring_desc){ DATA_GPA + i * 4096ULL, 4096,
			VRING_DESC_F_NEXT | (type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0), n + 1 };
	t[n++] = (struct vring_desc){ HDR_GPA + slot * 32ULL + 16, 1, VRING_DESC_F_WRITE, 0 };
	d[slot] = (struct vring_desc){ INDIR_GPA + slot * 0x1000ULL, n * 16, VRING_DESC_F_INDIRECT, 0 };
	av->ring[slot] = slot;
	__atomic_store_n(&av->idx, ++*avail_idx, __ATOMIC_RELEASE);
}

struct result {
	double cpu_us, wall_s;
	u64 bytes;
};

static int run_virtio(struct virtio_blk_disk *disk, u32 type, u32 bytes, int iters,
		      struct result *r)
{
	static struct virtq_chain c;
	struct virt_queue vq;
	u16 avail = 0;
	u64 sectors = FILE_SIZE / 512, per = bytes / 512, s = 0;
	double c0, w0;
	int i;

	memset(mem, 0, 0x200000);
	memset(&vq, 0, sizeof(vq));
	vq.mem = &bmem;
	vq.size = QSZ;
	virtq__reset(&vq);
	vq.desc_gpa = DESC_GPA;
	vq.avail_gpa = AVAIL_GPA;
	vq.used_gpa = USED_GPA;
	vq.enabled = vq.indirect = vq.event_idx = true;
	if (virtq__map(&vq))
		return -1;
	c0 = cpu_now();
	w0 = wall_now();
	for (i = 0; i < iters; i++) {
		post(&vq, &avail, type, s, bytes);
		s = (s + per) % (sectors - per);
		/* The I/O thread's work for one kick. */
		while (virtq__pop(&vq, &c) > 0) {
			int len = virtio_blk__request(disk, &c);

			if (len < 0 || mem[HDR_GPA + ((avail - 1) % QSZ) * 32ULL + 16] != 0)
				return -1;
			virtq__push(&vq, &c, len);
		}
		virtq__should_signal(&vq);
	}
	r->cpu_us = (cpu_now() - c0) / iters * 1e6;
	r->wall_s = wall_now() - w0;
	r->bytes = (u64)bytes * iters;
	return 0;
}

static int run_raw(int fd, bool write, u32 bytes, int iters, struct result *r)
{
	u8 *buf = aligned_alloc(4096, bytes);
	u64 off = 0;
	double c0, w0;
	int i;

	if (!buf)
		return -1;
	memset(buf, 0x5a, bytes);
	c0 = cpu_now();
	w0 = wall_now();
	for (i = 0; i < iters; i++) {
		ssize_t n = write ? pwrite(fd, buf, bytes, off) : pread(fd, buf, bytes, off);

		if (n != (ssize_t)bytes) {
			free(buf);
			return -1;
		}
		off = (off + bytes) % (FILE_SIZE - bytes);
	}
	r->cpu_us = (cpu_now() - c0) / iters * 1e6;
	r->wall_s = wall_now() - w0;
	r->bytes = (u64)bytes * iters;
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		u32 type, bytes;
		int iters;
	} cases[] = {
		{ "read 4 KiB", VIRTIO_BLK_T_IN, 4096, 50000 },
		{ "write 4 KiB", VIRTIO_BLK_T_OUT, 4096, 50000 },
		{ "read 512 KiB", VIRTIO_BLK_T_IN, 512 * 1024, 1000 },
		{ "write 512 KiB", VIRTIO_BLK_T_OUT, 512 * 1024, 1000 },
	};
	char tmp[] = "/tmp/lkvm-bench-blk-XXXXXX";
	const char *path = argc > 1 ? argv[1] : NULL;
	struct virtio_blk_disk disk;
	struct result v, raw;
	size_t i;
	int fd, ret = 1;

	mem = aligned_alloc(4096, MEM_SIZE);
	if (!mem)
		return 1;
	if (!path) {
		fd = mkstemp(tmp);
		if (fd < 0 || ftruncate(fd, FILE_SIZE) < 0) {
			perror("bench: temp file");
			return 1;
		}
		path = tmp;
	} else {
		fd = open(path, O_RDWR);
		if (fd < 0) {
			perror(path);
			return 1;
		}
	}
	if (virtio_blk__open_disk(&disk, path, false) < 0 || disk.capacity * 512 < FILE_SIZE) {
		fprintf(stderr, "bench: %s must be a writable file of at least 64 MiB\n", path);
		goto out;
	}
	/* Warm the page cache so both sides measure the same thing. */
	run_raw(fd, true, 1 << 20, FILE_SIZE >> 20, &raw);

	printf("virtio-blk VMM cost per request (host CPU, page-cached %s)\n", path);
	printf("%-14s %12s %12s %10s %12s %12s\n", "request", "virtio us", "raw us",
	       "overhead", "virtio MB/s", "raw MB/s");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (run_virtio(&disk, cases[i].type, cases[i].bytes, cases[i].iters, &v) ||
		    run_raw(fd, cases[i].type == VIRTIO_BLK_T_OUT, cases[i].bytes,
			    cases[i].iters, &raw)) {
			fprintf(stderr, "bench: %s failed\n", cases[i].name);
			goto out;
		}
		printf("%-14s %12.2f %12.2f %9.2fus %12.0f %12.0f\n", cases[i].name, v.cpu_us,
		       raw.cpu_us, v.cpu_us - raw.cpu_us, v.bytes / v.wall_s / 1e6,
		       raw.bytes / raw.wall_s / 1e6);
	}
	ret = 0;
out:
	virtio_blk__close_disk(&disk);
	close(fd);
	if (path == tmp)
		unlink(tmp);
	free(mem);
	return ret;
}
