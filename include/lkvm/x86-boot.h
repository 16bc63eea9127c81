/*
 * Booting a Linux bzImage through the 16-bit boot protocol
 * (Documentation/arch/x86/boot.rst): where everything lives in the guest's
 * first megabyte, the setup header, the e820 map, the tiny BIOS and the MP
 * table.  The layout constants are shared with the BIOS assembly
 * (x86/bios/bios.S), hence the __ASSEMBLER__ guard.
 *
 *   0x00000 - 0x003ff  real-mode IVT (every vector points into the BIOS)
 *   0x00400 - 0x004ff  BIOS data area (EBDA segment, base memory, video)
 *   0x10000 - 0x17fff  setup code (real-mode kernel), CS=DS=SS=0x1000
 *   0x18000 - 0x1dfff  setup heap and stack (SP = 0xe000)
 *   0x1e000 - 0x1ffff  kernel command line
 *   0x9fc00 - 0x9ffff  EBDA (reserved in e820)
 *   0xf0000 - 0xfffff  BIOS: code, then data (e820, e801/88), MP table
 *   0x100000 -         protected-mode kernel; the initrd sits at the top of
 *                      low RAM, below initrd_addr_max
 */
#ifndef LKVM__X86_BOOT_H
#define LKVM__X86_BOOT_H

#define BOOT_SETUP_SEG		0x1000
#define BOOT_SETUP_ADDR		0x10000		/* BOOT_SETUP_SEG << 4 */
#define BOOT_SETUP_MAX		0x8000		/* setup must end before heap */
#define BOOT_HEAP_END		0xe000		/* offset in the setup segment */
#define BOOT_STACK_TOP		BOOT_HEAP_END
#define BOOT_CMDLINE_ADDR	(BOOT_SETUP_ADDR + BOOT_HEAP_END)
#define BOOT_CMDLINE_MAX	0x1fff		/* room up to 0x20000, NUL kept */
#define BOOT_KERNEL_ADDR	0x100000

#define EBDA_START		0x9fc00
#define EBDA_SEG		(EBDA_START >> 4)
#define VGA_HOLE_START		0xa0000
#define BIOS_START		0xf0000
#define BIOS_SEG		0xf000
#define BIOS_END		0x100000
#define FIXED_MMIO_START	0xfec00000ULL	/* IOAPIC, LAPIC, flash */
#define IOAPIC_ADDR		0xfec00000
#define LAPIC_ADDR		0xfee00000

/* Offsets inside the BIOS segment. */
#define BIOS_CODE_MAX		0x1000
#define BIOS_DATA_OFF		0x1000
#define BIOS_DATA_EXT88		(BIOS_DATA_OFF + 0)	/* u16: AH=0x88 result */
#define BIOS_DATA_E801_LO	(BIOS_DATA_OFF + 2)	/* u16: KiB 1M..16M */
#define BIOS_DATA_E801_HI	(BIOS_DATA_OFF + 4)	/* u16: 64K blocks > 16M */
#define BIOS_DATA_NR_E820	(BIOS_DATA_OFF + 6)	/* u16 */
#define BIOS_DATA_E820		(BIOS_DATA_OFF + 8)	/* 20-byte entries */
#define E820_ENTRY_SIZE		20
#define E820_MAX_ENTRIES	64
#define MPTABLE_OFF		0x2000
#define MPTABLE_MAX		0x1000

#define COM1_PORT		0x3f8
#define COM1_MCR		(COM1_PORT + 4)
#define E820_SMAP		0x534d4150	/* "SMAP" */

#ifndef __ASSEMBLER__

#include <stddef.h>
#include "lkvm/util.h"

struct kvm;

/* The setup header, at offset 0x1f1 of the image (boot protocol 2.15). */
struct setup_header {
	u8  setup_sects;
	u16 root_flags;
	u32 syssize;
	u16 ram_size;
	u16 vid_mode;
	u16 root_dev;
	u16 boot_flag;
	u16 jump;
	u32 header;
	u16 version;
	u32 realmode_swtch;
	u16 start_sys_seg;
	u16 kernel_version;
	u8  type_of_loader;
	u8  loadflags;
	u16 setup_move_size;
	u32 code32_start;
	u32 ramdisk_image;
	u32 ramdisk_size;
	u32 bootsect_kludge;
	u16 heap_end_ptr;
	u8  ext_loader_ver;
	u8  ext_loader_type;
	u32 cmd_line_ptr;
	u32 initrd_addr_max;
	u32 kernel_alignment;
	u8  relocatable_kernel;
	u8  min_alignment;
	u16 xloadflags;
	u32 cmdline_size;
	u32 hardware_subarch;
	u64 hardware_subarch_data;
	u32 payload_offset;
	u32 payload_length;
	u64 setup_data;
	u64 pref_address;
	u32 init_size;
	u32 handover_offset;
	u32 kernel_info_offset;
} __packed;

