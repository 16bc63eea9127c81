/*
 * Legacy INTx taken for real: the guest points the IOAPIC pin of the
 * virtio-rng function (its Interrupt Line) at a vector, level-triggered,
 * and lets its interrupt handler do what a driver switching away from INTx
 * does, without reading the ISR:
 *   1. set Interrupt Disable in the command register, then EOI;
 *   2. enable MSI-X (function masked, as Linux does at probe), then EOI.
 * A pin left high after either is taken again at once, forever (the handler
 * counts and gives up after STORM); lowered, it is taken once.  Clearing
 * Interrupt Disable or MSI-X again with the ISR still pending must bring
 * the interrupt back, and the handler then reads the ISR, which ends it.
 *
 * "Once" is one or two: on the KVM this was written on, every
 * level-triggered IOAPIC interrupt arrives a second time right after its
 * EOI, the line already low (the vector is back in the LAPIC's IRR when
 * the handler starts; lkvm raised and lowered the line once each, strace
 * shows; the lkvm before this test behaves the same).  A stuck pin gives
 * STORM in a blink, so the two stay far apart.
 */
#include "virtio-drv.h"

#define VECTOR		0x41
#define LAPIC		0xfee00000UL
#define IOAPIC		0xfec00000UL
#define STORM		50

static struct vqueue vq;
static struct vdev d;
static u8 buf[16];
static int slot, msix_cap, line;
static volatile int irqs, phase, isr_hits;

static void pci_wr16(int off, u16 v)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
	outw(0xcfc + (off & 2), v);
}

static void ioapic_wr(u32 reg, u32 v)
{
	w32(IOAPIC, reg);
	w32(IOAPIC + 0x10, v);
}

/* Level-triggered, active high, fixed to APIC 0; masked or not. */
static void ioapic_route(int masked)
{
	ioapic_wr(0x11 + 2 * line, 0);
	ioapic_wr(0x10 + 2 * line, VECTOR | 1u << 15 | (u32)masked << 16);
}

enum { DISABLE_INTX = 1, ENABLE_MSIX, READ_ISR };

__attribute__((interrupt)) static void intx_handler(struct iframe *f)
{
	if (++irqs >= STORM)
		ioapic_route(1);	/* a pin stuck high: stop the storm, report it */
	else if (phase == DISABLE_INTX)
		pci_wr16(0x04, pci_rd(slot, 0x04) | 0x400);
	else if (phase == ENABLE_MSIX)
		pci_wr16(msix_cap + 2, 0xc000);
	else if (phase == READ_ISR && r8(d.isr))
		isr_hits++;
	w32(LAPIC + 0xb0, 0);		/* EOI: the IOAPIC's too (level) */
}

/*
 * Interrupts on until one came (or long enough that none will), then a
 * while more for any that follows; config accesses stay outside, the
 * handler makes its own.
 */
static void window(void)
{
	int before = irqs;
	u64 spins;

	__asm__ volatile("sti");
	for (spins = 0; irqs == before && spins < 5000000; spins++)
		cpu_relax();
	for (spins = 0; irqs < STORM && spins < 200000; spins++)
		cpu_relax();
	__asm__ volatile("cli");
}

static void rng_kick(void)
{
	void *p = buf;
	u32 len = sizeof(buf);
	u16 fl = VF_WRITE;

	vq_post(&vq, 1, &p, &len, &fl);
	vq_kick(&vq, 0);
}

/* Interrupts taken since `before` (one, or two: see the top) and Status bit 3. */
static int step(const char *name, int before, int want_status)
{
	int status = !!(pci_rd(slot, 0x06) & 0x08), n = irqs - before;

	printf("virtio-intx: %s: %d interrupt(s), status bit 3 %d\n", name, n, status);
	if (n >= 1 && n <= 2 && status == want_status)
		return 0;
	printf("virtio-intx: %s: FAILED (want 1 or 2 interrupts, status bit 3 %d)\n", name,
	       want_status);
	return 1;
}

int main(void)
{
	struct vqueue *qs[1] = { &vq };
	u16 cmd;
	int bad = 0, n;

	if (vdev_find(&d, 4) || !d.isr) {
		puts("virtio-intx: no rng device");
		return 1;
	}
	slot = d.slot;
	line = pci_rd(slot, 0x3c) & 0xff;
	for (msix_cap = pci_rd(slot, 0x34) & 0xff; msix_cap;
	     msix_cap = pci_rd(slot, msix_cap + 1) & 0xff)
		if ((pci_rd(slot, msix_cap) & 0xff) == 0x11)
			break;
	if (!msix_cap || !line || line > 23) {
		printf("virtio-intx: no MSI-X capability or interrupt line (%d)\n", line);
		return 1;
	}
	cmd = pci_rd(slot, 0x04) & ~0x400;

	irq_gate(VECTOR, intx_handler);
	outb(0x21, 0xff);				/* the PICs stay out of it */
	outb(0xa1, 0xff);
	w32(LAPIC + 0x350, 1u << 16);			/* LINT0 (ExtINT) masked */
	w32(LAPIC + 0xf0, r32(LAPIC + 0xf0) | 0x100);	/* software-enable the LAPIC */
	w32(LAPIC + 0x80, 0);				/* TPR: take everything */
	ioapic_route(0);
	if (!(vdev_init(&d, VERSION_1, qs, 1) & 4)) {
		puts("virtio-intx: device refused the driver");
		return 1;
	}

	/* 1: Interrupt Disable from the handler; then clear it, ISR read. */
	phase = DISABLE_INTX;
	n = irqs;
	rng_kick();
	window();
	bad |= step("interrupt disable set", n, 1);
	if (irqs < STORM) {
		phase = READ_ISR;
		n = irqs;
		pci_wr16(0x04, cmd);
		window();
		bad |= step("interrupt disable cleared", n, 0);
	}

	/* 2: MSI-X on from the handler; then off again, ISR read. */
	if (irqs < STORM) {
		phase = ENABLE_MSIX;
		n = irqs;
		rng_kick();
		window();
		bad |= step("msi-x enabled", n, 0);
	}
	if (irqs < STORM) {
		phase = READ_ISR;
		n = irqs;
		pci_wr16(msix_cap + 2, 0);
		window();
		bad |= step("msi-x disabled", n, 0);
	}
	if (irqs >= STORM)
		puts("virtio-intx: a storm: the pin stayed high (the steps after it not run)");

	/* Each event's ISR read by the handler found it set exactly once. */
	printf("virtio-intx: used idx %u, ISR found set %d time(s)\n", vq.used.idx, isr_hits);
	if (bad || vq.used.idx != 2 || isr_hits != 2) {
		puts("virtio-intx: FAILED");
		return 1;
	}
	puts("virtio-intx: ok");
	return 0;
}
