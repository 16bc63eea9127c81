/*
 * The PCI host bridge: configuration mechanism #1 on ports 0xcf8/0xcfc, BAR
 * placement in the 32-bit MMIO hole, INTx pins and MSI routes.
 *
 * BARs are assigned once, at registration, the way firmware would leave
 * them, and never move: a guest that writes a different address gets a
 * warning and keeps the old one.  Devices' ioeventfds and MMIO ranges are
 * therefore registered exactly once.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "lkvm/init.h"
#include "lkvm/kvm.h"
#include "lkvm/pci.h"

/* Leave the top of the hole alone: IOAPIC at 0xfec00000, LAPIC at 0xfee00000. */
#define PCI_MMIO_END		0xfec00000ULL
#define MSI_FIRST_GSI		24
#define MAX_MSI_ROUTES		64

static pthread_mutex_t pci_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pci_device *bus[PCI_MAX_DEVICES];
static int nr_slots;		/* highest used slot + 1 */
static u32 config_addr;
static u64 mmio_next = KVM_32BIT_GAP_START;
static struct pci_device host_bridge;
/* Legacy pins free of the ISA devices (PIT 0, kbd 1, serial 3/4, RTC 8, mouse 12). */
static const u8 intx_pins[] = { 10, 11, 5, 9 };

static pthread_mutex_t route_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kvm_irq_routing_entry msi_routes[MAX_MSI_ROUTES];
static int nr_msi_routes;

void pci__init_header(struct pci_device *pdev, u16 vendor, u16 device, u32 class_code,
		      u16 subsys_vendor, u16 subsys)
{
	put_le16(pdev->cfg + PCI_VENDOR_ID, vendor);
	put_le16(pdev->cfg + PCI_DEVICE_ID, device);
	pdev->cfg[PCI_REVISION_ID] = 1;
	pdev->cfg[PCI_CLASS_PROG] = class_code;
	pdev->cfg[PCI_CLASS_PROG + 1] = class_code >> 8;
	pdev->cfg[PCI_CLASS_PROG + 2] = class_code >> 16;
	put_le16(pdev->cfg + PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
	put_le16(pdev->cfg + PCI_SUBSYSTEM_ID, subsys);
	if (!pdev->cap_end)
		pdev->cap_end = 0x40;
}

u8 pci__add_cap(struct pci_device *pdev, const void *body, u8 len)
{
	u8 off = pdev->cap_end ? pdev->cap_end : 0x40, *p;

	if (len < 2 || off + len > PCI_CFG_SIZE)
		return 0;
	memcpy(pdev->cfg + off, body, len);
	pdev->cfg[off + 1] = 0;
	/* Chain it at the end of the list. */
	p = &pdev->cfg[PCI_CAPABILITY_LIST];
	while (*p)
		p = &pdev->cfg[*p + 1];
	*p = off;
	pdev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	pdev->cap_end = ALIGN_UP(off + len, 4);
	return off;
}

static struct pci_device *lookup(u32 addr)
{
	u32 bus_nr = (addr >> 16) & 0xff, dev = (addr >> 11) & 0x1f, fn = (addr >> 8) & 7;

	if (!(addr & 0x80000000) || bus_nr || fn || dev >= PCI_MAX_DEVICES)
		return NULL;
	return bus[dev];
}

static struct ratelimit bar_log = RATELIMIT_INIT;

static void bar_write(struct pci_device *pdev, int bar)
{

	u8 *p = pdev->cfg + PCI_BASE_ADDRESS_0 + 4 * bar;
	u32 size = pdev->bar_size[bar], v = get_le32(p) & ~0xfu;

	if (!size) {
		put_le32(p, 0);
		return;
	}
	v &= ~(size - 1);
	if (v == ~(size - 1) || v == pdev->bar_addr[bar]) {
		/* A sizing probe (all ones) or the address we gave it. */
		put_le32(p, v);
		return;
	}
	/* The guest can do this in a loop: not one log line each time. */
	pr_limited(pr_warn, &bar_log, "pci %02x: BAR%d: guest moved it to %#x; lkvm keeps "
		   "BARs fixed at %#x", pdev->dev_nr, bar, v, pdev->bar_addr[bar]);
	put_le32(p, pdev->bar_addr[bar]);
}

static void header_write(struct pci_device *pdev, u32 off, const u8 *data, u32 len)
{
	u32 i;

	for (i = 0; i < len; i++) {
		u32 o = off + i;

		if (o == PCI_COMMAND)
			pdev->cfg[o] = data[i] & (PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
						  PCI_COMMAND_MASTER);
		else if (o == PCI_COMMAND + 1)
			pdev->cfg[o] = data[i] & (PCI_COMMAND_INTX_DISABLE >> 8);
		else if (o == 0x0c || o == 0x0d || o == PCI_INTERRUPT_LINE)
			pdev->cfg[o] = data[i];	/* cache line, latency, line */
		else if (o >= PCI_BASE_ADDRESS_0 && o < PCI_BASE_ADDRESS_0 + 24)
			pdev->cfg[o] = data[i];	/* checked per BAR below */
		else if (o >= 0x40)
			pdev->cfg[o] = (pdev->cfg[o] & ~pdev->wmask[o]) |
				       (data[i] & pdev->wmask[o]);
		/* everything else is read-only */
	}
	for (i = 0; i < PCI_NR_BARS; i++) {
		u32 b = PCI_BASE_ADDRESS_0 + 4 * i;

		if (off < b + 4 && off + len > b)
			bar_write(pdev, i);
	}
	if (off + len > 0x40 && pdev->cfg_write)
		pdev->cfg_write(pdev, max(off, 0x40u), off + len - max(off, 0x40u));
}

void pci__config_rw(struct kvm *kvm, u32 addr, u32 off, u8 *data, u32 len, bool is_write)
{
	struct pci_device *pdev;

	pthread_mutex_lock(&pci_lock);
	pdev = lookup(addr);
	if (len > 4 || off + len > PCI_CFG_SIZE || !pdev) {
		if (!is_write)
			memset(data, 0xff, len);	/* no device: master abort */
	} else if (is_write) {
		header_write(pdev, off, data, len);
	} else {
		if (off + len > 0x40 && pdev->cfg_read)
			pdev->cfg_read(pdev, max(off, 0x40u), off + len - max(off, 0x40u));
		memcpy(data, pdev->cfg + off, len);
	}
	pthread_mutex_unlock(&pci_lock);
}

static void config_addr_io(struct kvm_cpu *vcpu, u64 port, u8 *data, u32 len,
			   bool is_write, void *ptr)
{
	/* Only full dword accesses are the address register (0xcf9 is reset, legacy.c). */
	if (len != 4) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&pci_lock);
	if (is_write)
		config_addr = get_le32(data) & 0x80fffffc;
	else
		put_le32(data, config_addr);
	pthread_mutex_unlock(&pci_lock);
}

