/*
 * PCI: a host bridge with configuration mechanism #1 (ports 0xcf8/0xcfc),
 * one bus, function 0 only.  Devices bring a 256-byte config header and up
 * to six 32-bit memory BARs; the bus assigns BAR addresses from the 32-bit
 * MMIO hole below 4 GiB at registration, as firmware would, and keeps them
 * there (a guest write of another address is ignored with a warning).
 *
 * MSI messages become KVM GSI routes (KVM_SET_GSI_ROUTING) that devices fire
 * through irqfds; INTx uses KVM_IRQ_LINE on a legacy IOAPIC pin, which up to
 * eight devices share (slots four apart).
 */
#ifndef LKVM__PCI_H
#define LKVM__PCI_H

#include <pthread.h>

#include "lkvm/ioport.h"
#include "lkvm/util.h"

struct kvm;

#define PCI_CONFIG_ADDR		0xcf8
#define PCI_CONFIG_DATA		0xcfc
/* What the address latch keeps of a guest's write: enable, bus, dev, fn, dword. */
#define PCI_CONFIG_ADDR_KEPT	0x80fffffcu
#define PCI_MAX_DEVICES		32
#define PCI_NR_BARS		6
#define PCI_CFG_SIZE		256

/* Config header offsets used by lkvm (PCI Local Bus 3.0, type 0). */
#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define  PCI_COMMAND_IO		0x1
#define  PCI_COMMAND_MEMORY	0x2
#define  PCI_COMMAND_MASTER	0x4
#define  PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS		0x06
#define  PCI_STATUS_INTERRUPT	0x08	/* INTx condition pending (read-only) */
#define  PCI_STATUS_CAP_LIST	0x10
#define PCI_REVISION_ID		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_CACHE_LINE_SIZE	0x0c
#define PCI_LATENCY_TIMER	0x0d
#define PCI_HEADER_TYPE		0x0e
#define PCI_BASE_ADDRESS_0	0x10
#define PCI_SUBSYSTEM_VENDOR_ID	0x2c
#define PCI_SUBSYSTEM_ID	0x2e
#define PCI_CAPABILITY_LIST	0x34
#define PCI_INTERRUPT_LINE	0x3c
#define PCI_INTERRUPT_PIN	0x3d
#define PCI_CAP_ID_VNDR		0x09
#define PCI_CAP_ID_MSIX		0x11

/*
 * The IOAPIC pin of a slot's INTA, fixed by slot alone so that the MP
 * table (x86/mptable.c), which is built with the kernel before any device
 * exists and is part of an SEV launch measurement, can list every slot's
 * route without knowing the device set.  The pins avoid the ISA devices'
 * (PIT 0, kbd 1, serial 3/4, RTC 8, mouse 12).  Every lkvm device is one
 * function using INTA.
 */
#define PCI_NR_INTX_PINS	4
static inline u8 pci__intx_gsi(unsigned int slot)
{
	static const u8 pins[PCI_NR_INTX_PINS] = { 10, 11, 5, 9 };

	return pins[slot % PCI_NR_INTX_PINS];
}

struct pci_device {
	u8 cfg[PCI_CFG_SIZE];		/* little endian, as the guest sees it */
	u32 bar_size[PCI_NR_BARS];	/* 0 = unused; else a power of two >= 4K */
	u32 bar_addr[PCI_NR_BARS];	/* assigned by pci__register() */
	kvm_io_fn bar_fn;		/* MMIO handler for every BAR; addr = gpa */
	void *priv;
	u8 dev_nr;			/* slot on bus 0 */
	u8 irq_line;			/* IOAPIC pin for INTx, 0 = none */
	u8 cap_end;			/* next free config offset for a capability */
	/* INTx, under the bus's INTx lock (see pci__set_irq()). */
	bool intx_cond;			/* the device's condition: pending */
	bool intx_disabled;		/* Interrupt Disable, as in cfg[PCI_COMMAND] */
	bool intx_on;			/* counted as asserting its pin */
	/*
	 * Capability registers (offset >= 0x40): called with the bus lock
	 * held, after a write landed in cfg[] / before a read is served.
	 */
	void (*cfg_write)(struct pci_device *pdev, u32 off, u32 len);
	void (*cfg_read)(struct pci_device *pdev, u32 off, u32 len);
	/* Bits of cfg[] >= 0x40 the guest may change (set by the device). */
	u8 wmask[PCI_CFG_SIZE];
};

/* Fill the standard header fields. */
void pci__init_header(struct pci_device *pdev, u16 vendor, u16 device, u32 class_code,
		      u16 subsys_vendor, u16 subsys);
/* Append a capability (body starts with id, next; len includes them); returns its offset or 0. */
u8 pci__add_cap(struct pci_device *pdev, const void *body, u8 len);
/* Place BARs, pick an INTx pin, register the MMIO ranges and put pdev on the bus. */
int pci__register(struct kvm *kvm, struct pci_device *pdev);
void pci__unregister(struct kvm *kvm, struct pci_device *pdev);

/*
 * The device's INTx condition: pending (1) or not (0).  The bus does the
 * rest as PCI says: the device asserts its pin while the condition is
 * pending and Interrupt Disable is clear, the pin (KVM_IRQ_LINE) is the OR
 * of every device on it, and Status bit 3 reads the condition, masked or
 * not.  Safe under the device's own lock (the bus's INTx lock is innermost).
 */
int pci__set_irq(struct pci_device *pdev, int level);
/*
 * Migration: the command register and INTx condition a device's own
 * section carries.  The pin's level goes to KVM even where the bus thinks
 * it unchanged: the irqchip state loaded before may have it otherwise.
 */
int pci__load_irq(struct pci_device *pdev, u16 command, int level);

/*
 * MSI through KVM routing: point GSI *gsi (allocated on first use, from 24
 * up) at the MSI message; KVM_SET_GSI_ROUTING is sent with KVM's default
 * IOAPIC/PIC routes plus every MSI route, so legacy interrupts are unchanged.
 */
int pci__msi_route(struct kvm *kvm, int *gsi, u32 addr_lo, u32 addr_hi, u32 data);

/* Config space access as the 0xcf8/0xcfc ports do it (also used by tests). */
void pci__config_rw(struct kvm *kvm, u32 addr, u32 off, u8 *data, u32 len, bool is_write);

/*
 * Migration (section MIG_SEC_PCI): the address latch and every device's
 * guest-writable config bits and BARs; load checks all of it against the
 * devices here before it changes anything.
 */
struct mig_buf;
int pci__save_state(struct mig_buf *out);
int pci__load_state(const void *data, size_t len);

/* For the boot tables (MP table / ACPI): slot and INTx pin of each device. */
int pci__nr_devices(void);
struct pci_device *pci__device(int i);

#endif
