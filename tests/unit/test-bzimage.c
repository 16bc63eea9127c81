/*
 * bzImage boot path without /dev/kvm: the loader runs against a fake VM
 * whose RAM banks are plain host memory, then the tests read back what
 * the guest would see: the setup header, command line, kernel and initrd
 * bytes, the BIOS's e820 map and the MP table.  Both synthetic images
 * (including malformed ones) and the real Debian cloud kernel are used.
 */
#include <errno.h>
#include <unistd.h>

#include "test.h"
#include "lkvm/kvm.h"
#include "lkvm/x86-boot.h"
#include "lkvm/pci.h"

#define MiB		(1024ULL * 1024)
#define TEST_CMDLINE	"console=ttyS0 earlyprintk=serial,ttyS0,115200 debug"

/* ---- a VM made of malloc'd memory ---- */

static struct kvm *fake_kvm(u64 low_ram, int nr_cpus)
{
	struct kvm *kvm = calloc(1, sizeof(*kvm));

	kvm->mem_banks[0].guest_phys_addr = 0;
	kvm->mem_banks[0].size = low_ram;
	kvm->mem_banks[0].host_addr = calloc(1, low_ram);
	kvm->mem_banks[0].type = KVM_MEM_TYPE_RAM;
	kvm->nr_mem_banks = 1;
	kvm->ram_size = low_ram;
	kvm->cfg.nr_cpus = nr_cpus;
	return kvm;
}

static void free_kvm(struct kvm *kvm)
{
	free(kvm->mem_banks[0].host_addr);
	free(kvm->loaded);
	free(kvm);
}

static u16 rd16(const u8 *p)
{
	return p[0] | p[1] << 8;
}

static u8 *gpa(struct kvm *kvm, u64 addr, u64 len)
{
	return guest_flat_to_host(kvm, addr, len);
}

/* Is [addr, addr+len) inside what the loader recorded for SEV measurement? */
static bool recorded(struct kvm *kvm, u64 addr, u64 len)
{
	int i;

	for (i = 0; i < kvm->nr_loaded; i++)
		if (addr >= kvm->loaded[i].gpa &&
		    addr + len <= kvm->loaded[i].gpa + kvm->loaded[i].len)
			return true;
	return false;
}

static struct setup_header read_hdr(const void *setup)
{
	struct setup_header h;

	memcpy(&h, (const u8 *)setup + SETUP_HEADER_OFF, sizeof(h));
	return h;
}

static void write_hdr(void *setup, const struct setup_header *h)
{
	memcpy((u8 *)setup + SETUP_HEADER_OFF, h, sizeof(*h));
}

/* ---- synthetic images ---- */

#define SYN_SECTS	8
#define SYN_KERNEL	(64 * 1024)

/* A well-formed image: 8 setup sectors, a 64 KiB "kernel", 4 MiB init_size. */
static u8 *synthetic(size_t *len)
{
	size_t setup = (SYN_SECTS + 1) * 512;
	u8 *img = malloc(setup + SYN_KERNEL);
	struct setup_header h;
	size_t i;

	for (i = 0; i < setup + SYN_KERNEL; i++)
		img[i] = (u8)(i * 7 + 3);
	memset(&h, 0, sizeof(h));
	h.setup_sects = SYN_SECTS;
	h.syssize = SYN_KERNEL / 16;
	h.vid_mode = 0xfffd;
	h.boot_flag = SETUP_BOOT_FLAG;
	h.jump = 0x66eb;
	h.header = SETUP_HDRS_MAGIC;
	h.version = 0x020f;
	h.loadflags = LOADED_HIGH | KEEP_SEGMENTS;
	h.code32_start = BOOT_KERNEL_ADDR;
	h.initrd_addr_max = 0x7fffffff;
	h.kernel_alignment = 0x200000;
	h.relocatable_kernel = 1;
	h.cmdline_size = 2047;
	h.pref_address = 0x1000000;
	h.init_size = 4 * MiB;
	write_hdr(img, &h);
	*len = setup + SYN_KERNEL;
	return img;
}

static int try_load(u8 *img, size_t len, u64 ram, const char *cmdline, size_t initrd_len,
		    int *nr_loaded)
{
	struct kvm *kvm = fake_kvm(ram, 1);
	u8 *initrd = initrd_len ? calloc(1, initrd_len) : NULL;
	int ret;

	ret = bzimage__load(kvm, img, len, cmdline, initrd, initrd_len);
	*nr_loaded = kvm->nr_loaded;
	free(initrd);
	free_kvm(kvm);
	return ret;
}

