/*
 * Prints "ready" and halts with interrupts off, so its vCPU sleeps in KVM
 * and never comes back to lkvm on its own.  The migration bench uses it to
 * measure the VMM, not a guest competing with it for the host's CPUs (on
 * software KVM a spinning vCPU takes a whole core); migrate-basic's
 * halted-guest to show a migration never waits for a vCPU to exit.
 */
#include "rt.h"

int main(void)
{
	printf("ready\n");
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
	return 0;
}
