/*
 * Reports the PVH start_info it was given: module (initrd) address, size and
 * a checksum of its bytes, the memory map, and the command line.
 */
#include "rt.h"

int main(void)
{
	struct hvm_start_info *si = rt_start_info;
	u32 i;

	printf("cmdline '%s'\n", rt_cmdline);
	for (i = 0; i < si->memmap_entries; i++) {
		struct hvm_memmap_entry *e = (void *)(si->memmap_paddr + i * sizeof(*e));
		printf("memmap %lx %lx %u\n", e->addr, e->size, e->type);
	}
	printf("modules %u\n", si->nr_modules);
	if (si->nr_modules) {
		struct hvm_modlist_entry *m = (void *)si->modlist_paddr;
		const u8 *p = (const u8 *)m->paddr;
		u32 sum = 0;
		u64 j;

		/* "sum=0": size only (touching many MiB takes minutes here). */
		if (!rt_cmdline_u64("sum", 1)) {
			printf("module size %lu at %lx\n", m->size, m->paddr);
			return 0;
		}
		for (j = 0; j < m->size; j++)
			sum = sum * 31 + p[j];
		printf("module size %lu sum %x\n", m->size, sum);
	}
	return 0;
}
