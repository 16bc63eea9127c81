/*
 * Modern virtio-pci transport.  One memory BAR carries the common config,
 * ISR, device config, notify doorbells and the MSI-X table.
 *
 * Doorbells: each queue has its own 4-byte notify address with a KVM
 * ioeventfd on it, so a guest kick costs no exit to userspace; one I/O
 * thread waits on all of them and runs the device's handler.  Where
 * KVM_IOEVENTFD fails (or the guest writes with an odd width) the write
 * arrives as an MMIO exit and is handled on the vCPU thread instead.
 *
 * Interrupts: MSI-X vectors become KVM GSI routes fired through irqfds;
 * without MSI-X, the ISR register plus a level-triggered INTx pin (whose
 * Interrupt Disable masking and sharing the bus handles, x86/pci.c).
 */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include <linux/virtio_pci.h>
#include <libfdt.h>

#include "lkvm/kvm.h"
#include "lkvm/migration.h"
#include "lkvm/virtio-pci.h"

#define NO_VECTOR	VIRTIO_MSI_NO_VECTOR
#define MSIX_CTRL_ENABLE	0x8000
#define MSIX_CTRL_MASKALL	0x4000

/* ---- the I/O thread ----------------------------------------------------- */

static int io_epfd = -1, io_stopfd = -1;
static pthread_t io_thread;
static bool io_running;		/* io_thread exists and is not joined */
static int io_users;

static void *io_loop(void *arg)
{
	struct epoll_event ev[16];
	int n, i;

	pthread_setname_np(pthread_self(), "lkvm-virtio-io");

	for (;;) {
		n = epoll_wait(io_epfd, ev, ARRAY_SIZE(ev), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			pr_err("virtio: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (i = 0; i < n; i++) {
			struct virtio_pci *vpci;
			u64 cnt;
			u16 q;

			if (!ev[i].data.u64)		/* the stop eventfd */
				return NULL;
			vpci = (void *)(uintptr_t)(ev[i].data.u64 & ~7ULL);
			q = ev[i].data.u64 & 7;
			if (read(vpci->ioeventfd[q], &cnt, sizeof(cnt)) < 0)
				continue;
			virtio__notify(vpci->vdev, q);
		}
	}
}

static int io_thread_get(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };

	if (io_users++)
		return 0;
	io_epfd = epoll_create1(EPOLL_CLOEXEC);
	io_stopfd = eventfd(0, EFD_CLOEXEC);
	if (io_epfd < 0 || io_stopfd < 0 ||
	    epoll_ctl(io_epfd, EPOLL_CTL_ADD, io_stopfd, &ev) < 0 ||
	    pthread_create(&io_thread, NULL, io_loop, NULL)) {
		if (io_epfd >= 0)
			close(io_epfd);
		if (io_stopfd >= 0)
			close(io_stopfd);
		io_epfd = io_stopfd = -1;
		io_users--;
		return -errno ?: -ENOMEM;
	}
	io_running = true;
	return 0;
}

/*
 * The thread is joined before a device's eventfds leave the epoll set, not
 * after: events epoll_wait() already returned may name the device, and the
 * thread would go on to notify it once its exit had freed it.  The stop
 * eventfd is drained again so that a restarted thread runs.
 */
static void io_thread_stop(void)
{
	u64 one = 1;

	if (io_running && write(io_stopfd, &one, sizeof(one)) == sizeof(one)) {
		pthread_join(io_thread, NULL);
		io_running = false;
		if (read(io_stopfd, &one, sizeof(one)) < 0)
			pr_debug("virtio: stop eventfd: %s", strerror(errno));
	}
}

/* Called with the thread stopped: restart it for the devices left. */
static void io_thread_put(void)
{
	int ret;

	if (--io_users) {
		ret = pthread_create(&io_thread, NULL, io_loop, NULL);
		if (ret)
			pr_err("virtio: cannot restart the I/O thread (%s): queue kicks of "
			       "the remaining devices go unserved", strerror(ret));
		io_running = !ret;
		return;
	}
	close(io_epfd);
	close(io_stopfd);
	io_epfd = io_stopfd = -1;
}

static u64 notify_gpa(struct virtio_pci *vpci, u16 q)
{
	return vpci->pdev.bar_addr[0] + VPCI_NOTIFY_OFF + VPCI_NOTIFY_MULT * q;
}

