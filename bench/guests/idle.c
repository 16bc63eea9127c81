/*
 * Bench guest: prints "ready" and halts with interrupts off, so its vCPU
 * sleeps in KVM instead of spinning.  The migration bench then measures
 * the VMM, not a guest competing with it for the host's CPUs (on software
 * KVM a spinning vCPU takes a whole core).
 */
#include "rt.h"

int main(void)
{
	printf("ready\n");
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
	return 0;
}
