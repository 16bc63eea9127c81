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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include <libfdt.h>

#include "lkvm/init.h"
#include "lkvm/kvm.h"
#include "lkvm/mig-section.h"
#include "lkvm/migration.h"
#include "lkvm/pci.h"
#include "lkvm/state-fdt.h"

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

/*
 * INTx is a wired-OR: a pin is high while any device on it asserts.  KVM
 * holds one level per GSI for all of userspace (KVM_IRQ_LINE), so the bus
 * counts the devices asserting each pin and tells KVM when the count
 * reaches or leaves 0; one device lowering its INTx used to drop another's
 * pending interrupt on the same pin.  intx_lock is innermost: taken under
 * pci_lock and under the devices' own locks.
 */
static pthread_mutex_t intx_lock = PTHREAD_MUTEX_INITIALIZER;
static u8 intx_users[16];		/* every pci__intx_gsi() is below 16 */
static struct kvm *intx_kvm;

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

static bool is_bar(u32 o)
{
	return o >= PCI_BASE_ADDRESS_0 && o < PCI_BASE_ADDRESS_0 + 4 * PCI_NR_BARS;
}

/*
 * The bits of config byte o a guest write keeps (BARs aside: bar_write()
 * decides those); everything else is read-only.  Migration carries exactly
 * these bits.
 */
static u8 writable(const struct pci_device *pdev, u32 o)
{
	switch (o) {
	case PCI_COMMAND:
		return PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	case PCI_COMMAND + 1:
		return PCI_COMMAND_INTX_DISABLE >> 8;
	case PCI_CACHE_LINE_SIZE:
	case PCI_LATENCY_TIMER:
	case PCI_INTERRUPT_LINE:
		return 0xff;
	}
	return o >= 0x40 && o < PCI_CFG_SIZE ? pdev->wmask[o] : 0;
}

/*
 * Bring pdev's share of its pin in line with its condition and Interrupt
 * Disable, then tell KVM the pin's level if it changed (or always, with
 * resync).  Called with intx_lock held.
 */
