/*
 * The e820 memory map the BIOS hands out through int 0x15 AX=0xe820,
 * derived from the VM's RAM banks.  RAM is usable except where legacy PC
 * firmware lives: the EBDA (last KiB below 640 KiB, where Linux also looks
 * for the MP table) and the BIOS segment at 0xf0000.  The VGA window
 * 0xa0000-0xeffff and the 32-bit PCI hole (KVM_32BIT_GAP_*) are left as
 * gaps, not listed: Linux picks the largest gap below 4 GiB for PCI BARs,
 * so reserving the whole hole would leave it nowhere to put them.  Only
 * the fixed-function top of the hole (IOAPIC, LAPIC, flash: 0xfec00000 up
 * to 4 GiB) is marked reserved.
 */
#include <errno.h>
#include <stdlib.h>

#include "lkvm/kvm.h"
#include "lkvm/x86-boot.h"

static int add(struct e820_entry *map, int n, int max, u64 addr, u64 end, u32 type)
{
	if (end <= addr)
		return n;
	if (n >= max)
		return -ENOSPC;
	map[n].addr = addr;
	map[n].size = end - addr;
	map[n].type = type;
	return n + 1;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct e820_entry *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* RAM in [s, e) minus the legacy reserved areas, as usable entries. */
static int add_ram(struct e820_entry *map, int n, int max, u64 s, u64 e)
{
	/* Below the EBDA. */
	n = add(map, n, max, s, min(e, (u64)EBDA_START), E820_RAM);
	if (n < 0)
		return n;
	/* Between the BIOS and the fixed MMIO top of the PCI hole. */
	n = add(map, n, max, max(s, (u64)BIOS_END), min(e, FIXED_MMIO_START), E820_RAM);
	if (n < 0)
		return n;
	/* Above 4 GiB. */
	return add(map, n, max, max(s, 1ULL << 32), e, E820_RAM);
}

int e820__build(struct kvm *kvm, struct e820_entry *map, int max)
{
	int i, n = 0;

	for (i = 0; i < kvm->nr_mem_banks && n >= 0; i++) {
		struct kvm_mem_bank *b = &kvm->mem_banks[i];

		if (b->type != KVM_MEM_TYPE_RAM)
			continue;
		n = add_ram(map, n, max, b->guest_phys_addr, b->guest_phys_addr + b->size);
	}
	if (n >= 0)
		n = add(map, n, max, EBDA_START, VGA_HOLE_START, E820_RESERVED);
	if (n >= 0)
		n = add(map, n, max, BIOS_START, BIOS_END, E820_RESERVED);
	if (n >= 0)
		n = add(map, n, max, FIXED_MMIO_START, 1ULL << 32, E820_RESERVED);
	if (n < 0)
		return n;
	qsort(map, n, sizeof(*map), cmp_entry);
	return n;
}