/* bzimage__check's reason for a mutated header; returns the error. */
static int check_reason(u8 *img, size_t len, char *why, size_t why_len)
{
	struct bzimage_info bi;

	why[0] = 0;
	return bzimage__check(img, len, &bi, why, why_len);
}

static void check_layout(struct kvm *kvm, const u8 *img, size_t len, const char *cmdline,
			 const u8 *initrd, size_t initrd_len)
{
	struct setup_header in = read_hdr(img), h;
	u32 setup_size = ((in.setup_sects ? in.setup_sects : 4) + 1) * 512;
	u32 kernel_size = in.syssize * 16;
	u8 *setup = gpa(kvm, BOOT_SETUP_ADDR, setup_size);
	u64 kernel_end, run;

	REQUIRE(setup);
	h = read_hdr(setup);

	/* Boot sector and setup code are the image's, header fields aside. */
	CHECK_MEM(setup, img, SETUP_HEADER_OFF);
	CHECK_MEM(setup + 0x268, img + 0x268, setup_size - 0x268);
	CHECK_EQ(h.header, SETUP_HDRS_MAGIC);
	CHECK_EQ(h.setup_sects, in.setup_sects);
	CHECK_EQ(h.syssize, in.syssize);
	CHECK_EQ(h.version, in.version);

	/* The loader's fields. */
	CHECK_EQ(h.type_of_loader, 0xff);
	CHECK_EQ(h.loadflags & (LOADED_HIGH | CAN_USE_HEAP | KEEP_SEGMENTS),
		 LOADED_HIGH | CAN_USE_HEAP);
	CHECK_EQ(h.heap_end_ptr, 0xde00);
	CHECK_EQ(h.vid_mode, 0xffff);
	CHECK_EQ(h.cmd_line_ptr, 0x1e000);
	CHECK_EQ(h.code32_start, in.code32_start);
	CHECK_EQ(h.setup_data, 0);
	CHECK(recorded(kvm, BOOT_SETUP_ADDR, setup_size));

	/* Command line: in the real-mode reach, NUL-terminated, recorded. */
	CHECK(h.cmd_line_ptr + strlen(cmdline) + 1 <= 0xa0000);
	CHECK(h.cmd_line_ptr >= BOOT_SETUP_ADDR + BOOT_HEAP_END);
	CHECK(!strcmp((char *)gpa(kvm, h.cmd_line_ptr, 1), cmdline));
	CHECK(recorded(kvm, h.cmd_line_ptr, strlen(cmdline) + 1));

	/* Protected-mode kernel at 1 MiB. */
	CHECK_MEM(gpa(kvm, BOOT_KERNEL_ADDR, kernel_size), img + setup_size, kernel_size);
	CHECK(recorded(kvm, BOOT_KERNEL_ADDR, kernel_size));

	/* Initrd: page aligned, above everything the kernel decompresses into. */
	run = max(ALIGN_UP(BOOT_KERNEL_ADDR, in.kernel_alignment), in.pref_address);
	kernel_end = max(BOOT_KERNEL_ADDR + kernel_size, run + in.init_size);
	CHECK_EQ(h.ramdisk_size, initrd_len);
	if (initrd_len) {
		CHECK(IS_ALIGNED(h.ramdisk_image, PAGE_SIZE));
		CHECK(h.ramdisk_image >= kernel_end);
		CHECK((u64)h.ramdisk_image + initrd_len <= kvm->mem_banks[0].size);
		CHECK((u64)h.ramdisk_image + initrd_len - 1 <= in.initrd_addr_max);
		/* As high as possible: within a page of the top of RAM. */
		CHECK((u64)h.ramdisk_image + initrd_len + PAGE_SIZE > kvm->mem_banks[0].size);
		CHECK_MEM(gpa(kvm, h.ramdisk_image, initrd_len), initrd, initrd_len);
		CHECK(recorded(kvm, h.ramdisk_image, initrd_len));
	} else {
		CHECK_EQ(h.ramdisk_image, 0);
	}

	/* Real-mode entry: CS:IP = 1000:0200, stack at the heap end. */
	CHECK_EQ(kvm->boot_mode, KVM_BOOT_BZIMAGE);
	CHECK_EQ(kvm->boot_cs, 0x1000);
	CHECK_EQ(kvm->boot_ip, 0x200);
	CHECK_EQ(kvm->boot_sp, 0xe000);
	CHECK_EQ(*gpa(kvm, 0x10200, 1), 0xeb);		/* the setup's short jmp */
}

