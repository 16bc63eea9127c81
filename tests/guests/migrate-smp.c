/*
 * Migration test guest: every vCPU counts on its own and prints
 * "cpuN count K" (lines kept whole by a lock), so a migration test can
 * check that each vCPU, the APs included, continues with its next count.
 *   delay=N   pause loops between lines (default 20000)
 *   dirty=N   also write N pages of a 2 MiB buffer per line, walking
 *             through all of it, so pre-copy has to chase the guest
 */
#include "rt.h"

#define BUF_PAGES	512

static rt_lock_t lock;
static u64 delay, dirty;
/* volatile: nothing reads it, and the writes must not be optimised away. */
static volatile u8 buf[BUF_PAGES][4096] __attribute__((aligned(4096)));

static void __attribute__((noreturn)) count(int cpu)
{
	u64 n, i, next = (u64)cpu * 7;

	for (n = 1;; n++) {
		for (i = 0; i < dirty; i++, next++)
			buf[next % BUF_PAGES][(n * 8 + cpu) % 4096] = (u8)n;
		rt_lock(&lock);
		printf("cpu%d count %lu\n", cpu, n);
		rt_unlock(&lock);
		for (i = 0; i < delay; i++)
			cpu_relax();
	}
}

void ap_main(int cpu)
{
	count(cpu);
}

int main(void)
{
	delay = rt_cmdline_u64("delay", 20000);
	dirty = rt_cmdline_u64("dirty", 0);
	rt_start_aps();
	count(0);
}
