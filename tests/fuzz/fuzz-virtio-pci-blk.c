/*
 * libFuzzer target for what a guest drives in a virtio-blk device: the
 * virtio-pci transport registers (common config, ISR, device config,
 * notify, MSI-X table, PBA), PCI config space (incl. the
 * VIRTIO_PCI_CAP_PCI_CFG window) and the block requests it puts on the
 * queue (virtio_blk__request on a small disk file).  No /dev/kvm: interrupt
 * ioctls fail on vm_fd -1, which the device must survive.
 *
 *   input[0]  bit 0: do the standard driver init first (features, queue 0 at
 *             desc 0x0 / avail 0x2000 / used 0x3000, DRIVER_OK) and kick it;
 *             bit 1: negotiate EVENT_IDX; bit 2: INDIRECT_DESC
 *   input[1]  queue size = 1 << (input[1] % 9)
 *   input[2]  number of register operations that follow (mod 32)
 *   ops       12 bytes each: kind (bar write/read, cfg write/read, kick,
 *             common-config write, migration), le16 offset, length, le64 value
 *   rest      guest memory from gpa 0 (up to 64 KiB)
 *
 * Two checks beyond the sanitizers:
 * - a migration op pauses the device, saves its state and the PCI bus's
 *   (config space, BARs, the 0xcf8 latch), replaces it with a fresh one
 *   (the destination's), loads both and kicks, as lkvm does before the
 *   guest's first instruction: a state the device and the guest produced
 *   must load, and save after load must give the same bytes;
 * - every guest byte the device changed must have been reported to the
 *   dirty hook, else a migration would leave it stale on the destination.
 *
 * With FUZZ_VIRTIO_PCI_SEEDS=DIR it writes one request of each kind (read,
 * write, flush, get-id, discard) on queue 0 into DIR and exits: seeds that
 * get past the transport at once (tests/integration/virtio-fuzz.sh).
 * It found a guest write past the device's queues (one 8-byte write that
 * selects a queue and enables it, virtio/pci.c common_write()); with the
 * two checks, virtio-blk's status byte missing from the dirty hook after an
 * IOERR read (virtio/ring.c virtq__push()) and a driver's feature draft
 * the destination refused (virtio/mig.c).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>

#include "lkvm/kvm.h"
#include "lkvm/mig-section.h"
#include "lkvm/pci.h"
#include "lkvm/virtio.h"
#include "lkvm/virtio-devices.h"
#include "lkvm/virtio-pci.h"

#define MEM_IMG		0x10000
#define RAM_SIZE	(1u << 20)
#define DISK_SECTORS	64

static struct kvm *vm;
static struct virtio_device vdev, vdev0;
static struct virtio_pci vpci, vpci0;
static struct virtio_blk_config config;
static struct virtio_blk_disk disk;
/* Guest RAM as the input left it, and the bytes the device said it wrote. */
static u8 *shadow, *dirty;

static void fz_dirty(void *ctx, u64 gpa, u64 len)
{
	if (gpa >= RAM_SIZE || len > RAM_SIZE - gpa)
		abort();	/* a range the device could not have written */
	memset(dirty + gpa, 1, len);
}

static int req(struct virtio_device *v, struct virtq_chain *c)
{
	return virtio_blk__request(&disk, c);
}

static int fz_notify(struct virtio_device *v, u16 q)
{
	return virtio__drain(v, q, req);
}

static const struct virtio_dev_ops fz_blk_ops = {
	.name = "blk", .device_id = 2, .nr_queues = 1, .queue_size = 256,
	.features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
		    (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_DISCARD) |
		    (1ULL << VIRTIO_BLK_F_WRITE_ZEROES),
	.config_size = sizeof(struct virtio_blk_config),
	.notify = fz_notify,
};

static void put16(u8 *p, u16 v) { memcpy(p, &v, 2); }
static void put32(u8 *p, u32 v) { memcpy(p, &v, 4); }
static void put64(u8 *p, u64 v) { memcpy(p, &v, 8); }

