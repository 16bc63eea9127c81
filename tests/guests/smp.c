/*
 * SMP bring-up: the BSP starts every AP with INIT-SIPI-SIPI, each AP reports
 * in, and the BSP powers off once all "cpus=N" (command line) are in, so
 * lkvm must stop with APs halted in the kernel: the shutdown race test.
 */
#include "rt.h"

static volatile u32 online = 1;

void ap_main(int cpu)
{
	printf("cpu %d online\n", cpu);
	__atomic_fetch_add(&online, 1, __ATOMIC_SEQ_CST);
}

int main(void)
{
	u32 want = (u32)rt_cmdline_u64("cpus", 1);
	u64 spins;

	printf("cpu 0 online, starting %u APs\n", want - 1);
	if (want > 1)
		rt_start_aps();
	for (spins = 0; online < want && spins < 20000000; spins++)	/* ~80 s here: only a failure waits it out */
		cpu_relax();
	if (online != want) {
		printf("smp: only %u of %u cpus came online\n", online, want);
		return 1;
	}
	printf("smp: all %u cpus online\n", want);
	return 0;
}