static void config_data_io(struct kvm_cpu *vcpu, u64 port, u8 *data, u32 len,
			   bool is_write, void *ptr)
{
	u32 addr, off;

	pthread_mutex_lock(&pci_lock);
	addr = config_addr;
	pthread_mutex_unlock(&pci_lock);
	off = (addr & 0xfc) + (u32)(port - PCI_CONFIG_DATA);
	pci__config_rw(ptr, addr, off, data, len, is_write);
}

int pci__register(struct kvm *kvm, struct pci_device *pdev)
{
	int slot, i, ret;

	pthread_mutex_lock(&pci_lock);
	for (slot = 0; slot < PCI_MAX_DEVICES && bus[slot]; slot++)
		;
	if (slot == PCI_MAX_DEVICES) {
		pthread_mutex_unlock(&pci_lock);
		return -ENOSPC;
	}
	for (i = 0; i < PCI_NR_BARS; i++) {
		u32 size = pdev->bar_size[i];
		u64 base;

		if (!size)
			continue;
		if (size < SZ_4K || (size & (size - 1)))
			goto err_inval;
		base = ALIGN_UP(mmio_next, size);
		if (base + size > PCI_MMIO_END)
			goto err_nospc;
		pdev->bar_addr[i] = base;
		mmio_next = base + size;
		/* 32-bit, non-prefetchable memory BAR: low bits all zero. */
		put_le32(pdev->cfg + PCI_BASE_ADDRESS_0 + 4 * i, base);
	}
	pdev->dev_nr = slot;
	if (pdev->cfg[PCI_INTERRUPT_PIN]) {
		pdev->irq_line = intx_pins[slot % ARRAY_SIZE(intx_pins)];
		pdev->cfg[PCI_INTERRUPT_LINE] = pdev->irq_line;
	}
	/* Decoding on, as firmware leaves a device it has placed. */
	pdev->cfg[PCI_COMMAND] |= PCI_COMMAND_MEMORY;
	bus[slot] = pdev;
	if (slot + 1 > nr_slots)
		nr_slots = slot + 1;
	pthread_mutex_unlock(&pci_lock);

	for (i = 0; i < PCI_NR_BARS; i++) {
		if (!pdev->bar_size[i])
			continue;
		ret = kvm__register_mmio(kvm, pdev->bar_addr[i], pdev->bar_size[i],
					 pdev->bar_fn, pdev->priv);
		if (ret < 0) {
			while (--i >= 0)
				if (pdev->bar_size[i])
					kvm__deregister_mmio(kvm, pdev->bar_addr[i]);
			pthread_mutex_lock(&pci_lock);
			bus[slot] = NULL;
			pthread_mutex_unlock(&pci_lock);
			return ret;
		}
	}
	return 0;

err_inval:
	pthread_mutex_unlock(&pci_lock);
	return -EINVAL;
err_nospc:
	pthread_mutex_unlock(&pci_lock);
	pr_err("pci: no room left in the 32-bit MMIO hole");
	return -ENOSPC;
}

