/*
 * PVH boot: load an ELF kernel's PT_LOAD segments at their physical
 * addresses and enter at the XEN_ELFNOTE_PHYS32_ENTRY address in 32-bit
 * flat protected mode with EBX pointing at an hvm_start_info that carries
 * the memory map, the command line and the initrd as module 0.
 *
 * Every header field is checked against the file size and guest memory
 * before use: the image is untrusted input.
 */
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "lkvm/kvm.h"
#include "lkvm/x86-pvh.h"

bool pvh__is_elf(const void *img, size_t len)
{
	return len >= SELFMAG && !memcmp(img, ELFMAG, SELFMAG);
}

/*
 * Where ELF32 and ELF64 keep the fields read here: one parser for both.
 * Fields are copied out (the image need not be aligned) into the low bytes
 * of a u64, which is their value on this little-endian host; a big-endian
 * image is refused.
 */
struct elf_field {
	u8 off, size;
};

#define FIELD(T, m)	{ offsetof(T, m), sizeof(((T *)0)->m) }
#define LAYOUT(E, P)	{ sizeof(E), sizeof(P), FIELD(E, e_phoff), FIELD(E, e_phnum),	\
			  FIELD(E, e_phentsize), FIELD(E, e_machine), FIELD(P, p_type),	\
			  FIELD(P, p_offset), FIELD(P, p_paddr), FIELD(P, p_filesz),	\
			  FIELD(P, p_memsz) }

static const struct elf_layout {
	size_t ehdr_size, phdr_size;
	struct elf_field phoff, phnum, phentsize, machine;
	struct elf_field type, offset, paddr, filesz, memsz;
} layouts[2] = {
	LAYOUT(Elf32_Ehdr, Elf32_Phdr),
	LAYOUT(Elf64_Ehdr, Elf64_Phdr),
};

static u64 field(const u8 *p, struct elf_field f)
{
	u64 v = 0;

	memcpy(&v, p + f.off, f.size);
	return v;
}

struct elf_info {
	const struct elf_layout *l;
	u64 phoff;
	u16 phnum;
};

static int bad(const struct kvm *kvm, const char *what)
{
	pr_err("kernel '%s': %s", kvm__kernel_file(kvm), what);
	return -ENOEXEC;
}

static int parse_header(const struct kvm *kvm, const u8 *img, size_t len, struct elf_info *ei)
{
	u16 machine;

	if (len < EI_NIDENT)
		return bad(kvm, "truncated ELF header");
	if (img[EI_CLASS] != ELFCLASS64 && img[EI_CLASS] != ELFCLASS32)
		return bad(kvm, "unknown ELF class");
	if (img[EI_DATA] != ELFDATA2LSB)
		return bad(kvm, "ELF image is not little-endian");
	ei->l = &layouts[img[EI_CLASS] == ELFCLASS64];
	if (len < ei->l->ehdr_size)
		return bad(kvm, "truncated ELF header");
	ei->phoff = field(img, ei->l->phoff);
	ei->phnum = field(img, ei->l->phnum);
	machine = field(img, ei->l->machine);
	if (field(img, ei->l->phentsize) != ei->l->phdr_size)
		return bad(kvm, "bad ELF program header size");
	if (machine != EM_X86_64 && machine != EM_386)
		return bad(kvm, "ELF image is not for x86");
	if (!ei->phnum)
		return bad(kvm, "ELF image has no program headers");
	if (ei->phoff > len || (u64)ei->phnum * ei->l->phdr_size > len - ei->phoff)
		return bad(kvm, "ELF program headers lie outside the file");
	return 0;
}

struct seg {
	u32 type;
	u64 offset, paddr, filesz, memsz;
};

static void get_seg(const u8 *img, const struct elf_info *ei, int i, struct seg *s)
{
	const struct elf_layout *l = ei->l;
	const u8 *p = img + ei->phoff + (u64)i * l->phdr_size;

	*s = (struct seg){ field(p, l->type), field(p, l->offset), field(p, l->paddr),
			   field(p, l->filesz), field(p, l->memsz) };
}

