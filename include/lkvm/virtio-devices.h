/*
 * The virtio devices lkvm offers, their `lkvm run` options, and the parts
 * of them the tests, the bench and the migration handshake call directly.
 */
#ifndef LKVM__VIRTIO_DEVICES_H
#define LKVM__VIRTIO_DEVICES_H

#include "lkvm/parse-options.h"
#include "lkvm/virtio.h"

struct mig_buf;

#define VIRTIO_MAX_DISKS	8
#define VIRTIO_MAX_NETS		4

/* ---- options (added to `lkvm run` by builtin-run.c) ----------------------- */

extern bool virtio_rng_enabled;
int virtio_blk__parse_opt(const struct option *opt, const char *arg);
/* The i-th -d image's path as given, NULL past the last (for lkvm run's checks). */
const char *virtio_blk__disk_path(int i);
int virtio_net__parse_opt(const struct option *opt, const char *arg);
/* A unicast, non-zero MAC "xx:xx:xx:xx:xx:xx"; *why completes "MAC address '...' ". */
int virtio_net__parse_mac(const char *s, u8 mac[6], const char **why);
/* The RARP announcement frame (60 bytes, no vnet header) for mac; for the tests. */
#define VIRTIO_NET_ANNOUNCE_LEN	60
void virtio_net__announce_frame(const u8 mac[6], u8 frame[VIRTIO_NET_ANNOUNCE_LEN]);

#define VIRTIO_RUN_OPTIONS							\
	OPT_GROUP_("virtio devices:"),						\
	OPT_CALLBACK_('d', "disk", NULL, "<file>[,ro|,rw]",			\
		      "virtio-blk disk on a raw image (repeatable)",		\
		      virtio_blk__parse_opt, PARSE_OPT_MULTI),			\
	OPT_CALLBACK_('n', "network", NULL, "mode=tap[,tapif=<name>][,mac=<mac>]",	\
		      "virtio-net on a host tap device (repeatable)",		\
		      virtio_net__parse_opt, PARSE_OPT_MULTI),			\
	OPT_BOOLEAN(0, "rng", &virtio_rng_enabled, "virtio-rng entropy device")

/* ---- virtio-blk ------------------------------------------------------------- */

struct virtio_blk_disk {
	int fd;
	bool readonly;
	u64 capacity;		/* 512-byte sectors */
	u64 bytes;		/* the file's size (a partial tail sector is not exposed) */
	dev_t dev;
	ino_t ino;
	const char *path;
	bool locked;		/* holds the image's lock (virtio_blk__lock) */
	bool no_locks;		/* its filesystem cannot lock: runs unlocked */
	/* Host CPU accounting for the bench: requests and bytes handled. */
	u64 nr_requests, nr_bytes;
};

/* Open path for the device (O_RDONLY when readonly); fills *d. */
int virtio_blk__open_disk(struct virtio_blk_disk *d, const char *path, bool readonly);
void virtio_blk__close_disk(struct virtio_blk_disk *d);
/* Take or release the image's lock: -EBUSY when another process holds it. */
int virtio_blk__lock(struct virtio_blk_disk *d, bool take);
/*
 * Carry out one request chain against the disk; returns the bytes written
 * into the chain (data + status byte), or -EINVAL for a chain with no room
 * for a status byte (a guest error: the queue stops).
 */
int virtio_blk__request(struct virtio_blk_disk *d, struct virtq_chain *c);

/* ---- virtio-console -------------------------------------------------------- */

/*
 * Terminal input for the guest (term.c's reader calls it): handed to the
 * driver's receive buffers, or kept (up to 4 KiB) until it offers some.
 * Nothing happens without a virtio-console.
 */
void virtio_con__input(struct kvm *kvm, const char *buf, size_t len);
/*
 * Migration section MIG_SEC_CONSOLE: the bytes not yet taken, as they are
 * (at most 4096; a longer payload is refused with -EMSGSIZE and changes
 * nothing).  -ENODEV without a virtio-console.
 */
#define VIRTIO_CON_INBUF	4096
int virtio_con__save_input(struct mig_buf *out);
int virtio_con__load_input(const void *data, size_t len);

#endif
