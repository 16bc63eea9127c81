/*
 * PCI config and CMOS RTC state across a migration (sections MIG_SEC_PCI
 * and MIG_SEC_RTC).  The guest
 * writes what drivers and firmware write: a virtio device's INTERRUPT_LINE,
 * cache line size and latency timer, the host bridge's INTERRUPT_LINE, the
 * virtio PCI_CFG access window (BAR 0, num_queues, 2 bytes) and all ones
 * into BAR0 (sizing it); two CMOS NVRAM bytes (0x40, 0x41), leaving the
 * RTC's index latched on 0x41.  Last it latches 0xcf8 on the device's id dword,
 * prints "pci-state: latched" and waits for a byte on the UART, making no
 * other config access: the test migrates it meanwhile and then sends the
 * byte to the destination.  The next instruction is the IN from 0xcfc that
 * the latch set up, then the IN from 0x71 that the RTC's latch set up, then
 * every other value is read back.
 * "nowait": no wait (the same checks, no migration).
 * Exit status: the number of failed checks.
 */
#include "rt.h"

#define CONF_ADDR	0xcf8
#define CONF_DATA	0xcfc
#define UART_RBR	0x3f8
#define UART_LSR	0x3fd
#define RTC_INDEX	0x70
#define RTC_DATA	0x71
#define VIRTIO_PCI_CAP_PCI_CFG	5

static int failed;

static u32 addr_of(int dev, u32 off)
{
	return 0x80000000u | (u32)dev << 11 | (off & 0xfc);
}

static u32 cfg_read(int dev, u32 off, int len)
{
	outl(CONF_ADDR, addr_of(dev, off));
	if (len == 1)
		return inb(CONF_DATA + (off & 3));
	if (len == 2)
		return inw(CONF_DATA + (off & 2));
	return inl(CONF_DATA);
}

static void cfg_write(int dev, u32 off, u32 v, int len)
{
	outl(CONF_ADDR, addr_of(dev, off));
	if (len == 1)
		outb(CONF_DATA + (off & 3), v);
	else if (len == 2)
		outw(CONF_DATA + (off & 2), v);
	else
		outl(CONF_DATA, v);
}

static void expect(const char *what, u32 got, u32 want)
{
	if (got != want) {
		printf("pci-state: FAIL %s: got %x, want %x\n", what, got, want);
		failed++;
	}
}

int main(void)
{
	int dev, nowait = rt_cmdline_has("nowait");
	u32 id = 0, cap, bar, got;

	for (dev = 1; dev < 32; dev++) {
		id = cfg_read(dev, 0, 4);
		if ((id & 0xffff) == 0x1af4)
			break;
	}
	if (dev == 32) {
		puts("pci-state: no virtio device (run with --rng)");
		return 1;
	}
	for (cap = cfg_read(dev, 0x34, 1); cap; cap = cfg_read(dev, cap + 1, 1))
		if (cfg_read(dev, cap, 1) == 0x09 && cfg_read(dev, cap + 3, 1) == VIRTIO_PCI_CAP_PCI_CFG)
			break;
	if (!cap) {
		puts("pci-state: no PCI_CFG capability");
		return 1;
	}
	bar = cfg_read(dev, 0x10, 4);
	printf("pci-state: device %x at slot %d, BAR0 %x, window at %x\n", id, dev, bar, cap);

	cfg_write(dev, 0x3c, 0x5a, 1);
	cfg_write(dev, 0x0c, 0x2010, 2);
	cfg_write(0, 0x3c, 0x77, 1);
	cfg_write(dev, cap + 4, 0, 1);
	cfg_write(dev, cap + 8, 18, 4);		/* common cfg num_queues */
	cfg_write(dev, cap + 12, 2, 4);
	cfg_write(dev, 0x10, 0xffffffff, 4);
	outb(RTC_INDEX, 0x40);
	outb(RTC_DATA, 0x5a);
	outb(RTC_INDEX, 0x41);
	outb(RTC_DATA, 0xa5);
	outl(CONF_ADDR, addr_of(dev, 0));
	puts("pci-state: latched");
	if (!nowait) {
		while (!(inb(UART_LSR) & 1))
			for (int i = 0; i < 2000; i++)
				cpu_relax();
		(void)inb(UART_RBR);
	}
	got = inl(CONF_DATA);
	expect("id through the latch", got, id);
	expect("CMOS 0x41 through the RTC's latch", inb(RTC_DATA), 0xa5);
	outb(RTC_INDEX, 0x40);
	expect("CMOS 0x40", inb(RTC_DATA), 0x5a);
	expect("BAR0 mid-sizing", cfg_read(dev, 0x10, 4), 0xffff8000);
	cfg_write(dev, 0x10, bar, 4);
	expect("BAR0 back", cfg_read(dev, 0x10, 4), bar);
	expect("interrupt line", cfg_read(dev, 0x3c, 1), 0x5a);
	expect("cache line, latency", cfg_read(dev, 0x0c, 2), 0x2010);
	expect("host bridge interrupt line", cfg_read(0, 0x3c, 1), 0x77);
	expect("window offset", cfg_read(dev, cap + 8, 4), 18);
	expect("window length", cfg_read(dev, cap + 12, 4), 2);
	expect("num_queues through the window", cfg_read(dev, cap + 16, 2), 1);
	printf("pci-state: %s\n", failed ? "FAILED" : "ok");
	return failed;
}