static void test_synthetic_layout(void)
{
	size_t len, initrd_len = 3 * MiB + 123;
	u8 *img = synthetic(&len), *initrd = malloc(initrd_len);
	struct kvm *kvm = fake_kvm(64 * MiB, 1);
	size_t i;

	for (i = 0; i < initrd_len; i++)
		initrd[i] = (u8)(i ^ (i >> 9));
	CHECK_EQ(bzimage__load(kvm, img, len, "root=/dev/vda rw", initrd, initrd_len), 0);
	check_layout(kvm, img, len, "root=/dev/vda rw", initrd, initrd_len);
	free_kvm(kvm);

	/* No initrd, no command line. */
	kvm = fake_kvm(64 * MiB, 1);
	CHECK_EQ(bzimage__load(kvm, img, len, NULL, NULL, 0), 0);
	check_layout(kvm, img, len, "", NULL, 0);
	free_kvm(kvm);
	free(initrd);
	free(img);
}

static void test_setup_sects_zero_means_four(void)
{
	size_t len;
	u8 *img = synthetic(&len);
	struct setup_header h = read_hdr(img);
	struct bzimage_info bi;
	char why[256];

	/* Move the kernel so the image still adds up with 4 + 1 sectors. */
	memmove(img + 5 * 512, img + (SYN_SECTS + 1) * 512, SYN_KERNEL);
	h.setup_sects = 0;
	write_hdr(img, &h);
	CHECK_EQ(bzimage__check(img, 5 * 512 + SYN_KERNEL, &bi, why, sizeof(why)), 0);
	CHECK_EQ(bi.setup_size, 5 * 512);
	CHECK_EQ(bi.kernel_size, SYN_KERNEL);
	free(img);
}

/* Each malformed image: the error, the reason's key word, nothing loaded. */
static void expect_reject(u8 *img, size_t len, int err, const char *word)
{
	char why[256];
	int nr_loaded = -1;

	CHECK_EQ(check_reason(img, len, why, sizeof(why)), err);
	if (!strstr(why, word)) {
		printf("# reason \"%s\" lacks \"%s\"\n", why, word);
		CHECK(strstr(why, word));
	}
	CHECK(!strchr(why, '\n'));
	CHECK_EQ(try_load(img, len, 64 * MiB, "", 0, &nr_loaded), err);
	CHECK_EQ(nr_loaded, 0);
}

static void test_reject_malformed(void)
{
	size_t len;
	u8 *img = synthetic(&len);
	struct setup_header good = read_hdr(img), h;

	h = good; h.header = 0x53726449;		/* "IdrS" */
	write_hdr(img, &h);
	expect_reject(img, len, -ENOEXEC, "HdrS");

	h = good; h.version = 0x0209;
	write_hdr(img, &h);
	expect_reject(img, len, -EINVAL, "too old");

	h = good; h.boot_flag = 0x55ab;
	write_hdr(img, &h);
	expect_reject(img, len, -EINVAL, "boot_flag");

	h = good; h.loadflags = 0;
	write_hdr(img, &h);
	expect_reject(img, len, -EINVAL, "LOADED_HIGH");

	h = good; h.setup_sects = 64;			/* 65 * 512 > 32 KiB */
	write_hdr(img, &h);
	expect_reject(img, len, -EINVAL, "setup_sects");

	h = good; h.setup_sects = 200;			/* also past the file end */
	write_hdr(img, &h);
	expect_reject(img, len, -EINVAL, "setup_sects");

	h = good; h.syssize = SYN_KERNEL / 16 + 1;
	write_hdr(img, &h);
	expect_reject(img, len, -EINVAL, "syssize");

	h = good; h.syssize = 0xffffffff;		/* 64 GiB: no u32 wrap */
	write_hdr(img, &h);
	expect_reject(img, len, -EINVAL, "syssize");

	h = good; h.syssize = 0;
	write_hdr(img, &h);
	expect_reject(img, len, -EINVAL, "syssize");

	h = good; h.kernel_alignment = 0x300000;
	write_hdr(img, &h);
	expect_reject(img, len, -EINVAL, "kernel_alignment");

	h = good; h.cmdline_size = 0;
	write_hdr(img, &h);
	expect_reject(img, len, -EINVAL, "cmdline_size");

	h = good; h.initrd_addr_max = 0xfffff;
	write_hdr(img, &h);
	expect_reject(img, len, -EINVAL, "initrd_addr_max");

	h = good; h.init_size = 0x1000;
	write_hdr(img, &h);
	expect_reject(img, len, -EINVAL, "init_size");

	h = good; h.pref_address = 0xfff00000ULL;
	write_hdr(img, &h);
	expect_reject(img, len, -EINVAL, "pref_address");

	/* Truncated: inside the header, inside setup, inside the kernel. */
	write_hdr(img, &good);
	expect_reject(img, 0x210, -EINVAL, "truncated");
	expect_reject(img, 0x300, -EINVAL, "truncated");
	expect_reject(img, len - 1, -EINVAL, "truncated");
	expect_reject(img, 0x100, -ENOEXEC, "HdrS");

	free(img);
}

