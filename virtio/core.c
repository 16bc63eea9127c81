/*
 * virtio device core: feature negotiation, the status state machine, queue
 * notification and the "stop on guest error" rule.  Transports call in here;
 * devices (rng.c, blk.c, console.c, net.c) supply a small ops table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lkvm/kvm.h"
#include "lkvm/virtio.h"

static struct virtio_device *devices, **devices_tail = &devices;
static u32 nr_devices;
static void (*dirty_hook)(void *ctx, u64 gpa, u64 len);

static void *guest_ptr(void *ctx, u64 gpa, u64 len)
{
	/* Refuses private pages in SEV mode: see kvm.h. */
	return kvm__shared_ptr(ctx, gpa, len);
}

static void guest_dirty(void *ctx, u64 gpa, u64 len)
{
	void (*fn)(void *, u64, u64) = __atomic_load_n(&dirty_hook, __ATOMIC_ACQUIRE);

	if (fn)
		fn(ctx, gpa, len);
}

void virtio__set_dirty_hook(void (*fn)(void *ctx, u64 gpa, u64 len))
{
	__atomic_store_n(&dirty_hook, fn, __ATOMIC_RELEASE);
}

bool virtio__has_feature(const struct virtio_device *vdev, unsigned int bit)
{
	return vdev->guest_features & (1ULL << bit);
}

