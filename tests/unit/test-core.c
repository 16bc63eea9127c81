/*
 * Core pieces without /dev/kvm: memory banks and accessors, the loaded-range
 * record, the PVH loader on synthetic and malformed ELF images, the CPUID
 * filter and mask parser, the guest page-table walker, and what a stop
 * publishes to threads that look without the lock.
 */
#include <elf.h>
#include <pthread.h>
#include "test.h"
#include "lkvm/cpuid.h"
#include "lkvm/kvm.h"
#include "lkvm/x86-pvh.h"

int x86__walk(struct kvm *kvm, u64 cr0, u64 cr3, u64 cr4, u64 efer, u64 gva, u64 *gpa);

static struct kvm *new_kvm(u64 ram)
{
	struct kvm *kvm = calloc(1, sizeof(*kvm));

	kvm->cfg.ram_size = ram;
	if (kvm__init_memory(kvm)) {
		free(kvm);
		return NULL;
	}
	return kvm;
}

static void free_kvm(struct kvm *kvm)
{
	kvm__exit(kvm);
	free(kvm);
}

/* A flood logs RATELIMIT_BURST lines, then the next allowed says it dropped some. */
static void test_ratelimit(void)
{
	struct ratelimit rl = RATELIMIT_INIT;
	u32 dropped = 99, i, ok = 0;

	for (i = 0; i < 25; i++)
		ok += ratelimit__allow(&rl, &dropped);
	CHECK_EQ(ok, RATELIMIT_BURST);
	CHECK_EQ(dropped, 0);		/* from the last allowed one */
	CHECK_EQ(rl.dropped, 25 - RATELIMIT_BURST);
	rl.t0 -= RATELIMIT_NS;		/* a quiet spell later */
	CHECK(ratelimit__allow(&rl, &dropped));
	CHECK_EQ(dropped, 25 - RATELIMIT_BURST);
	CHECK(ratelimit__allow(&rl, &dropped));
	CHECK_EQ(dropped, 0);
}

static void test_banks(void)
{
	struct kvm *kvm = new_kvm(4ULL << 30);	/* 3 GiB low + 1 GiB high */

	REQUIRE(kvm);
	CHECK_EQ(kvm->nr_mem_banks, 2);
	CHECK_EQ(kvm->mem_banks[0].size, 3ULL << 30);
	CHECK_EQ(kvm->mem_banks[1].guest_phys_addr, 4ULL << 30);
	CHECK_EQ(kvm->mem_banks[1].page_base, (3ULL << 30) >> 12);
	CHECK_EQ(kvm->nr_pages, (4ULL << 30) >> 12);
	CHECK(guest_flat_to_host(kvm, 0, 4096) != NULL);
	CHECK(guest_flat_to_host(kvm, (3ULL << 30) - 4096, 4096) != NULL);
	CHECK(guest_flat_to_host(kvm, (3ULL << 30) - 4096, 4097) == NULL);	/* into the hole */
	CHECK(guest_flat_to_host(kvm, 3ULL << 30, 1) == NULL);
	CHECK(guest_flat_to_host(kvm, ~0ULL, 2) == NULL);			/* wraps */
	CHECK_EQ(kvm__gpa_to_page(kvm, 4ULL << 30), (3ULL << 30) >> 12);
	CHECK_EQ(kvm__page_to_gpa(kvm, (3ULL << 30) >> 12), 4ULL << 30);
	CHECK_EQ(kvm__gpa_to_page(kvm, 3ULL << 30), -1);
	free_kvm(kvm);
}

static void test_loaded_record(void)
{
	struct kvm *kvm = new_kvm(16 << 20);
	u8 buf[64] = { 1 };

	REQUIRE(kvm);
	CHECK_EQ(kvm__load_bytes(kvm, 0x1000, buf, 64), 0);
	CHECK_EQ(kvm__load_bytes(kvm, 0x1040, buf, 64), 0);	/* merges */
	CHECK_EQ(kvm__load_mark(kvm, 0x5000, 16), 0);
	CHECK_EQ(kvm__load_bytes(kvm, 16 << 20, buf, 1), -EFAULT);
	CHECK_EQ(kvm->nr_loaded, 2);
	CHECK_EQ(kvm->loaded[0].gpa, 0x1000);
	CHECK_EQ(kvm->loaded[0].len, 128);
	CHECK_EQ(kvm->loaded[1].gpa, 0x5000);
	free_kvm(kvm);
}

