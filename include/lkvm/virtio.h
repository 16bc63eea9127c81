/*
 * virtio 1.x core: split virtqueues, the descriptor-chain walker, feature
 * negotiation and device status.  Transport-neutral: virtio/pci.c puts a
 * device on the PCI bus, the unit tests and the fuzz target drive the core
 * against a malloc'd fake guest memory.
 *
 * Everything the guest writes into a ring is hostile.  The walker copies each
 * descriptor once before looking at it, checks every index, length, count and
 * address, and turns anything malformed into a guest error: the device is
 * marked NEEDS_RESET and stops, the VMM keeps running.
 */
#ifndef LKVM__VIRTIO_H
#define LKVM__VIRTIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/uio.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "lkvm/util.h"

struct kvm;
struct mig_buf;

/*
 * How the core reaches guest memory: ptr() returns a host pointer for
 * [gpa, gpa + len) or NULL when the range is not RAM, crosses a bank, or
 * (SEV) touches a private page.  In the VMM it is kvm__shared_ptr().
 */
struct virtio_mem {
	void *(*ptr)(void *ctx, u64 gpa, u64 len);
	void *ctx;
	/* Optional: told about every range the device wrote (migration). */
	void (*dirty)(void *ctx, u64 gpa, u64 len);
};

#define VIRTQ_MAX_SIZE		1024	/* largest queue the devices offer */
#define VIRTQ_MAX_SEGS		256	/* buffers in one chain, direct + indirect */
#define VIRTQ_MAX_INDIRECT	256	/* descriptors in one indirect table */
#define VIRTQ_MAX_CHAIN_BYTES	(64U << 20)	/* per direction */

struct virtq_seg {
	void *addr;
	u64 gpa;
	u32 len;
};

/* One popped request: device-readable segments first, then writable ones. */
struct virtq_chain {
	u16 head;
	u16 nr_out, nr_in;
	u32 out_len, in_len;
	struct virtq_seg seg[VIRTQ_MAX_SEGS];
};

struct virt_queue {
	u16 size;		/* as set by the driver (power of two) */
	bool enabled;
	u64 desc_gpa, avail_gpa, used_gpa;

	u16 last_avail;		/* next avail entry the device takes */
	u16 used_idx;		/* device's copy of used->idx */
	u16 signalled_used;	/* used_idx at the last interrupt (event idx) */
	bool signalled_valid;
	bool event_idx;		/* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;		/* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	u16 msix_vector;

	const struct virtio_mem *mem;
	/* Host views, refreshed by virtq__map() before each use. */
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
};

/* Resolve and check the three rings.  0, -EINVAL (layout) or -EFAULT. */
int virtq__map(struct virt_queue *vq);
/*
 * Take the next available chain: 1 with *c filled, 0 when the ring is
 * empty, a negative errno on a malformed ring (the queue must then stop).
 */
int virtq__pop(struct virt_queue *vq, struct virtq_chain *c);
/* Walk the chain starting at head (exported for the tests and the fuzzer). */
int virtq__walk(struct virt_queue *vq, u16 head, struct virtq_chain *c);
/* Return a chain to the driver with len bytes written into it. */
void virtq__push(struct virt_queue *vq, const struct virtq_chain *c, u32 len);
/* Does the driver want an interrupt for what was pushed since last time? */
bool virtq__should_signal(struct virt_queue *vq);
/* Make the avail_event hint / no-notify flag current (call when idle). */
void virtq__reset(struct virt_queue *vq);

/* Gather/scatter over a chain's segments; return bytes copied. */
size_t virtq_chain__read(const struct virtq_chain *c, size_t off, void *buf, size_t len);
size_t virtq_chain__write(const struct virtq_chain *c, size_t off, const void *buf, size_t len);

/* ---- devices ------------------------------------------------------------ */

struct virtio_device;

struct virtio_dev_ops {
	const char *name;
	u32 device_id;			/* VIRTIO_ID_* */
	u16 nr_queues;
	u16 queue_size;			/* max size offered per queue */
	u64 features;			/* device-specific feature bits */
	u32 config_size;
	/* Drain queue q (called with vdev->lock held, queue mapped). */
	int (*notify)(struct virtio_device *vdev, u16 q);
	/* Device config read/written at offset (lock held); config is vdev->config. */
	void (*config_write)(struct virtio_device *vdev, u32 off, u32 len);
	void (*driver_ok)(struct virtio_device *vdev);
	void (*reset)(struct virtio_device *vdev);
	/*
	 * No device-specific migration hook: virtio/mig.c carries the
	 * negotiated state, the queues and the transport's registers, which is
	 * all blk, net and rng hold between requests.  virtio-console's typed
	 * input not yet taken by the driver has a section of its own behind a
	 * stream feature (virtio/console.c), so an older destination refuses
	 * it at HELLO rather than drop it.
	 */
	/* The guest arrived by migration; its first instruction is next (optional). */
	void (*arrived)(struct virtio_device *vdev);
	/*
	 * Take (or release) the claim on what the guest writes through this
	 * device, a disk image's lock, so that no other VMM runs on it.  On
	 * failure, why says what holds it (optional).
	 */
	int (*claim)(struct virtio_device *vdev, bool take, char *why, size_t n);
};