static void test_reject_cmdline_and_initrd(void)
{
	size_t len;
	u8 *img = synthetic(&len);
	struct setup_header h = read_hdr(img);
	char *cmd = malloc(4096);
	int nr_loaded;

	/* Exactly cmdline_size bytes fit; one more does not. */
	h.cmdline_size = 100;
	write_hdr(img, &h);
	memset(cmd, 'x', 100);
	cmd[100] = 0;
	CHECK_EQ(try_load(img, len, 64 * MiB, cmd, 0, &nr_loaded), 0);
	memset(cmd, 'x', 101);
	cmd[101] = 0;
	CHECK_EQ(try_load(img, len, 64 * MiB, cmd, 0, &nr_loaded), -E2BIG);
	CHECK_EQ(nr_loaded, 0);

	/* The kernel allows 2047 bytes, but our area holds 8191 + NUL at most. */
	h.cmdline_size = 0x7fffffff;
	write_hdr(img, &h);
	memset(cmd, 'y', 4095);
	cmd[4095] = 0;
	CHECK_EQ(try_load(img, len, 64 * MiB, cmd, 0, &nr_loaded), 0);
	free(cmd);

	/* 64 MiB RAM, kernel runs at 16 MiB with 4 MiB init_size: 44 MiB left. */
	h.cmdline_size = 2047;
	write_hdr(img, &h);
	CHECK_EQ(try_load(img, len, 64 * MiB, "", 44 * MiB, &nr_loaded), 0);
	CHECK_EQ(try_load(img, len, 64 * MiB, "", 44 * MiB + 1, &nr_loaded), -E2BIG);
	CHECK_EQ(nr_loaded, 0);

	/* initrd_addr_max lowers the ceiling below the top of RAM. */
	h.initrd_addr_max = 24 * MiB - 1;
	write_hdr(img, &h);
	CHECK_EQ(try_load(img, len, 64 * MiB, "", 4 * MiB, &nr_loaded), 0);
	CHECK_EQ(try_load(img, len, 64 * MiB, "", 4 * MiB + 1, &nr_loaded), -E2BIG);

	/* A ceiling below the kernel's end leaves no room at all. */
	h.initrd_addr_max = 16 * MiB - 1;
	write_hdr(img, &h);
	CHECK_EQ(try_load(img, len, 64 * MiB, "", 1, &nr_loaded), -E2BIG);
	CHECK_EQ(try_load(img, len, 64 * MiB, "", 17 * MiB, &nr_loaded), -E2BIG);
	CHECK_EQ(nr_loaded, 0);

	/* RAM too small for the decompressed kernel. */
	h.initrd_addr_max = 0x7fffffff;
	write_hdr(img, &h);
	CHECK_EQ(try_load(img, len, 20 * MiB, "", 0, &nr_loaded), 0);
	CHECK_EQ(try_load(img, len, 20 * MiB - PAGE_SIZE, "", 0, &nr_loaded), -ENOMEM);
	CHECK_EQ(nr_loaded, 0);
	free(img);
}

/* ---- e820 ---- */

static void check_e820_sane(const struct e820_entry *m, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		CHECK(m[i].size > 0);
		CHECK(m[i].type == E820_RAM || m[i].type == E820_RESERVED);
		if (i)
			CHECK(m[i - 1].addr + m[i - 1].size <= m[i].addr);
	}
}

