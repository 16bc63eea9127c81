/*
 * libFuzzer target for the migration-section payload decoders that the
 * stream fuzzer stubs out (its section_ok() accepts any payload), and the
 * small peer-supplied records it does not link:
 *
 *   input[0] % 11:
 *     0  page_map__load()        MIG_SEC_PAGE_MAP into a two-bank map
 *     1  virtio__load_state()    MIG_SEC_VIRTIO into a virtio-pci device
 *        (FDT blob; the virtio-pci transport's vpci_load() included)
 *     2  sev_mig_platform__decode()  SEV_PLATFORM (dest -> source)
 *     3  sev_mig_start__decode()     SEV_START
 *     4  sev_mig_pkt__decode()       one ENCRYPTED page entry
 *     5  mig_status__decode()        STATUS (dest -> source)
 *     6  mig_end/chan_end/round__decode
 *     7  mig_shape__decode()         HELLO payload on its own
 *     8  pci__load_state()       MIG_SEC_PCI: the 0xcf8 latch and the bus's
 *        devices' writable config and BARs (the virtio-pci device in slot 0)
 *     9  rtc__load_state()       MIG_SEC_RTC: the CMOS index latch and bytes
 *    10  virtio_con__load_input()  MIG_SEC_CONSOLE: a virtio-console's typed
 *        input not yet taken by the driver
 *
 * Load must either fail leaving the object untouched, or succeed with a
 * state that re-encodes without error.  With FUZZ_MIG_SECTIONS_SEEDS=DIR a
 * valid payload for 0, 1, 7, 8, 9 and 10 is written to DIR, and it exits.  Written by
 * the fuzzing helper of session 10; it found the libfdt hang that
 * util/state-fdt.c's struct_block_sane() now refuses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lkvm/cpuid.h"
#include "lkvm/init.h"
#include "lkvm/kvm.h"
#include "lkvm/migration.h"
#include "lkvm/page-map.h"
#include "lkvm/pci.h"
#include "lkvm/rtc.h"
#include "lkvm/sev-migration.h"
#include "lkvm/virtio.h"
#include "lkvm/virtio-devices.h"
#include "lkvm/virtio-pci.h"

static struct kvm *vm;

/* term.c's reader (never started here) stops the VM on Ctrl-A x; kvm-cpu.c is not linked. */
void kvm__request_stop(struct kvm *kvm, int status, const char *reason)
{
	abort();
}
static struct page_map *pm;
static struct virtio_device vdev;
static struct virtio_pci vpci;
static u8 config[8];

static int fz_notify(struct virtio_device *v, u16 q)
{
	return 0;
}

static const struct virtio_dev_ops fz_ops = {
	.name = "fuzz", .device_id = 4, .nr_queues = 2, .queue_size = 256,
	.config_size = sizeof(config), .notify = fz_notify,
};

static struct mig_shape local;

static void local_shape(void)
{
	local.features = MIG_F_ZERO_PAGES | MIG_F_PAGE_MAP | MIG_F_CPUID;
	local.nr_channels = 1;
	local.nr_cpus = 2;
	local.nr_banks = 2;
	local.nr_pages = 16;
	local.banks[0].size = 12 * 4096;
	local.banks[1].gpa = 1ULL << 32;
	local.banks[1].size = 4 * 4096;
	strcpy(local.devices, "virtio-blk;disk0=/x,ino=1,size=2;virtio-net;net0=52:54:00:12:34:56");
	local.devices_len = strlen(local.devices);
	local.nr_cpuid = 3;
	local.cpuid[0] = (struct mig_cpuid_word){ 1, 0, 2, 0x7ffafbff };
	local.cpuid[1] = (struct mig_cpuid_word){ 7, 0, 1, 0x029c6fbf };
	local.cpuid[2] = (struct mig_cpuid_word){ 0x80000001, 0, 3, 0x2fd3fbff };
}

static void setup(void)
{
	struct kvm_mem_bank banks[2];

	if (vm)
		return;
	local_shape();
	mig_cpuid_bit_name = cpuid__bit_name;
	vm = calloc(1, sizeof(*vm));
	vm->cfg.ram_size = 4 << 20;
	vm->cfg.nr_cpus = 1;
	vm->nr_cpus = 1;
	vm->vm_fd = -1;
	vm->cfg.console = "virtio";	/* for case 10: the bus, the RTC and a console */
	if (kvm__init_memory(vm) || kvm__init_all(vm))
		abort();
	memset(banks, 0, sizeof(banks));
	banks[0].guest_phys_addr = 0;
	banks[0].size = 3 << 20;
	banks[0].page_base = 0;
	banks[1].guest_phys_addr = 1ULL << 32;
	banks[1].size = 100 * 4096 + 123;	/* not whole pages */
	banks[1].page_base = 768;
	pm = page_map__new(banks, 2, true);
	if (!pm)
		abort();
	if (virtio__init_device(&vdev, vm, &fz_ops, config, false) ||
	    virtio_pci__init(vm, &vpci, &vdev, 0xff0000))
		abort();
}

