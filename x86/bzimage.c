/*
 * Linux bzImage loader, 16-bit boot protocol (Documentation/arch/x86/
 * boot.rst), the way a PC boot loader does it: the real-mode setup code
 * runs first, asks the BIOS (x86/bios.c) for the memory map and video
 * state, builds the kernel's boot_params itself from our setup header,
 * and jumps to the protected-mode kernel at 1 MiB.
 *
 * So what the loader fills is the setup header inside the loaded setup
 * code at 0x10000 (that is the "zero page" of this protocol: setup copies
 * it into its own boot_params); the e820 map reaches the kernel through
 * int 0x15, not through boot_params.e820_table.
 *
 * Images are untrusted input: every field is checked against the file
 * size and the guest's memory before a byte is copied, and each refusal
 * is one line saying which field is wrong.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lkvm/kvm.h"
#include "lkvm/x86-boot.h"

#define SETUP_ENTRY_OFF		0x200	/* the jump at the start of setup */
#define HEADER_END_2_10		0x268	/* through init_size */

static int why_fail(int err, char *why, size_t why_len, const char *fmt, ...)
	__printf(4, 5);

static int why_fail(int err, char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (why && why_len) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return err;
}

bool bzimage__is_bzimage(const void *image, size_t len)
{
	u32 magic;

	if (len < 0x206)
		return false;
	memcpy(&magic, (const u8 *)image + 0x202, 4);
	return magic == SETUP_HDRS_MAGIC;
}

int bzimage__check(const void *image, size_t len, struct bzimage_info *bi,
		   char *why, size_t why_len)
{
	struct setup_header h;
	u64 setup_size, kernel_size;
	u32 sects;

	memset(bi, 0, sizeof(*bi));
	if (!bzimage__is_bzimage(image, len))
		return why_fail(-ENOEXEC, why, why_len,
				"not a bzImage: no \"HdrS\" setup header magic at offset 0x202");
	if (len < HEADER_END_2_10)
		return why_fail(-EINVAL, why, why_len,
				"truncated: %zu bytes, too short for the setup header", len);
	memset(&h, 0, sizeof(h));
	memcpy(&h, (const u8 *)image + SETUP_HEADER_OFF,
	       min(sizeof(h), len - SETUP_HEADER_OFF));

	if (h.version < BOOT_PROTO_MIN)
		return why_fail(-EINVAL, why, why_len,
				"boot protocol %u.%02u is too old: lkvm needs %u.%02u or later (Linux 2.6.31+)",
				h.version >> 8, h.version & 0xff,
				BOOT_PROTO_MIN >> 8, BOOT_PROTO_MIN & 0xff);
	if (h.boot_flag != SETUP_BOOT_FLAG)
		return why_fail(-EINVAL, why, why_len,
				"bad boot_flag 0x%04x at 0x1fe (expected 0xaa55)", h.boot_flag);
	if (!(h.loadflags & LOADED_HIGH))
		return why_fail(-EINVAL, why, why_len,
				"loadflags 0x%02x lack LOADED_HIGH: a zImage, not supported",
				h.loadflags);

	sects = h.setup_sects ? h.setup_sects : 4;
	setup_size = (u64)(sects + 1) * 512;
	if (setup_size > BOOT_SETUP_MAX)
		return why_fail(-EINVAL, why, why_len,
				"setup_sects %u makes %llu bytes of setup code; at most %u fit below the setup heap",
				sects, (unsigned long long)setup_size, BOOT_SETUP_MAX);
	if (setup_size > len)
		return why_fail(-EINVAL, why, why_len,
				"truncated: setup_sects %u needs %llu bytes, the file has %zu",
				sects, (unsigned long long)setup_size, len);

	kernel_size = (u64)h.syssize * 16;
	if (!kernel_size)
		return why_fail(-EINVAL, why, why_len, "syssize is 0: no protected-mode kernel");
	if (kernel_size > len - setup_size)
		return why_fail(-EINVAL, why, why_len,
				"truncated: syssize says %llu kernel bytes, the file has %llu after the setup code",
				(unsigned long long)kernel_size,
				(unsigned long long)(len - setup_size));

	if (h.relocatable_kernel &&
	    (h.kernel_alignment < PAGE_SIZE || (h.kernel_alignment & (h.kernel_alignment - 1))))
		return why_fail(-EINVAL, why, why_len,
				"kernel_alignment 0x%x is not a power of two of at least 4 KiB",
				h.kernel_alignment);
	if (!h.cmdline_size)
		return why_fail(-EINVAL, why, why_len, "cmdline_size is 0");
	if (h.initrd_addr_max < BOOT_KERNEL_ADDR)
		return why_fail(-EINVAL, why, why_len,
				"initrd_addr_max 0x%x is below 1 MiB", h.initrd_addr_max);
	if (h.init_size < kernel_size)
		return why_fail(-EINVAL, why, why_len,
				"init_size 0x%x is smaller than the kernel (0x%llx bytes)",
				h.init_size, (unsigned long long)kernel_size);
	if (h.pref_address >= FIXED_MMIO_START ||
	    h.pref_address + h.init_size > FIXED_MMIO_START)
		return why_fail(-EINVAL, why, why_len,
				"pref_address 0x%llx + init_size 0x%x is beyond low memory",
				(unsigned long long)h.pref_address, h.init_size);

	bi->version = h.version;
	bi->setup_size = setup_size;
	bi->kernel_size = kernel_size;
	bi->cmdline_max = min(h.cmdline_size, (u32)BOOT_CMDLINE_MAX);
	bi->initrd_addr_max = h.initrd_addr_max;
	bi->kernel_alignment = h.kernel_alignment;
	bi->pref_address = h.pref_address;
	bi->init_size = h.init_size;
	bi->relocatable = h.relocatable_kernel;
	return 0;
}