/*
 * One seed: driver init, queue of 8, no register ops, then guest memory
 * with one request: header at 0x4000, data at 0x5000 (len bytes, written
 * by the device for IN and GET_ID; none for FLUSH), status byte at 0x6000.
 */
static void write_seed(const char *dir, const char *name, u32 type, u32 len, bool dev_writes)
{
	static u8 buf[3 + 0x6001];
	u8 *mem = buf + 3;
	char path[512];
	FILE *f;

	memset(buf, 0, sizeof(buf));
	buf[0] = 1;			/* driver init first */
	buf[1] = 3;			/* queue size 8 */
	/* desc 0: header; 1: data; 2: status */
	put64(mem + 0, 0x4000), put32(mem + 8, 16), put16(mem + 12, 1), put16(mem + 14, len ? 1 : 2);
	put64(mem + 16, 0x5000), put32(mem + 24, len);
	put16(mem + 28, 1 | (dev_writes ? 2 : 0)), put16(mem + 30, 2);
	put64(mem + 32, 0x6000), put32(mem + 40, 1), put16(mem + 44, 2);
	put16(mem + 0x2002, 1);		/* avail idx 1, ring[0] = 0 */
	put32(mem + 0x4000, type);
	put64(mem + 0x4008, 2);		/* sector 2 */
	if (type == VIRTIO_BLK_T_DISCARD)
		put64(mem + 0x5000, 4), put32(mem + 0x5008, 8);	/* sectors 4..11 */
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, sizeof(buf), f) != sizeof(buf))
		exit(1);
	fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("FUZZ_VIRTIO_PCI_SEEDS");
	char path[64];
	int fd;

	if (seeds) {
		mkdir(seeds, 0700);
		write_seed(seeds, "read", VIRTIO_BLK_T_IN, 512, true);
		write_seed(seeds, "write", VIRTIO_BLK_T_OUT, 512, false);
		write_seed(seeds, "flush", VIRTIO_BLK_T_FLUSH, 0, false);
		write_seed(seeds, "getid", VIRTIO_BLK_T_GET_ID, 20, true);
		write_seed(seeds, "discard", VIRTIO_BLK_T_DISCARD, 16, false);
		exit(0);
	}

	vm = calloc(1, sizeof(*vm));
	vm->cfg.ram_size = RAM_SIZE;
	vm->cfg.nr_cpus = 1;
	vm->nr_cpus = 1;
	if (kvm__init_memory(vm))
		abort();
	snprintf(path, sizeof(path), "/tmp/lkvm-fuzz-disk-%d", getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, DISK_SECTORS * 512 + 100))
		abort();
	close(fd);
	if (virtio_blk__open_disk(&disk, strdup(path), false))
		abort();
	unlink(path);	/* the fd keeps it */
	config.capacity = disk.capacity;
	config.seg_max = VIRTQ_MAX_SEGS - 2;
	config.blk_size = 512;
	if (virtio__init_device(&vdev, vm, &fz_blk_ops, &config, false) ||
	    virtio_pci__init(vm, &vpci, &vdev, 0x010000))
		abort();
	vdev0 = vdev;
	vpci0 = vpci;
	shadow = malloc(RAM_SIZE);
	dirty = malloc(RAM_SIZE);
	if (!shadow || !dirty)
		abort();
	virtio__set_dirty_hook(fz_dirty);
	return 0;
}

/*
 * What a migration does to the device between the source's last and the
 * destination's first instruction (virtio/mig.c), in one process.
 */
static void migrate(void)
{
	struct mig_buf a = { 0 }, b = { 0 }, pa = { 0 }, pb = { 0 };

	virtio__pause_all();
	if (virtio__save_state(&vdev, &a) || pci__save_state(&pa))
		abort();
	vdev = vdev0;
	vpci = vpci0;
	/* The PCI bus's section first (id 0x38 < 0x40), as the destination does. */
	if (pci__load_state(pa.data, pa.len))
		abort();	/* config space a guest wrote refused */
	if (virtio__load_state(&vdev, a.data, a.len))
		abort();	/* the device's own state refused */
	if (virtio__save_state(&vdev, &b) || a.len != b.len || memcmp(a.data, b.data, a.len))
		abort();	/* the state did not survive the trip */
	if (pci__save_state(&pb) || pa.len != pb.len || memcmp(pa.data, pb.data, pa.len))
		abort();	/* nor did config space */
	virtio__kick_all();
	mig_buf__free(&a);
	mig_buf__free(&b);
	mig_buf__free(&pa);
	mig_buf__free(&pb);
}

