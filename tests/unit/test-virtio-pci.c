/*
 * The PCI host bridge and the virtio-pci transport driven the way a guest
 * driver does, without a guest: config mechanism #1 through the 0xcf8/0xcfc
 * port handlers, capabilities walked from config space, the BAR accessed
 * through the registered MMIO handler, rings in a fake guest RAM.  Covers
 * enumeration, BAR sizing, feature negotiation, virtio-rng and virtio-blk
 * requests end to end, a ring in "private" memory (guest error, device
 * stopped, VMM alive, reset recovers) and ACCESS_PLATFORM in SEV mode,
 * and legacy INTx against a real in-kernel irqchip.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include <unistd.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_pci.h>
#include <libfdt.h>

#include "test.h"
#include "test-virtio-fake.h"
#include "lkvm/init.h"
#include "lkvm/mig-section.h"
#include "lkvm/migration.h"
#include "lkvm/pci.h"
#include "lkvm/term.h"
#include "lkvm/virtio-devices.h"
#include "lkvm/virtio-pci.h"

static struct kvm vm;
/* Pulls the archive member holding the MIG_SEC_VIRTIO section into the test. */
int (*volatile keep_mig)(struct virtio_device *, struct mig_buf *) = virtio__save_state;
static char disk_path[64];

/* A device's INTx condition, as the device itself sets it. */
static void test_irq(struct pci_device *pdev, int level)
{
	pci__set_irq(pdev, level);
}

/* ---- a tiny guest-side driver --------------------------------------------- */

static u32 cfg_read(int dev, u32 off, u32 len)
{
	u32 addr = 0x80000000u | dev << 11 | (off & 0xfc), v = 0;

	fake_io_rw(true, 0xcf8, &addr, 4, true);
	fake_io_rw(true, 0xcfc + (off & 3), &v, len, false);
	return v;
}

static void cfg_write(int dev, u32 off, u32 v, u32 len)
{
	u32 addr = 0x80000000u | dev << 11 | (off & 0xfc);

	fake_io_rw(true, 0xcf8, &addr, 4, true);
	fake_io_rw(true, 0xcfc + (off & 3), &v, len, true);
}

struct drv {
	int dev;
	u64 bar, common, notify, isr, devcfg;
	u32 notify_mult;
	u64 ring;		/* guest address of queue 0's rings */
	u16 avail_idx, used_seen;
};

static u64 mmio_r(u64 a, u32 len)
{
	u64 v = 0;

	fake_io_rw(false, a, &v, len, false);
	return v;
}

static void mmio_w(u64 a, u64 v, u32 len)
{
	fake_io_rw(false, a, &v, len, true);
}

static int find_virtio(u16 type, int after)
{
	int dev;

	for (dev = after + 1; dev < 32; dev++)
		if (cfg_read(dev, 0, 4) == (0x1af4u | (0x1040u + type) << 16))
			return dev;
	return -1;
}

static bool probe(struct drv *d, int dev)
{
	u8 cap;

	memset(d, 0, sizeof(*d));
	d->dev = dev;
	d->bar = cfg_read(dev, 0x10, 4) & ~0xfu;
	for (cap = cfg_read(dev, 0x34, 1); cap; cap = cfg_read(dev, cap + 1, 1)) {
		u64 off;

		if (cfg_read(dev, cap, 1) != PCI_CAP_ID_VNDR)
			continue;
		off = d->bar + cfg_read(dev, cap + 8, 4);
		switch (cfg_read(dev, cap + 3, 1)) {
		case VIRTIO_PCI_CAP_COMMON_CFG: d->common = off; break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			d->notify = off;
			d->notify_mult = cfg_read(dev, cap + 16, 4);
			break;
		case VIRTIO_PCI_CAP_ISR_CFG: d->isr = off; break;
		case VIRTIO_PCI_CAP_DEVICE_CFG: d->devcfg = off; break;
		}
	}
	return d->common && d->notify && d->isr;
}

#define QN 8

