/*
 * virtio-console (`--console virtio`): one port, no multiport.  Queue 1
 * (transmit) goes to the terminal; bytes typed on the terminal wait in a
 * small buffer until the driver offers receive buffers on queue 0.  The
 * 8250 stays present for early output; only the input moves here.
 *
 * A migration carries that buffer (section MIG_SEC_CONSOLE, stream feature
 * CONSOLE_INPUT): the queues travel in MIG_SEC_VIRTIO like every device's,
 * the bytes typed but not yet taken here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>

#include "lkvm/init.h"
#include "lkvm/kvm.h"
#include "lkvm/mig-section.h"
#include "lkvm/migration.h"
#include "lkvm/term.h"
#include "lkvm/virtio-devices.h"
#include "lkvm/virtio-pci.h"

#define CON_RXQ		0
#define CON_TXQ		1
#define CON_INBUF	VIRTIO_CON_INBUF
#define CON_MAX_OUT	(64 * 1024)	/* per request: a bigger one is cut */

struct con_dev {
	struct virtio_device vdev;
	struct virtio_pci vpci;
	struct virtio_console_config config;
	char in[CON_INBUF];		/* typed, not yet delivered */
	size_t in_len;
	/*
	 * Migration's save took in[0, sent_len) while the device was paused:
	 * what is typed after it stays here, and is lost if the guest then
	 * runs on at the destination (said at exit).
	 */
	bool sent;
	size_t sent_len;
};

static struct con_dev *con;

static int con_tx(struct virtio_device *vdev, struct virtq_chain *c)
{
	u32 left = CON_MAX_OUT;
	int i;

	for (i = 0; i < c->nr_out && left; i++) {
		u32 n = min(c->seg[i].len, left);

		term__write(c->seg[i].addr, n);
		left -= n;
	}
	return 0;
}

/* Called with the lock held: hand buffered input to the driver. */
static void con_deliver(struct con_dev *cd)
{
	struct virtio_device *vdev = &cd->vdev;
	struct virt_queue *vq = &vdev->vqs[CON_RXQ];
	bool pushed = false;
	int ret = 0;

	if (!virtio__queue_live(vdev, CON_RXQ) || virtq__map(vq))
		return;
	while (cd->in_len && (ret = virtq__pop(vq, vdev->chain)) > 0) {
		size_t n = virtq_chain__write(vdev->chain, 0, cd->in, cd->in_len);

		memmove(cd->in, cd->in + n, cd->in_len - n);
		cd->in_len -= n;
		virtq__push(vq, vdev->chain, n);
		pushed = true;
	}
	if (ret < 0)
		virtio__guest_error(vdev, CON_RXQ, ret, "malformed receive chain");
	if (pushed)
		virtio__signal_vq(vdev, CON_RXQ);
}

void virtio_con__input(struct kvm *kvm, const char *buf, size_t len)
{
	size_t n;

	if (!con)
		return;
	pthread_mutex_lock(&con->vdev.lock);
	/* A full buffer drops the oldest-unread-last: the typist sees it stall. */
	n = min(len, CON_INBUF - con->in_len);
	memcpy(con->in + con->in_len, buf, n);
	con->in_len += n;
	con_deliver(con);
	pthread_mutex_unlock(&con->vdev.lock);
}

static int con_notify(struct virtio_device *vdev, u16 q)
{
	if (q == CON_TXQ)
		return virtio__drain(vdev, q, con_tx);
	con_deliver(container_of(vdev, struct con_dev, vdev));
	return 0;
}

static void con_reset(struct virtio_device *vdev)
{
	/* Input typed before the driver came back stays buffered. */
}

static const struct virtio_dev_ops con_ops = {
	.name = "console",
	.device_id = VIRTIO_ID_CONSOLE,
	.nr_queues = 2,
	.queue_size = 128,
	.features = 1ULL << VIRTIO_CONSOLE_F_SIZE,
	.config_size = sizeof(struct virtio_console_config),
	.notify = con_notify,
	.reset = con_reset,
};

