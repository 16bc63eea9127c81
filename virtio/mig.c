/*
 * virtio device state in the migration stream: section MIG_SEC_VIRTIO, one
 * instance per device (in command-line order, the same on both sides).
 * Each payload is an FDT blob, one property per field:
 *
 *   / device-id, host-features, guest-features, status, config-gen,
 *     queue-sel, dev-feat-sel, drv-feat-sel, broken
 *   /queue@N  size, enabled, desc, avail, used, last-avail, used-idx,
 *             signalled-used, signalled-valid, msix-vector
 *   /transport  (the transport's registers, see virtio/pci.c)
 *
 * In-flight requests: every device carries out a request completely while
 * holding its lock, and virtio__pause_all() takes that lock, so once the
 * devices are paused nothing is half done: each request the driver offered
 * is either used (in guest RAM, with used-idx here) or still only in the
 * avail ring past last-avail.  The destination kicks every queue before the
 * first guest instruction, so the latter are done exactly once, there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libfdt.h>

#include "lkvm/kvm.h"
#include "lkvm/mig-section.h"
#include "lkvm/run-hooks.h"
#include "lkvm/state-fdt.h"
#include "lkvm/virtio.h"

#define STATE_BUF	16384

static bool loaded_any;

static struct virtio_device *by_index(u32 i)
{
	struct virtio_device *v;

	for (v = virtio__first(); v; v = v->next)
		if (v->index == i)
			return v;
	return NULL;
}

int virtio__save_state(struct virtio_device *vdev, struct mig_buf *out)
{
	void *fdt = malloc(STATE_BUF);
	char name[16];
	int q, err = 0;

	if (!fdt)
		return -ENOMEM;
	pthread_mutex_lock(&vdev->lock);
	err |= fdt_create(fdt, STATE_BUF);
	err |= fdt_finish_reservemap(fdt);
	err |= fdt_begin_node(fdt, "");
	err |= fdt_property_u32(fdt, "device-id", vdev->ops->device_id);
	err |= fdt_property_u64(fdt, "host-features", vdev->host_features);
	err |= fdt_property_u64(fdt, "guest-features", vdev->guest_features);
	err |= fdt_property_u32(fdt, "status", vdev->status);
	err |= fdt_property_u32(fdt, "config-gen", vdev->config_gen);
	err |= fdt_property_u32(fdt, "queue-sel", vdev->queue_sel);
	err |= fdt_property_u32(fdt, "dev-feat-sel", vdev->dev_feat_sel);
	err |= fdt_property_u32(fdt, "drv-feat-sel", vdev->drv_feat_sel);
	err |= fdt_property_u32(fdt, "broken", vdev->broken);
	for (q = 0; q < vdev->ops->nr_queues; q++) {
		struct virt_queue *vq = &vdev->vqs[q];

		snprintf(name, sizeof(name), "queue@%d", q);
		err |= fdt_begin_node(fdt, name);
		err |= fdt_property_u32(fdt, "size", vq->size);
		err |= fdt_property_u32(fdt, "enabled", vq->enabled);
		err |= fdt_property_u64(fdt, "desc", vq->desc_gpa);
		err |= fdt_property_u64(fdt, "avail", vq->avail_gpa);
		err |= fdt_property_u64(fdt, "used", vq->used_gpa);
		err |= fdt_property_u32(fdt, "last-avail", vq->last_avail);
		err |= fdt_property_u32(fdt, "used-idx", vq->used_idx);
		err |= fdt_property_u32(fdt, "signalled-used", vq->signalled_used);
		err |= fdt_property_u32(fdt, "signalled-valid", vq->signalled_valid);
		err |= fdt_property_u32(fdt, "msix-vector", vq->msix_vector);
		err |= fdt_end_node(fdt);
	}
	if (vdev->trans && vdev->trans->save) {
		err |= fdt_begin_node(fdt, "transport");
		err |= vdev->trans->save(vdev, fdt);
		err |= fdt_end_node(fdt);
	}
	err |= fdt_end_node(fdt);
	err |= fdt_finish(fdt);
	pthread_mutex_unlock(&vdev->lock);
	if (!err)
		err = mig_buf__put(out, fdt, fdt_totalsize(fdt));
	else
		err = -ENOSPC;
	free(fdt);
	return err;
}

/* A u32/u64 property that must exist with exactly that size. */
static int get_u32(const void *fdt, int node, const char *name, u32 *v)
{
	int len;
	const fdt32_t *p = fdt_getprop(fdt, node, name, &len);

	if (!p || len != sizeof(*p))
		return -EINVAL;
	*v = fdt32_to_cpu(*p);
	return 0;
}

static int get_u64(const void *fdt, int node, const char *name, u64 *v)
{
	int len;
	const void *p = fdt_getprop(fdt, node, name, &len);
	fdt64_t raw;

	if (!p || len != sizeof(raw))
		return -EINVAL;
	memcpy(&raw, p, sizeof(raw));	/* FDT only aligns properties to 4 */
	*v = fdt64_to_cpu(raw);
	return 0;
}