/* Bring the device to DRIVER_OK with queue 0 at ring (in fake RAM). */
static u8 driver_init(struct drv *d, u64 ring, u64 features)
{
	u64 c = d->common;

	mmio_w(c + 20, 0, 1);
	mmio_w(c + 20, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
	mmio_w(c + 8, 0, 4);
	mmio_w(c + 12, (u32)features, 4);
	mmio_w(c + 8, 1, 4);
	mmio_w(c + 12, features >> 32, 4);
	mmio_w(c + 20, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		       VIRTIO_CONFIG_S_FEATURES_OK, 1);
	if (!(mmio_r(c + 20, 1) & VIRTIO_CONFIG_S_FEATURES_OK))
		return mmio_r(c + 20, 1);
	d->ring = ring;
	d->avail_idx = d->used_seen = 0;
	memset(fake_ram + ring, 0, 0x3000);
	mmio_w(c + 22, 0, 2);
	mmio_w(c + 24, QN, 2);
	mmio_w(c + 32, ring, 8);
	mmio_w(c + 40, ring + 0x1000, 8);
	mmio_w(c + 48, ring + 0x2000, 8);
	mmio_w(c + 28, 1, 2);
	mmio_w(c + 20, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		       VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK, 1);
	return mmio_r(c + 20, 1);
}

static struct vring_used *used_ring(struct drv *d)
{
	return (void *)(fake_ram + d->ring + 0x2000);
}

/* Post a chain of (addr, len, writable) buffers at descriptor base, no kick. */
static void post(struct drv *d, int base, int n, const u64 *addr, const u32 *len, const bool *w)
{
	struct vring_desc *desc = (void *)(fake_ram + d->ring);
	struct vring_avail *avail = (void *)(fake_ram + d->ring + 0x1000);
	int i;

	for (i = 0; i < n; i++) {
		desc[base + i].addr = addr[i];
		desc[base + i].len = len[i];
		desc[base + i].flags = (w[i] ? VRING_DESC_F_WRITE : 0) |
				       (i + 1 < n ? VRING_DESC_F_NEXT : 0);
		desc[base + i].next = base + i + 1;
	}
	avail->ring[d->avail_idx % QN] = base;
	avail->idx = ++d->avail_idx;
}

/* Post and kick; returns the used length or -1 if nothing came back. */
static int submit(struct drv *d, int n, const u64 *addr, const u32 *len, const bool *w)
{
	struct vring_used *used = used_ring(d);

	post(d, 0, n, addr, len, w);
	mmio_w(d->notify, 0, 2);		/* queue 0's doorbell */
	if (used->idx == d->used_seen)
		return -1;
	d->used_seen++;
	return used->ring[(d->used_seen - 1) % QN].len;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_enumeration(void)
{
	u32 orig, size;
	int dev;

	/* Slot 0: the host bridge, class 06:00. */
	CHECK_EQ(cfg_read(0, 0, 4), 0x12378086);
	CHECK_EQ(cfg_read(0, 0x08, 4) >> 16, 0x0600);
	CHECK_EQ(cfg_read(31, 0, 4), 0xffffffff);	/* empty slot */
	{
		u32 addr = 0x80010000, v = 0;	/* bus 1 does not exist */

		fake_io_rw(true, 0xcf8, &addr, 4, true);
		fake_io_rw(true, 0xcfc, &v, 4, false);
		CHECK_EQ(v, 0xffffffff);
	}

	dev = find_virtio(VIRTIO_ID_RNG, 0);
	REQUIRE(dev > 0);
	CHECK_EQ(cfg_read(dev, 0x2e, 2), VIRTIO_ID_RNG);	/* subsystem id */
	CHECK_EQ(cfg_read(dev, 0x08, 1), 1);			/* revision 1: modern */
	orig = cfg_read(dev, 0x10, 4);
	CHECK(orig >= KVM_32BIT_GAP_START && orig < 0xfec00000u);
	/* BAR sizing: all ones in, size mask out, then the address back. */
	cfg_write(dev, 0x10, 0xffffffff, 4);
	size = ~(cfg_read(dev, 0x10, 4) & ~0xfu) + 1;
	CHECK_EQ(size, VPCI_BAR_SIZE);
	cfg_write(dev, 0x10, orig, 4);
	CHECK_EQ(cfg_read(dev, 0x10, 4), orig);
	cfg_write(dev, 0x10, 0xd0000000, 4);		/* a move is refused */
	CHECK_EQ(cfg_read(dev, 0x10, 4), orig);
	cfg_write(dev, 0x00, 0x12345678, 4);		/* ids are read-only */
	CHECK_EQ(cfg_read(dev, 0x00, 2), 0x1af4);
	CHECK(find_virtio(VIRTIO_ID_BLOCK, 0) > 0);
	CHECK(find_virtio(VIRTIO_ID_BLOCK, 0) != dev);
}

static void test_rng(void)
{
	struct drv d;
	u64 a = 0x10000;
	u32 l = 64;
	bool w = true;
	int dev = find_virtio(VIRTIO_ID_RNG, 0), i, nz = 0;
	u8 st;

	REQUIRE(dev > 0);
	REQUIRE(probe(&d, dev));
	/* A driver that refuses VERSION_1 is refused. */
	st = driver_init(&d, 0x20000, 0);
	CHECK(!(st & VIRTIO_CONFIG_S_FEATURES_OK));
	st = driver_init(&d, 0x20000, 1ULL << VIRTIO_F_VERSION_1);
	REQUIRE(st & VIRTIO_CONFIG_S_DRIVER_OK);
	memset(fake_ram + a, 0, 64);
	CHECK_EQ(submit(&d, 1, &a, &l, &w), 64);
	for (i = 0; i < 64; i++)
		nz += fake_ram[a + i] != 0;
	CHECK(nz > 32);
	/* INTx path (MSI-X off): the ISR says "queue", and reading clears it. */
	CHECK_EQ(mmio_r(d.isr, 1), 1);
	CHECK_EQ(mmio_r(d.isr, 1), 0);

	/*
	 * A driver may shrink a queue, never grow it past what the device
	 * offers (256 here) or set 0: such a size was kept, and the guest
	 * could then never be migrated (the destination refuses it).
	 */
	mmio_w(d.common + 20, 0, 1);			/* reset */
	mmio_w(d.common + 22, 0, 2);
	CHECK_EQ(mmio_r(d.common + 24, 2), 256);
	mmio_w(d.common + 24, 1024, 2);
	CHECK_EQ(mmio_r(d.common + 24, 2), 256);
	CHECK(mmio_r(d.common + 20, 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	mmio_w(d.common + 20, 0, 1);			/* reset clears it */
	mmio_w(d.common + 24, 0, 2);
	CHECK_EQ(mmio_r(d.common + 24, 2), 256);
	mmio_w(d.common + 20, 0, 1);
	mmio_w(d.common + 24, 64, 2);			/* shrinking is fine */
	CHECK_EQ(mmio_r(d.common + 24, 2), 64);
	CHECK(!(mmio_r(d.common + 20, 1) & VIRTIO_CONFIG_S_NEEDS_RESET));

	/*
	 * One 8-byte write from offset 22: queue_select 0x1d00 (no such queue),
	 * size 8, vector 0, enable 1.  The enable used to go to vqs[0x1d00],
	 * far past the device (UBSan: index out of bounds); now the fields
	 * belong to the queue selected, which does not exist: nothing happens.
	 * The same write selecting queue 0 sets and enables queue 0.
	 */
	mmio_w(d.common + 20, 0, 1);
	mmio_w(d.common + 22, 0x1d00 | 8ull << 16 | 1ull << 48, 8);
	CHECK_EQ(mmio_r(d.common + 22, 2), 0x1d00);
	CHECK_EQ(mmio_r(d.common + 24, 2), 0);		/* no such queue: reads 0 */
	mmio_w(d.common + 22, 0, 2);
	CHECK_EQ(mmio_r(d.common + 28, 2), 0);
	CHECK_EQ(mmio_r(d.common + 24, 2), 256);
	mmio_w(d.common + 32, 0x20000, 8);
	mmio_w(d.common + 40, 0x21000, 8);
	mmio_w(d.common + 48, 0x22000, 8);
	mmio_w(d.common + 22, 0 | 8ull << 16 | 1ull << 48, 8);
	CHECK_EQ(mmio_r(d.common + 24, 2), 8);
	CHECK_EQ(mmio_r(d.common + 28, 2), 1);
	mmio_w(d.common + 20, 0, 1);
}

static void test_blk(void)
{
	struct drv d;
	struct virtio_blk_outhdr hdr = { .type = VIRTIO_BLK_T_IN, .sector = 2 };
	u64 a[3] = { 0x11000, 0x12000, 0x13000 };
	u32 l[3] = { sizeof(hdr), 512, 1 };
	bool w[3] = { false, true, true };
	u8 back[512];
	int dev = find_virtio(VIRTIO_ID_BLOCK, 0), fd;

	REQUIRE(dev > 0);
	REQUIRE(probe(&d, dev));
	CHECK(d.devcfg);
	CHECK_EQ(mmio_r(d.devcfg, 8), 16);		/* capacity in sectors */
	mmio_w(d.devcfg, 1ULL << 40, 8);		/* read-only: the write is ignored */
	CHECK_EQ(mmio_r(d.devcfg, 8), 16);
	REQUIRE(driver_init(&d, 0x30000, 1ULL << VIRTIO_F_VERSION_1) & VIRTIO_CONFIG_S_DRIVER_OK);
	memcpy(fake_ram + a[0], &hdr, sizeof(hdr));
	CHECK_EQ(submit(&d, 3, a, l, w), 513);
	CHECK_EQ(fake_ram[a[2]], VIRTIO_BLK_S_OK);
	fd = open(disk_path, O_RDONLY);
	REQUIRE(fd >= 0);
	CHECK_EQ(pread(fd, back, 512, 1024), 512);
	close(fd);
	CHECK(!memcmp(back, fake_ram + a[1], 512));

	/* Write sector 5 and find it in the file. */
	hdr.type = VIRTIO_BLK_T_OUT;
	hdr.sector = 5;
	memcpy(fake_ram + a[0], &hdr, sizeof(hdr));
	memset(fake_ram + a[1], 0x5a, 512);
	w[1] = false;
	CHECK_EQ(submit(&d, 3, a, l, w), 1);
	CHECK_EQ(fake_ram[a[2]], VIRTIO_BLK_S_OK);
	fd = open(disk_path, O_RDONLY);
	REQUIRE(fd >= 0);
	CHECK_EQ(pread(fd, back, 512, 5 * 512), 512);
	close(fd);
	CHECK_EQ(back[0], 0x5a);
	CHECK_EQ(back[511], 0x5a);
}

static void test_private_ring(void)
{
	struct drv d;
	u64 a = 0x10000;
	u32 l = 16;
	bool w = true;
	int dev = find_virtio(VIRTIO_ID_RNG, 0);
	u8 st;

	REQUIRE(dev > 0);
	REQUIRE(probe(&d, dev));
	/* The ring's used page is "private": the device must refuse it. */
	fake_priv_start = 0x42000;
	fake_priv_end = 0x43000;
	st = driver_init(&d, 0x40000, 1ULL << VIRTIO_F_VERSION_1);
	CHECK(st & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK_EQ(submit(&d, 1, &a, &l, &w), -1);		/* nothing processed */

	/* A buffer in private memory: same verdict, after the ring is fine. */
	st = driver_init(&d, 0x20000, 1ULL << VIRTIO_F_VERSION_1);
	CHECK(!(st & VIRTIO_CONFIG_S_NEEDS_RESET));
	a = 0x42800;
	CHECK_EQ(submit(&d, 1, &a, &l, &w), -1);
	CHECK(mmio_r(d.common + 20, 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	fake_priv_start = fake_priv_end = 0;

	/* Reset brings it back. */
	a = 0x10000;
	st = driver_init(&d, 0x20000, 1ULL << VIRTIO_F_VERSION_1);
	CHECK_EQ(st & VIRTIO_CONFIG_S_NEEDS_RESET, 0);
	CHECK_EQ(submit(&d, 1, &a, &l, &w), 16);
}

static void test_sev_access_platform(void)
{
	struct drv d;
	int dev, ret;
	u64 f;

	kvm__exit_all(&vm);
	fake_nr_io = 0;
	vm.cfg.sev_mode = SEV_MODE_EMULATED;
	ret = kvm__init_all(&vm);
	REQUIRE(ret == 0);
	dev = find_virtio(VIRTIO_ID_RNG, 0);
	REQUIRE(dev > 0);
	REQUIRE(probe(&d, dev));
	mmio_w(d.common + 0, 1, 4);
	f = mmio_r(d.common + 4, 4);
	CHECK(f & (1u << (VIRTIO_F_ACCESS_PLATFORM - 32)));
	/* Without ACCESS_PLATFORM the driver would use private memory: refused. */
	CHECK(!(driver_init(&d, 0x20000, 1ULL << VIRTIO_F_VERSION_1) &
		VIRTIO_CONFIG_S_FEATURES_OK));
	CHECK(driver_init(&d, 0x20000, (1ULL << VIRTIO_F_VERSION_1) |
			  (1ULL << VIRTIO_F_ACCESS_PLATFORM)) & VIRTIO_CONFIG_S_DRIVER_OK);
}

static struct virtio_device *vdev_of_type(u32 type)
{
	struct virtio_device *v;

	for (v = virtio__first(); v; v = v->next)
		if (v->ops->device_id == type)
			return v;
	return NULL;
}

/*
 * Migration in the middle of a write stream: one write done, one offered
 * but not yet taken when the devices pause.  After save, a reset (the
 * destination's fresh device) and load, the kick finishes the second write
 * exactly once and the first is not redone.
 */
static void test_migration_inflight(void)
{
	struct drv d;
	struct virtio_blk_outhdr hdr = { .type = VIRTIO_BLK_T_OUT, .sector = 3 };
	struct virtio_blk_outhdr hdr2 = { .type = VIRTIO_BLK_T_OUT, .sector = 4 };
	u64 a[3] = { 0x11000, 0x12000, 0x13000 }, b[3] = { 0x14000, 0x15000, 0x16000 };
	u32 l[3] = { sizeof(hdr), 512, 1 };
	bool w[3] = { false, false, true };
	struct mig_buf state = { 0 };
	struct mig_section *sec = mig_section__find(MIG_SEC_VIRTIO);
	struct virtio_device *vdev = vdev_of_type(VIRTIO_ID_BLOCK);
	int dev = find_virtio(VIRTIO_ID_BLOCK, 0), fd, r;
	u8 back[512];

	REQUIRE(sec && vdev && dev > 0);
	CHECK_EQ(sec->count(&vm), virtio__count());
	REQUIRE(probe(&d, dev));
	REQUIRE(driver_init(&d, 0x30000, 1ULL << VIRTIO_F_VERSION_1) & VIRTIO_CONFIG_S_DRIVER_OK);
	memcpy(fake_ram + a[0], &hdr, sizeof(hdr));
	memset(fake_ram + a[1], 0x11, 512);
	CHECK_EQ(submit(&d, 3, a, l, w), 1);

	/* The second write is offered; its doorbell never reaches the device. */
	memcpy(fake_ram + b[0], &hdr2, sizeof(hdr2));
	memset(fake_ram + b[1], 0x22, 512);
	post(&d, 4, 3, b, l, w);
	virtio__pause_all();
	r = sec->save(&vm, vdev->index, &state);
	REQUIRE(r == 0);
	CHECK_EQ(used_ring(&d)->idx, 1);

	/* "Destination": a device fresh from reset, then the saved state. */
	mmio_w(d.common + 20, 0, 1);
	CHECK_EQ(mmio_r(d.common + 20, 1), 0);
	r = sec->load(&vm, vdev->index, state.data, state.len);
	REQUIRE(r == 0);
	CHECK(mmio_r(d.common + 20, 1) & VIRTIO_CONFIG_S_DRIVER_OK);
	virtio__resume_all();			/* kicks every queue once */
	CHECK_EQ(used_ring(&d)->idx, 2);
	CHECK_EQ(used_ring(&d)->ring[1].id, 4);
	CHECK_EQ(fake_ram[b[2]], VIRTIO_BLK_S_OK);
	virtio__kick_all();			/* nothing left: nothing redone */
	CHECK_EQ(used_ring(&d)->idx, 2);
	fd = open(disk_path, O_RDONLY);
	REQUIRE(fd >= 0);
	CHECK_EQ(pread(fd, back, 512, 3 * 512), 512);
	CHECK_EQ(back[0], 0x11);
	CHECK_EQ(pread(fd, back, 512, 4 * 512), 512);
	CHECK_EQ(back[511], 0x22);
	close(fd);
	mig_buf__free(&state);
}

/* Every guest byte the devices wrote, as the dirty hook heard it. */
static u8 *dirty_map;

static void record_dirty(void *ctx, u64 gpa, u64 len)
{
	if (gpa < FAKE_RAM_SIZE && len <= FAKE_RAM_SIZE - gpa)
		memset(dirty_map + gpa, 1, len);
}

/*
 * Migration learns what a device wrote into guest RAM only from the dirty
 * hook (KVM's log does not see userspace writes).  virtio-blk puts its
 * status byte at the end of the writable part; it was reported only when
 * the data before it was written too, so a failed read (IOERR) or a
 * get-id into a larger buffer left the status out: after a migration
 * the guest read a stale status for that request.
 */
static void test_dirty_status_byte(void)
{
	struct drv d;
	struct virtio_blk_outhdr hdr = { .type = VIRTIO_BLK_T_IN, .sector = 16 };
	u64 a[3] = { 0x11000, 0x12000, 0x13000 };
	u32 l[3] = { sizeof(hdr), 512, 1 };
	bool w[3] = { false, true, true };
	int dev = find_virtio(VIRTIO_ID_BLOCK, 0);

	REQUIRE(dev > 0);
	REQUIRE(probe(&d, dev));
	dirty_map = calloc(1, FAKE_RAM_SIZE);
	REQUIRE(dirty_map);
	REQUIRE(driver_init(&d, 0x30000, 1ULL << VIRTIO_F_VERSION_1) & VIRTIO_CONFIG_S_DRIVER_OK);
	virtio__set_dirty_hook(record_dirty);

	/* Sector 16 of a 16-sector disk: one past the end. */
	memcpy(fake_ram + a[0], &hdr, sizeof(hdr));
	fake_ram[a[2]] = 0xee;
	CHECK_EQ(submit(&d, 3, a, l, w), 1);
	CHECK_EQ(fake_ram[a[2]], VIRTIO_BLK_S_IOERR);
	CHECK(dirty_map[a[2]]);
	CHECK(dirty_map[d.ring + 0x2000 + 2]);		/* used->idx */

	/* get-id into 64 bytes: 20 of id, the status at byte 64. */
	memset(dirty_map, 0, FAKE_RAM_SIZE);
	hdr.type = VIRTIO_BLK_T_GET_ID;
	hdr.sector = 0;
	memcpy(fake_ram + a[0], &hdr, sizeof(hdr));
	l[1] = 64;
	fake_ram[a[2]] = 0xee;
	CHECK_EQ(submit(&d, 3, a, l, w), 21);
	CHECK_EQ(fake_ram[a[2]], VIRTIO_BLK_S_OK);
	CHECK(dirty_map[a[1]] && dirty_map[a[1] + 19]);
	CHECK(dirty_map[a[2]]);

	/* The status inside the data buffer's last byte, after a failed read. */
	memset(dirty_map, 0, FAKE_RAM_SIZE);
	hdr.type = VIRTIO_BLK_T_IN;
	hdr.sector = 100;
	memcpy(fake_ram + a[0], &hdr, sizeof(hdr));
	CHECK_EQ(submit(&d, 2, a, (u32[]){ sizeof(hdr), 513 }, w), 1);
	CHECK_EQ(fake_ram[a[1] + 512], VIRTIO_BLK_S_IOERR);
	CHECK(dirty_map[a[1] + 512]);

	virtio__set_dirty_hook(NULL);
	free(dirty_map);
	dirty_map = NULL;
}

/*
 * Before FEATURES_OK the driver may write any feature bits (the device
 * refuses them at FEATURES_OK).  A guest that left bits the device does
 * not offer there could not be migrated: the destination refused the
 * state as "features never offered".  Found by fuzz-virtio-pci-blk.
 */
static void test_migration_unoffered_features(void)
{
	struct mig_section *sec = mig_section__find(MIG_SEC_VIRTIO);
	struct virtio_device *vdev = vdev_of_type(VIRTIO_ID_RNG);
	struct mig_buf state = { 0 };
	struct drv d;
	int dev = find_virtio(VIRTIO_ID_RNG, 0);

	REQUIRE(sec && vdev && dev > 0);
	REQUIRE(probe(&d, dev));
	mmio_w(d.common + 20, 0, 1);
	mmio_w(d.common + 20, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER, 1);
	mmio_w(d.common + 8, 1, 4);
	mmio_w(d.common + 12, 0x80000001, 4);		/* bit 63: never offered */
	REQUIRE(sec->save(&vm, vdev->index, &state) == 0);
	mmio_w(d.common + 20, 0, 1);			/* the destination's fresh device */
	CHECK_EQ(sec->load(&vm, vdev->index, state.data, state.len), 0);
	CHECK_EQ(vdev->guest_features >> 32, 0x80000001);
	/* Asking for them is still refused, there as here. */
	mmio_w(d.common + 20, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		       VIRTIO_CONFIG_S_FEATURES_OK, 1);
	CHECK(!(mmio_r(d.common + 20, 1) & VIRTIO_CONFIG_S_FEATURES_OK));
	mmio_w(d.common + 20, 0, 1);
	mig_buf__free(&state);
}

/*
 * An SEV guest can make a live queue's ring page private after enabling
 * the queue and then never kick it.  The source's device has not noticed
 * (no kick, no map), the destination refused the state (a live queue
 * outside shared RAM): the guest had made itself impossible to migrate.
 * The save now finds it, as the next kick would: the device goes to
 * NEEDS_RESET and the destination takes that.
 */
static void test_migration_ring_made_private(void)
{
	struct mig_section *sec = mig_section__find(MIG_SEC_VIRTIO);
	struct virtio_device *vdev = vdev_of_type(VIRTIO_ID_RNG);
	struct mig_buf state = { 0 };
	struct drv d;
	int dev = find_virtio(VIRTIO_ID_RNG, 0);

	REQUIRE(sec && vdev && dev > 0);
	REQUIRE(probe(&d, dev));
	REQUIRE(driver_init(&d, 0x20000, 1ULL << VIRTIO_F_VERSION_1) & VIRTIO_CONFIG_S_DRIVER_OK);
	fake_priv_start = 0x22000;		/* the used ring */
	fake_priv_end = 0x23000;
	virtio__pause_all();
	REQUIRE(sec->save(&vm, vdev->index, &state) == 0);
	CHECK(vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	mmio_w(d.common + 20, 0, 1);			/* the destination's fresh device */
	CHECK_EQ(sec->load(&vm, vdev->index, state.data, state.len), 0);
	CHECK(mmio_r(d.common + 20, 1) & VIRTIO_CONFIG_S_NEEDS_RESET);
	virtio__resume_all();
	fake_priv_start = fake_priv_end = 0;
	mmio_w(d.common + 20, 0, 1);
	mig_buf__free(&state);
}

/* Hostile state blobs are refused and leave the device as it was. */
static void test_migration_hostile(void)
{
	struct mig_section *sec = mig_section__find(MIG_SEC_VIRTIO);
	struct virtio_device *vdev = vdev_of_type(VIRTIO_ID_RNG);
	struct virtio_device *blk = vdev_of_type(VIRTIO_ID_BLOCK);
	struct mig_buf state = { 0 };
	u8 *copy, status;
	size_t i;
	int r;

	REQUIRE(sec && vdev && blk);
	r = sec->save(&vm, vdev->index, &state);
	REQUIRE(r == 0);
	status = vdev->status;
	copy = malloc(state.len);
	REQUIRE(copy);

	CHECK(sec->load(&vm, vdev->index, state.data, state.len / 2) < 0);	/* truncated */
	CHECK(sec->load(&vm, blk->index, state.data, state.len) < 0);		/* wrong device */
	CHECK(sec->load(&vm, 99, state.data, state.len) < 0);			/* no such device */
	/* Every single-byte corruption is either refused or yields a sane device. */
	for (i = 0; i < state.len; i++) {
		memcpy(copy, state.data, state.len);
		copy[i] ^= 0xa5;
		if (sec->load(&vm, vdev->index, copy, state.len) == 0)
			CHECK(vdev->vqs[0].size <= vdev->ops->queue_size && vdev->vqs[0].size);
	}
	/* A queue pointing outside guest RAM while live is refused. */
	r = sec->load(&vm, vdev->index, state.data, state.len);
	CHECK_EQ(r, 0);
	CHECK_EQ(vdev->status, status);
	{
		struct virt_queue saved = vdev->vqs[0];
		struct mig_buf bad = { 0 };

		vdev->vqs[0].used_gpa = FAKE_RAM_SIZE + 0x1000;
		r = sec->save(&vm, vdev->index, &bad);
		REQUIRE(r == 0);
		vdev->vqs[0] = saved;
		if (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK)
			CHECK(sec->load(&vm, vdev->index, bad.data, bad.len) < 0);
		CHECK_EQ(vdev->vqs[0].used_gpa, saved.used_gpa);
		mig_buf__free(&bad);
	}
	free(copy);
	mig_buf__free(&state);
}

/* Offset of the virtio PCI_CFG access capability in dev's config space. */
static u32 pci_cfg_cap(int dev)
{
	u32 cap;

	for (cap = cfg_read(dev, 0x34, 1); cap; cap = cfg_read(dev, cap + 1, 1))
		if (cfg_read(dev, cap, 1) == PCI_CAP_ID_VNDR &&
		    cfg_read(dev, cap + 3, 1) == VIRTIO_PCI_CAP_PCI_CFG)
			return cap;
	return 0;
}

static u32 latch_rw(u32 v, bool is_write)
{
	fake_io_rw(true, 0xcf8, &v, 4, is_write);
	return v;
}

/* What a fresh destination has: every byte of the previous test's set-up undone. */
static void pci_fresh(int dev, u32 cap, u32 bar, u8 line)
{
	cfg_write(dev, PCI_INTERRUPT_LINE, line, 1);
	cfg_write(dev, 0x0c, 0, 2);
	cfg_write(0, PCI_INTERRUPT_LINE, 0, 1);
	cfg_write(dev, 0x10, bar, 4);
	cfg_write(dev, cap + 4, 0, 1);
	cfg_write(dev, cap + 8, 0, 4);
	cfg_write(dev, cap + 12, 0, 4);
	latch_rw(0, true);
}

/*
 * The guest-writable PCI state a migration used to drop (section
 * MIG_SEC_PCI): the 0xcf8 latch of a vCPU stopped between its OUT and the
 * 0xcfc access, INTERRUPT_LINE, cache line / latency, a BAR in the middle
 * of sizing, and virtio's PCI_CFG window.  Saved, undone (a fresh
 * destination), loaded: the guest reads back what it wrote.
 */
static void test_migration_pci_config(void)
{
	struct mig_section *sec = mig_section__find(MIG_SEC_PCI);
	struct mig_buf state = { 0 };
	int dev = find_virtio(VIRTIO_ID_RNG, 0);
	u32 cap = pci_cfg_cap(dev), bar, v = 0;
	u8 line;

	REQUIRE(sec);
	REQUIRE(dev > 0 && cap);
	CHECK_EQ(sec->feature, MIG_F_PCI_STATE);
	CHECK(mig_section__features() & MIG_F_PCI_STATE);
	bar = cfg_read(dev, 0x10, 4);
	line = cfg_read(dev, PCI_INTERRUPT_LINE, 1);
	cfg_write(dev, PCI_INTERRUPT_LINE, 0x5a, 1);
	cfg_write(dev, 0x0c, 0x2010, 2);		/* cache line 0x10, latency 0x20 */
	cfg_write(0, PCI_INTERRUPT_LINE, 0x77, 1);	/* the host bridge's too */
	cfg_write(dev, cap + 4, 0, 1);			/* window: BAR 0 ... */
	cfg_write(dev, cap + 8, 18, 4);			/* ... num_queues ... */
	cfg_write(dev, cap + 12, 2, 4);			/* ... 2 bytes */
	cfg_write(dev, 0x10, 0xffffffff, 4);		/* sizing BAR0 */
	latch_rw(0x80000000u | dev << 11, true);	/* OUT 0xcf8 done, IN 0xcfc next */
	REQUIRE(sec->save(&vm, 0, &state) == 0);

	pci_fresh(dev, cap, bar, line);
	CHECK_EQ(latch_rw(0, false), 0);
	REQUIRE(sec->load(&vm, 0, state.data, state.len) == 0);
	CHECK_EQ(latch_rw(0, false), 0x80000000u | dev << 11);
	fake_io_rw(true, 0xcfc, &v, 4, false);		/* the vCPU's IN, unchanged latch */
	CHECK_EQ(v, 0x1af4u | (0x1040u + VIRTIO_ID_RNG) << 16);
	CHECK_EQ(cfg_read(dev, 0x10, 4), (u32)~(VPCI_BAR_SIZE - 1));	/* the size mask */
	cfg_write(dev, 0x10, bar, 4);
	CHECK_EQ(cfg_read(dev, 0x10, 4), bar);
	CHECK_EQ(cfg_read(dev, PCI_INTERRUPT_LINE, 1), 0x5a);
	CHECK_EQ(cfg_read(dev, 0x0c, 2), 0x2010);
	CHECK_EQ(cfg_read(0, PCI_INTERRUPT_LINE, 1), 0x77);
	CHECK_EQ(cfg_read(dev, cap + 8, 4), 18);
	CHECK_EQ(cfg_read(dev, cap + 12, 4), 2);
	CHECK_EQ(cfg_read(dev, cap + 16, 2), 1);	/* through the window: rng's 1 queue */
	CHECK_EQ(cfg_read(dev, 0, 2), 0x1af4);		/* read-only bytes as they were */

	/* A load of the same state again changes nothing: idempotent. */
	REQUIRE(sec->load(&vm, 0, state.data, state.len) == 0);
	CHECK_EQ(latch_rw(0, false), 0x80000000u | dev << 11);
	pci_fresh(dev, cap, bar, line);
	mig_buf__free(&state);
}

/* Set a u32 property of a PCI-state blob copy (in place: same size). */
static void *pci_blob_with(const struct mig_buf *b, const char *node, const char *prop,
			   u32 v)
{
	void *c = malloc(b->len);
	int off;

	memcpy(c, b->data, b->len);
	off = node ? fdt_path_offset(c, node) : 0;
	if (off < 0 || fdt_setprop_inplace_u32(c, off, prop, v)) {
		free(c);
		return NULL;
	}
	return c;
}

/*
 * Hostile PCI state: a latch no guest write leaves, a BAR neither at its
 * address nor a sizing probe, bits a guest cannot set, another device in
 * the slot, a truncated blob, any single-byte flip: refused, and nothing
 * changes; whatever is accepted is within what a guest could have written.
 */
static void test_migration_pci_hostile(void)
{
	struct mig_section *sec = mig_section__find(MIG_SEC_PCI);
	struct mig_buf state = { 0 };
	int dev = find_virtio(VIRTIO_ID_RNG, 0), i, refused = 0, err_fd, null_fd;
	u32 bar, cap = pci_cfg_cap(dev);
	u8 before[PCI_CFG_SIZE], bridge[PCI_CFG_SIZE];
	char node[16];
	struct { const char *node, *prop; u32 v; } bad[] = {
		{ NULL, "config-address", 0x81000000u },	/* bit 24: never kept */
		{ NULL, "config-address", 0x80000001u },	/* byte offset bits */
		{ NULL, "version", 2 },
		{ node, "id", 0x12345678 },
		{ node, "version", 0 },
	};

	REQUIRE(sec && dev > 0 && cap);
	snprintf(node, sizeof(node), "/dev@%d", dev);
	bar = cfg_read(dev, 0x10, 4);
	latch_rw(0x80000000u | dev << 11 | 0x3c, true);
	REQUIRE(sec->save(&vm, 0, &state) == 0);
	memcpy(before, pci__device(dev)->cfg, PCI_CFG_SIZE);
	memcpy(bridge, pci__device(0)->cfg, PCI_CFG_SIZE);

	for (i = 0; i < (int)ARRAY_SIZE(bad); i++) {
		void *c = pci_blob_with(&state, bad[i].node, bad[i].prop, bad[i].v);

		REQUIRE(c);
		CHECK(sec->load(&vm, 0, c, state.len) < 0);
		free(c);
	}
	/* BAR0 moved, BAR1 (unused) set, config bits outside the writable ones. */
	{
		u8 *c = malloc(state.len);
		int off;
		u32 *bars;
		u8 *cfg;
		int len;

		memcpy(c, state.data, state.len);
		off = fdt_path_offset(c, node);
		REQUIRE(off >= 0);
		bars = fdt_getprop_w(c, off, "bars", &len);
		cfg = fdt_getprop_w(c, off, "config", &len);
		REQUIRE(bars && cfg && len == PCI_CFG_SIZE);
		bars[0] = cpu_to_fdt32(bar + VPCI_BAR_SIZE);
		CHECK(sec->load(&vm, 0, c, state.len) < 0);
		bars[0] = cpu_to_fdt32(0xfffff000);	/* a probe of the wrong size */
		CHECK(sec->load(&vm, 0, c, state.len) < 0);
		bars[0] = cpu_to_fdt32(bar);
		bars[1] = cpu_to_fdt32(0xffffffff);	/* unused BAR: reads 0 */
		CHECK(sec->load(&vm, 0, c, state.len) < 0);
		bars[1] = 0;
		cfg[PCI_COMMAND] = 0x40;		/* parity: read-only here */
		CHECK(sec->load(&vm, 0, c, state.len) < 0);
		cfg[PCI_COMMAND] = before[PCI_COMMAND] & 7;
		cfg[0] = 0x01;				/* vendor id */
		CHECK(sec->load(&vm, 0, c, state.len) < 0);
		cfg[0] = 0;
		cfg[cap + 5] = 1;			/* inside the window cap, not writable */
		CHECK(sec->load(&vm, 0, c, state.len) < 0);
		cfg[cap + 5] = 0;
		CHECK_EQ(sec->load(&vm, 0, c, state.len), 0);	/* repaired: accepted */
		free(c);
	}
	CHECK(sec->load(&vm, 0, state.data, state.len / 2) < 0);	/* truncated */
	CHECK(sec->load(&vm, 1, state.data, state.len) < 0);		/* no instance 1 */
	latch_rw(0, true);
	CHECK_MEM(pci__device(dev)->cfg, before, PCI_CFG_SIZE);
	CHECK_MEM(pci__device(0)->cfg, bridge, PCI_CFG_SIZE);

	/* Every single-byte flip: refused and untouched, or sane (each refusal's log line: muted). */
	fflush(stderr);
	err_fd = dup(2);
	null_fd = open("/dev/null", O_WRONLY);
	REQUIRE(err_fd >= 0 && null_fd >= 0);
	dup2(null_fd, 2);
	for (i = 0; i < (int)state.len; i++) {
		u8 *c = malloc(state.len);
		u32 b0;

		memcpy(c, state.data, state.len);
		c[i] ^= 0xa5;
		latch_rw(0, true);
		if (sec->load(&vm, 0, c, state.len) < 0) {
			refused++;
			CHECK_EQ(latch_rw(0, false), 0);
			CHECK_MEM(pci__device(dev)->cfg, before, PCI_CFG_SIZE);
		} else {
			CHECK_EQ(latch_rw(0, false) & ~PCI_CONFIG_ADDR_KEPT, 0);
			b0 = get_le32(pci__device(dev)->cfg + 0x10);
			CHECK(b0 == bar || b0 == (u32)~(VPCI_BAR_SIZE - 1));
			CHECK_EQ(cfg_read(dev, 0, 4), 0x1af4u | (0x1040u + VIRTIO_ID_RNG) << 16);
			REQUIRE(sec->load(&vm, 0, state.data, state.len) == 0);	/* undo */
		}
		free(c);
	}
	fflush(stderr);
	dup2(err_fd, 2);
	close(err_fd);
	close(null_fd);
	CHECK(refused > 0);
	/* Back to the state the next test expects. */
	REQUIRE(sec->load(&vm, 0, state.data, state.len) == 0);
	latch_rw(0, true);
	mig_buf__free(&state);
}

/*
 * The MSI path against a real KVM VM: routes accepted by KVM_SET_GSI_ROUTING
 * (defaults kept), an irqfd bound to the route, and a re-route of the same
 * GSI.  Skips where /dev/kvm cannot make a VM with an irqchip.
 */
static void test_msi_route_real_kvm(void)
{
	struct kvm k = { .vm_fd = -1 };
	struct kvm_irqfd irqfd = { 0 };
	int sys, gsi = -1, gsi2 = -1, efd;

	sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (sys < 0)
		SKIP("/dev/kvm not accessible");
	k.vm_fd = ioctl(sys, KVM_CREATE_VM, 0);
	if (k.vm_fd < 0 || ioctl(k.vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		close(sys);
		SKIP("cannot create a VM with an in-kernel irqchip");
	}
	CHECK_EQ(pci__msi_route(&k, &gsi, 0xfee00000, 0, 0x4041), 0);
	CHECK(gsi >= 24);
	CHECK_EQ(pci__msi_route(&k, &gsi2, 0xfee01000, 0, 0x4042), 0);
	CHECK(gsi2 > gsi);
	CHECK_EQ(pci__msi_route(&k, &gsi, 0xfee00000, 0, 0x4051), 0);	/* re-aim */
	efd = eventfd(0, EFD_CLOEXEC);
	irqfd.fd = efd;
	irqfd.gsi = gsi;
	CHECK_EQ(ioctl(k.vm_fd, KVM_IRQFD, &irqfd), 0);
	{
		struct kvm_irq_level lvl = { .irq = 10, .level = 1 };

		/* Legacy lines still routed after the table was replaced. */
		CHECK_EQ(ioctl(k.vm_fd, KVM_IRQ_LINE, &lvl), 0);
	}
	close(efd);
	close(k.vm_fd);
	close(sys);
}

/* ---- legacy INTx against a real in-kernel irqchip ------------------------ */

/*
 * The INTx tests put the devices' pins on a real VM with an in-kernel
 * irqchip (vm.vm_fd points at it while they run) and read each pin back
 * with KVM_GET_IRQCHIP: the IOAPIC's IRR and the PIC's last_irr both follow
 * a line's level while its redirection entry is masked (it is at reset).
 */
static int intx_sys = -1;
static const char *intx_why;

static void intx_vm_open(void)
{
	int fd;

	intx_sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (intx_sys < 0) {
		intx_why = "/dev/kvm not accessible";
		return;
	}
	fd = ioctl(intx_sys, KVM_CREATE_VM, 0);
	if (fd < 0 || ioctl(fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		intx_why = "cannot create a VM with an in-kernel irqchip";
		if (fd >= 0)
			close(fd);
		return;
	}
	vm.vm_fd = fd;
}

static void intx_vm_close(void)
{
	if (vm.vm_fd >= 0)
		close(vm.vm_fd);
	vm.vm_fd = -1;
	if (intx_sys >= 0)
		close(intx_sys);
	intx_sys = -1;
}

/* Level of IOAPIC pin `line` (< 16) as KVM holds it; -1 if the PIC disagrees. */
static int pin(int line)
{
	struct kvm_irqchip io = { .chip_id = KVM_IRQCHIP_IOAPIC };
	struct kvm_irqchip pic = { .chip_id = line < 8 ? KVM_IRQCHIP_PIC_MASTER :
							 KVM_IRQCHIP_PIC_SLAVE };
	int a, b;

	if (ioctl(vm.vm_fd, KVM_GET_IRQCHIP, &io) < 0 ||
	    ioctl(vm.vm_fd, KVM_GET_IRQCHIP, &pic) < 0)
		return -2;
	a = (io.chip.ioapic.irr >> line) & 1;
	b = (pic.chip.pic.last_irr >> (line & 7)) & 1;
	return a == b ? a : -1;
}

static void raw_line(int line, int level)
{
	struct kvm_irq_level l = { .irq = line, .level = level };

	ioctl(vm.vm_fd, KVM_IRQ_LINE, &l);
}

static bool intx_pending(int dev)
{
	return cfg_read(dev, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT;
}

static u32 msix_cap(int dev)
{
	u32 cap;

	for (cap = cfg_read(dev, 0x34, 1); cap; cap = cfg_read(dev, cap + 1, 1))
		if (cfg_read(dev, cap, 1) == PCI_CAP_ID_MSIX)
			return cap;
	return 0;
}

/* virtio-rng at DRIVER_OK, MSI-X off, every device reset and its pin low. */
static int intx_setup(struct drv *d, int *line)
{
	int dev = find_virtio(VIRTIO_ID_RNG, 0), other;

	for (other = find_virtio(VIRTIO_ID_BLOCK, 0); other > 0;
	     other = find_virtio(VIRTIO_ID_BLOCK, other)) {
		struct drv o;

		if (probe(&o, other))
			mmio_w(o.common + 20, 0, 1);
	}
	if (dev <= 0 || !probe(d, dev) ||
	    !(driver_init(d, 0x20000, 1ULL << VIRTIO_F_VERSION_1) & VIRTIO_CONFIG_S_DRIVER_OK))
		return -1;
	*line = pci__device(dev)->irq_line;
	return dev;
}

/* One 16-byte random buffer: the device signals queue 0. */
static int rng_kick(struct drv *d)
{
	u64 a = 0x10000;
	u32 l = 16;
	bool w = true;

	return submit(d, 1, &a, &l, &w);
}

/*
 * Interrupt Disable (PCI 3.0, 6.2.2): setting it de-asserts an INTx the
 * device has asserted, clearing it with the condition still pending asserts
 * it again, and Status bit 3 shows the condition either way.  The pin used
 * to stay high after the guest set the bit (an interrupt storm on a
 * level-triggered pin), never came up on clearing, and Status bit 3 was
 * always 0.
 */
static void test_intx_disable(void)
{
	struct drv d;
	int dev, line;
	u16 cmd;

	if (vm.vm_fd < 0)
		SKIP(intx_why);
	dev = intx_setup(&d, &line);
	REQUIRE(dev > 0 && line > 0);
	cmd = cfg_read(dev, PCI_COMMAND, 2) & ~PCI_COMMAND_INTX_DISABLE;
	cfg_write(dev, PCI_COMMAND, cmd, 2);
	CHECK_EQ(pin(line), 0);
	CHECK(!intx_pending(dev));
	CHECK_EQ(rng_kick(&d), 16);
	CHECK_EQ(pin(line), 1);
	CHECK(intx_pending(dev));

	cfg_write(dev, PCI_COMMAND, cmd | PCI_COMMAND_INTX_DISABLE, 2);
	CHECK_EQ(pin(line), 0);
	CHECK(intx_pending(dev));
	cfg_write(dev, PCI_COMMAND, cmd, 2);
	CHECK_EQ(pin(line), 1);
	CHECK_EQ(mmio_r(d.isr, 1), 1);
	CHECK_EQ(pin(line), 0);
	CHECK(!intx_pending(dev));

	/* Signalled while disabled: pending, the pin low until the bit clears. */
	cfg_write(dev, PCI_COMMAND, cmd | PCI_COMMAND_INTX_DISABLE, 2);
	CHECK_EQ(rng_kick(&d), 16);
	CHECK_EQ(pin(line), 0);
	CHECK(intx_pending(dev));
	cfg_write(dev, PCI_COMMAND, cmd, 2);
	CHECK_EQ(pin(line), 1);
	CHECK_EQ(mmio_r(d.isr, 1), 1);
	CHECK_EQ(pin(line), 0);
	mmio_w(d.common + 20, 0, 1);
}

/*
 * A function with MSI-X enabled must not use INTx (PCI 3.0, 6.8.2): Linux
 * enables MSI-X at probe, possibly with the ISR pending from an interrupt
 * taken on INTx before, and a pin left high then is "irq N: nobody cared"
 * for every device sharing it.  The ISR keeps its bits; MSI-X off again
 * with them still there asserts the pin again.
 */
static void test_intx_msix(void)
{
	struct drv d;
	int dev, line;
	u32 cap;

	if (vm.vm_fd < 0)
		SKIP(intx_why);
	dev = intx_setup(&d, &line);
	REQUIRE(dev > 0 && line > 0);
	cap = msix_cap(dev);
	REQUIRE(cap);
	CHECK_EQ(rng_kick(&d), 16);
	CHECK_EQ(pin(line), 1);
	/* Linux's order: enable with the function masked, then unmask it. */
	cfg_write(dev, cap + 2, 0xc000, 2);
	CHECK_EQ(pin(line), 0);
	CHECK(!intx_pending(dev));
	cfg_write(dev, cap + 2, 0x8000, 2);
	CHECK_EQ(pin(line), 0);
	CHECK_EQ(rng_kick(&d), 16);		/* queue 0 has no vector: nothing */
	CHECK_EQ(pin(line), 0);
	cfg_write(dev, cap + 2, 0, 2);
	CHECK_EQ(pin(line), 1);
	CHECK(intx_pending(dev));
	CHECK_EQ(mmio_r(d.isr, 1), 1);
	CHECK_EQ(pin(line), 0);
	mmio_w(d.common + 20, 0, 1);
}

struct msix_toggle {
	int dev;
	u32 cap;
};

static void *msix_toggler(void *arg)
{
	const struct msix_toggle *t = arg;
	int i;

	for (i = 0; i < 2000; i++)
		cfg_write(t->dev, t->cap + 2, i & 1 ? 0x8000 : 0, 2);
	return NULL;
}

/*
 * A vCPU turns MSI-X on and off (config space, under pci_lock) while the
 * device signals (under its own lock, on an I/O thread): the signal used
 * to read the MSI-X control word from config space, a data race that
 * `make tsan-virtio-pci` reports.  Either way the pin must end right.
 */
static void test_intx_msix_concurrent(void)
{
	struct msix_toggle t;
	pthread_t th;
	struct drv d;
	int line, i;

	if (vm.vm_fd < 0)
		SKIP(intx_why);
	t.dev = intx_setup(&d, &line);
	REQUIRE(t.dev > 0 && line > 0);
	t.cap = msix_cap(t.dev);
	REQUIRE(t.cap);
	REQUIRE(!pthread_create(&th, NULL, msix_toggler, &t));
	for (i = 0; i < 300; i++) {
		CHECK_EQ(rng_kick(&d), 16);
		mmio_r(d.isr, 1);
	}
	pthread_join(th, NULL);
	cfg_write(t.dev, t.cap + 2, 0, 2);
	CHECK_EQ(pin(line), 0);
	CHECK_EQ(rng_kick(&d), 16);
	CHECK_EQ(pin(line), 1);
	CHECK_EQ(mmio_r(d.isr, 1), 1);
	CHECK_EQ(pin(line), 0);
	mmio_w(d.common + 20, 0, 1);
}

/* Save the rng's virtio section, reset it (a fresh destination), load it back. */
static int intx_migrate(struct drv *d, int dev, int line, int stale_level)
{
	struct mig_section *sec = mig_section__find(MIG_SEC_VIRTIO);
	struct virtio_device *vdev = vdev_of_type(VIRTIO_ID_RNG);
	struct mig_buf state = { 0 };
	u16 cmd = cfg_read(dev, PCI_COMMAND, 2);
	u32 cap = msix_cap(dev), ctrl = cfg_read(dev, cap + 2, 2);
	int ret;

	if (!sec || !vdev || !cap)
		return -1;
	virtio__pause_all();
	ret = sec->save(&vm, vdev->index, &state);
	mmio_w(d->common + 20, 0, 1);
	cfg_write(dev, PCI_COMMAND, cmd & ~PCI_COMMAND_INTX_DISABLE, 2);
	cfg_write(dev, cap + 2, 0, 2);
	/* What the irqchip section, loaded first, may have left on the pin. */
	raw_line(line, stale_level);
	if (!ret)
		ret = sec->load(&vm, vdev->index, state.data, state.len);
	virtio__resume_all();
	mig_buf__free(&state);
	if (!ret && (cfg_read(dev, PCI_COMMAND, 2) != cmd || cfg_read(dev, cap + 2, 2) != ctrl))
		return -1;
	return ret;
}

/*
 * After a load the pin is what the loaded registers say: ISR pending, MSI-X
 * off and Interrupt Disable clear.  The load raised it whenever the ISR was
 * pending with MSI-X off, Interrupt Disable or not, and left a pin high
 * that an older source's irqchip state had high.
 */
static void test_intx_migration(void)
{
	struct drv d;
	int dev, line;
	u16 cmd;
	u32 cap;

	if (vm.vm_fd < 0)
		SKIP(intx_why);
	dev = intx_setup(&d, &line);
	REQUIRE(dev > 0 && line > 0);
	cap = msix_cap(dev);
	cmd = cfg_read(dev, PCI_COMMAND, 2) & ~PCI_COMMAND_INTX_DISABLE;

	/* Pending, enabled: high at the destination. */
	CHECK_EQ(rng_kick(&d), 16);
	REQUIRE(intx_migrate(&d, dev, line, 0) == 0);
	CHECK_EQ(pin(line), 1);
	CHECK(intx_pending(dev));

	/* Pending, Interrupt Disable set: low, even over a stale high. */
	cfg_write(dev, PCI_COMMAND, cmd | PCI_COMMAND_INTX_DISABLE, 2);
	REQUIRE(intx_migrate(&d, dev, line, 1) == 0);
	CHECK_EQ(pin(line), 0);
	CHECK(intx_pending(dev));
	cfg_write(dev, PCI_COMMAND, cmd, 2);
	CHECK_EQ(pin(line), 1);

	/* Pending, MSI-X on: low. */
	cfg_write(dev, cap + 2, 0x8000, 2);
	REQUIRE(intx_migrate(&d, dev, line, 1) == 0);
	CHECK_EQ(pin(line), 0);
	cfg_write(dev, cap + 2, 0, 2);
	CHECK_EQ(pin(line), 1);

	/* Nothing pending: low. */
	CHECK_EQ(mmio_r(d.isr, 1), 1);
	REQUIRE(intx_migrate(&d, dev, line, 1) == 0);
	CHECK_EQ(pin(line), 0);
	CHECK(!intx_pending(dev));
	mmio_w(d.common + 20, 0, 1);
}

/*
 * Two devices on one pin (slots 4 apart share one of the four INTx pins):
 * KVM_IRQ_LINE holds one level per GSI for all of userspace, so when one
 * device lowered the pin the other's asserted interrupt was lost.  The bus
 * now drives each pin as the OR of its devices.
 */
static void test_intx_shared_pin(void)
{
	struct pci_device dummy[5], *a = &dummy[0], *b = &dummy[4], *nb = NULL;
	struct drv d;
	int dev, line, i, n = 0;

	if (vm.vm_fd < 0)
		SKIP(intx_why);
	dev = intx_setup(&d, &line);
	REQUIRE(dev > 0 && line > 0);
	memset(dummy, 0, sizeof(dummy));
	for (i = 0; i < 5; i++, n++) {
		pci__init_header(&dummy[i], 0x1234, 0x10 + i, 0xff0000, 0, 0);
		dummy[i].cfg[PCI_INTERRUPT_PIN] = 1;
		if (pci__register(&vm, &dummy[i]) < 0)
			break;
		if (dummy[i].irq_line == line)
			nb = &dummy[i];
	}
	REQUIRE(n == 5);
	REQUIRE(a->irq_line && a->irq_line == b->irq_line);

	test_irq(a, 1);
	test_irq(b, 1);
	CHECK_EQ(pin(a->irq_line), 1);
	test_irq(a, 0);
	CHECK_EQ(pin(a->irq_line), 1);		/* b still asserts it */
	test_irq(b, 0);
	CHECK_EQ(pin(a->irq_line), 0);

	/* Interrupt Disable masks one device's share only. */
	test_irq(a, 1);
	test_irq(b, 1);
	cfg_write(a->dev_nr, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 2);
	CHECK_EQ(pin(a->irq_line), 1);
	test_irq(b, 0);
	CHECK_EQ(pin(a->irq_line), 0);
	cfg_write(a->dev_nr, PCI_COMMAND, 0, 2);
	CHECK_EQ(pin(a->irq_line), 1);
	/* A device leaving the bus takes its share with it. */
	pci__unregister(&vm, a);
	CHECK_EQ(pin(b->irq_line), 0);

	/* The rng's ISR read leaves its neighbour's interrupt up. */
	if (nb) {
		test_irq(nb, 1);
		CHECK_EQ(rng_kick(&d), 16);
		CHECK_EQ(pin(line), 1);
		CHECK_EQ(mmio_r(d.isr, 1), 1);
		CHECK_EQ(pin(line), 1);
		test_irq(nb, 0);
		CHECK_EQ(pin(line), 0);
	} else {
		CHECK(!"no dummy landed on the rng's pin");
	}
	for (i = 0; i < n; i++)
		pci__unregister(&vm, &dummy[i]);
	mmio_w(d.common + 20, 0, 1);
}

/*
 * The MP table is built before any device exists, so it lists each slot's
 * INTA route as pci__intx_gsi() gives it (test-bzimage checks the table):
 * each device the bus places must get that pin, and a device that asks for
 * INTB-INTD, which the table does not route, is refused.
 */
static void test_intx_routes(void)
{
	struct pci_device dummy[9], other;
	int i, n, checked = 0;

	memset(dummy, 0, sizeof(dummy));
	for (n = 0; n < 9; n++) {
		pci__init_header(&dummy[n], 0x1234, 0x20 + n, 0xff0000, 0, 0);
		dummy[n].cfg[PCI_INTERRUPT_PIN] = 1;
		if (pci__register(&vm, &dummy[n]) < 0)
			break;
	}
	REQUIRE(n == 9);
	memset(&other, 0, sizeof(other));
	pci__init_header(&other, 0x1234, 0x30, 0xff0000, 0, 0);
	other.cfg[PCI_INTERRUPT_PIN] = 2;
	CHECK_EQ(pci__register(&vm, &other), -EINVAL);

	for (i = 0; i < pci__nr_devices(); i++) {
		struct pci_device *pdev = pci__device(i);

		if (!pdev || !pdev->cfg[PCI_INTERRUPT_PIN])
			continue;
		CHECK_EQ(pdev->irq_line, pci__intx_gsi(pdev->dev_nr));
		CHECK_EQ(pdev->cfg[PCI_INTERRUPT_LINE], pdev->irq_line);
		checked++;
	}
	CHECK(checked >= 9);
	for (i = 0; i < n; i++)
		pci__unregister(&vm, &dummy[i]);
}

/* ---- virtio-console: typed input across a migration ------------------------ */

/* The devices again as a fresh VMM has them, with or without a virtio-console. */
static int devices_fresh(bool console)
{
	kvm__exit_all(&vm);
	fake_nr_io = 0;
	vm.cfg.console = console ? "virtio" : NULL;
	return kvm__init_all(&vm);
}

#define MAX_SAVED 32

struct saved_sec {
	struct mig_section *s;
	u32 instance;
	struct mig_buf b;
};

/*
 * What the engine does with the device state: every registered section a
 * source of this build has instances of (migrate.c, send_sections), then
 * on the destination the load_first ones and the rest in id order (dest.c,
 * load_sections).  0, or the first load's error.
 */
static int save_sections(struct saved_sec *out, int *n)
{
	struct mig_section *s;
	u32 i, count;

	*n = 0;
	for (s = mig_section__first(); s; s = s->next) {
		count = s->count ? s->count(&vm) : 1;
		for (i = 0; s->save && i < count; i++) {
			if (*n == MAX_SAVED)
				return -ENOSPC;
			memset(&out[*n], 0, sizeof(out[*n]));
			out[*n].s = s;
			out[*n].instance = i;
			if (s->save(&vm, i, &out[*n].b) || out[*n].b.err)
				return -EIO;
			(*n)++;
		}
	}
	return 0;
}

static int load_sections(struct saved_sec *in, int n)
{
	int pass, i, ret;

	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < n; i++) {
			if (in[i].s->load_first != !pass)
				continue;
			ret = in[i].s->load(&vm, in[i].instance, in[i].b.data, in[i].b.len);
			if (ret)
				return ret;
		}
	return 0;
}

static void free_sections(struct saved_sec *in, int n)
{
	while (n--)
		mig_buf__free(&in[n].b);
}

/* Offer one writable buffer of len bytes at gpa on the console's receive queue. */
static int console_read(struct drv *d, u64 gpa, u32 len)
{
	bool w = true;

	memset(fake_ram + gpa, 0, len);
	return submit(d, 1, &gpa, &len, &w);
}

/*
 * Bytes typed on the terminal that the driver has not taken yet (no
 * receive buffer offered) migrate with the guest: a driver whose first
 * buffer took part of the input, migrated through every section this
 * build saves into fresh devices, reads exactly the rest on the
 * destination, every byte value included, in order and once.
 */
static void test_console_input_migrates(void)
{
	struct saved_sec secs[MAX_SAVED];
	char typed[300];
	struct drv d;
	int dev, n = 0, i, got;

	for (i = 0; i < (int)sizeof(typed); i++)
		typed[i] = (char)(i * 37 + 11);
	REQUIRE(devices_fresh(true) == 0);
	dev = find_virtio(VIRTIO_ID_CONSOLE, 0);
	REQUIRE(dev > 0 && probe(&d, dev));
	REQUIRE(driver_init(&d, 0x50000, 1ULL << VIRTIO_F_VERSION_1) & VIRTIO_CONFIG_S_DRIVER_OK);

	/* Typed before the driver offered anything: it all waits in the device. */
	virtio_con__input(&vm, typed, 200);
	CHECK_EQ(console_read(&d, 0x60000, 64), 64);		/* the first 64 go now */
	CHECK_MEM(fake_ram + 0x60000, typed, 64);
	virtio_con__input(&vm, typed + 200, 100);		/* more, still not taken */

	virtio__pause_all();
	virtio_con__input(&vm, typed, 0);			/* nothing: no-op */
	REQUIRE(save_sections(secs, &n) == 0);

	/* The destination: fresh devices, the guest's RAM as it was. */
	REQUIRE(devices_fresh(true) == 0);
	CHECK_EQ(load_sections(secs, n), 0);
	free_sections(secs, n);
	virtio__kick_all();					/* the incoming run hook */
	got = console_read(&d, 0x61000, 4096);
	CHECK_EQ(got, sizeof(typed) - 64);
	if (got == (int)sizeof(typed) - 64)
		CHECK_MEM(fake_ram + 0x61000, typed + 64, sizeof(typed) - 64);
	CHECK_EQ(console_read(&d, 0x62000, 4096), -1);		/* nothing twice */
	/* The destination's own terminal input, later, into the buffer left offered. */
	virtio_con__input(&vm, "dst", 3);
	CHECK_EQ(used_ring(&d)->idx, (u16)(d.used_seen + 1));
	CHECK_EQ(used_ring(&d)->ring[d.used_seen % QN].len, 3);
	CHECK_MEM(fake_ram + 0x62000, "dst", 3);
}

/*
 * The console section itself: behind its stream feature, present only with
 * a virtio-console (so a machine without one asks for no new feature), the
 * payload exactly the bytes; a payload longer than the device's buffer is
 * refused and changes nothing, an empty one is a console with nothing typed.
 */
static void test_console_input_hostile(void)
{
	struct mig_section *sec = mig_section__find(MIG_SEC_CONSOLE);
	struct mig_buf st = { 0 };
	static char big[VIRTIO_CON_INBUF + 1];
	struct drv d;
	int dev;

	REQUIRE(sec);
	CHECK_EQ(sec->feature, MIG_F_CONSOLE_INPUT);
	CHECK(mig_section__features() & MIG_F_CONSOLE_INPUT);
	REQUIRE(devices_fresh(false) == 0);
	CHECK_EQ(sec->count(&vm), 0);
	CHECK(!(mig_section__features_of(&vm) & MIG_F_CONSOLE_INPUT));
	CHECK(mig_section__features_of(&vm) & MIG_F_PCI_STATE);
	CHECK_EQ(virtio_con__load_input("x", 1), -ENODEV);
	REQUIRE(devices_fresh(true) == 0);
	CHECK_EQ(sec->count(&vm), 1);
	CHECK(mig_section__features_of(&vm) & MIG_F_CONSOLE_INPUT);
	dev = find_virtio(VIRTIO_ID_CONSOLE, 0);
	REQUIRE(dev > 0 && probe(&d, dev));
	REQUIRE(driver_init(&d, 0x50000, 1ULL << VIRTIO_F_VERSION_1) & VIRTIO_CONFIG_S_DRIVER_OK);

	virtio_con__input(&vm, "abc", 3);
	REQUIRE(sec->save(&vm, 0, &st) == 0);
	CHECK_EQ(st.len, 3);
	CHECK_MEM(st.data, "abc", 3);
	CHECK(sec->save(&vm, 1, &st) < 0);			/* one instance only */
	memset(big, 'z', sizeof(big));
	CHECK_EQ(sec->load(&vm, 0, big, sizeof(big)), -EMSGSIZE);
	CHECK_EQ(sec->load(&vm, 0, big, SIZE_MAX), -EMSGSIZE);
	CHECK(sec->load(&vm, 1, "q", 1) < 0);
	CHECK_EQ(console_read(&d, 0x60000, 4096), 3);		/* refused: still "abc" */
	CHECK_MEM(fake_ram + 0x60000, "abc", 3);

	/* The largest buffer loads whole, and nothing else comes with it. */
	CHECK_EQ(sec->load(&vm, 0, big, VIRTIO_CON_INBUF), 0);
	CHECK_EQ(console_read(&d, 0x60000, 8192), VIRTIO_CON_INBUF);
	CHECK_MEM(fake_ram + 0x60000, big, VIRTIO_CON_INBUF);
	/* Empty: what was buffered is replaced by nothing. */
	virtio_con__input(&vm, "left", 4);			/* no buffer offered: kept */
	CHECK_EQ(sec->load(&vm, 0, "", 0), 0);
	CHECK_EQ(console_read(&d, 0x60000, 4096), -1);
	mig_buf__free(&st);
}

/*
 * A queue kick the I/O thread has taken when the device goes away at exit:
 * epoll_wait() has returned the device's eventfd, the exit removes it from
 * the epoll set and frees the device, and the thread goes on to notify it
 * (a use after free that make tsan-virtio-pci reports, and ASan now and
 * then).  The VM takes the doorbells (KVM_IOEVENTFD); the test plays the
 * guest's MMIO write by signalling each eventfd, then tears down at once.
 */
static const u16 io_types[] = { VIRTIO_ID_RNG, VIRTIO_ID_BLOCK, VIRTIO_ID_CONSOLE };

static int kick_every_queue(void)
{
	u64 one = 1;
	int kicked = 0, dev, q;
	size_t t;

	for (t = 0; t < ARRAY_SIZE(io_types); t++) {
		for (dev = find_virtio(io_types[t], 0); dev > 0;
		     dev = find_virtio(io_types[t], dev)) {
			struct virtio_pci *vpci = container_of(pci__device(dev),
							       struct virtio_pci, pdev);

			for (q = 0; q < VIRTIO_MAX_QUEUES; q++)
				if (vpci->ioeventfd[q] >= 0 &&
				    write(vpci->ioeventfd[q], &one, sizeof(one)) == sizeof(one))
					kicked++;
		}
	}
	return kicked;
}

static void test_ioeventfd_teardown(void)
{
	int round;

	if (vm.vm_fd < 0)
		SKIP(intx_why);
	for (round = 0; round < 8; round++) {
		REQUIRE(devices_fresh(true) == 0);
		if (!kick_every_queue())
			SKIP("KVM_IOEVENTFD refused: no queue has an eventfd");
		/* Every other round, let the thread get well into the notifies. */
		if (round & 1)
			usleep(50);
	}
	REQUIRE(devices_fresh(false) == 0);
}

/*
 * Terminal input on its way into the virtio-console when the console goes
 * away at exit: lkvm-stdin had loaded the input function and was inside
 * it, on a device the exit then freed.  stdin is a pipe the test types
 * into, and each round the devices are torn down and made again.
 */
static void test_console_input_teardown(void)
{
	int p[2], saved, round;

	REQUIRE(pipe(p) == 0);
	saved = dup(STDIN_FILENO);
	REQUIRE(saved >= 0 && dup2(p[0], STDIN_FILENO) == STDIN_FILENO);
	close(p[0]);
	term__setup(&vm);		/* not a tty: only the input thread */
	for (round = 0; round < 8; round++) {
		if (devices_fresh(true) || write(p[1], "typed", 5) != 5)
			break;
		if (round & 1)
			usleep(50);
	}
	CHECK_EQ(round, 8);
	close(p[1]);			/* the input thread reads EOF and ends */
	dup2(saved, STDIN_FILENO);
	close(saved);
	CHECK_EQ(devices_fresh(false), 0);
}

static void make_disk(void)
{
	u8 buf[16 * 512];
	int fd, i;

	for (i = 0; i < (int)sizeof(buf); i++)
		buf[i] = i * 7 + i / 512;
	strcpy(disk_path, "/tmp/lkvm-vpci-XXXXXX");
	fd = mkstemp(disk_path);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		abort();
	close(fd);
}

TEST_MAIN_BEGIN("test-virtio-pci")
	const struct option o = OPT_CALLBACK_('d', "disk", NULL, "", "", virtio_blk__parse_opt, 0);

	fake_ram = calloc(1, FAKE_RAM_SIZE);
	make_disk();
	virtio_rng_enabled = true;
	vm.vm_fd = -1;			/* every KVM ioctl fails: the fallbacks run */
	if (virtio_blk__parse_opt(&o, disk_path) || kvm__init_all(&vm)) {
		printf("FAIL: test-virtio-pci/setup: device init failed\n");
		return 1;
	}
	RUN(test_enumeration);
	RUN(test_rng);
	RUN(test_blk);
	RUN(test_private_ring);
	RUN(test_migration_inflight);
	RUN(test_dirty_status_byte);
	RUN(test_migration_unoffered_features);
	RUN(test_migration_ring_made_private);
	RUN(test_migration_hostile);
	RUN(test_migration_pci_config);
	RUN(test_migration_pci_hostile);
	intx_vm_open();
	RUN(test_intx_disable);
	RUN(test_intx_msix);
	RUN(test_intx_msix_concurrent);
	RUN(test_intx_migration);
	RUN(test_intx_shared_pin);
	RUN(test_intx_routes);
	RUN(test_ioeventfd_teardown);
	intx_vm_close();
	RUN(test_console_input_teardown);
	RUN(test_console_input_migrates);
	RUN(test_console_input_hostile);
	RUN(test_msi_route_real_kvm);
	RUN(test_sev_access_platform);
	devices_fresh(false);
	kvm__exit_all(&vm);
	unlink(disk_path);
	free(fake_ram);
TEST_MAIN_END()