static int virtio_con__init(struct kvm *kvm)
{
	int ret;

	if (!kvm->cfg.console || strcmp(kvm->cfg.console, "virtio"))
		return 0;
	con = calloc(1, sizeof(*con));
	if (!con)
		return -ENOMEM;
	con->config.cols = 80;
	con->config.rows = 24;
	con->config.max_nr_ports = 1;
	ret = virtio__init_device(&con->vdev, kvm, &con_ops, &con->config,
				  kvm->cfg.sev_mode != SEV_MODE_NONE);
	if (ret < 0)
		goto err_free;
	ret = virtio_pci__init(kvm, &con->vpci, &con->vdev, 0x078000);
	if (ret < 0)
		goto err_dev;
	term__set_input(virtio_con__input);
	return 0;

err_dev:
	virtio__exit_device(&con->vdev);
err_free:
	free(con);
	con = NULL;
	return ret;
}

static int virtio_con__exit(struct kvm *kvm)
{
	if (!con)
		return 0;
	term__set_input(NULL);
	/* Still paused since the save: the guest went on elsewhere (or was stopped here). */
	if (con->sent && con->vdev.paused && con->in_len > con->sent_len)
		pr_warn("virtio-console: %zu bytes typed here after the guest's state was sent "
			"to the destination were not sent; the guest does not get them",
			con->in_len - con->sent_len);
	virtio_pci__exit(kvm, &con->vpci);
	virtio__exit_device(&con->vdev);
	free(con);
	con = NULL;
	return 0;
}
virtio_dev_init(virtio_con__init, virtio_con__exit);

/*
 * Migration: the typed bytes the driver has not taken, oldest first, as
 * they are (0 to CON_INBUF of them: the payload is the whole state).  The
 * save runs with the device paused (virtio__pause_all()), under its lock,
 * so no byte is both delivered into guest RAM and sent here.
 */
int virtio_con__save_input(struct mig_buf *out)
{
	int ret;

	if (!con)
		return -ENODEV;
	pthread_mutex_lock(&con->vdev.lock);
	ret = mig_buf__put(out, con->in, con->in_len);
	if (!ret) {
		con->sent = con->vdev.paused;
		con->sent_len = con->in_len;
	}
	pthread_mutex_unlock(&con->vdev.lock);
	return ret;
}

/*
 * The source's bytes replace this buffer (a destination reads its own
 * terminal only once the guest has arrived, so it holds nothing yet); the
 * incoming kick hands them to the driver before the guest's first
 * instruction if it has buffers offered.  Refused, nothing changes.
 */
int virtio_con__load_input(const void *data, size_t len)
{
	if (!con)
		return -ENODEV;
	if (len > CON_INBUF)
		return -EMSGSIZE;
	pthread_mutex_lock(&con->vdev.lock);
	if (len)
		memcpy(con->in, data, len);
	con->in_len = len;
	con->sent = false;
	pthread_mutex_unlock(&con->vdev.lock);
	return 0;
}

static u32 con_mig_count(struct kvm *kvm)
{
	return con ? 1 : 0;
}

static int con_mig_save(struct kvm *kvm, u32 inst, struct mig_buf *out)
{
	return inst ? -ERANGE : virtio_con__save_input(out);
}

static int con_mig_load(struct kvm *kvm, u32 inst, const void *data, size_t len)
{
	return inst ? -ERANGE : virtio_con__load_input(data, len);
}

/*
 * Behind a stream feature, as the PCI bus's section (x86/pci.c says why),
 * asked for only by a source with a virtio-console.  Loaded after
 * MIG_SEC_VIRTIO (id order); a destination that then fails any later step
 * exits without running the guest, so nothing half-loaded ever runs.
 */
static struct mig_section con_section = {
	.name	= "console-input",
	.id	= MIG_SEC_CONSOLE,
	.feature = MIG_F_CONSOLE_INPUT,
	.count	= con_mig_count,
	.save	= con_mig_save,
	.load	= con_mig_load,
};
mig_section_register(con_section);
