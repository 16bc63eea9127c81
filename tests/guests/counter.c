/*
 * Counts and prints "count N" forever (or up to "max=N"), one line every
 * "delay=N" pause loops, keeping a running checksum of its own memory
 * writes in a page-sized buffer: the migration and pause/resume test guest.
 * With "reset" it resets itself through the 8042 once an 'r' comes in on
 * its serial port (the test says when, e.g. mid-migration).
 */
#include "rt.h"

static volatile u64 counter;
/* volatile: the writes are the point (dirty pages), nothing reads them back. */
static volatile u64 pages[16][512] __attribute__((aligned(4096)));

int main(void)
{
	u64 max = rt_cmdline_u64("max", 0);
	u64 delay = rt_cmdline_u64("delay", 20000);
	u64 dirty = rt_cmdline_u64("dirty", 0);
	int reset = rt_cmdline_has("reset");
	u64 i, n;

	for (n = 1; !max || n <= max; n++) {
		counter = n;
		if (dirty)
			for (i = 0; i < 16; i++)
				pages[i][n % 512] = n * (i + 1);
		printf("count %lu\n", n);
		/* LSR bit 0: a byte waits in RBR.  Polled only when asked (an exit each). */
		if (reset && (inb(0x3fd) & 1) && inb(0x3f8) == 'r')
			outb(0x64, 0xfe);	/* the i8042's pulse of the reset line */
		for (i = 0; i < delay; i++)
			cpu_relax();
	}
	return 0;
}
