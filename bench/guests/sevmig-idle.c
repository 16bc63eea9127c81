/*
 * SEV migration bench guest: declares itself migration-ready
 * (MSR_KVM_MIGRATION_CONTROL = 1), prints "ready" and halts with
 * interrupts off, so the bench measures the VMM and the firmware model.
 */
#include "rt.h"

int main(void)
{
	wrmsr(0x4b564d08, 1);
	printf("ready\n");
	for (;;)
		__asm__ volatile("cli; hlt" ::: "memory");
	return 0;
}