/* The PVH entry note both ELF classes carry. */
struct pvh_note {
	u32 namesz, descsz, type;
	char name[4];
	u32 entry;
};

static void make_note(struct pvh_note *n, u32 entry)
{
	n->namesz = 4;
	n->descsz = 4;
	n->type = XEN_ELFNOTE_PHYS32_ENTRY;
	memcpy(n->name, "Xen", 4);
	n->entry = entry;
}

/* A minimal PVH ELF: ehdr, PT_LOAD (code at 1 MiB), PT_NOTE (entry). */
struct img {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[2];
	struct pvh_note note;
	u8 code[32];
};

static void make_img(struct img *m)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->eh.e_ident, ELFMAG, SELFMAG);
	m->eh.e_ident[EI_CLASS] = ELFCLASS64;
	m->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	m->eh.e_machine = EM_X86_64;
	m->eh.e_phoff = offsetof(struct img, ph);
	m->eh.e_phnum = 2;
	m->eh.e_phentsize = sizeof(Elf64_Phdr);
	m->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = offsetof(struct img, code),
				 .p_paddr = 0x100000, .p_filesz = 32, .p_memsz = 0x2000 };
	m->ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = offsetof(struct img, note),
				 .p_filesz = sizeof(m->note) };
	make_note(&m->note, 0x100010);
	memset(m->code, 0x90, sizeof(m->code));
}

static int load(const void *m, size_t len, u64 ram, const char *cmdline)
{
	struct kvm *kvm = new_kvm(ram);
	int ret;

	if (!kvm)
		return -999;
	ret = pvh__load(kvm, m, len, cmdline, NULL, 0);
	free_kvm(kvm);
	return ret;
}

static void test_pvh_good(void)
{
	struct kvm *kvm = new_kvm(64 << 20);
	struct img m;
	struct hvm_start_info *si;
	struct hvm_memmap_table_entry *map;
	u8 initrd[5000];

	REQUIRE(kvm);
	make_img(&m);
	memset(initrd, 0xab, sizeof(initrd));
	REQUIRE(pvh__load(kvm, &m, sizeof(m), "console=ttyS0", initrd, sizeof(initrd)) == 0);
	CHECK_EQ(kvm->boot_mode, KVM_BOOT_PVH);
	CHECK_EQ(kvm->boot_entry, 0x100010);
	CHECK_EQ(kvm->boot_info, PVH_START_INFO_ADDR);
	si = guest_flat_to_host(kvm, PVH_START_INFO_ADDR, sizeof(*si));
	CHECK_EQ(si->magic, HVM_START_MAGIC);
	CHECK_EQ(si->version, 1);
	CHECK(!strcmp(guest_flat_to_host(kvm, si->cmdline_paddr, 1), "console=ttyS0"));
	CHECK_EQ(si->nr_modules, 1);
	{
		struct hvm_modlist_entry *mod = guest_flat_to_host(kvm, si->modlist_paddr, 32);

		CHECK_EQ(mod->size, sizeof(initrd));
		CHECK_EQ(mod->paddr & 0xfff, 0);
		CHECK(mod->paddr + mod->size <= 64 << 20);
		CHECK_MEM(guest_flat_to_host(kvm, mod->paddr, mod->size), initrd, sizeof(initrd));
	}
	map = guest_flat_to_host(kvm, si->memmap_paddr, 24 * si->memmap_entries);
	CHECK_EQ(si->memmap_entries, 3);
	CHECK(map[0].addr == 0 && map[0].size == 0xa0000 && map[0].type == E820_RAM);
	CHECK(map[1].addr == 0xf0000 && map[1].type == E820_RESERVED);
	CHECK(map[2].addr == 0x100000 && map[2].size == (64 << 20) - 0x100000);
	CHECK_MEM(guest_flat_to_host(kvm, 0x100000, 32), m.code, 32);
	/* Everything placed is recorded for SEV measurement, code first. */
	CHECK(kvm->nr_loaded >= 4);
	CHECK_EQ(kvm->loaded[0].gpa, 0x100000);
	CHECK_EQ(kvm->loaded[0].len, 0x2000);	/* file bytes + bss */
	free_kvm(kvm);
}

