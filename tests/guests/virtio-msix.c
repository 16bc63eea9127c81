/*
 * virtio over MSI-X for real: the guest enables MSI-X on the virtio-rng
 * function, points queue 0 at vector 0 (LAPIC, vector 0x40), and waits for
 * the interrupt instead of polling.  That exercises the whole path: MSI-X
 * table writes, KVM GSI routing, the irqfd the I/O thread fires, and the
 * in-kernel LAPIC delivering it.
 */
#include "virtio-drv.h"

#define MSI_VECTOR	0x40
#define LAPIC		0xfee00000UL

static volatile int irqs;
static struct vqueue vq;
static u8 buf[32];

__attribute__((interrupt)) static void msi_handler(struct iframe *f)
{
	irqs++;
	w32(LAPIC + 0xb0, 0);		/* EOI */
}

static void pci_wr16(int slot, int off, u16 v)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
	outw(0xcfc + (off & 2), v);
}

int main(void)
{
	struct vdev d;
	void *p = buf;
	u32 len = sizeof(buf);
	u16 fl = VF_WRITE;
	u64 table, spins;
	int cap, slot;

	if (vdev_find(&d, 4)) {
		puts("virtio-msix: no rng device");
		return 1;
	}
	slot = d.slot;
	for (cap = pci_rd(slot, 0x34) & 0xff; cap; cap = pci_rd(slot, cap + 1) & 0xff)
		if ((pci_rd(slot, cap) & 0xff) == 0x11)
			break;
	if (!cap) {
		puts("virtio-msix: no MSI-X capability");
		return 1;
	}
	table = d.bar + (pci_rd(slot, cap + 4) & ~7u);

	irq_gate(MSI_VECTOR, msi_handler);
	w32(LAPIC + 0xf0, r32(LAPIC + 0xf0) | 0x100);	/* software-enable the LAPIC */
	w32(LAPIC + 0x80, 0);				/* TPR: take everything */

	/* Entry 0: fixed delivery to APIC 0, vector 0x40; then MSI-X on. */
	w32(table + 0, LAPIC);
	w32(table + 4, 0);
	w32(table + 8, MSI_VECTOR);
	w32(table + 12, 0);				/* unmasked */
	pci_wr16(slot, cap + 2, 0x8000 | (pci_rd(slot, cap + 2) & 0x7ff));

	/* Like vdev_init, with queue 0 on vector 0 and no config vector. */
	w8(d.common + 20, 0);
	w8(d.common + 20, 1 | 2);
	w32(d.common + 8, 1);
	w32(d.common + 12, 1);				/* VERSION_1 */
	w8(d.common + 20, 1 | 2 | 8);
	w16(d.common + 16, 0xffff);
	memset(&vq, 0, sizeof(vq));
	w16(d.common + 22, 0);
	w16(d.common + 24, VQ_N);
	w16(d.common + 26, 0);				/* queue 0 -> vector 0 */
	if (r16(d.common + 26) != 0) {
		puts("virtio-msix: device refused vector 0");
		return 1;
	}
	w32(d.common + 32, (u64)vq.desc);
	w32(d.common + 36, 0);
	w32(d.common + 40, (u64)&vq.avail);
	w32(d.common + 44, 0);
	w32(d.common + 48, (u64)&vq.used);
	w32(d.common + 52, 0);
	vq.notify = d.notify + (u64)r16(d.common + 30) * d.mult;
	w16(d.common + 28, 1);
	w8(d.common + 20, 1 | 2 | 8 | 4);

	__asm__ volatile("sti");
	vq_post(&vq, 1, &p, &len, &fl);
	vq_kick(&vq, 0);
	for (spins = 0; !irqs && spins < 20000000; spins++)
		cpu_relax();
	__asm__ volatile("cli");
	printf("virtio-msix: %d interrupt(s), used idx %u\n", irqs, vq.used.idx);
	if (irqs != 1 || vq.used.idx != 1) {
		puts("virtio-msix: FAILED");
		return 1;
	}
	puts("virtio-msix: ok");
	return 0;
}
