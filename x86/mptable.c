/*
 * MP table (Intel MultiProcessor Specification 1.4) so a bzImage kernel
 * without ACPI tables finds every vCPU, the IOAPIC and the interrupt
 * wiring.  It lives in the BIOS segment, where Linux scans for the "_MP_"
 * floating pointer (on a 16-byte boundary in 0xf0000-0xfffff).
 *
 * Wiring matches KVM's default GSI routing: ISA IRQ n reaches IOAPIC pin
 * n (the in-kernel PIT raises GSI 0, so no IRQ0 -> pin 2 override), and
 * every local APIC has ExtINT on LINT0 and NMI on LINT1.  APIC IDs are the
 * vCPU indexes KVM assigns; the IOAPIC takes the next free ID.
 *
 * PCI INTx: every slot's INTA is listed on the PCI bus with its pin
 * (pci__intx_gsi()), "conforms to the bus", which for PCI means level
 * triggered, active low, and those pins get no ISA entry.  Without these
 * Linux says "can't find IRQ for PCI INT A; probably buggy MP table" and
 * programs the pin edge-triggered from its ISA entry: a level interrupt
 * that stays up across a second device's on a shared pin is then lost.
 * All 31 slots are listed, present or not: the table is built with the
 * kernel, before any device exists, and an SEV launch measures it, so it
 * must not depend on the device options (`lkvm sev measure` does not take
 * them).
 */
#include <errno.h>
#include <string.h>

#include "lkvm/kvm.h"
#include "lkvm/pci.h"
#include "lkvm/x86-boot.h"

#define MP_SPEC_REV		4		/* 1.4 */
#define LAPIC_VERSION		0x14
#define IOAPIC_VERSION		0x11
#define CPU_SIGNATURE		0x600		/* family 6 */
#define CPU_FEATURES		0x201		/* FPU, APIC */
#define IRQ_DEFAULT		0		/* conforms to the bus */
#define NR_ISA_IRQS		16

static u8 checksum(const void *p, size_t len)
{
	const u8 *b = p;
	u8 sum = 0;

	while (len--)
		sum += *b++;
	return (u8)-sum;
}

/* Append len bytes of entry to the table being built. */
static void *put(u8 *buf, size_t size, size_t *off, size_t len)
{
	void *p;

	if (*off > size || len > size - *off)
		return NULL;
	p = buf + *off;
	memset(p, 0, len);
	*off += len;
	return p;
}

/* An interrupt source entry; its trigger and polarity conform to the bus. */
static struct mpc_intsrc *put_src(u8 *buf, size_t size, size_t *off, u8 type, u8 irqtype,
				  u8 bus, u8 busirq, u8 apic, u8 pin)
{
	struct mpc_intsrc *src = put(buf, size, off, sizeof(*src));

	if (src) {
		src->type = type;
		src->irqtype = irqtype;
		src->irqflag = IRQ_DEFAULT;
		src->srcbus = bus;
		src->srcbusirq = busirq;
		src->dstapic = apic;
		src->dstirq = pin;
	}
	return src;
}

int mptable__build(void *out, size_t size, u32 gpa, int nr_cpus)
{
	u8 *buf = out;
	size_t off = 0, start;
	struct mpf_intel *mpf;
	struct mpc_table *mpc;
	struct mpc_cpu *cpu;
	struct mpc_bus *bus;
	struct mpc_ioapic *ioapic;
	u16 count = 0;
	u32 pci_pins = 0;
	int i, ioapic_id = nr_cpus;

	if (nr_cpus < 1 || nr_cpus > 254)	/* 8-bit APIC IDs, 0xff = all */
		return -EINVAL;
	if (!IS_ALIGNED(gpa, 16))
		return -EINVAL;

	mpf = put(buf, size, &off, sizeof(*mpf));
	if (!mpf)
		return -ENOSPC;
	start = off;
	mpc = put(buf, size, &off, sizeof(*mpc));
	if (!mpc)
		return -ENOSPC;

	for (i = 0; i < nr_cpus; i++) {
		cpu = put(buf, size, &off, sizeof(*cpu));
		if (!cpu)
			return -ENOSPC;
		cpu->type = MP_PROCESSOR;
		cpu->apicid = i;
		cpu->apicver = LAPIC_VERSION;
		cpu->cpuflag = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0);
		cpu->cpufeature = CPU_SIGNATURE;
		cpu->featureflag = CPU_FEATURES;
		count++;
	}

	bus = put(buf, size, &off, sizeof(*bus));
	if (!bus)
		return -ENOSPC;
	bus->type = MP_BUS;
	bus->busid = MP_BUS_PCI_ID;
	memcpy(bus->bustype, "PCI   ", 6);
	count++;
	bus = put(buf, size, &off, sizeof(*bus));
	if (!bus)
		return -ENOSPC;
	bus->type = MP_BUS;
	bus->busid = MP_BUS_ISA_ID;
	memcpy(bus->bustype, "ISA   ", 6);
	count++;

	ioapic = put(buf, size, &off, sizeof(*ioapic));
	if (!ioapic)
		return -ENOSPC;
	ioapic->type = MP_IOAPIC;
	ioapic->apicid = ioapic_id;
	ioapic->apicver = IOAPIC_VERSION;
	ioapic->flags = 1;			/* enabled */
	ioapic->apicaddr = IOAPIC_ADDR;
	count++;

	for (i = 1; i < PCI_MAX_DEVICES; i++) {	/* slot 0: the host bridge */
		/* Device i, INTA. */
		if (!put_src(buf, size, &off, MP_INTSRC, 0, MP_BUS_PCI_ID, i << 2, ioapic_id,
			     pci__intx_gsi(i)))
			return -ENOSPC;
		pci_pins |= 1u << pci__intx_gsi(i);
		count++;
	}

	for (i = 0; i < NR_ISA_IRQS; i++) {
		if (i == 2)			/* the PIC cascade, never an ISA IRQ */
			continue;
		if (pci_pins & (1u << i))	/* level, from its PCI entries */
			continue;
		if (!put_src(buf, size, &off, MP_INTSRC, 0, MP_BUS_ISA_ID, i, ioapic_id, i))
			return -ENOSPC;
		count++;
	}

	/* LINT0 ExtINT (3), LINT1 NMI (1), on every local APIC. */
	for (i = 0; i < 2; i++) {
		if (!put_src(buf, size, &off, MP_LINTSRC, i == 0 ? 3 : 1, MP_BUS_ISA_ID, 0, 0xff, i))
			return -ENOSPC;
		count++;
	}

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = off - start;
	mpc->spec = MP_SPEC_REV;
	memcpy(mpc->oem, "LKVM    ", 8);
	memcpy(mpc->productid, "LKVM VM     ", 12);
	mpc->oemcount = count;
	mpc->lapic = LAPIC_ADDR;
	mpc->checksum = checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = gpa + start;
	mpf->length = 1;
	mpf->specification = MP_SPEC_REV;
	mpf->checksum = checksum(mpf, sizeof(*mpf));
	return off;
}

int mptable__setup(struct kvm *kvm, int nr_cpus)
{
	u8 buf[MPTABLE_MAX];
	u32 gpa = BIOS_START + MPTABLE_OFF;
	int len;

	len = mptable__build(buf, sizeof(buf), gpa, nr_cpus);
	if (len < 0) {
		pr_err("cannot build the MP table for %d vCPUs: %s", nr_cpus, strerror(-len));
		return len;
	}
	return kvm__load_bytes(kvm, gpa, buf, len);
}