static void test_pvh_bad(void)
{
	struct img m;
	char longcl[70000];

	make_img(&m);
	CHECK_EQ(load(&m, 10, 64 << 20, ""), -ENOEXEC);			/* truncated */
	make_img(&m); m.eh.e_ident[EI_DATA] = ELFDATA2MSB;
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img(&m); m.eh.e_machine = EM_AARCH64;
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img(&m); m.eh.e_phentsize = 12;
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img(&m); m.eh.e_phoff = 1ULL << 60;
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img(&m); m.eh.e_phnum = 0xffff;
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img(&m); m.ph[0].p_offset = sizeof(m) - 4;			/* past EOF */
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img(&m); m.ph[0].p_filesz = ~0ULL;
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img(&m); m.ph[0].p_memsz = 8;					/* filesz > memsz */
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img(&m); m.ph[0].p_paddr = (64 << 20) - 0x1000;		/* beyond RAM */
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img(&m); m.ph[0].p_paddr = ~0ULL - 0x10;			/* wraps */
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img(&m); m.ph[0].p_paddr = 0x5000;				/* boot area */
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img(&m); m.note.type = 17;					/* no PVH note */
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img(&m); m.note.descsz = 0xfffffff0;			/* note overflow */
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img(&m); m.note.entry = 0x7fffffff;			/* entry outside RAM */
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img(&m);
	memset(longcl, 'a', sizeof(longcl) - 1);
	longcl[sizeof(longcl) - 1] = 0;
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, longcl), -E2BIG);
	make_img(&m);
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, "ok"), 0);		/* control */
}

/* The same kernel as an ELF32 image: same loader, the narrower layout. */
struct img32 {
	Elf32_Ehdr eh;
	Elf32_Phdr ph[2];
	struct pvh_note note;
	u8 code[32];
};

static void make_img32(struct img32 *m)
{
	memset(m, 0, sizeof(*m));
	memcpy(m->eh.e_ident, ELFMAG, SELFMAG);
	m->eh.e_ident[EI_CLASS] = ELFCLASS32;
	m->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	m->eh.e_machine = EM_386;
	m->eh.e_phoff = offsetof(struct img32, ph);
	m->eh.e_phnum = 2;
	m->eh.e_phentsize = sizeof(Elf32_Phdr);
	m->ph[0] = (Elf32_Phdr){ .p_type = PT_LOAD, .p_offset = offsetof(struct img32, code),
				 .p_paddr = 0x200000, .p_filesz = 32, .p_memsz = 0x3000 };
	m->ph[1] = (Elf32_Phdr){ .p_type = PT_NOTE, .p_offset = offsetof(struct img32, note),
				 .p_filesz = sizeof(m->note) };
	make_note(&m->note, 0x200008);
	memset(m->code, 0xcc, sizeof(m->code));
}

static void test_pvh_elf32(void)
{
	struct kvm *kvm = new_kvm(64 << 20);
	struct img32 m;

	REQUIRE(kvm);
	make_img32(&m);
	REQUIRE(pvh__load(kvm, &m, sizeof(m), "x", NULL, 0) == 0);
	CHECK_EQ(kvm->boot_entry, 0x200008);
	CHECK_MEM(guest_flat_to_host(kvm, 0x200000, 32), m.code, 32);
	CHECK_EQ(kvm->loaded[0].gpa, 0x200000);
	CHECK_EQ(kvm->loaded[0].len, 0x3000);	/* file bytes + bss */
	free_kvm(kvm);

	/* 60 bytes hold an ELF32 header (52) but not an ELF64 one (64). */
	make_img32(&m);
	CHECK_EQ(load(&m, 60, 64 << 20, ""), -ENOEXEC);	/* program headers outside */
	make_img32(&m); m.eh.e_phentsize = sizeof(Elf64_Phdr);
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img32(&m); m.ph[0].p_filesz = 0x4000;			/* filesz > memsz */
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img32(&m); m.ph[0].p_offset = 0xfffffff0;			/* past EOF */
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img32(&m); m.ph[0].p_paddr = 0x5000;			/* boot area */
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), -ENOEXEC);
	make_img32(&m);
	CHECK_EQ(load(&m, sizeof(m), 64 << 20, ""), 0);				/* control */
}