static void config_write(int dev, u32 off, u32 v)
{
	u8 d[4] = { v, v >> 8, v >> 16, v >> 24 };

	pci__config_rw(vm, 0x80000000u | dev << 11, off, d, off & 3 ? 1 : 4, true);
}

static void write_file(const char *path, const struct mig_buf *b)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(b->data, 1, b->len, f) != b->len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

static void seeds(const char *dir)
{
	struct mig_buf b = { 0 };
	char path[4096];

	mkdir(dir, 0700);
	page_map__set_gpa_range(pm, 0x10000, 0x5000, true);
	page_map__set_gpa_range(pm, 1ULL << 32, 0x3000, true);
	page_map__msr_write(pm, 1);
	mig_buf__put(&b, "\0", 1);
	if (page_map__save(pm, &b))
		abort();
	snprintf(path, sizeof(path), "%s/seed-0", dir);
	write_file(path, &b);
	mig_buf__free(&b);

	memset(&b, 0, sizeof(b));
	mig_buf__put(&b, "\1", 1);
	vdev.guest_features = vdev.host_features;
	vdev.status = 0xf;
	vdev.vqs[0].enabled = 1;
	vdev.vqs[0].desc_gpa = 0x1000;
	vdev.vqs[0].avail_gpa = 0x2000;
	vdev.vqs[0].used_gpa = 0x3000;
	if (virtio__save_state(&vdev, &b))
		abort();
	snprintf(path, sizeof(path), "%s/seed-1", dir);
	write_file(path, &b);
	mig_buf__free(&b);

	memset(&b, 0, sizeof(b));
	mig_buf__put(&b, "\7", 1);
	if (mig_shape__encode(&local, &b))
		abort();
	snprintf(path, sizeof(path), "%s/seed-7", dir);
	write_file(path, &b);
	mig_buf__free(&b);

	/* A guest mid-way: latch set, line and window written, BAR0 being sized. */
	memset(&b, 0, sizeof(b));
	mig_buf__put(&b, "\10", 1);
	config_write(vpci.pdev.dev_nr, PCI_INTERRUPT_LINE, 0x5a);
	config_write(vpci.pdev.dev_nr, vpci.cfg_cap + 8, 18);
	config_write(vpci.pdev.dev_nr, vpci.cfg_cap + 12, 2);
	config_write(vpci.pdev.dev_nr, PCI_BASE_ADDRESS_0, 0xffffffff);
	if (pci__save_state(&b))
		abort();
	snprintf(path, sizeof(path), "%s/seed-8", dir);
	write_file(path, &b);
	mig_buf__free(&b);

	/* The RTC as a guest leaves it: an index latched, NVRAM written. */
	memset(&b, 0, sizeof(b));
	mig_buf__put(&b, "\11", 1);
	if (rtc__save_state(&b) || b.len != 130)
		abort();
	b.data[1] = 0x41;
	b.data[2 + 0x40] = 0x5a;
	snprintf(path, sizeof(path), "%s/seed-9", dir);
	write_file(path, &b);
	mig_buf__free(&b);

	/* A console with a line typed that the driver has not taken. */
	memset(&b, 0, sizeof(b));
	mig_buf__put(&b, "\12", 1);
	virtio_con__input(vm, "ls -l /tmp\r", 11);
	if (virtio_con__save_input(&b) || b.len != 12)
		abort();
	snprintf(path, sizeof(path), "%s/seed-10", dir);
	write_file(path, &b);
	mig_buf__free(&b);
	exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_MIG_SECTIONS_SEEDS");

	setup();
	if (dir)
		seeds(dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	size_t n = size ? size - 1 : 0;
	u8 *p;

	if (!size)
		return 0;
	/* As the receiver has it: a malloc'd buffer of exactly the payload. */
	p = malloc(n ? n : 1);
	memcpy(p, data + 1, n);
	switch (data[0] % 11) {
	case 0: {
		struct mig_buf b = { 0 };
		u64 before = page_map__count_shared(pm);

		if (page_map__load(pm, p, n) == 0) {
			/* What was accepted must re-encode and be read back the same. */
			if (page_map__save(pm, &b) || page_map__load(pm, b.data, b.len))
				abort();
			if (page_map__count_shared(pm) > page_map__nr_pages(pm))
				abort();
		} else if (page_map__count_shared(pm) != before) {
			abort();	/* a refused load must not touch the map */
		}
		mig_buf__free(&b);
		break;
	}
	case 1: {
		struct mig_buf b = { 0 };

		if (virtio__load_state(&vdev, p, n) == 0) {
			if (virtio__save_state(&vdev, &b))
				abort();
		}
		mig_buf__free(&b);
		break;
	}
	case 2: {
		struct sev_mig_platform pl;

		if (sev_mig_platform__decode(p, n, &pl) == 0 && pl.amd_len && !pl.amd)
			abort();
		break;
	}
	case 3: {
		struct sev_mig_start st;

		sev_mig_start__decode(p, n, &st);
		break;
	}
	case 4: {
		const u8 *hdr, *trans;
		u32 hl;

		if (sev_mig_pkt__decode(p, n, &hdr, &hl, &trans) == 0 &&
		    (hdr + hl > p + n || trans > p + n))
			abort();
		break;
	}
	case 5: {
		u32 status, features;
		char reason[256];

		if (mig_status__decode(p, n, &status, &features, reason, sizeof(reason)) == 0 &&
		    !memchr(reason, 0, sizeof(reason)))
			abort();
		break;
	}
	case 6: {
		struct mig_end e;
		struct mig_chan_end ce;
		struct mig_round r;

		mig_end__decode(p, n, &e);
		mig_chan_end__decode(p, n, &ce);
		mig_round__decode(p, n, &r);
		break;
	}
	case 7: {
		struct mig_shape s;
		struct mig_buf b = { 0 };

		char why[512];

		if (mig_shape__decode(p, n, &s) == 0) {
			if (mig_shape__encode(&s, &b))
				abort();
			/* As dest.c compares: a local shape that lists CPUID words. */
			mig_shape__compare(&s, &local, why, sizeof(why));
			if (!memchr(why, 0, sizeof(why)))
				abort();
		}
		mig_buf__free(&b);
		break;
	}
	case 8: {
		struct mig_buf before = { 0 }, after = { 0 };
		u32 bar;

		if (pci__save_state(&before))
			abort();
		if (pci__load_state(p, n) == 0) {
			/* Only what a guest can leave: our BAR address or a sizing probe. */
			bar = get_le32(vpci.pdev.cfg + PCI_BASE_ADDRESS_0);
			if (bar != vpci.pdev.bar_addr[0] && bar != (u32)~(VPCI_BAR_SIZE - 1))
				abort();
			if (get_le16(vpci.pdev.cfg) != 0x1af4)
				abort();
			if (pci__save_state(&after) || pci__load_state(after.data, after.len))
				abort();
		} else {
			/* A refused load must not touch the bus. */
			if (pci__save_state(&after) || after.len != before.len ||
			    memcmp(after.data, before.data, before.len))
				abort();
		}
		mig_buf__free(&before);
		mig_buf__free(&after);
		break;
	}
	case 9: {
		struct mig_buf before = { 0 }, after = { 0 };
		int ret;

		if (rtc__save_state(&before))
			abort();
		ret = rtc__load_state(p, n);
		if (rtc__save_state(&after))
			abort();
		/* The payload is the whole state: taken as it is, or not at all. */
		if (ret == 0 ? after.len != n || memcmp(after.data, p, n) :
		    after.len != before.len || memcmp(after.data, before.data, before.len))
			abort();
		/* Taken, it is what a guest can leave: a 7-bit index, 0x00-0x0d unwritten. */
		if (ret == 0)
			for (size_t i = 0; i <= 0x0e; i++)
				if (i ? p[i] : p[i] > 0x7f)
					abort();
		mig_buf__free(&before);
		mig_buf__free(&after);
		break;
	}
	case 10: {
		struct mig_buf before = { 0 }, after = { 0 };
		int ret;

		if (virtio_con__save_input(&before))
			abort();
		ret = virtio_con__load_input(p, n);
		if (virtio_con__save_input(&after))
			abort();
		/* Refused exactly when longer than the buffer, and then untouched. */
		if ((ret == 0) != (n <= VIRTIO_CON_INBUF))
			abort();
		if (ret == 0 ? after.len != n || (n && memcmp(after.data, p, n)) :
		    after.len != before.len ||
		    (before.len && memcmp(after.data, before.data, before.len)))
			abort();
		mig_buf__free(&before);
		mig_buf__free(&after);
		break;
	}
	}
	free(p);
	return 0;
}