/* Transport hooks (virtio/pci.c fills them). */
struct virtio_transport {
	void (*signal_vq)(struct virtio_device *vdev, u16 q);
	void (*signal_config)(struct virtio_device *vdev);
	/* Migration: transport registers as properties of an FDT node. */
	int (*save)(struct virtio_device *vdev, void *fdt);
	int (*load)(struct virtio_device *vdev, const void *fdt, int node);
};

#define VIRTIO_MAX_QUEUES	4

struct virtio_device {
	const struct virtio_dev_ops *ops;
	const struct virtio_transport *trans;
	void *trans_priv;
	struct kvm *kvm;
	struct virtio_mem mem;
	pthread_mutex_t lock;

	u64 host_features;		/* everything offered */
	u64 guest_features;		/* what the driver wrote */
	u32 dev_feat_sel, drv_feat_sel;
	u8 status;
	u8 config_gen;
	bool broken;			/* guest error seen: stopped until reset */
	bool paused;			/* migration: no processing */
	u16 queue_sel;
	u8 *config;			/* ops->config_size bytes, little endian */
	struct virt_queue vqs[VIRTIO_MAX_QUEUES];
	struct virtq_chain *chain;	/* scratch for the notify handlers */
	u32 index;			/* among all virtio devices (migration) */
	struct virtio_device *next;
};

/* Set up vdev with its ops, config buffer and features; SEV adds ACCESS_PLATFORM. */
int virtio__init_device(struct virtio_device *vdev, struct kvm *kvm,
			const struct virtio_dev_ops *ops, void *config, bool sev);
void virtio__exit_device(struct virtio_device *vdev);
/* The driver wrote the status register. */
void virtio__write_status(struct virtio_device *vdev, u8 status);
/* Full device reset (status 0). */
void virtio__reset(struct virtio_device *vdev);
/* The driver kicked queue q: run the device's handler unless stopped. */
void virtio__notify(struct virtio_device *vdev, u16 q);
/* Tell the driver about used buffers on q if it wants to know. */
void virtio__signal_vq(struct virtio_device *vdev, u16 q);
/* A malformed ring or buffer: report once, mark NEEDS_RESET, stop. */
void virtio__guest_error(struct virtio_device *vdev, u16 q, int err, const char *what);
bool virtio__queue_live(struct virtio_device *vdev, u16 q);
bool virtio__has_feature(const struct virtio_device *vdev, unsigned int bit);

/*
 * The common drain loop: pop every chain, hand it to fn, push it back with
 * the length fn returns (negative: guest error, chain dropped and queue
 * stopped), then signal once.
 */
typedef int (*virtio_req_fn)(struct virtio_device *vdev, struct virtq_chain *c);
int virtio__drain(struct virtio_device *vdev, u16 q, virtio_req_fn fn);

/* All devices, for migration and pause. */
struct virtio_device *virtio__first(void);
u32 virtio__count(void);

/*
 * Migration: stop every device from touching guest memory (call after the
 * vCPUs are paused, before the final RAM pass) and let them go again; on
 * the destination, kick every live queue once after load so that requests
 * the source saw notified but never took are processed exactly once.
 */
void virtio__pause_all(void);
/* The same, given up on *cancel or at until_ns (CLOCK_MONOTONIC, 0: never):
 * -ECANCELED or -ETIMEDOUT with the devices running again, *stuck the name
 * of the device whose handler did not return. */
int virtio__pause_all_until(const atomic_bool *cancel, u64 until_ns, const char **stuck);
void virtio__resume_all(void);
void virtio__kick_all(void);
/*
 * Migration's hand-over of the disks: the source releases every claim just
 * before GO, the destination takes them all before it runs the guest, and
 * a source whose guest stays takes them back.  Taking is all or nothing.
 */
int virtio__claim_all(bool take, char *why, size_t n);
/* Let migration learn every guest range a device wrote. */
void virtio__set_dirty_hook(void (*fn)(void *ctx, u64 gpa, u64 len));

/* Queue/feature state as an FDT node; used by the MIG_SEC_VIRTIO section. */
int virtio__save_state(struct virtio_device *vdev, struct mig_buf *out);
int virtio__load_state(struct virtio_device *vdev, const void *data, size_t len);

static inline u16 virtio__le16(const void *p) { const u8 *b = p; return b[0] | b[1] << 8; }
static inline u32 virtio__le32(const void *p)
{
	const u8 *b = p;
	return b[0] | b[1] << 8 | b[2] << 16 | (u32)b[3] << 24;
}
static inline u64 virtio__le64(const void *p)
{
	return virtio__le32(p) | (u64)virtio__le32((const u8 *)p + 4) << 32;
}
static inline void virtio__put_le16(void *p, u16 v) { u8 *b = p; b[0] = v; b[1] = v >> 8; }
static inline void virtio__put_le32(void *p, u32 v)
{
	u8 *b = p;
	b[0] = v; b[1] = v >> 8; b[2] = v >> 16; b[3] = v >> 24;
}
static inline void virtio__put_le64(void *p, u64 v)
{
	virtio__put_le32(p, (u32)v);
	virtio__put_le32((u8 *)p + 4, (u32)(v >> 32));
}

#endif
