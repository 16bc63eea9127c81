/* Loads an empty IDT and faults: the CPU can deliver nothing, so it shuts down. */
#include "rt.h"

int main(void)
{
	struct { u16 limit; u64 base; } __attribute__((packed)) none = { 0, 0 };

	puts("triple-fault: loading an empty IDT and faulting");
	__asm__ volatile("lidt %0; ud2" :: "m"(none));
	return 0;
}