int virtio__load_state(struct virtio_device *vdev, const void *data, size_t len)
{
	struct virt_queue vqs[VIRTIO_MAX_QUEUES], old[VIRTIO_MAX_QUEUES];
	u32 dev_id, status, gen, qsel, dsel, gsel, broken, v;
	u64 hostf, guestf;
	char name[16];
	int q, node, ret = -EINVAL;

	if (len > STATE_BUF || sfdt__check(data, len))
		return -EINVAL;
	if (get_u32(data, 0, "device-id", &dev_id) || dev_id != vdev->ops->device_id ||
	    get_u64(data, 0, "host-features", &hostf) || hostf != vdev->host_features ||
	    get_u64(data, 0, "guest-features", &guestf) ||
	    get_u32(data, 0, "status", &status) || status > 0xff ||
	    get_u32(data, 0, "config-gen", &gen) || gen > 0xff ||
	    get_u32(data, 0, "queue-sel", &qsel) || qsel > 0xffff ||
	    get_u32(data, 0, "dev-feat-sel", &dsel) ||
	    get_u32(data, 0, "drv-feat-sel", &gsel) ||
	    get_u32(data, 0, "broken", &broken) || broken > 1)
		return -EINVAL;
	/*
	 * Until FEATURES_OK the driver's feature word is a draft it may fill
	 * with anything (refused at FEATURES_OK), and it migrates as it is;
	 * once accepted, only offered features, and DRIVER_OK only after.
	 */
	if ((status & VIRTIO_CONFIG_S_FEATURES_OK) ? (guestf & ~hostf) :
	    (status & VIRTIO_CONFIG_S_DRIVER_OK))
		return -EINVAL;

	pthread_mutex_lock(&vdev->lock);
	for (q = 0; q < vdev->ops->nr_queues; q++) {
		struct virt_queue *vq = &vqs[q];

		*vq = vdev->vqs[q];
		snprintf(name, sizeof(name), "queue@%d", q);
		node = fdt_subnode_offset(data, 0, name);
		if (node < 0 || get_u32(data, node, "size", &v) || !v ||
		    v > vdev->ops->queue_size)
			goto out;
		vq->size = v;
		if (get_u32(data, node, "enabled", &v) || v > 1)
			goto out;
		vq->enabled = v;
		if (get_u64(data, node, "desc", &vq->desc_gpa) ||
		    get_u64(data, node, "avail", &vq->avail_gpa) ||
		    get_u64(data, node, "used", &vq->used_gpa))
			goto out;
		if (get_u32(data, node, "last-avail", &v) || v > 0xffff)
			goto out;
		vq->last_avail = v;
		if (get_u32(data, node, "used-idx", &v) || v > 0xffff)
			goto out;
		vq->used_idx = v;
		if (get_u32(data, node, "signalled-used", &v) || v > 0xffff)
			goto out;
		vq->signalled_used = v;
		if (get_u32(data, node, "signalled-valid", &v) || v > 1)
			goto out;
		vq->signalled_valid = v;
		if (get_u32(data, node, "msix-vector", &v) || v > 0xffff)
			goto out;
		vq->msix_vector = v;
		vq->event_idx = guestf & (1ULL << VIRTIO_RING_F_EVENT_IDX);
		vq->indirect = guestf & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
		/* A live queue must point at rings we can use, else refuse now. */
		if (vq->enabled && (status & VIRTIO_CONFIG_S_DRIVER_OK) && !broken &&
		    virtq__map(vq))
			goto out;
	}
	/* The transport checks queue vectors against the new queues. */
	memcpy(old, vdev->vqs, sizeof(old));
	memcpy(vdev->vqs, vqs, sizeof(vqs[0]) * vdev->ops->nr_queues);
	node = fdt_subnode_offset(data, 0, "transport");
	if (vdev->trans && vdev->trans->load &&
	    (node < 0 || vdev->trans->load(vdev, data, node) < 0)) {
		memcpy(vdev->vqs, old, sizeof(old));
		goto out;
	}

	vdev->guest_features = guestf;
	vdev->status = status;
	vdev->config_gen = gen;
	vdev->queue_sel = qsel;
	vdev->dev_feat_sel = dsel;
	vdev->drv_feat_sel = gsel;
	vdev->broken = broken;
	loaded_any = true;
	ret = 0;
out:
	pthread_mutex_unlock(&vdev->lock);
	return ret;
}

static u32 virtio_mig_count(struct kvm *kvm)
{
	return virtio__count();
}

static int virtio_mig_save(struct kvm *kvm, u32 instance, struct mig_buf *out)
{
	struct virtio_device *vdev = by_index(instance);

	return vdev ? virtio__save_state(vdev, out) : -ENODEV;
}

static int virtio_mig_load(struct kvm *kvm, u32 instance, const void *data, size_t len)
{
	struct virtio_device *vdev = by_index(instance);

	/* A device the source had and we lack means different command lines. */
	return vdev ? virtio__load_state(vdev, data, len) : -ENODEV;
}

static struct mig_section virtio_section = {
	.name = "virtio",
	.id = MIG_SEC_VIRTIO,
	.count = virtio_mig_count,
	.save = virtio_mig_save,
	.load = virtio_mig_load,
};
mig_section_register(virtio_section);

/*
 * After an incoming migration, before the first guest instruction: tell
 * each device (virtio-net announces the guest), then take whatever the
 * driver queued that the source never took.
 */
static int virtio_after_incoming(struct kvm *kvm)
{
	struct virtio_device *v;

	if (!loaded_any)
		return 0;
	for (v = virtio__first(); v; v = v->next)
		if (v->ops->arrived)
			v->ops->arrived(v);
	virtio__kick_all();
	return 0;
}

static struct run_hook virtio_kick_hook = {
	.name = "virtio-kick",
	.prio = RUN_HOOK_INCOMING + 1,
	.fn = virtio_after_incoming,
};
run_hook_register(virtio_kick_hook);