/* Walk one PT_NOTE segment looking for the PVH entry note. */
static int find_pvh_note(const struct kvm *kvm, const u8 *note, u64 len, u64 *entry)
{
	u64 off = 0;

	while (len - off >= 12) {
		u32 namesz, descsz, type;
		u64 name_off, desc_off, next;

		memcpy(&namesz, note + off, 4);
		memcpy(&descsz, note + off + 4, 4);
		memcpy(&type, note + off + 8, 4);
		name_off = off + 12;
		desc_off = name_off + ALIGN_UP((u64)namesz, 4);
		next = desc_off + ALIGN_UP((u64)descsz, 4);
		if (desc_off > len || next > len || next <= off)
			return bad(kvm, "malformed ELF note");
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
		    !memcmp(note + name_off, "Xen", 4)) {
			u32 e32;

			if (descsz != 4 && descsz != 8)
				return bad(kvm, "PVH entry note has a bad size");
			memcpy(&e32, note + desc_off, 4);
			*entry = e32;
			return 1;
		}
		off = next;
	}
	return 0;
}

int x86__build_memmap(struct kvm *kvm, struct hvm_memmap_table_entry *e, int max)
{
	int n = 0, i;

	for (i = 0; i < kvm->nr_mem_banks && n + 3 <= max; i++) {
		struct kvm_mem_bank *b = &kvm->mem_banks[i];

		if (b->guest_phys_addr == 0 && b->size > 0x100000) {
			/* Legacy hole: VGA, option ROMs, BIOS (MP table lives there). */
			e[n++] = (struct hvm_memmap_table_entry){ 0, 0xa0000, E820_RAM, 0 };
			e[n++] = (struct hvm_memmap_table_entry){ 0xf0000, 0x10000,
								  E820_RESERVED, 0 };
			e[n++] = (struct hvm_memmap_table_entry){ 0x100000, b->size - 0x100000,
								  E820_RAM, 0 };
		} else {
			e[n++] = (struct hvm_memmap_table_entry){ b->guest_phys_addr, b->size,
								  E820_RAM, 0 };
		}
	}
	return n;
}

static bool overlaps(u64 a, u64 alen, u64 b, u64 blen)
{
	return a < b + blen && b < a + alen;
}