static void test_e820_low_ram(void)
{
	struct kvm *kvm = fake_kvm(64 * MiB, 1);
	struct e820_entry m[E820_MAX_ENTRIES];
	int n = e820__build(kvm, m, E820_MAX_ENTRIES);

	REQUIRE(n == 5);
	check_e820_sane(m, n);
	CHECK_EQ(m[0].addr, 0);          CHECK_EQ(m[0].size, 0x9fc00);   CHECK_EQ(m[0].type, E820_RAM);
	CHECK_EQ(m[1].addr, 0x9fc00);    CHECK_EQ(m[1].size, 0x400);     CHECK_EQ(m[1].type, E820_RESERVED);
	CHECK_EQ(m[2].addr, 0xf0000);    CHECK_EQ(m[2].size, 0x10000);   CHECK_EQ(m[2].type, E820_RESERVED);
	CHECK_EQ(m[3].addr, 0x100000);   CHECK_EQ(m[3].size, 63 * MiB);  CHECK_EQ(m[3].type, E820_RAM);
	CHECK_EQ(m[4].addr, 0xfec00000); CHECK_EQ(m[4].size, 0x1400000); CHECK_EQ(m[4].type, E820_RESERVED);

	/* Too small a table is an error, not a silent truncation. */
	CHECK_EQ(e820__build(kvm, m, 4), -ENOSPC);
	free_kvm(kvm);
}

static void test_e820_high_ram(void)
{
	struct kvm kvm;
	struct e820_entry m[E820_MAX_ENTRIES];
	u64 ram = 0, rsv = 0;
	int i, n;

	/* 5 GiB the way kvm__alloc_ram lays it out: 3 GiB low, 2 GiB above 4 GiB. */
	memset(&kvm, 0, sizeof(kvm));
	kvm.mem_banks[0] = (struct kvm_mem_bank){ .guest_phys_addr = 0,
		.size = KVM_32BIT_GAP_START, .type = KVM_MEM_TYPE_RAM };
	kvm.mem_banks[1] = (struct kvm_mem_bank){ .guest_phys_addr = 1ULL << 32,
		.size = 2ULL << 30, .type = KVM_MEM_TYPE_RAM };
	kvm.nr_mem_banks = 2;
	n = e820__build(&kvm, m, E820_MAX_ENTRIES);
	REQUIRE(n == 6);
	check_e820_sane(m, n);
	CHECK_EQ(m[3].addr, 0x100000);
	CHECK_EQ(m[3].addr + m[3].size, KVM_32BIT_GAP_START);
	CHECK_EQ(m[5].addr, 1ULL << 32);
	CHECK_EQ(m[5].size, 2ULL << 30);
	for (i = 0; i < n; i++) {
		if (m[i].type == E820_RAM)
			ram += m[i].size;
		else
			rsv += m[i].size;
		/* Nothing usable in the PCI hole. */
		if (m[i].type == E820_RAM)
			CHECK(m[i].addr + m[i].size <= KVM_32BIT_GAP_START ||
			      m[i].addr >= (1ULL << 32));
	}
	CHECK_EQ(ram, 5ULL * 1024 * MiB - (0x100000 - 0x9fc00));
	CHECK_EQ(rsv, 0x400 + 0x10000 + 0x1400000);
}

/* ---- BIOS tables as the guest sees them ---- */

static void test_bios_tables(void)
{
	size_t len;
	u8 *img = synthetic(&len);
	struct kvm *kvm = fake_kvm(64 * MiB, 2);
	struct e820_entry m[E820_MAX_ENTRIES];
	u8 *bios, *ivt;
	u16 nr, off, seg;
	int n, v;

	REQUIRE(bzimage__load(kvm, img, len, "", NULL, 0) == 0);
	bios = gpa(kvm, BIOS_START, 0x10000);
	ivt = gpa(kvm, 0, 0x500);
	REQUIRE(bios && ivt);
	CHECK_MEM(bios, "LKVMBIOS", 8);

	/* Every vector points at code inside the BIOS, in its segment. */
	for (v = 0; v < 256; v++) {
		memcpy(&off, ivt + v * 4, 2);
		memcpy(&seg, ivt + v * 4 + 2, 2);
		CHECK_EQ(seg, BIOS_SEG);
		CHECK(off >= 26 && off < BIOS_CODE_MAX);
	}
	memcpy(&off, ivt + 0x15 * 4, 2);
	CHECK(off != rd16(bios + 8));		/* int 0x15 is not the stub */
	CHECK(recorded(kvm, 0, 0x500));

	/* BDA: EBDA segment and base memory agree with the e820 map. */
	CHECK_EQ(rd16(ivt + 0x40e), 0x9fc0);
	CHECK_EQ(rd16(ivt + 0x413), 639);
	CHECK_EQ(rd16(ivt + 0x400), 0x3f8);

	/* The int 0x15 E820 table equals e820__build's, entry for entry. */
	n = e820__build(kvm, m, E820_MAX_ENTRIES);
	memcpy(&nr, bios + BIOS_DATA_NR_E820, 2);
	CHECK_EQ(nr, n);
	CHECK_MEM(bios + BIOS_DATA_E820, m, n * sizeof(m[0]));
	CHECK(recorded(kvm, BIOS_START + BIOS_DATA_E820, n * sizeof(m[0])));

	/* AH=0x88 / AX=0xe801: 63 MiB above 1 MiB. */
	CHECK_EQ(rd16(bios + BIOS_DATA_EXT88), 63 * 1024);
	CHECK_EQ(rd16(bios + BIOS_DATA_E801_LO), 15 * 1024);
	CHECK_EQ(rd16(bios + BIOS_DATA_E801_HI), 48 * 16);
	free_kvm(kvm);
	free(img);
}