#define SETUP_HEADER_OFF	0x1f1
#define SETUP_HDRS_MAGIC	0x53726448	/* "HdrS" */
#define SETUP_BOOT_FLAG		0xaa55
#define BOOT_PROTO_MIN		0x020a		/* pref_address, init_size */
#define LOADED_HIGH		0x01
#define KEEP_SEGMENTS		0x40
#define CAN_USE_HEAP		0x80
#define VID_MODE_NORMAL		0xffff
#define LOADER_TYPE_UNDEFINED	0xff

struct e820_entry {
	u64 addr;
	u64 size;
	u32 type;
} __packed;

enum { E820_RAM = 1, E820_RESERVED = 2 };

/* What bzimage__check() learned from a valid image. */
struct bzimage_info {
	u16 version;
	u32 setup_size;		/* bytes, boot sector included */
	u32 kernel_size;	/* protected-mode part: syssize * 16 */
	u32 cmdline_max;	/* without the NUL */
	u32 initrd_addr_max;	/* highest byte the initrd may use */
	u32 kernel_alignment;
	u64 pref_address;
	u32 init_size;		/* memory the kernel needs while decompressing */
	bool relocatable;
};

/* Where bzimage__layout() put things (guest physical addresses). */
struct bzimage_layout {
	u64 setup_gpa, kernel_gpa, cmdline_gpa;
	u64 kernel_end;		/* first byte the decompressed kernel leaves free */
	u64 low_ram_top;	/* end of the RAM bank holding 1 MiB */
	u64 initrd_gpa, initrd_size;
};

/*
 * Validate an image.  Returns 0, or -ENOEXEC (not a bzImage: no "HdrS") /
 * -EINVAL (malformed or unsupported) with a one-line reason in why.
 */
int bzimage__check(const void *image, size_t len, struct bzimage_info *bi,
		   char *why, size_t why_len);
/* Quick test for the kernel loader: does this look like a bzImage at all? */
bool bzimage__is_bzimage(const void *image, size_t len);
/* Choose addresses for the kernel, command line and initrd in kvm's RAM. */
int bzimage__layout(struct kvm *kvm, const struct bzimage_info *bi,
		    size_t cmdline_len, u64 initrd_len, struct bzimage_layout *lo,
		    char *why, size_t why_len);
/*
 * Load a bzImage held in memory: setup + kernel + command line + initrd
 * (initrd may be NULL) + BIOS, IVT, e820 and MP table, every byte through
 * kvm__load_bytes().  Sets kvm->boot_mode = KVM_BOOT_BZIMAGE and the
 * real-mode entry (boot_cs/ip/sp).  Errors are printed (one line) and
 * returned as negative errno.
 */
int bzimage__load(struct kvm *kvm, const void *image, size_t len,
		  const char *cmdline, const void *initrd, size_t initrd_len);

/* e820 map for kvm's memory banks, sorted; returns the entry count. */
int e820__build(struct kvm *kvm, struct e820_entry *map, int max);

/* BIOS: IVT + BDA at 0, code + data at 0xf0000, MP table; see bios.c. */
int bios__setup(struct kvm *kvm);
int bios__nr_cpus(struct kvm *kvm);

/*
 * MP table (Intel MP spec 1.4): floating pointer at gpa, config table
 * right after.  Builds into buf (size bytes) and returns the length used,
 * or -ENOSPC.
 */
int mptable__build(void *buf, size_t size, u32 gpa, int nr_cpus);
int mptable__setup(struct kvm *kvm, int nr_cpus);

/* MP spec structures, exported for the tests. */
struct mpf_intel {
	char signature[4];	/* "_MP_" */
	u32 physptr;
	u8 length;		/* in 16-byte units: 1 */
	u8 specification;	/* 4 = 1.4 */
	u8 checksum;
	u8 feature1, feature2, feature3, feature4, feature5;
} __packed;

struct mpc_table {
	char signature[4];	/* "PCMP" */
	u16 length;
	u8 spec;
	u8 checksum;
	char oem[8];
	char productid[12];
	u32 oemptr;
	u16 oemsize;
	u16 oemcount;		/* number of entries */
	u32 lapic;
	u16 reserved;		/* extended table length */
	u8 ext_checksum;
	u8 reserved2;
} __packed;

enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_INTSRC = 3, MP_LINTSRC = 4 };

struct mpc_cpu {
	u8 type;
	u8 apicid;
	u8 apicver;
	u8 cpuflag;		/* 1 enabled, 2 boot processor */
	u32 cpufeature;
	u32 featureflag;
	u32 reserved[2];
} __packed;

struct mpc_bus {
	u8 type;
	u8 busid;
	char bustype[6];
} __packed;

struct mpc_ioapic {
	u8 type;
	u8 apicid;
	u8 apicver;
	u8 flags;
	u32 apicaddr;
} __packed;

struct mpc_intsrc {
	u8 type;
	u8 irqtype;		/* 0 INT, 1 NMI, 2 SMI, 3 ExtINT */
	u16 irqflag;
	u8 srcbus;
	u8 srcbusirq;
	u8 dstapic;		/* 0xff: all local APICs (LINT entries) */
	u8 dstirq;
} __packed;

#define MP_BUS_PCI_ID		0
#define MP_BUS_ISA_ID		1
#define MP_CPU_ENABLED		1
#define MP_CPU_BSP		2

#endif /* __ASSEMBLER__ */
#endif