static int ioeventfd_set(struct virtio_pci *vpci, u16 q, bool assign)
{
	struct kvm_ioeventfd kev = {
		.addr = notify_gpa(vpci, q),
		.len = 2,		/* the driver writes the 16-bit queue index */
		.fd = vpci->ioeventfd[q],
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	return ioctl(vpci->kvm->vm_fd, KVM_IOEVENTFD, &kev) < 0 ? -errno : 0;
}

static void ioeventfds_init(struct virtio_pci *vpci)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int q, n = vpci->vdev->ops->nr_queues;

	for (q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vpci->ioeventfd[q] = -1;
	if (io_thread_get() < 0) {
		pr_warn("virtio-%s: no I/O thread; queue kicks take MMIO exits",
			vpci->vdev->ops->name);
		return;
	}
	vpci->io_user = true;
	for (q = 0; q < n; q++) {
		vpci->ioeventfd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vpci->ioeventfd[q] < 0)
			break;
		ev.data.u64 = (u64)(uintptr_t)vpci | q;
		if (ioeventfd_set(vpci, q, true) < 0 ||
		    epoll_ctl(io_epfd, EPOLL_CTL_ADD, vpci->ioeventfd[q], &ev) < 0) {
			/* Fallback: the doorbell stays an MMIO exit. */
			pr_debug("virtio-%s: queue %d: ioeventfd unavailable (%s)",
				 vpci->vdev->ops->name, q, strerror(errno));
			close(vpci->ioeventfd[q]);
			vpci->ioeventfd[q] = -1;
		}
	}
}

static void ioeventfds_exit(struct virtio_pci *vpci)
{
	int q;

	if (!vpci->io_user)
		return;
	io_thread_stop();
	for (q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (vpci->ioeventfd[q] < 0)
			continue;
		epoll_ctl(io_epfd, EPOLL_CTL_DEL, vpci->ioeventfd[q], NULL);
		ioeventfd_set(vpci, q, false);
		close(vpci->ioeventfd[q]);
		vpci->ioeventfd[q] = -1;
	}
	vpci->io_user = false;
	io_thread_put();
}

/* ---- interrupts ----------------------------------------------------------- */

/* Called with vdev->lock held (or the devices paused). */
static u16 msix_ctrl(struct virtio_pci *vpci)
{
	return vpci->msix_ctrl;
}

/* Called with pci_lock (cfg[] stable) and vdev->lock held, or all paused. */
static void msix_ctrl_sync(struct virtio_pci *vpci)
{
	vpci->msix_ctrl = virtio__le16(vpci->pdev.cfg + vpci->msix_cap + 2);
}

