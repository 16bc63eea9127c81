/*
 * The modern virtio-pci transport (virtio 1.x, 4.1): one 32-bit memory BAR
 * holding the common, ISR, device-config and notify regions and the MSI-X
 * table; vendor capabilities in config space point at them.
 */
#ifndef LKVM__VIRTIO_PCI_H
#define LKVM__VIRTIO_PCI_H

#include "lkvm/pci.h"
#include "lkvm/virtio.h"

/* BAR0 layout. */
#define VPCI_COMMON_OFF		0x0000
#define VPCI_COMMON_SIZE	0x38
#define VPCI_ISR_OFF		0x1000
#define VPCI_DEVCFG_OFF		0x2000
#define VPCI_NOTIFY_OFF		0x3000
#define VPCI_NOTIFY_MULT	4	/* queue q is notified at NOTIFY_OFF + 4q */
#define VPCI_MSIX_OFF		0x4000
#define VPCI_PBA_OFF		0x5000
#define VPCI_BAR_SIZE		0x8000
#define VPCI_NR_VECTORS		(VIRTIO_MAX_QUEUES + 1)

struct virtio_pci {
	struct pci_device pdev;
	struct virtio_device *vdev;
	struct kvm *kvm;
	u16 config_vector;
	u8 isr;
	u8 cfg_cap;		/* offset of the PCI-config-access capability */
	u8 msix_cap;
	/*
	 * A copy of MSI-X Message Control for the signalling paths: they run
	 * under vdev->lock only, while a vCPU writes pdev.cfg[] under
	 * pci_lock (a data race).  Copied under vdev->lock by the config-write
	 * hook, itself under pci_lock, and by migration's load.
	 */
	u16 msix_ctrl;
	struct {
		u32 addr_lo, addr_hi, data, ctrl;
	} msix[VPCI_NR_VECTORS];
	u32 pba;
	int gsi[VPCI_NR_VECTORS];
	int irqfd[VPCI_NR_VECTORS];
	bool route_stale[VPCI_NR_VECTORS];
	int ioeventfd[VIRTIO_MAX_QUEUES];
	bool io_user;		/* holds a reference on the I/O thread */
};

/* Put vdev on the PCI bus with the given PCI class code. */
int virtio_pci__init(struct kvm *kvm, struct virtio_pci *vpci, struct virtio_device *vdev,
		     u32 class_code);
void virtio_pci__exit(struct kvm *kvm, struct virtio_pci *vpci);
/* The BAR handler (exported for the tests: addr is BAR-relative there too). */
void virtio_pci__bar_rw(struct virtio_pci *vpci, u32 off, u8 *data, u32 len, bool is_write);

#endif