/* ---- MP table ---- */

static u8 sum(const void *p, size_t len)
{
	const u8 *b = p;
	u8 s = 0;

	while (len--)
		s += *b++;
	return s;
}

/* Find "_MP_" the way Linux does: 16-byte steps through the BIOS segment. */
static const struct mpf_intel *scan_mpf(const u8 *bios)
{
	size_t off;

	for (off = 0; off < 0x10000; off += 16)
		if (!memcmp(bios + off, "_MP_", 4) && !sum(bios + off, 16))
			return (const struct mpf_intel *)(bios + off);
	return NULL;
}

static void check_mptable(const u8 *base, u32 base_gpa, int nr_cpus)
{
	const struct mpf_intel *mpf = scan_mpf(base);
	const struct mpc_table *mpc;
	const u8 *p, *end;
	int cpus = 0, buses = 0, ioapics = 0, ints = 0, lints = 0, entries = 0;
	int ioapic_id = -1, pci_ints = 0, i;
	bool isa_irq[16] = { false };
	u8 pci_pin[32] = { 0 }, pin_srcs[24] = { 0 };

	REQUIRE(mpf);
	CHECK_EQ(mpf->length, 1);
	CHECK_EQ(mpf->specification, 4);
	CHECK_EQ(mpf->feature1, 0);			/* a config table follows */
	REQUIRE(mpf->physptr >= base_gpa && mpf->physptr < base_gpa + 0x10000);
	mpc = (const struct mpc_table *)(base + (mpf->physptr - base_gpa));
	CHECK_MEM(mpc->signature, "PCMP", 4);
	CHECK_EQ(mpc->spec, 4);
	CHECK_EQ(mpc->lapic, LAPIC_ADDR);
	REQUIRE(mpc->length >= sizeof(*mpc) && mpf->physptr - base_gpa + mpc->length <= 0x10000);
	CHECK_EQ(sum(mpc, mpc->length), 0);

	p = (const u8 *)(mpc + 1);
	end = (const u8 *)mpc + mpc->length;
	while (p < end) {
		const struct mpc_cpu *c = (const void *)p;
		const struct mpc_ioapic *io = (const void *)p;
		const struct mpc_intsrc *s = (const void *)p;

		entries++;
		switch (*p) {
		case MP_PROCESSOR:
			CHECK_EQ(c->apicid, cpus);
			CHECK(c->cpuflag & MP_CPU_ENABLED);
			CHECK_EQ(!!(c->cpuflag & MP_CPU_BSP), cpus == 0);
			cpus++;
			p += sizeof(*c);
			break;
		case MP_BUS: {
			const struct mpc_bus *b = (const void *)p;

			/* Linux takes a bus's type, and so its default trigger, from its name. */
			CHECK_MEM(b->bustype, b->busid == MP_BUS_PCI_ID ? "PCI   " : "ISA   ", 6);
			buses++;
			p += sizeof(struct mpc_bus);
			break;
		}
		case MP_IOAPIC:
			ioapic_id = io->apicid;
			CHECK_EQ(io->apicaddr, IOAPIC_ADDR);
			CHECK(io->flags & 1);
			ioapics++;
			p += sizeof(*io);
			break;
		case MP_INTSRC:
			CHECK_EQ(s->dstapic, ioapic_id);
			CHECK_EQ(s->irqtype, 0);
			CHECK_EQ(s->irqflag, 0);	/* the bus's: PCI level, ISA edge */
			REQUIRE(s->dstirq < 24);
			pin_srcs[s->dstirq]++;
			if (s->srcbus == MP_BUS_PCI_ID) {
				/* Device 1-31, INTA; slots 4 apart share a pin. */
				CHECK_EQ(s->srcbusirq & 3, 0);
				CHECK(s->srcbusirq >> 2 >= 1 && s->srcbusirq >> 2 < 32);
				CHECK_EQ(pci_pin[s->srcbusirq >> 2], 0);
				pci_pin[s->srcbusirq >> 2] = s->dstirq;
				pci_ints++;
			} else {
				CHECK_EQ(s->srcbus, MP_BUS_ISA_ID);
				CHECK_EQ(s->dstirq, s->srcbusirq);
				if (s->srcbusirq < 16)
					isa_irq[s->srcbusirq] = true;
				ints++;
			}
			p += sizeof(*s);
			break;
		case MP_LINTSRC:
			CHECK_EQ(s->dstapic, 0xff);
			lints++;
			p += sizeof(*s);
			break;
		default:
			CHECK(!"unknown MP entry type");
			return;
		}
	}
	CHECK(p == end);
	CHECK_EQ(entries, mpc->oemcount);
	CHECK_EQ(cpus, nr_cpus);
	CHECK_EQ(buses, 2);
	CHECK_EQ(ioapics, 1);
	CHECK_EQ(ioapic_id, nr_cpus);			/* not shared with a LAPIC */
	/*
	 * The ISA devices' IRQs (PIT, kbd, serial, RTC, mouse, IDE) have their
	 * ISA entries; the four PCI pins have PCI entries only, or Linux would
	 * program them edge-triggered; no pin has two sources.
	 */
	CHECK_EQ(pci_ints, 31);
	CHECK_EQ(ints, 11);
	CHECK(isa_irq[0] && isa_irq[1] && isa_irq[3] && isa_irq[4] && isa_irq[8] &&
	      isa_irq[12] && isa_irq[14] && isa_irq[15] && !isa_irq[2]);
	for (i = 1; i < 32; i++) {
		/* The pin the bus gives a device in slot i (test-virtio-pci checks that). */
		CHECK_EQ(pci_pin[i], pci__intx_gsi(i));
		CHECK(pci_pin[i] && pci_pin[i] < 16 && !isa_irq[pci_pin[i]]);
		CHECK_EQ(pci_pin[i], pci_pin[i % 4 ? i % 4 : 4]);
	}
	CHECK(pci_pin[1] != pci_pin[2] && pci_pin[2] != pci_pin[3] && pci_pin[3] != pci_pin[4] &&
	      pci_pin[1] != pci_pin[3] && pci_pin[1] != pci_pin[4] && pci_pin[2] != pci_pin[4]);
	for (i = 0; i < 24; i++)
		CHECK(pin_srcs[i] <= (i < 16 && !isa_irq[i] && i != 2 ? 8 : 1));
	CHECK_EQ(lints, 2);
}