int pvh__load(struct kvm *kvm, const void *image, size_t len, const char *cmdline,
	      const void *initrd, size_t initrd_len)
{
	const u8 *img = image;
	struct elf_info ei;
	struct hvm_start_info si = { .magic = HVM_START_MAGIC, .version = 1 };
	struct hvm_memmap_table_entry map[PVH_MEMMAP_MAX];
	struct hvm_modlist_entry mod;
	u64 entry = 0, low_top;
	int i, ret, found = 0;
	size_t cl;

	ret = parse_header(kvm, img, len, &ei);
	if (ret)
		return ret;
	/*
	 * The note first: an ELF without one (a user-space program given to -k)
	 * is told so, not that its segments overlap the boot area.
	 */
	for (i = 0; i < ei.phnum && !found; i++) {
		struct seg s;

		get_seg(img, &ei, i, &s);
		if (s.type != PT_NOTE)
			continue;
		if (s.offset > len || s.filesz > len - s.offset)
			return bad(kvm, "ELF segment lies outside the file");
		found = find_pvh_note(kvm, img + s.offset, s.filesz, &entry);
		if (found < 0)
			return found;
	}
	if (!found) {
		pr_err("kernel '%s': ELF without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); lkvm boots ELF kernels through PVH only",
		       kvm__kernel_file(kvm));
		return -ENOEXEC;
	}
	for (i = 0; i < ei.phnum; i++) {
		struct seg s;

		get_seg(img, &ei, i, &s);
		if (s.type != PT_LOAD && s.type != PT_NOTE)
			continue;
		if (s.offset > len || s.filesz > len - s.offset)
			return bad(kvm, "ELF segment lies outside the file");
		if (s.type == PT_NOTE)
			continue;
		if (s.filesz > s.memsz)
			return bad(kvm, "ELF segment file size exceeds its memory size");
		if (!s.memsz)
			continue;
		if (s.paddr + s.memsz < s.paddr || !guest_flat_to_host(kvm, s.paddr, s.memsz)) {
			pr_err("kernel '%s': segment at 0x%llx+0x%llx does not fit in guest memory (%llu MiB)",
			       kvm__kernel_file(kvm), (unsigned long long)s.paddr, (unsigned long long)s.memsz,
			       (unsigned long long)(kvm->ram_size >> 20));
			return -ENOEXEC;
		}
		if (overlaps(s.paddr, s.memsz, 0, PVH_RESERVED_LOW_END) ||
		    overlaps(s.paddr, s.memsz, PVH_CMDLINE_ADDR, PVH_CMDLINE_MAX))
			return bad(kvm, "ELF segment overlaps lkvm's boot area below 0x7000 or the command line at 0x20000");
		ret = kvm__load_bytes(kvm, s.paddr, img + s.offset, s.filesz);
		if (ret)
			return ret;
		/* .bss: guest RAM starts zeroed, but record it: it is part of the image. */
		ret = kvm__load_mark(kvm, s.paddr + s.filesz, s.memsz - s.filesz);
		if (ret)
			return ret;
	}
	if (!guest_flat_to_host(kvm, entry, 1))
		return bad(kvm, "PVH entry point is outside guest memory");

	cl = cmdline ? strlen(cmdline) : 0;
	if (cl >= PVH_CMDLINE_MAX) {
		pr_err("kernel command line too long (%zu bytes, max %llu)", cl,
		       PVH_CMDLINE_MAX - 1);
		return -E2BIG;
	}
	ret = kvm__load_bytes(kvm, PVH_CMDLINE_ADDR, cmdline ? cmdline : "", cl + 1);
	if (ret)
		return ret;
	si.cmdline_paddr = PVH_CMDLINE_ADDR;

	if (initrd) {
		/* Top of low RAM, page aligned, clear of everything loaded so far. */
		low_top = min(kvm->mem_banks[0].size, KVM_32BIT_GAP_START);
		if (initrd_len + PAGE_SIZE > low_top) {
			pr_err("initrd '%s' of %zu bytes does not fit in %llu MiB of low memory",
			       kvm__initrd_file(kvm), initrd_len,
			       (unsigned long long)(low_top >> 20));
			return -E2BIG;
		}
		mod.paddr = ALIGN_DOWN(low_top - initrd_len, PAGE_SIZE);
		for (i = 0; i < kvm->nr_loaded; i++)
			if (overlaps(mod.paddr, initrd_len, kvm->loaded[i].gpa, kvm->loaded[i].len)) {
				pr_err("initrd '%s' of %zu bytes does not fit between what is loaded at "
				       "0x%llx-0x%llx and the top of low memory (%llu MiB); give more -m",
				       kvm__initrd_file(kvm), initrd_len, (unsigned long long)kvm->loaded[i].gpa,
				       (unsigned long long)(kvm->loaded[i].gpa + kvm->loaded[i].len),
				       (unsigned long long)(low_top >> 20));
				return -E2BIG;
			}
		mod.size = initrd_len;
		mod.cmdline_paddr = 0;
		mod.reserved = 0;
		ret = kvm__load_bytes(kvm, mod.paddr, initrd, initrd_len);
		if (ret)
			return ret;
		ret = kvm__load_bytes(kvm, PVH_MODLIST_ADDR, &mod, sizeof(mod));
		if (ret)
			return ret;
		si.nr_modules = 1;
		si.modlist_paddr = PVH_MODLIST_ADDR;
	}

	si.memmap_entries = x86__build_memmap(kvm, map, PVH_MEMMAP_MAX);
	si.memmap_paddr = PVH_MEMMAP_ADDR;
	ret = kvm__load_bytes(kvm, PVH_MEMMAP_ADDR, map, si.memmap_entries * sizeof(map[0]));
	if (ret)
		return ret;
	ret = kvm__load_bytes(kvm, PVH_START_INFO_ADDR, &si, sizeof(si));
	if (ret)
		return ret;

	kvm->boot_mode = KVM_BOOT_PVH;
	kvm->boot_entry = entry;
	kvm->boot_info = PVH_START_INFO_ADDR;
	return 0;
}