int bzimage__layout(struct kvm *kvm, const struct bzimage_info *bi,
		    size_t cmdline_len, u64 initrd_len, struct bzimage_layout *lo,
		    char *why, size_t why_len)
{
	struct kvm_mem_bank *bank = kvm__find_bank(kvm, BOOT_KERNEL_ADDR, 1);
	u64 run, end_max, room;

	memset(lo, 0, sizeof(*lo));
	if (!bank || bank->guest_phys_addr > 0 || !kvm__find_bank(kvm, 0, BIOS_END))
		return why_fail(-EFAULT, why, why_len,
				"guest RAM must start at 0 and cover the first MiB");
	lo->setup_gpa = BOOT_SETUP_ADDR;
	lo->kernel_gpa = BOOT_KERNEL_ADDR;
	lo->cmdline_gpa = BOOT_CMDLINE_ADDR;
	lo->low_ram_top = min(bank->guest_phys_addr + bank->size, FIXED_MMIO_START);

	if (cmdline_len > bi->cmdline_max)
		return why_fail(-E2BIG, why, why_len,
				"command line is %zu bytes; this kernel accepts at most %u",
				cmdline_len, bi->cmdline_max);

	/*
	 * The decompressor runs in place from 1 MiB (rounded up to the
	 * kernel's alignment, never below its preferred address) and needs
	 * init_size bytes there; nothing else may sit in that range.
	 */
	run = BOOT_KERNEL_ADDR;
	if (bi->relocatable)
		run = ALIGN_UP(run, bi->kernel_alignment);
	run = max(run, bi->pref_address);
	lo->kernel_end = max(BOOT_KERNEL_ADDR + bi->kernel_size, run + bi->init_size);
	if (lo->kernel_end > lo->low_ram_top)
		return why_fail(-ENOMEM, why, why_len,
				"guest RAM too small: this kernel needs %llu MiB below the PCI hole, there are %llu (raise -m)",
				(unsigned long long)DIV_ROUND_UP(lo->kernel_end, SZ_1M),
				(unsigned long long)(lo->low_ram_top >> 20));

	if (!initrd_len)
		return 0;
	/* As high as possible, as boot loaders do, below both limits. */
	end_max = min((u64)bi->initrd_addr_max + 1, lo->low_ram_top);
	room = end_max > lo->kernel_end ? end_max - lo->kernel_end : 0;
	if (initrd_len > room ||
	    ALIGN_DOWN(end_max - initrd_len, PAGE_SIZE) < lo->kernel_end)
		return why_fail(-E2BIG, why, why_len,
				"initrd '%s' is %llu bytes; only %llu fit between the kernel (ends at 0x%llx) and 0x%llx",
				kvm__initrd_file(kvm), (unsigned long long)initrd_len,
				(unsigned long long)ALIGN_DOWN(room, PAGE_SIZE),
				(unsigned long long)lo->kernel_end, (unsigned long long)end_max);
	lo->initrd_gpa = ALIGN_DOWN(end_max - initrd_len, PAGE_SIZE);
	lo->initrd_size = initrd_len;
	return 0;
}