void pci__unregister(struct kvm *kvm, struct pci_device *pdev)
{
	int i;

	for (i = 0; i < PCI_NR_BARS; i++)
		if (pdev->bar_size[i])
			kvm__deregister_mmio(kvm, pdev->bar_addr[i]);
	pthread_mutex_lock(&pci_lock);
	if (bus[pdev->dev_nr] == pdev)
		bus[pdev->dev_nr] = NULL;
	pthread_mutex_unlock(&pci_lock);
}

int pci__nr_devices(void)
{
	return nr_slots;
}

struct pci_device *pci__device(int i)
{
	return i >= 0 && i < PCI_MAX_DEVICES ? bus[i] : NULL;
}

int pci__set_irq(struct kvm *kvm, struct pci_device *pdev, int level)
{
	struct kvm_irq_level irq = { .irq = pdev->irq_line, .level = level };

	if (!pdev->irq_line)
		return -ENODEV;
	return ioctl(kvm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

/* KVM's default routing (what a VM has before anyone sets routes). */
static int default_routes(struct kvm_irq_routing_entry *e)
{
	int n = 0, i;

	for (i = 0; i < 24; i++) {
		e[n].gsi = i;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e[n].u.irqchip.pin = i;
		n++;
		if (i < 16) {
			e[n].gsi = i;
			e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
			e[n].u.irqchip.irqchip = i < 8 ? KVM_IRQCHIP_PIC_MASTER :
							 KVM_IRQCHIP_PIC_SLAVE;
			e[n].u.irqchip.pin = i % 8;
			n++;
		}
	}
	return n;
}

int pci__msi_route(struct kvm *kvm, int *gsi, u32 addr_lo, u32 addr_hi, u32 data)
{
	struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e[40 + MAX_MSI_ROUTES];
	} table;
	struct kvm_irq_routing_entry *m;
	int n, i, ret = 0;

	pthread_mutex_lock(&route_lock);
	if (*gsi < 0) {
		if (nr_msi_routes == MAX_MSI_ROUTES) {
			ret = -ENOSPC;
			goto out;
		}
		*gsi = MSI_FIRST_GSI + nr_msi_routes;
		msi_routes[nr_msi_routes++].gsi = *gsi;
	}
	for (m = NULL, i = 0; i < nr_msi_routes; i++)
		if ((int)msi_routes[i].gsi == *gsi)
			m = &msi_routes[i];
	if (!m) {
		ret = -EINVAL;
		goto out;
	}
	m->type = KVM_IRQ_ROUTING_MSI;
	m->flags = 0;
	m->u.msi.address_lo = addr_lo;
	m->u.msi.address_hi = addr_hi;
	m->u.msi.data = data;

	memset(&table, 0, sizeof(table));
	n = default_routes(table.e);
	memcpy(&table.e[n], msi_routes, nr_msi_routes * sizeof(msi_routes[0]));
	table.r.nr = n + nr_msi_routes;
	if (ioctl(kvm->vm_fd, KVM_SET_GSI_ROUTING, &table) < 0)
		ret = -errno;
out:
	pthread_mutex_unlock(&route_lock);
	return ret;
}

static int pci__init(struct kvm *kvm)
{
	int ret;

	/* Slot 0: an i440FX-like host bridge, which Linux's conf1 probe looks for. */
	pci__init_header(&host_bridge, 0x8086, 0x1237, 0x060000, 0, 0);
	host_bridge.cfg[PCI_REVISION_ID] = 2;
	pthread_mutex_lock(&pci_lock);
	bus[0] = &host_bridge;
	nr_slots = 1;
	mmio_next = KVM_32BIT_GAP_START;
	pthread_mutex_unlock(&pci_lock);

	ret = kvm__register_pio(kvm, PCI_CONFIG_ADDR, 1, config_addr_io, kvm);
	if (ret < 0)
		return ret;
	ret = kvm__register_pio(kvm, PCI_CONFIG_DATA, 4, config_data_io, kvm);
	if (ret < 0) {
		kvm__deregister_pio(kvm, PCI_CONFIG_ADDR);
		return ret;
	}
	return 0;
}

static int pci__exit(struct kvm *kvm)
{
	kvm__deregister_pio(kvm, PCI_CONFIG_DATA);
	kvm__deregister_pio(kvm, PCI_CONFIG_ADDR);
	pthread_mutex_lock(&pci_lock);
	memset(bus, 0, sizeof(bus));
	nr_slots = 0;
	pthread_mutex_unlock(&pci_lock);
	return 0;
}
dev_base_init(pci__init, pci__exit);