static void test_cpuid_mask_parse(void)
{
	struct kvm_config cfg = { 0 };

	CHECK_EQ(cpuid__parse_mask("cx16", &cfg), 0);
	CHECK(cfg.cpuid_masks[0].leaf == 1 && cfg.cpuid_masks[0].reg == 2 &&
	      cfg.cpuid_masks[0].bit == 13);
	CHECK_EQ(cpuid__parse_mask("0x7.ebx:5", &cfg), 0);
	CHECK(cfg.cpuid_masks[1].leaf == 7 && cfg.cpuid_masks[1].reg == 1 &&
	      cfg.cpuid_masks[1].bit == 5 && cfg.cpuid_masks[1].any_subleaf);
	CHECK_EQ(cpuid__parse_mask("0xd.1.eax:3", &cfg), 0);
	CHECK(cfg.cpuid_masks[2].subleaf == 1 && !cfg.cpuid_masks[2].any_subleaf);
	CHECK_EQ(cpuid__parse_mask("nope", &cfg), -EINVAL);
	CHECK_EQ(cpuid__parse_mask("1.ecx:32", &cfg), -EINVAL);
	CHECK_EQ(cpuid__parse_mask("1.exx:3", &cfg), -EINVAL);
	CHECK_EQ(cpuid__parse_mask("1.ecx", &cfg), -EINVAL);
	CHECK_EQ(cpuid__parse_mask(".ecx:1", &cfg), -EINVAL);
	CHECK_EQ(cpuid__parse_mask("0x1ffffffff.ecx:1", &cfg), -EINVAL);
	CHECK_EQ(cfg.nr_cpuid_masks, 3);
	/* The same bit again, by name or number, is not a second mask (nor warning). */
	CHECK_EQ(cpuid__parse_mask("cx16", &cfg), 0);
	CHECK_EQ(cpuid__parse_mask("0x7.ebx:5", &cfg), 0);
	CHECK_EQ(cfg.nr_cpuid_masks, 3);
	CHECK_EQ(cpuid__parse_mask("0x7.0.ebx:5", &cfg), 0);	/* subleaf 0 only: another */
	CHECK_EQ(cfg.nr_cpuid_masks, 4);
}

/* A mask is named as --cpuid-mask writes it: "0xd.eax" would mean every subleaf. */
static void test_cpuid_mask_where(void)
{
	struct kvm_config cfg = { 0 };
	char buf[96];

	CHECK_EQ(cpuid__parse_mask("0x7.ebx:5", &cfg), 0);
	CHECK_EQ(cpuid__parse_mask("xsaveopt", &cfg), 0);
	CHECK_EQ(cpuid__parse_mask("0xd.1.eax:3", &cfg), 0);
	CHECK_EQ(cpuid__parse_mask("0x9999.edx:31", &cfg), 0);
	cpuid__mask_where(&cfg.cpuid_masks[0], buf, sizeof(buf));
	CHECK(!strcmp(buf, "0x7.ebx bit 5 (avx2)"));
	cpuid__mask_where(&cfg.cpuid_masks[1], buf, sizeof(buf));
	CHECK(!strcmp(buf, "0xd.1.eax bit 0 (xsaveopt)"));
	cpuid__mask_where(&cfg.cpuid_masks[2], buf, sizeof(buf));
	CHECK(!strcmp(buf, "0xd.1.eax bit 3 (xsaves)"));
	cpuid__mask_where(&cfg.cpuid_masks[3], buf, sizeof(buf));
	CHECK(!strcmp(buf, "0x9999.edx bit 31 (?)"));
}

static void test_cpuid_filter(void)
{
	struct kvm_config cfg = { 0 };
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 4 * sizeof(c->entries[0]));

	REQUIRE(c);
	c->nent = 4;
	c->entries[0] = (struct kvm_cpuid_entry2){ .function = 1, .ecx = 0xffffffff,
						   .ebx = 0x00000800, .edx = 0 };
	c->entries[1] = (struct kvm_cpuid_entry2){ .function = 7, .index = 0,
						   .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
						   .ebx = 0xffffffff };
	c->entries[2] = (struct kvm_cpuid_entry2){ .function = 0xd, .index = 0, .eax = 7,
						   .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	c->entries[3] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0 };
	cpuid__parse_mask("cx16", &cfg);
	cpuid__parse_mask("avx2", &cfg);
	cpuid__parse_mask("xsave", &cfg);
	cpuid__filter(c, &cfg, 3, 4);
	CHECK_EQ(c->entries[0].ecx & (1u << 13), 0);
	CHECK_EQ(c->entries[0].ecx & (1u << 26), 0);
	CHECK_EQ(c->entries[0].ecx & (1u << 28), 0);	/* AVX goes with XSAVE */
	CHECK(c->entries[0].ecx & (1u << 31));		/* hypervisor bit */
	CHECK_EQ(c->entries[0].ebx >> 24, 3);		/* APIC id */
	CHECK_EQ((c->entries[0].ebx >> 16) & 0xff, 4);
	CHECK_EQ(c->entries[1].ebx & (1u << 5), 0);
	CHECK_EQ(c->entries[2].eax, 0);			/* XSAVE leaf cleared */
	CHECK_EQ(c->entries[3].edx, 3);			/* x2APIC id */
	free(c);
}

