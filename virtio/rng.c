/*
 * virtio-rng (`--rng`): one queue; every buffer the driver offers is filled
 * from the host's getrandom().  The smallest complete device, and the model
 * for the others: a private struct embedding the common device, an ops
 * table, a request function for the drain loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <linux/virtio_ids.h>

#include "lkvm/init.h"
#include "lkvm/kvm.h"
#include "lkvm/virtio-pci.h"
#include "lkvm/virtio-devices.h"

/* Enough for any driver's request; a bigger buffer is filled in part. */
#define RNG_MAX_PER_REQ		(64 * 1024)

bool virtio_rng_enabled;

struct rng_dev {
	struct virtio_device vdev;
	struct virtio_pci vpci;
};

static struct rng_dev *rng;

static int rng_request(struct virtio_device *vdev, struct virtq_chain *c)
{
	u32 done = 0;
	int i;

	for (i = c->nr_out; i < c->nr_out + c->nr_in && done < RNG_MAX_PER_REQ; i++) {
		u32 want = min(c->seg[i].len, RNG_MAX_PER_REQ - done);
		ssize_t n = getrandom(c->seg[i].addr, want, GRND_NONBLOCK);

		if (n <= 0)
			break;		/* no entropy right now: hand back what we have */
		done += n;
		if ((u32)n < want)
			break;
	}
	return done;
}

static int rng_notify(struct virtio_device *vdev, u16 q)
{
	return virtio__drain(vdev, q, rng_request);
}

static const struct virtio_dev_ops rng_ops = {
	.name = "rng",
	.device_id = VIRTIO_ID_RNG,
	.nr_queues = 1,
	.queue_size = 256,
	.notify = rng_notify,
};

static int virtio_rng__init(struct kvm *kvm)
{
	int ret;

	if (!virtio_rng_enabled)
		return 0;
	rng = calloc(1, sizeof(*rng));
	if (!rng)
		return -ENOMEM;
	ret = virtio__init_device(&rng->vdev, kvm, &rng_ops, NULL,
				  kvm->cfg.sev_mode != SEV_MODE_NONE);
	if (ret < 0)
		goto err_free;
	ret = virtio_pci__init(kvm, &rng->vpci, &rng->vdev, 0x00ff00);
	if (ret < 0)
		goto err_dev;
	return 0;

err_dev:
	virtio__exit_device(&rng->vdev);
err_free:
	free(rng);
	rng = NULL;
	return ret;
}

static int virtio_rng__exit(struct kvm *kvm)
{
	if (!rng)
		return 0;
	virtio_pci__exit(kvm, &rng->vpci);
	virtio__exit_device(&rng->vdev);
	free(rng);
	rng = NULL;
	return 0;
}
virtio_dev_init(virtio_rng__init, virtio_rng__exit);