static void msix_fire(struct virtio_pci *vpci, u16 v)
{
	struct kvm *kvm = vpci->kvm;
	u64 one = 1;

	if (vpci->gsi[v] < 0 || vpci->route_stale[v]) {
		if (pci__msi_route(kvm, &vpci->gsi[v], vpci->msix[v].addr_lo,
				   vpci->msix[v].addr_hi, vpci->msix[v].data) < 0)
			goto direct;
		vpci->route_stale[v] = false;
		if (vpci->irqfd[v] < 0) {
			struct kvm_irqfd irqfd = { .gsi = vpci->gsi[v] };

			irqfd.fd = eventfd(0, EFD_CLOEXEC);
			if ((int)irqfd.fd < 0)
				goto direct;
			if (ioctl(kvm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
				close(irqfd.fd);
				goto direct;
			}
			vpci->irqfd[v] = irqfd.fd;
		}
	}
	if (vpci->irqfd[v] >= 0 && write(vpci->irqfd[v], &one, sizeof(one)) == sizeof(one))
		return;
direct: {
		/* No routing or irqfd on this host: inject the message directly. */
		struct kvm_msi msi = {
			.address_lo = vpci->msix[v].addr_lo,
			.address_hi = vpci->msix[v].addr_hi,
			.data = vpci->msix[v].data,
		};

		if (ioctl(kvm->vm_fd, KVM_SIGNAL_MSI, &msi) < 0)
			pr_debug("virtio: MSI for vector %u lost: %s", v, strerror(errno));
	}
}

/*
 * The INTx condition is the ISR while MSI-X is off (virtio 1.x, 4.1.4.5).
 * A function with MSI-X enabled must not use INTx: Linux turns MSI-X on at
 * probe, maybe with the ISR still pending from an interrupt it took on
 * INTx, and a pin left high then is "nobody cared" for every device that
 * shares it.  The ISR keeps its bits meanwhile.  Called with vdev->lock held.
 */
static void intx_update(struct virtio_pci *vpci)
{
	pci__set_irq(&vpci->pdev, vpci->isr && !(msix_ctrl(vpci) & MSIX_CTRL_ENABLE));
}

/* Called with vdev->lock held. */
static void signal_vector(struct virtio_pci *vpci, u16 v, u8 isr_bit)
{
	u16 ctrl = msix_ctrl(vpci);

	if (ctrl & MSIX_CTRL_ENABLE) {
		if (v >= VPCI_NR_VECTORS)
			return;
		if ((ctrl & MSIX_CTRL_MASKALL) || (vpci->msix[v].ctrl & 1)) {
			vpci->pba |= 1u << v;
			return;
		}
		msix_fire(vpci, v);
		return;
	}
	vpci->isr |= isr_bit;
	intx_update(vpci);
}

static void msix_deliver_pending(struct virtio_pci *vpci)
{
	u16 ctrl = msix_ctrl(vpci);
	u16 v;

	if (!(ctrl & MSIX_CTRL_ENABLE) || (ctrl & MSIX_CTRL_MASKALL))
		return;
	for (v = 0; v < VPCI_NR_VECTORS; v++) {
		if ((vpci->pba & (1u << v)) && !(vpci->msix[v].ctrl & 1)) {
			vpci->pba &= ~(1u << v);
			msix_fire(vpci, v);
		}
	}
}

static void vpci_signal_vq(struct virtio_device *vdev, u16 q)
{
	signal_vector(vdev->trans_priv, vdev->vqs[q].msix_vector, 1);
}

static void vpci_signal_config(struct virtio_device *vdev)
{
	struct virtio_pci *vpci = vdev->trans_priv;

	vdev->config_gen++;
	signal_vector(vpci, vpci->config_vector, 2);
}

/* ---- migration: the transport's registers ------------------------------- */

static int vpci_save(struct virtio_device *vdev, void *fdt)
{
	struct virtio_pci *vpci = vdev->trans_priv;
	fdt32_t table[VPCI_NR_VECTORS * 4];
	int v, err = 0;

	for (v = 0; v < VPCI_NR_VECTORS; v++) {
		table[4 * v] = cpu_to_fdt32(vpci->msix[v].addr_lo);
		table[4 * v + 1] = cpu_to_fdt32(vpci->msix[v].addr_hi);
		table[4 * v + 2] = cpu_to_fdt32(vpci->msix[v].data);
		table[4 * v + 3] = cpu_to_fdt32(vpci->msix[v].ctrl);
	}
	err |= fdt_property_u32(fdt, "command", virtio__le16(vpci->pdev.cfg + PCI_COMMAND));
	err |= fdt_property_u32(fdt, "msix-ctrl", msix_ctrl(vpci));
	err |= fdt_property(fdt, "msix-table", table, sizeof(table));
	err |= fdt_property_u32(fdt, "pba", vpci->pba);
	err |= fdt_property_u32(fdt, "config-vector", vpci->config_vector);
	err |= fdt_property_u32(fdt, "isr", vpci->isr);
	return err ? -ENOSPC : 0;
}

static int prop_u32(const void *fdt, int node, const char *name, u32 max, u32 *v)
{
	int len;
	const fdt32_t *p = fdt_getprop(fdt, node, name, &len);

	if (!p || len != sizeof(*p) || fdt32_to_cpu(*p) > max)
		return -EINVAL;
	*v = fdt32_to_cpu(*p);
	return 0;
}

static int vpci_load(struct virtio_device *vdev, const void *fdt, int node)
{
	struct virtio_pci *vpci = vdev->trans_priv;
	const fdt32_t *table;
	u32 cmd, ctrl, pba, cvec, isr;
	int len, v;

	table = fdt_getprop(fdt, node, "msix-table", &len);
	if (!table || len != VPCI_NR_VECTORS * 16 ||
	    prop_u32(fdt, node, "command", 0xffff, &cmd) ||
	    prop_u32(fdt, node, "msix-ctrl", 0xffff, &ctrl) ||
	    prop_u32(fdt, node, "pba", (1u << VPCI_NR_VECTORS) - 1, &pba) ||
	    prop_u32(fdt, node, "config-vector", 0xffff, &cvec) ||
	    prop_u32(fdt, node, "isr", 3, &isr))
		return -EINVAL;
	if (cvec >= VPCI_NR_VECTORS && cvec != NO_VECTOR)
		return -EINVAL;
	/* The queues' new state is in place already (see virtio__load_state). */
	for (v = 0; v < vdev->ops->nr_queues; v++)
		if (vdev->vqs[v].msix_vector >= VPCI_NR_VECTORS &&
		    vdev->vqs[v].msix_vector != NO_VECTOR)
			return -EINVAL;
	/* Everything checked: nothing below can fail half way. */
	for (v = 0; v < VPCI_NR_VECTORS; v++) {
		vpci->msix[v].addr_lo = fdt32_to_cpu(table[4 * v]);
		vpci->msix[v].addr_hi = fdt32_to_cpu(table[4 * v + 1]);
		vpci->msix[v].data = fdt32_to_cpu(table[4 * v + 2]);
		vpci->msix[v].ctrl = fdt32_to_cpu(table[4 * v + 3]) & 1;
		vpci->route_stale[v] = true;	/* routes are rebuilt here on first use */
	}
	/* Only the bits the guest could have set. */
	vpci->pdev.cfg[vpci->msix_cap + 3] = (ctrl >> 8) & ((MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8);
	msix_ctrl_sync(vpci);
	vpci->pba = pba;
	vpci->config_vector = cvec;
	vpci->isr = isr;
	/*
	 * The pin's level follows from the ISR, MSI-X control and Interrupt
	 * Disable, all loaded here: no state of its own in the stream.
	 */
	pci__load_irq(&vpci->pdev, cmd, isr && !(ctrl & MSIX_CTRL_ENABLE));
	return 0;
}

static const struct virtio_transport vpci_transport = {
	.signal_vq = vpci_signal_vq,
	.signal_config = vpci_signal_config,
	.save = vpci_save,
	.load = vpci_load,
};

/* ---- common configuration --------------------------------------------- */

static void common_image(struct virtio_pci *vpci, u8 *img)
{
	struct virtio_device *vdev = vpci->vdev;
	struct virt_queue *vq = vdev->queue_sel < vdev->ops->nr_queues ?
				&vdev->vqs[vdev->queue_sel] : NULL;

	memset(img, 0, VPCI_COMMON_SIZE);
	virtio__put_le32(img + 0, vdev->dev_feat_sel);
	if (vdev->dev_feat_sel < 2)
		virtio__put_le32(img + 4, vdev->host_features >> (32 * vdev->dev_feat_sel));
	virtio__put_le32(img + 8, vdev->drv_feat_sel);
	if (vdev->drv_feat_sel < 2)
		virtio__put_le32(img + 12, vdev->guest_features >> (32 * vdev->drv_feat_sel));
	virtio__put_le16(img + 16, vpci->config_vector);
	virtio__put_le16(img + 18, vdev->ops->nr_queues);
	img[20] = vdev->status;
	img[21] = vdev->config_gen;
	virtio__put_le16(img + 22, vdev->queue_sel);
	if (vq) {
		virtio__put_le16(img + 24, vq->size);
		virtio__put_le16(img + 26, vq->msix_vector);
		virtio__put_le16(img + 28, vq->enabled);
		virtio__put_le16(img + 30, vdev->queue_sel);	/* notify_off */
		virtio__put_le64(img + 32, vq->desc_gpa);
		virtio__put_le64(img + 40, vq->avail_gpa);
		virtio__put_le64(img + 48, vq->used_gpa);
	}
}

static bool covers(u32 off, u32 len, u32 field, u32 flen)
{
	return off < field + flen && off + len > field;
}

static void queue_enable(struct virtio_pci *vpci, u16 q)
{
	struct virtio_device *vdev = vpci->vdev;
	struct virt_queue *vq = &vdev->vqs[q];
	int ret;

	vq->enabled = true;
	ret = virtq__map(vq);
	if (ret)
		virtio__guest_error(vdev, q, ret, "queue rings outside shared guest RAM, "
				    "misaligned or of a bad size");
}

static void common_write(struct virtio_pci *vpci, u32 off, const u8 *data, u32 len)
{
	struct virtio_device *vdev = vpci->vdev;
	struct virt_queue *vq;
	u8 img[VPCI_COMMON_SIZE];
	bool frozen = vdev->status & VIRTIO_CONFIG_S_FEATURES_OK;
	u16 v;

	common_image(vpci, img);
	memcpy(img + off, data, len);
	/*
	 * queue_select first: one write (8 bytes at offset 22, say) may also
	 * set the selected queue's fields, which then belong to the queue it
	 * selects, and only a queue the device has may be touched.  (vq came
	 * from the old selector while the enable used the new, unchecked one:
	 * a guest wrote queue state past vqs[].)
	 */
	if (covers(off, len, 22, 2))
		vdev->queue_sel = virtio__le16(img + 22);
	vq = vdev->queue_sel < vdev->ops->nr_queues ? &vdev->vqs[vdev->queue_sel] : NULL;

	if (covers(off, len, 0, 4))
		vdev->dev_feat_sel = virtio__le32(img + 0);
	if (covers(off, len, 8, 4))
		vdev->drv_feat_sel = virtio__le32(img + 8);
	if (covers(off, len, 12, 4) && !frozen && vdev->drv_feat_sel < 2) {
		unsigned int sh = 32 * vdev->drv_feat_sel;

		vdev->guest_features &= ~(0xffffffffULL << sh);
		vdev->guest_features |= (u64)virtio__le32(img + 12) << sh;
	}
	if (covers(off, len, 16, 2)) {
		v = virtio__le16(img + 16);
		vpci->config_vector = v < VPCI_NR_VECTORS ? v : NO_VECTOR;
	}
	if (vq && !vq->enabled) {
		/*
		 * A driver may only shrink a queue (virtio 1.x 4.1.4.3): a size of
		 * 0 or above what the device offers is ignored.  Kept, it made the
		 * guest impossible to migrate (the destination refuses it).
		 */
		if (covers(off, len, 24, 2)) {
			u16 size = virtio__le16(img + 24);

			if (size && size <= vdev->ops->queue_size)
				vq->size = size;
			else
				virtio__guest_error(vdev, vdev->queue_sel, -EINVAL,
						    "queue size outside 1..device maximum: ignored");
		}
		if (covers(off, len, 32, 8))
			vq->desc_gpa = virtio__le64(img + 32);
		if (covers(off, len, 40, 8))
			vq->avail_gpa = virtio__le64(img + 40);
		if (covers(off, len, 48, 8))
			vq->used_gpa = virtio__le64(img + 48);
	}
	if (vq && covers(off, len, 26, 2)) {
		v = virtio__le16(img + 26);
		vq->msix_vector = v < VPCI_NR_VECTORS ? v : NO_VECTOR;
	}
	if (vq && covers(off, len, 28, 2) && virtio__le16(img + 28) == 1 && !vq->enabled)
		queue_enable(vpci, vq - vdev->vqs);
	if (covers(off, len, 20, 1)) {
		virtio__write_status(vdev, img[20]);
		if (!img[20]) {
			/* Reset: the transport's part too. */
			vpci->config_vector = NO_VECTOR;
			vpci->isr = 0;
			intx_update(vpci);
		}
	}
}

/* ---- the BAR ---------------------------------------------------------------- */

static bool in(u32 off, u32 len, u32 start, u32 size)
{
	return off >= start && off - start < size && len <= size - (off - start);
}

static void msix_rw(struct virtio_pci *vpci, u32 off, u8 *data, u32 len, bool is_write)
{
	u32 e = off / 16, field = (off % 16) / 4, *f;

	/* Table accesses are aligned dwords or qwords (PCI 3.0, 6.8.2). */
	if ((len != 4 && len != 8) || off % len) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	for (; len; len -= 4, data += 4, field++) {
		f = field == 0 ? &vpci->msix[e].addr_lo : field == 1 ? &vpci->msix[e].addr_hi :
		    field == 2 ? &vpci->msix[e].data : &vpci->msix[e].ctrl;
		if (!is_write) {
			virtio__put_le32(data, *f);
			continue;
		}
		if (field == 3) {
			*f = virtio__le32(data) & 1;
			msix_deliver_pending(vpci);
		} else if (*f != virtio__le32(data)) {
			*f = virtio__le32(data);
			vpci->route_stale[e] = true;
		}
	}
}

void virtio_pci__bar_rw(struct virtio_pci *vpci, u32 off, u8 *data, u32 len, bool is_write)
{
	struct virtio_device *vdev = vpci->vdev;
	int notify_q = -1;
	u8 img[VPCI_COMMON_SIZE];

	if (len == 0 || len > 8)
		return;
	pthread_mutex_lock(&vdev->lock);
	if (in(off, len, VPCI_COMMON_OFF, VPCI_COMMON_SIZE)) {
		if (is_write) {
			common_write(vpci, off, data, len);
		} else {
			common_image(vpci, img);
			memcpy(data, img + off, len);
		}
	} else if (in(off, len, VPCI_ISR_OFF, 4)) {
		if (!is_write) {
			memset(data, 0, len);
			if (off == VPCI_ISR_OFF) {
				/* Reading the ISR acknowledges it and drops INTx. */
				data[0] = vpci->isr;
				vpci->isr = 0;
				intx_update(vpci);
			}
		}
	} else if (in(off, len, VPCI_DEVCFG_OFF, vdev->ops->config_size)) {
		u32 o = off - VPCI_DEVCFG_OFF;

		if (is_write) {
			/*
			 * Read-only unless the device takes writes: a driver must not
			 * change a disk's capacity or a NIC's MAC (the MAC announced
			 * after a migration is read from here).
			 */
			if (vdev->ops->config_write) {
				memcpy(vdev->config + o, data, len);
				vdev->ops->config_write(vdev, o, len);
			}
		} else {
			memcpy(data, vdev->config + o, len);
		}
	} else if (in(off, len, VPCI_NOTIFY_OFF, VPCI_NOTIFY_MULT * vdev->ops->nr_queues)) {
		if (is_write)
			notify_q = (off - VPCI_NOTIFY_OFF) / VPCI_NOTIFY_MULT;
		else
			memset(data, 0, len);
	} else if (in(off, len, VPCI_MSIX_OFF, 16 * VPCI_NR_VECTORS)) {
		msix_rw(vpci, off - VPCI_MSIX_OFF, data, len, is_write);
	} else if (!is_write) {
		memset(data, 0, len);
		if (in(off, len, VPCI_PBA_OFF, 8))
			for (u32 i = 0; i < len && off - VPCI_PBA_OFF + i < 4; i++)
				data[i] = vpci->pba >> (8 * (off - VPCI_PBA_OFF + i));
	}
	pthread_mutex_unlock(&vdev->lock);

	/* Outside the lock: the handler takes it itself. */
	if (notify_q >= 0)
		virtio__notify(vdev, notify_q);
}

static void bar_io(struct kvm_cpu *vcpu, u64 addr, u8 *data, u32 len, bool is_write, void *ptr)
{
	struct virtio_pci *vpci = ptr;
	u64 base = vpci->pdev.bar_addr[0];

	if (addr < base || addr - base >= VPCI_BAR_SIZE) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	virtio_pci__bar_rw(vpci, addr - base, data, len, is_write);
}

/* ---- config space: MSI-X control and the config-access window ------------- */

static void cfg_access(struct virtio_pci *vpci, bool is_write)
{
	u8 *cap = vpci->pdev.cfg + vpci->cfg_cap;
	u32 off = virtio__le32(cap + 8), len = virtio__le32(cap + 12);

	/* VIRTIO_PCI_CAP_PCI_CFG: bar 0 only, 1/2/4 naturally aligned bytes. */
	if (cap[4] != 0 || (len != 1 && len != 2 && len != 4) || off % len ||
	    off >= VPCI_BAR_SIZE)
		return;
	virtio_pci__bar_rw(vpci, off, cap + 16, len, is_write);
}

static void vpci_cfg_write(struct pci_device *pdev, u32 off, u32 len)
{
	struct virtio_pci *vpci = container_of(pdev, struct virtio_pci, pdev);

	if (covers(off, len, vpci->cfg_cap + 16, 4))
		cfg_access(vpci, true);
	if (covers(off, len, vpci->msix_cap + 2, 2)) {
		pthread_mutex_lock(&vpci->vdev->lock);
		msix_ctrl_sync(vpci);
		msix_deliver_pending(vpci);
		intx_update(vpci);
		pthread_mutex_unlock(&vpci->vdev->lock);
	}
}

static void vpci_cfg_read(struct pci_device *pdev, u32 off, u32 len)
{
	struct virtio_pci *vpci = container_of(pdev, struct virtio_pci, pdev);

	if (covers(off, len, vpci->cfg_cap + 16, 4))
		cfg_access(vpci, false);
}

static u8 add_vcap(struct pci_device *pdev, u8 type, u32 off, u32 len, u8 cap_len, u32 extra)
{
	u8 cap[20] = { PCI_CAP_ID_VNDR, 0, cap_len, type, 0 };

	virtio__put_le32(cap + 8, off);
	virtio__put_le32(cap + 12, len);
	virtio__put_le32(cap + 16, extra);
	return pci__add_cap(pdev, cap, cap_len);
}

int virtio_pci__init(struct kvm *kvm, struct virtio_pci *vpci, struct virtio_device *vdev,
		     u32 class_code)
{
	struct pci_device *pdev = &vpci->pdev;
	u8 msix[12] = { PCI_CAP_ID_MSIX, 0 };
	u32 dev_id = vdev->ops->device_id;
	int i, ret;

	vpci->vdev = vdev;
	vpci->kvm = kvm;
	vpci->config_vector = NO_VECTOR;
	/* The migration handshake refuses a destination with other devices. */
	{
		char desc[48];

		snprintf(desc, sizeof(desc), "virtio-%s", vdev->ops->name);
		ret = migration__register_device(desc);
		if (ret)
			return ret;
	}
	for (i = 0; i < VPCI_NR_VECTORS; i++) {
		vpci->gsi[i] = -1;
		vpci->irqfd[i] = -1;
		vpci->msix[i].ctrl = 1;		/* masked at reset */
	}
	vdev->trans = &vpci_transport;
	vdev->trans_priv = vpci;

	/* Modern-only device ids are 0x1040 + the virtio device type. */
	pci__init_header(pdev, 0x1af4, 0x1040 + dev_id, class_code, 0x1af4, dev_id);
	pdev->cfg[PCI_INTERRUPT_PIN] = 1;
	pdev->cfg[PCI_HEADER_TYPE] = 0;

	virtio__put_le16(msix + 2, VPCI_NR_VECTORS - 1);
	virtio__put_le32(msix + 4, VPCI_MSIX_OFF);	/* BIR 0 */
	virtio__put_le32(msix + 8, VPCI_PBA_OFF);
	vpci->msix_cap = pci__add_cap(pdev, msix, sizeof(msix));
	pdev->wmask[vpci->msix_cap + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;
	msix_ctrl_sync(vpci);

	add_vcap(pdev, VIRTIO_PCI_CAP_COMMON_CFG, VPCI_COMMON_OFF, VPCI_COMMON_SIZE, 16, 0);
	add_vcap(pdev, VIRTIO_PCI_CAP_NOTIFY_CFG, VPCI_NOTIFY_OFF,
		 VPCI_NOTIFY_MULT * vdev->ops->nr_queues, 20, VPCI_NOTIFY_MULT);
	add_vcap(pdev, VIRTIO_PCI_CAP_ISR_CFG, VPCI_ISR_OFF, 1, 16, 0);
	if (vdev->ops->config_size)
		add_vcap(pdev, VIRTIO_PCI_CAP_DEVICE_CFG, VPCI_DEVCFG_OFF,
			 vdev->ops->config_size, 16, 0);
	vpci->cfg_cap = add_vcap(pdev, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 20, 0);
	if (!vpci->msix_cap || !vpci->cfg_cap)
		return -ENOSPC;
	/* The window's bar, offset, length and data are the driver's to write. */
	pdev->wmask[vpci->cfg_cap + 4] = 0xff;
	memset(pdev->wmask + vpci->cfg_cap + 8, 0xff, 12);

	pdev->bar_size[0] = VPCI_BAR_SIZE;
	pdev->bar_fn = bar_io;
	pdev->priv = vpci;
	pdev->cfg_write = vpci_cfg_write;
	pdev->cfg_read = vpci_cfg_read;
	ret = pci__register(kvm, pdev);
	if (ret < 0)
		return ret;
	ioeventfds_init(vpci);
	return 0;
}

void virtio_pci__exit(struct kvm *kvm, struct virtio_pci *vpci)
{
	int i;

	ioeventfds_exit(vpci);
	pci__unregister(kvm, &vpci->pdev);
	for (i = 0; i < VPCI_NR_VECTORS; i++) {
		if (vpci->irqfd[i] >= 0) {
			struct kvm_irqfd irqfd = {
				.fd = vpci->irqfd[i], .gsi = vpci->gsi[i],
				.flags = KVM_IRQFD_FLAG_DEASSIGN,
			};

			ioctl(kvm->vm_fd, KVM_IRQFD, &irqfd);
			close(vpci->irqfd[i]);
			vpci->irqfd[i] = -1;
		}
	}
}
