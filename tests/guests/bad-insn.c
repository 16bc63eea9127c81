/*
 * Executes an instruction this host's KVM cannot emulate (xrstor64) with an
 * empty IDT: on a software-emulated host that is a KVM internal error, on
 * hardware a #UD/#GP that cannot be delivered, i.e. a triple fault.  lkvm
 * must exit non-zero with a diagnosis either way.
 */
#include "rt.h"

int main(void)
{
	struct { u16 limit; u64 base; } __attribute__((packed)) none = { 0, 0 };
	static u8 area[4096] __attribute__((aligned(64)));

	puts("bad-insn: executing xrstor64");
	__asm__ volatile("lidt %0; xor %%eax, %%eax; xor %%edx, %%edx; xrstor64 %1"
			 :: "m"(none), "m"(area) : "rax", "rdx", "memory");
	return 0;
}