static int intx_drive(struct pci_device *pdev, bool resync)
{
	bool on = pdev->intx_cond && !pdev->intx_disabled, was;
	struct kvm_irq_level irq = { .irq = pdev->irq_line };
	u8 *users;

	if (!pdev->irq_line || pdev->irq_line >= ARRAY_SIZE(intx_users))
		return -ENODEV;
	users = &intx_users[pdev->irq_line];
	was = *users;
	if (on != pdev->intx_on) {
		pdev->intx_on = on;
		*users += on ? 1 : -1;
	}
	irq.level = *users > 0;
	if (!resync && irq.level == was)
		return 0;
	if (!intx_kvm)
		return -ENODEV;
	return ioctl(intx_kvm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

/*
 * After cfg[PCI_COMMAND] changed: setting Interrupt Disable de-asserts the
 * device's INTx, clearing it with the condition pending asserts it again
 * (PCI 3.0, 6.2.2).  The caller holds whatever guards pdev->cfg.
 */
static void intx_command(struct pci_device *pdev)
{
	pthread_mutex_lock(&intx_lock);
	pdev->intx_disabled = pdev->cfg[PCI_COMMAND + 1] & (PCI_COMMAND_INTX_DISABLE >> 8);
	intx_drive(pdev, false);
	pthread_mutex_unlock(&intx_lock);
}

static void header_write(struct pci_device *pdev, u32 off, const u8 *data, u32 len)
{
	u32 i;

	for (i = 0; i < len; i++) {
		u32 o = off + i;
		u8 m = writable(pdev, o);

		if (is_bar(o))
			pdev->cfg[o] = data[i];	/* checked per BAR below */
		else
			pdev->cfg[o] = (pdev->cfg[o] & ~m) | (data[i] & m);
	}
	for (i = 0; i < PCI_NR_BARS; i++) {
		u32 b = PCI_BASE_ADDRESS_0 + 4 * i;

		if (off < b + 4 && off + len > b)
			bar_write(pdev, i);
	}
	if (off <= PCI_COMMAND + 1 && off + len > PCI_COMMAND + 1)
		intx_command(pdev);
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
		/* Interrupt Status: the condition, whether Interrupt Disable masks it or not. */
		if (off <= PCI_STATUS && off + len > PCI_STATUS) {
			pthread_mutex_lock(&intx_lock);
			if (pdev->intx_cond)
				data[PCI_STATUS - off] |= PCI_STATUS_INTERRUPT;
			pthread_mutex_unlock(&intx_lock);
		}
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
		config_addr = get_le32(data) & PCI_CONFIG_ADDR_KEPT;
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
	if (pdev->cfg[PCI_INTERRUPT_PIN] > 1)	/* the MP table routes INTA only */
		goto err_inval;
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
		pdev->irq_line = pci__intx_gsi(slot);
		pdev->cfg[PCI_INTERRUPT_LINE] = pdev->irq_line;
	}
	pthread_mutex_lock(&intx_lock);
	pdev->intx_cond = pdev->intx_on = false;
	pdev->intx_disabled = pdev->cfg[PCI_COMMAND + 1] & (PCI_COMMAND_INTX_DISABLE >> 8);
	pthread_mutex_unlock(&intx_lock);
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
	/* Its share of a pin leaves with it. */
	pthread_mutex_lock(&intx_lock);
	pdev->intx_cond = false;
	intx_drive(pdev, false);
	pthread_mutex_unlock(&intx_lock);
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

int pci__set_irq(struct pci_device *pdev, int level)
{
	int ret;

	pthread_mutex_lock(&intx_lock);
	pdev->intx_cond = level;
	ret = intx_drive(pdev, false);
	pthread_mutex_unlock(&intx_lock);
	return ret;
}

int pci__load_irq(struct pci_device *pdev, u16 command, int level)
{
	int ret;

	/* Only the bits a guest could have set; the vCPUs are not running. */
	pdev->cfg[PCI_COMMAND] = (pdev->cfg[PCI_COMMAND] & ~writable(pdev, PCI_COMMAND)) |
				 (command & writable(pdev, PCI_COMMAND));
	pdev->cfg[PCI_COMMAND + 1] = (pdev->cfg[PCI_COMMAND + 1] &
				      ~writable(pdev, PCI_COMMAND + 1)) |
				     ((command >> 8) & writable(pdev, PCI_COMMAND + 1));
	pthread_mutex_lock(&intx_lock);
	pdev->intx_disabled = command & PCI_COMMAND_INTX_DISABLE;
	pdev->intx_cond = level;
	ret = intx_drive(pdev, true);
	pthread_mutex_unlock(&intx_lock);
	return ret;
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

/* ---- migration: section MIG_SEC_PCI ------------------------------------------ */

/*
 * What a guest writes into the bus and what a fresh destination would not
 * have: the address latch (a vCPU may be stopped between its OUT to 0xcf8
 * and the access to 0xcfc) and, per device, the config bits writable()
 * lets through (command, cache line, latency, interrupt line, capability
 * registers such as virtio's PCI_CFG window) and each BAR's contents (a
 * guest in the middle of sizing it reads the size mask back next).
 *
 *   / compatible "lkvm,pci-state", version 1, config-address
 *   /dev@N (N = slot) version 1, id (vendor | device << 16),
 *          config (256 bytes: cfg & writable, 0 elsewhere), bars (6 cells)
 */
#define PCI_STATE_COMPAT	"lkvm,pci-state"

struct pci_dev_state {
	u8 cfg[PCI_CFG_SIZE];
	u32 bar[PCI_NR_BARS];
};

static const char *const slot_nodes[PCI_MAX_DEVICES + 1] = {
	"dev@0", "dev@1", "dev@2", "dev@3", "dev@4", "dev@5", "dev@6", "dev@7",
	"dev@8", "dev@9", "dev@10", "dev@11", "dev@12", "dev@13", "dev@14", "dev@15",
	"dev@16", "dev@17", "dev@18", "dev@19", "dev@20", "dev@21", "dev@22", "dev@23",
	"dev@24", "dev@25", "dev@26", "dev@27", "dev@28", "dev@29", "dev@30", "dev@31",
	NULL,
};

static u32 dev_id(const struct pci_device *pdev)
{
	return get_le32(pdev->cfg + PCI_VENDOR_ID);
}

/* Called with pci_lock held; the vCPUs are paused. */
static int fill_pci(void *fdt, const void *arg)
{
	int slot, i, ret;

	ret = fdt_begin_node(fdt, "");
	if (!ret) ret = fdt_property_string(fdt, "compatible", PCI_STATE_COMPAT);
	if (!ret) ret = sfdt__put_u32(fdt, "version", 1);
	if (!ret) ret = sfdt__put_u32(fdt, "config-address", config_addr);
	for (slot = 0; !ret && slot < PCI_MAX_DEVICES; slot++) {
		const struct pci_device *pdev = bus[slot];
		u8 cfg[PCI_CFG_SIZE];
		fdt32_t bar[PCI_NR_BARS];

		if (!pdev)
			continue;
		for (i = 0; i < PCI_CFG_SIZE; i++)
			cfg[i] = pdev->cfg[i] & writable(pdev, i);
		for (i = 0; i < PCI_NR_BARS; i++)
			bar[i] = cpu_to_fdt32(get_le32(pdev->cfg + PCI_BASE_ADDRESS_0 + 4 * i));
		ret = sfdt__begin(fdt, slot_nodes[slot], 1);
		if (!ret) ret = sfdt__put_u32(fdt, "id", dev_id(pdev));
		if (!ret) ret = sfdt__put_raw(fdt, "config", cfg, sizeof(cfg));
		if (!ret) ret = sfdt__put_raw(fdt, "bars", bar, sizeof(bar));
		if (!ret) ret = sfdt__end(fdt);
	}
	return ret ? ret : fdt_end_node(fdt);
}

int pci__save_state(struct mig_buf *out)
{
	int ret;

	pthread_mutex_lock(&pci_lock);
	ret = sfdt__build(out, 4096, fill_pci, NULL);
	pthread_mutex_unlock(&pci_lock);
	return ret;
}

/* One device's node, checked against the device in that slot here. */
static int load_dev(const void *fdt, int node, const struct pci_device *pdev,
		    struct pci_dev_state *st)
{
	static const char *const props[] = { "id", "config", "bars", NULL };
	fdt32_t bar[PCI_NR_BARS];
	u32 version, id;
	int i;

	if (sfdt__check_node(fdt, node, 1, props, NULL, &version) ||
	    sfdt__get_u32(fdt, node, "id", &id) ||
	    sfdt__get_raw(fdt, node, "config", st->cfg, sizeof(st->cfg)) ||
	    sfdt__get_raw(fdt, node, "bars", bar, sizeof(bar)))
		return -EINVAL;
	if (id != dev_id(pdev)) {
		pr_err("pci state: slot %u holds %04x:%04x here, %04x:%04x at the source",
		       pdev->dev_nr, dev_id(pdev) & 0xffff, dev_id(pdev) >> 16, id & 0xffff,
		       id >> 16);
		return -EINVAL;
	}
	/* Only bits a guest write could have set (BAR bytes are 0 here). */
	for (i = 0; i < PCI_CFG_SIZE; i++) {
		if (st->cfg[i] & ~writable(pdev, i)) {
			pr_err("pci state: slot %u: config byte %#x has bits a guest cannot set",
			       pdev->dev_nr, i);
			return -EINVAL;
		}
	}
	/* What bar_write() can leave: 0 if unused, else our address or a sizing probe. */
	for (i = 0; i < PCI_NR_BARS; i++) {
		u32 v = fdt32_to_cpu(bar[i]), size = pdev->bar_size[i];

		if (size ? v != pdev->bar_addr[i] && v != ~(size - 1) : v != 0) {
			pr_err("pci state: slot %u: BAR%d %#x is neither its address %#x nor a "
			       "sizing probe", pdev->dev_nr, i, v, pdev->bar_addr[i]);
			return -EINVAL;
		}
		st->bar[i] = v;
	}
	return 0;
}

int pci__load_state(const void *data, size_t len)
{
	struct pci_dev_state *st;
	void *fdt;
	u32 version, addr;
	int slot, node, i, ret;

	ret = sfdt__open(data, len, PCI_STATE_COMPAT, &fdt);
	if (ret)
		return ret;
	st = calloc(PCI_MAX_DEVICES, sizeof(*st));
	if (!st) {
		free(fdt);
		return -ENOMEM;
	}
	pthread_mutex_lock(&pci_lock);
	ret = sfdt__check_node(fdt, 0, 1, (const char *const[]){ "config-address", NULL },
			       slot_nodes, &version);
	if (!ret)
		ret = sfdt__get_u32(fdt, 0, "config-address", &addr) ? -EINVAL : 0;
	/* Whatever the guest wrote, as config_addr_io() keeps it. */
	if (!ret && (addr & ~PCI_CONFIG_ADDR_KEPT))
		ret = -EINVAL;
	for (slot = 0; !ret && slot < PCI_MAX_DEVICES; slot++) {
		node = sfdt__subnode(fdt, 0, slot_nodes[slot]);
		if ((node >= 0) != !!bus[slot]) {
			pr_err("pci state: slot %d: a device on one side only", slot);
			ret = -EINVAL;
		} else if (node >= 0) {
			ret = load_dev(fdt, node, bus[slot], &st[slot]);
		}
	}
	/* Everything checked: nothing below can fail half way. */
	for (slot = 0; !ret && slot < PCI_MAX_DEVICES; slot++) {
		struct pci_device *pdev = bus[slot];

		if (!pdev)
			continue;
		for (i = 0; i < PCI_CFG_SIZE; i++) {
			u8 m = writable(pdev, i);

			pdev->cfg[i] = (pdev->cfg[i] & ~m) | st[slot].cfg[i];
		}
		for (i = 0; i < PCI_NR_BARS; i++)
			put_le32(pdev->cfg + PCI_BASE_ADDRESS_0 + 4 * i, st[slot].bar[i]);
		intx_command(pdev);
	}
	if (!ret)
		config_addr = addr;
	pthread_mutex_unlock(&pci_lock);
	free(st);
	free(fdt);
	return ret;
}

static int pci_section_save(struct kvm *kvm, u32 instance, struct mig_buf *out)
{
	return instance ? -ERANGE : pci__save_state(out);
}

static int pci_section_load(struct kvm *kvm, u32 instance, const void *data, size_t len)
{
	return instance ? -ERANGE : pci__load_state(data, len);
}

/*
 * Behind a stream feature: a destination that predates it refuses this
 * source at HELLO, before any page moves, rather than run the guest with
 * a lost latch or BAR probe; a source that predates it sends no section,
 * and this side keeps what it has from start-up (what it always had).
 */
static struct mig_section pci_section = {
	.name	= "pci",
	.id	= MIG_SEC_PCI,
	.feature = MIG_F_PCI_STATE,
	.save	= pci_section_save,
	.load	= pci_section_load,
};
mig_section_register(pci_section);

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
	pthread_mutex_lock(&intx_lock);
	intx_kvm = kvm;
	memset(intx_users, 0, sizeof(intx_users));
	pthread_mutex_unlock(&intx_lock);
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
	pthread_mutex_lock(&intx_lock);
	intx_kvm = NULL;
	pthread_mutex_unlock(&intx_lock);
	pthread_mutex_unlock(&pci_lock);
	return 0;
}
dev_base_init(pci__init, pci__exit);