/* Fill in the loader's fields of the setup header (boot.rst, "LOADING THE REST"). */
static void fill_header(u8 *setup, const struct bzimage_layout *lo)
{
	struct setup_header h;

	memcpy(&h, setup + SETUP_HEADER_OFF, sizeof(h));
	h.vid_mode = VID_MODE_NORMAL;
	h.type_of_loader = LOADER_TYPE_UNDEFINED;
	h.loadflags |= CAN_USE_HEAP;
	h.loadflags &= ~KEEP_SEGMENTS;
	h.heap_end_ptr = BOOT_HEAP_END - 0x200;
	h.ext_loader_ver = 0;
	h.ext_loader_type = 0;
	h.cmd_line_ptr = lo->cmdline_gpa;
	h.ramdisk_image = lo->initrd_gpa;
	h.ramdisk_size = lo->initrd_size;
	h.setup_data = 0;
	memcpy(setup + SETUP_HEADER_OFF, &h, sizeof(h));
}

int bzimage__load(struct kvm *kvm, const void *image, size_t len,
		  const char *cmdline, const void *initrd, size_t initrd_len)
{
	struct bzimage_info bi;
	struct bzimage_layout lo;
	u8 setup[BOOT_SETUP_MAX];
	char why[256];
	size_t cmdline_len;
	int ret;

	if (!cmdline)
		cmdline = "";
	if (!initrd)
		initrd_len = 0;
	cmdline_len = strlen(cmdline);

	ret = bzimage__check(image, len, &bi, why, sizeof(why));
	if (!ret)
		ret = bzimage__layout(kvm, &bi, cmdline_len, initrd_len, &lo, why, sizeof(why));
	if (ret) {
		pr_err("kernel '%s': bzImage: %s", kvm__kernel_file(kvm), why);
		return ret;
	}

	memcpy(setup, image, bi.setup_size);
	fill_header(setup, &lo);
	ret = kvm__load_bytes(kvm, lo.setup_gpa, setup, bi.setup_size);
	if (!ret)
		ret = kvm__load_bytes(kvm, lo.kernel_gpa, (const u8 *)image + bi.setup_size,
				      bi.kernel_size);
	if (!ret)
		ret = kvm__load_bytes(kvm, lo.cmdline_gpa, cmdline, cmdline_len + 1);
	if (!ret && initrd_len)
		ret = kvm__load_bytes(kvm, lo.initrd_gpa, initrd, initrd_len);
	if (ret) {
		pr_err("kernel '%s': bzImage: cannot place the kernel in guest memory: %s",
		       kvm__kernel_file(kvm), strerror(-ret));
		return ret;
	}
	ret = bios__setup(kvm);
	if (ret)
		return ret;

	kvm->boot_mode = KVM_BOOT_BZIMAGE;
	kvm->boot_cs = BOOT_SETUP_SEG;
	kvm->boot_ip = SETUP_ENTRY_OFF;
	kvm->boot_sp = BOOT_STACK_TOP;
	kvm->boot_entry = BOOT_SETUP_ADDR + SETUP_ENTRY_OFF;
	kvm->boot_info = BOOT_SETUP_ADDR;
	pr_debug("bzImage: protocol %u.%02u, setup %u bytes, kernel %u bytes at 0x%llx, initrd %llu bytes at 0x%llx",
		 bi.version >> 8, bi.version & 0xff, bi.setup_size, bi.kernel_size,
		 (unsigned long long)lo.kernel_gpa, (unsigned long long)lo.initrd_size,
		 (unsigned long long)lo.initrd_gpa);
	return 0;
}