static void test_page_walk(void)
{
	struct kvm *kvm = new_kvm(64 << 20);
	u64 *pml4, *pdpt, *pd, *pt, gpa = 0;

	REQUIRE(kvm);
	pml4 = guest_flat_to_host(kvm, 0x10000, 4096);
	pdpt = guest_flat_to_host(kvm, 0x11000, 4096);
	pd = guest_flat_to_host(kvm, 0x12000, 4096);
	pt = guest_flat_to_host(kvm, 0x13000, 4096);
	/* 0xffff800000000000 + ... -> pml4[256] */
	pml4[256] = 0x11000 | 3;
	pdpt[1] = 0x12000 | 3;				/* 1 GiB region 1 */
	pd[2] = 0x400000 | 0x83;			/* 2 MiB page */
	pd[3] = 0x13000 | 3;
	pt[5] = 0x777000 | 3;
	CHECK_EQ(x86__walk(kvm, 0x80000011, 0x10000, 0x20, 0x500,
			   0xffff800040000000ULL + (2 << 21) + 0x1234, &gpa), 0);
	CHECK_EQ(gpa, 0x401234);
	CHECK_EQ(x86__walk(kvm, 0x80000011, 0x10000, 0x20, 0x500,
			   0xffff800040000000ULL + (3 << 21) + 5 * 4096 + 0x10, &gpa), 0);
	CHECK_EQ(gpa, 0x777010);
	CHECK_EQ(x86__walk(kvm, 0x80000011, 0x10000, 0x20, 0x500, 0x1000, &gpa), -EFAULT);
	/* Table pointer outside RAM is a fault, not a crash. */
	pd[4] = (1ULL << 40) | 3;
	CHECK_EQ(x86__walk(kvm, 0x80000011, 0x10000, 0x20, 0x500,
			   0xffff800040000000ULL + (4 << 21), &gpa), -EFAULT);
	/* Paging off: identity. */
	CHECK_EQ(x86__walk(kvm, 0x11, 0, 0, 0, 0x1234, &gpa), 0);
	CHECK_EQ(gpa, 0x1234);
	/* 32-bit non-PAE with a 4 MiB page. */
	*(u32 *)guest_flat_to_host(kvm, 0x20000 + 1 * 4, 4) = 0x00800000 | 0x83;
	CHECK_EQ(x86__walk(kvm, 0x80000011, 0x20000, 0x10, 0, 0x00401234, &gpa), 0);
	CHECK_EQ(gpa, 0x801234);
	free_kvm(kvm);
}

static void *stopper(void *arg)
{
	kvm__request_stop(arg, 130, "stopped by the test");
	return NULL;
}

/*
 * kvm__stopping() is for a look from outside run_lock, and a thread that
 * sees the stop reads its reason next (x86/kernel.c: "... while reading
 * the initrd").  The flag used to be set before the status and reason, so
 * a reader could see the stop and a NULL reason (make tsan-unit reports the
 * race; on x86 the window is a few instructions).
 */
static void test_stop_publishes_reason(void)
{
	int i;

	for (i = 0; i < 200; i++) {
		struct kvm *kvm = new_kvm(1 << 20);
		pthread_t t;

		REQUIRE(kvm);
		REQUIRE(pthread_create(&t, NULL, stopper, kvm) == 0);
		while (!kvm__stopping(kvm))
			;
		CHECK(kvm->exit_reason && !strcmp(kvm->exit_reason, "stopped by the test"));
		CHECK_EQ(kvm->exit_status, 130);
		pthread_join(t, NULL);
		free_kvm(kvm);
	}
}

TEST_MAIN_BEGIN("core")
	RUN(test_ratelimit);
	RUN(test_banks);
	RUN(test_loaded_record);
	RUN(test_pvh_good);
	RUN(test_pvh_bad);
	RUN(test_pvh_elf32);
	RUN(test_cpuid_mask_parse);
	RUN(test_cpuid_mask_where);
	RUN(test_cpuid_filter);
	RUN(test_page_walk);
	RUN(test_stop_publishes_reason);
TEST_MAIN_END()
