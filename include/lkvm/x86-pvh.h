/* PVH boot (x86/pvh.c): ELF kernels with a XEN_ELFNOTE_PHYS32_ENTRY note. */
#ifndef LKVM__X86_PVH_H
#define LKVM__X86_PVH_H

#include "lkvm/util.h"

struct kvm;

#define XEN_ELFNOTE_PHYS32_ENTRY	18
#define HVM_START_MAGIC			0x336ec578

struct hvm_start_info {
	u32 magic;
	u32 version;
	u32 flags;
	u32 nr_modules;
	u64 modlist_paddr;
	u64 cmdline_paddr;
	u64 rsdp_paddr;
	u64 memmap_paddr;
	u32 memmap_entries;
	u32 reserved;
};

struct hvm_modlist_entry {
	u64 paddr;
	u64 size;
	u64 cmdline_paddr;
	u64 reserved;
};

struct hvm_memmap_table_entry {
	u64 addr;
	u64 size;
	u32 type;
	u32 reserved;
};

#define E820_RAM	1
#define E820_RESERVED	2

/* Fixed low-memory layout of what lkvm builds for a PVH guest. */
#define PVH_START_INFO_ADDR	0x6000ULL
#define PVH_MODLIST_ADDR	0x6040ULL
#define PVH_MEMMAP_ADDR		0x6100ULL
#define PVH_MEMMAP_MAX		64
#define PVH_CMDLINE_ADDR	0x20000ULL
#define PVH_CMDLINE_MAX		0x10000ULL
/* Kernel segments must stay clear of [0, 0x7000) and the command line. */
#define PVH_RESERVED_LOW_END	0x7000ULL

bool pvh__is_elf(const void *img, size_t len);
/* Validates and loads; every failure prints one line naming the problem. */
int pvh__load(struct kvm *kvm, const void *img, size_t len, const char *cmdline,
	      const void *initrd, size_t initrd_len);
/* The e820-style map lkvm reports for the current banks; returns entries. */
int x86__build_memmap(struct kvm *kvm, struct hvm_memmap_table_entry *e, int max);

/* Tries bzImage, then PVH ELF; reads the files named in kvm->cfg. */
int kvm__load_kernel(struct kvm *kvm);

#endif