int virtio__init_device(struct virtio_device *vdev, struct kvm *kvm,
			const struct virtio_dev_ops *ops, void *config, bool sev)
{
	int i;

	if (ops->nr_queues > VIRTIO_MAX_QUEUES || !ops->queue_size ||
	    ops->queue_size > VIRTQ_MAX_SIZE)
		return -EINVAL;
	vdev->chain = malloc(sizeof(*vdev->chain));
	if (!vdev->chain)
		return -ENOMEM;
	vdev->ops = ops;
	vdev->kvm = kvm;
	vdev->config = config;
	vdev->mem.ptr = guest_ptr;
	vdev->mem.ctx = kvm;
	vdev->mem.dirty = guest_dirty;
	pthread_mutex_init(&vdev->lock, NULL);
	vdev->host_features = ops->features | (1ULL << VIRTIO_F_VERSION_1) |
			      (1ULL << VIRTIO_RING_F_EVENT_IDX) |
			      (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	/* An SEV guest only uses devices that go through its DMA API (bounce buffers). */
	if (sev)
		vdev->host_features |= 1ULL << VIRTIO_F_ACCESS_PLATFORM;
	for (i = 0; i < ops->nr_queues; i++) {
		vdev->vqs[i].mem = &vdev->mem;
		vdev->vqs[i].size = ops->queue_size;
		virtq__reset(&vdev->vqs[i]);
	}
	vdev->index = nr_devices++;
	*devices_tail = vdev;
	devices_tail = &vdev->next;
	return 0;
}

void virtio__exit_device(struct virtio_device *vdev)
{
	struct virtio_device **p;
	struct virtio_device *v;
	u32 i = 0;

	for (p = &devices; *p; p = &(*p)->next) {
		if (*p == vdev) {
			*p = vdev->next;
			if (devices_tail == &vdev->next)
				devices_tail = p;
			break;
		}
	}
	/* Keep indices dense: they are the migration instance numbers. */
	for (v = devices; v; v = v->next)
		v->index = i++;
	nr_devices = i;
	free(vdev->chain);
	vdev->chain = NULL;
}

struct virtio_device *virtio__first(void)
{
	return devices;
}

u32 virtio__count(void)
{
	return nr_devices;
}

static bool features_ok(struct virtio_device *vdev)
{
	u64 f = vdev->guest_features;

	if (f & ~vdev->host_features)
		return false;
	/* Modern transport only: legacy layouts are not offered. */
	if (!(f & (1ULL << VIRTIO_F_VERSION_1)))
		return false;
	/* Without it an SEV driver would hand us private (encrypted) buffers. */
	if ((vdev->host_features & (1ULL << VIRTIO_F_ACCESS_PLATFORM)) &&
	    !(f & (1ULL << VIRTIO_F_ACCESS_PLATFORM)))
		return false;
	return true;
}

void virtio__reset(struct virtio_device *vdev)
{
	int i;

	for (i = 0; i < vdev->ops->nr_queues; i++) {
		vdev->vqs[i].size = vdev->ops->queue_size;
		virtq__reset(&vdev->vqs[i]);
	}
	vdev->status = 0;
	vdev->guest_features = 0;
	vdev->dev_feat_sel = vdev->drv_feat_sel = 0;
	vdev->queue_sel = 0;
	vdev->broken = false;
	if (vdev->ops->reset)
		vdev->ops->reset(vdev);
}

/* Guest-triggered log lines, all devices together (a guest can loop). */
static struct ratelimit guest_log = RATELIMIT_INIT;

void virtio__write_status(struct virtio_device *vdev, u8 val)
{
	bool going_ok;
	int i;

	if (!val) {
		virtio__reset(vdev);
		return;
	}
	if ((val & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !(vdev->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		if (!features_ok(vdev)) {
			pr_limited(pr_warn, &guest_log,
				   "virtio-%s: driver features %#llx refused (offered %#llx)",
				   vdev->ops->name, (unsigned long long)vdev->guest_features,
				   (unsigned long long)vdev->host_features);
			val &= ~VIRTIO_CONFIG_S_FEATURES_OK;
		}
	}
	/* DRIVER_OK without FEATURES_OK is a driver bug: do not start. */
	if (!(val & VIRTIO_CONFIG_S_FEATURES_OK))
		val &= ~VIRTIO_CONFIG_S_DRIVER_OK;
	going_ok = (val & VIRTIO_CONFIG_S_DRIVER_OK) &&
		   !(vdev->status & VIRTIO_CONFIG_S_DRIVER_OK);
	vdev->status = val | (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	if (going_ok) {
		for (i = 0; i < vdev->ops->nr_queues; i++) {
			vdev->vqs[i].event_idx = virtio__has_feature(vdev, VIRTIO_RING_F_EVENT_IDX);
			vdev->vqs[i].indirect = virtio__has_feature(vdev, VIRTIO_RING_F_INDIRECT_DESC);
		}
		if (vdev->ops->driver_ok)
			vdev->ops->driver_ok(vdev);
	}
}

void virtio__guest_error(struct virtio_device *vdev, u16 q, int err, const char *what)
{
	if (vdev->broken)
		return;
	vdev->broken = true;
	vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	/* Once per reset, but a guest can reset in a loop. */
	pr_limited(pr_err, &guest_log, "virtio-%s: queue %u: guest error: %s (%s); device "
		   "stopped until reset", vdev->ops->name, q, what, strerror(-err));
	if (vdev->trans && vdev->trans->signal_config)
		vdev->trans->signal_config(vdev);
}

bool virtio__queue_live(struct virtio_device *vdev, u16 q)
{
	return q < vdev->ops->nr_queues && vdev->vqs[q].enabled && !vdev->broken &&
	       !vdev->paused && (vdev->status & VIRTIO_CONFIG_S_DRIVER_OK);
}

void virtio__notify(struct virtio_device *vdev, u16 q)
{
	int ret;

	pthread_mutex_lock(&vdev->lock);
	if (virtio__queue_live(vdev, q)) {
		ret = virtq__map(&vdev->vqs[q]);
		if (ret)
			virtio__guest_error(vdev, q, ret, "ring outside shared guest RAM or misaligned");
		else
			vdev->ops->notify(vdev, q);
	}
	pthread_mutex_unlock(&vdev->lock);
}

void virtio__signal_vq(struct virtio_device *vdev, u16 q)
{
	if (virtq__should_signal(&vdev->vqs[q]) && vdev->trans && vdev->trans->signal_vq)
		vdev->trans->signal_vq(vdev, q);
}

int virtio__drain(struct virtio_device *vdev, u16 q, virtio_req_fn fn)
{
	struct virt_queue *vq = &vdev->vqs[q];
	struct virtq_chain *c = vdev->chain;
	int ret, len, pushed = 0;

	while ((ret = virtq__pop(vq, c)) > 0) {
		len = fn(vdev, c);
		if (len < 0) {
			virtio__guest_error(vdev, q, len, "malformed request");
			ret = len;
			break;
		}
		virtq__push(vq, c, len);
		pushed++;
	}
	if (ret < 0 && !vdev->broken)
		virtio__guest_error(vdev, q, ret, "malformed descriptor chain");
	if (pushed)
		virtio__signal_vq(vdev, q);
	return ret < 0 ? ret : pushed;
}

/*
 * A live queue's rings were checked when the queue was enabled and are
 * again at every kick; an SEV guest can make a ring page private in
 * between and then not kick.  The destination refuses a live queue it
 * cannot map, so the guest could not be migrated: find it here, before
 * any state is saved, as the next kick would.  Lock held.
 */
static void check_live_rings(struct virtio_device *vdev)
{
	int q, ret;

	for (q = 0; q < vdev->ops->nr_queues && !vdev->broken; q++) {
		if (!vdev->vqs[q].enabled || !(vdev->status & VIRTIO_CONFIG_S_DRIVER_OK))
			continue;
		ret = virtq__map(&vdev->vqs[q]);
		if (ret)
			virtio__guest_error(vdev, q, ret, "ring outside shared guest RAM "
					    "when the migration paused the device");
	}
}

void virtio__pause_all(void)
{
	virtio__pause_all_until(NULL, 0, NULL);
}

/*
 * Taking a device's lock waits for a handler that is mid-request, which
 * may be blocked outside lkvm (virtio-console writing to a console nobody
 * reads).  So the wait is in slices that look at *cancel and the deadline
 * (CLOCK_MONOTONIC ns, 0: none); on giving up, the devices paused so far
 * run again and *stuck names the one that held its lock.  The held one's
 * lock is never waited for again here: resuming or kicking it would block
 * as the pause did.
 */
int virtio__pause_all_until(const atomic_bool *cancel, u64 until_ns, const char **stuck)
{
	struct virtio_device *v, *u;
	int ret = 0, q;

	for (v = devices; v; v = v->next) {
		for (;;) {
			struct timespec ts;

			if (!cancel && !until_ns) {
				pthread_mutex_lock(&v->lock);
				break;
			}
			clock_gettime(CLOCK_REALTIME, &ts);
			timespec_add_ms(&ts, 50);
			if (!pthread_mutex_timedlock(&v->lock, &ts))
				break;
			if (cancel && atomic_load(cancel)) {
				ret = -ECANCELED;
				goto undo;
			}
			if (until_ns && now_ns() >= until_ns) {
				ret = -ETIMEDOUT;
				goto undo;
			}
		}
		v->paused = true;
		check_live_rings(v);
		pthread_mutex_unlock(&v->lock);
	}
	return 0;

undo:
	if (stuck)
		*stuck = v->ops->name;
	for (u = devices; u != v; u = u->next) {
		pthread_mutex_lock(&u->lock);
		u->paused = false;
		pthread_mutex_unlock(&u->lock);
		/* A notification dropped while paused: catch up. */
		for (q = 0; q < u->ops->nr_queues; q++)
			virtio__notify(u, q);
	}
	return ret;
}

void virtio__kick_all(void)
{
	struct virtio_device *v;
	int q;

	for (v = devices; v; v = v->next)
		for (q = 0; q < v->ops->nr_queues; q++)
			virtio__notify(v, q);
}

int virtio__claim_all(bool take, char *why, size_t n)
{
	struct virtio_device *v, *u;
	int ret;

	for (v = devices; v; v = v->next) {
		if (!v->ops->claim)
			continue;
		ret = v->ops->claim(v, take, why, n);
		if (ret && take) {
			for (u = devices; u != v; u = u->next)
				if (u->ops->claim)
					u->ops->claim(u, false, NULL, 0);
			return ret;
		}
	}
	return 0;
}

void virtio__resume_all(void)
{
	struct virtio_device *v;

	for (v = devices; v; v = v->next) {
		pthread_mutex_lock(&v->lock);
		v->paused = false;
		pthread_mutex_unlock(&v->lock);
	}
	/* Notifications that arrived while paused were dropped: catch up. */
	virtio__kick_all();
}