static void bar(u32 off, u64 v, u32 len, bool write)
{
	u8 b[8];

	memcpy(b, &v, 8);
	virtio_pci__bar_rw(&vpci, off, b, len, write);
}

static void cfg(u32 off, u64 v, u32 len, bool write)
{
	u8 b[8];
	u32 addr = 0x80000000u | (u32)vpci.pdev.dev_nr << 11;

	memcpy(b, &v, 8);
	pci__config_rw(vm, addr, off, b, len, write);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	u8 *mem;
	size_t nops, i;
	u64 feat;

	if (size < 3)
		return 0;
	/* Back to the device as it was after init. */
	virtio__write_status(&vdev, 0);
	vdev = vdev0;
	vpci = vpci0;
	disk.readonly = data[0] & 8;
	mem = guest_flat_to_host(vm, 0, RAM_SIZE);
	memset(mem, 0, RAM_SIZE);
	nops = data[2] % 32;
	if (size < 3 + nops * 12)
		return 0;
	memcpy(mem, data + 3 + nops * 12, min(size - 3 - nops * 12, (size_t)MEM_IMG));
	memcpy(shadow, mem, RAM_SIZE);
	memset(dirty, 0, RAM_SIZE);

	if (data[0] & 1) {
		feat = vdev.host_features;
		if (!(data[0] & 2))
			feat &= ~(1ULL << VIRTIO_RING_F_EVENT_IDX);
		if (!(data[0] & 4))
			feat &= ~(1ULL << VIRTIO_RING_F_INDIRECT_DESC);
		bar(20, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1, true);
		bar(8, 0, 4, true);
		bar(12, (u32)feat, 4, true);
		bar(8, 1, 4, true);
		bar(12, feat >> 32, 4, true);
		bar(20, 0xb, 1, true);		/* FEATURES_OK */
		bar(22, 0, 2, true);		/* queue_select 0 */
		bar(24, 1u << (data[1] % 9), 2, true);
		bar(32, 0x0, 8, true);
		bar(40, 0x2000, 8, true);
		bar(48, 0x3000, 8, true);
		bar(26, 0, 2, true);		/* msix vector 0 */
		bar(28, 1, 2, true);		/* enable */
		bar(20, 0xf, 1, true);		/* DRIVER_OK */
		bar(VPCI_NOTIFY_OFF, 0, 2, true);
	}
	for (i = 0; i < nops; i++) {
		const u8 *op = data + 3 + i * 12;
		u32 off = op[1] | op[2] << 8, len = op[3] % 9;
		u64 v;

		memcpy(&v, op + 4, 8);
		switch (op[0] % 7) {
		case 0: bar(off % VPCI_BAR_SIZE, v, len, true); break;
		case 1: bar(off % VPCI_BAR_SIZE, v, len, false); break;
		case 2: cfg(off % 256, v, len % 5, true); break;
		case 3: cfg(off % 256, v, len % 5, false); break;
		case 4: bar(VPCI_NOTIFY_OFF, 0, 2, true); break;
		case 5: bar(off % 0x40, v, len, true); break;	/* common cfg, often */
		case 6: migrate(); break;
		}
	}
	for (i = 0; i < RAM_SIZE; i += 4096) {
		size_t j;

		if (!memcmp(mem + i, shadow + i, 4096))
			continue;
		for (j = i; j < i + 4096; j++)
			if (mem[j] != shadow[j] && !dirty[j])
				abort();	/* written, never reported */
	}
	return 0;
}