static void test_mptable_4_cpus(void)
{
	u8 *buf = calloc(1, 0x10000);
	struct kvm *kvm;
	size_t len;
	u8 *img = synthetic(&len);
	int n;

	/* Built in a buffer that stands for the BIOS segment. */
	n = mptable__build(buf + MPTABLE_OFF, MPTABLE_MAX, BIOS_START + MPTABLE_OFF, 4);
	CHECK(n > 0 && n <= MPTABLE_MAX);
	check_mptable(buf, BIOS_START, 4);

	/* Placed by the loader for a 4-vCPU guest, found by a scan. */
	kvm = fake_kvm(64 * MiB, 4);
	REQUIRE(bzimage__load(kvm, img, len, "", NULL, 0) == 0);
	check_mptable(gpa(kvm, BIOS_START, 0x10000), BIOS_START, 4);
	CHECK(recorded(kvm, BIOS_START + MPTABLE_OFF, n));
	free_kvm(kvm);

	/* The extremes: 1 and KVM_MAX_VCPUS vCPUs fit; bad counts do not. */
	memset(buf, 0, 0x10000);
	CHECK(mptable__build(buf + MPTABLE_OFF, MPTABLE_MAX, BIOS_START + MPTABLE_OFF, 1) > 0);
	check_mptable(buf, BIOS_START, 1);
	memset(buf, 0, 0x10000);
	CHECK(mptable__build(buf + MPTABLE_OFF, MPTABLE_MAX, BIOS_START + MPTABLE_OFF,
			     KVM_MAX_VCPUS) > 0);
	check_mptable(buf, BIOS_START, KVM_MAX_VCPUS);
	CHECK_EQ(mptable__build(buf, MPTABLE_MAX, BIOS_START, 0), -EINVAL);
	CHECK_EQ(mptable__build(buf, 100, BIOS_START, 4), -ENOSPC);
	free(buf);
	free(img);
}

/* ---- the real Debian kernel ---- */

static u8 *real_image(size_t *len, const char **why)
{
	const char *build = getenv("LKVM_BUILD"), *src = getenv("LKVM_SRC");
	char path[4096], cmd[8192];
	void *buf;
	int ret;

	snprintf(path, sizeof(path), "%s/linux/vmlinuz", build ? build : "build");
	if (access(path, R_OK)) {
		/* Fetch it (apt-get download), as the integration test does. */
		static char reason[512];
		char line[400] = "no output";
		FILE *f;

		snprintf(cmd, sizeof(cmd), "O='%s' '%s/scripts/fetch-linux.sh' 2>&1",
			 build ? build : "build", src ? src : ".");
		f = popen(cmd, "r");
		if (!f) {
			*why = "cannot run scripts/fetch-linux.sh";
			return NULL;
		}
		while (fgets(line, sizeof(line), f))
			line[strcspn(line, "\n")] = 0;
		if (pclose(f) != 0 || access(path, R_OK)) {
			snprintf(reason, sizeof(reason),
				 "cannot fetch linux-image-cloud-amd64: %s", line);
			*why = reason;
			return NULL;
		}
	}
	ret = read_file(path, &buf, len, 256 << 20);
	if (ret) {
		*why = "cannot read build/linux/vmlinuz";
		return NULL;
	}
	return buf;
}

static void test_debian_kernel_layout(void)
{
	const char *why = NULL;
	size_t len, initrd_len = 2 * MiB + 5;
	u8 *img = real_image(&len, &why), *initrd;
	struct setup_header in;
	struct bzimage_info bi;
	struct kvm *kvm;
	char reason[256];
	int nr_loaded;

	if (!img)
		SKIP(why);
	in = read_hdr(img);
	CHECK_EQ(bzimage__check(img, len, &bi, reason, sizeof(reason)), 0);
	CHECK(bi.version >= 0x020a);
	CHECK(bi.relocatable);
	CHECK(bi.setup_size + bi.kernel_size <= len);

	initrd = malloc(initrd_len);
	memset(initrd, 0x5a, initrd_len);
	kvm = fake_kvm(128 * MiB, 4);
	CHECK_EQ(bzimage__load(kvm, img, len, TEST_CMDLINE, initrd, initrd_len), 0);
	check_layout(kvm, img, len, TEST_CMDLINE, initrd, initrd_len);
	check_mptable(gpa(kvm, BIOS_START, 0x10000), BIOS_START, 4);
	printf("# %s: protocol %u.%02u, setup %u B, kernel %u B, init_size %u MiB, initrd at 0x%x\n",
	       "vmlinuz", bi.version >> 8, bi.version & 0xff, bi.setup_size, bi.kernel_size,
	       bi.init_size >> 20, read_hdr(gpa(kvm, BOOT_SETUP_ADDR, 0x1000)).ramdisk_image);
	free_kvm(kvm);

	/* Too little RAM for its init_size: refused, nothing written. */
	CHECK_EQ(try_load(img, len, 48 * MiB, TEST_CMDLINE, 0, &nr_loaded), -ENOMEM);
	CHECK_EQ(nr_loaded, 0);
	/* Cut inside the protected-mode kernel. */
	CHECK_EQ(check_reason(img, bi.setup_size + bi.kernel_size - 1, reason, sizeof(reason)),
		 -EINVAL);
	CHECK(strstr(reason, "truncated"));
	/* A command line longer than the kernel's cmdline_size. */
	{
		char *cmd = malloc(in.cmdline_size + 2);

		memset(cmd, 'z', in.cmdline_size + 1);
		cmd[in.cmdline_size + 1] = 0;
		CHECK_EQ(try_load(img, len, 128 * MiB, cmd, 0, &nr_loaded), -E2BIG);
		free(cmd);
	}
	free(initrd);
	free(img);
}

TEST_MAIN_BEGIN("test-bzimage")
	RUN(test_synthetic_layout);
	RUN(test_setup_sects_zero_means_four);
	RUN(test_reject_malformed);
	RUN(test_reject_cmdline_and_initrd);
	RUN(test_e820_low_ram);
	RUN(test_e820_high_ram);
	RUN(test_bios_tables);
	RUN(test_mptable_4_cpus);
	RUN(test_debian_kernel_layout);
TEST_MAIN_END()
