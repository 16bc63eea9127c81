/*
 * virtio-blk (`-d/--disk FILE[,ro|,rw]`) on raw image files: read, write,
 * flush, discard, write-zeroes and get-id, one queue, requests carried out
 * synchronously on the I/O thread straight between the file and the
 * guest's buffers (preadv/pwritev on the chain's segments, no copy).
 *
 * A request is never trusted: the sector range is checked against the
 * capacity, lengths must be whole sectors, a read-only disk refuses every
 * kind of write with IOERR.  Only a chain without room for the status byte
 * is a guest error that stops the queue; anything else is answered.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <linux/falloc.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#include "lkvm/init.h"
#include "lkvm/kvm.h"
#include "lkvm/mig-section.h"
#include "lkvm/migration.h"
#include "lkvm/virtio-devices.h"
#include "lkvm/virtio-pci.h"

#define SECTOR_SHIFT		9
#define SECTOR_SIZE		512
#define BLK_MAX_DISCARD_SEG	16

struct blk_dev {
	struct virtio_device vdev;
	struct virtio_pci vpci;
	struct virtio_blk_config config;
	struct virtio_blk_disk disk;
	int index;
};

static struct {
	const char *path;
	bool readonly;
} disk_opts[VIRTIO_MAX_DISKS];
static int nr_disk_opts;
static struct blk_dev *blks[VIRTIO_MAX_DISKS];
static int nr_blks;

/*
 * FILE[,ro|,rw]: the flags are the comma-separated words "ro" and "rw" at
 * the end, each at most once; what is left is the file name.  Peeling from
 * the end keeps a name with a comma usable: "a,b.img,rw" is "a,b.img".
 */
int virtio_blk__parse_opt(const struct option *opt, const char *arg)
{
	const char *flag = NULL;	/* the last flag, the first one peeled */
	char *path, *comma;

	if (nr_disk_opts == VIRTIO_MAX_DISKS)
		return opt_error(opt, "at most %d disks", VIRTIO_MAX_DISKS);
	path = strdup(arg);
	if (!path)
		return opt_error(opt, "out of memory");
	disk_opts[nr_disk_opts].readonly = false;
	while ((comma = strrchr(path, ','))) {
		const char *word = comma + 1;

		if (strcmp(word, "ro") && strcmp(word, "rw")) {
			if (flag)
				break;		/* part of the file name */
			opt_error(opt, "unknown disk flag '%s' (want FILE[,ro|,rw])", word);
			goto err;
		}
		if (flag) {
			if (!strcmp(flag, word))
				opt_error(opt, "disk flag '%s' given twice in '%s'", word, arg);
			else
				opt_error(opt, "disk flags 'ro' and 'rw' contradict each other in '%s'",
					  arg);
			goto err;
		}
		flag = word;
		disk_opts[nr_disk_opts].readonly = !strcmp(word, "ro");
		*comma = 0;
	}
	if (!*path) {
		opt_error(opt, "empty file name");
		goto err;
	}
	disk_opts[nr_disk_opts++].path = path;
	return 0;

err:
	free(path);
	return -1;
}

const char *virtio_blk__disk_path(int i)
{
	return i >= 0 && i < nr_disk_opts ? disk_opts[i].path : NULL;
}

int virtio_blk__open_disk(struct virtio_blk_disk *d, const char *path, bool readonly)
{
	struct stat st;

	memset(d, 0, sizeof(*d));
	/* O_NONBLOCK: a FIFO (",ro") would block open() until a writer came. */
	d->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
	if (d->fd < 0)
		return -errno;
	if (fstat(d->fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    fcntl(d->fd, F_SETFL, fcntl(d->fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		int err = S_ISREG(st.st_mode) ? -errno : -EINVAL;

		close(d->fd);
		d->fd = -1;
		return err;
	}
	d->readonly = readonly;
	d->bytes = st.st_size;
	d->capacity = (u64)st.st_size >> SECTOR_SHIFT;	/* a partial tail sector is not exposed */
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	d->path = path;
	return 0;
}

void virtio_blk__close_disk(struct virtio_blk_disk *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

/* The data part of a chain as an iovec: skip bytes in, then len bytes. */
static int data_iov(const struct virtq_chain *c, bool in, u32 skip, u32 len,
		    struct iovec *iov)
{
	int i = in ? c->nr_out : 0, end = in ? c->nr_out + c->nr_in : c->nr_out, n = 0;

	for (; i < end && len; i++) {
		u32 l = c->seg[i].len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		iov[n].iov_base = (u8 *)c->seg[i].addr + skip;
		iov[n].iov_len = min(l - skip, len);
		len -= iov[n].iov_len;
		skip = 0;
		n++;
	}
	return n;
}

static int rw_full(int fd, struct iovec *iov, int cnt, off_t off, bool write)
{
	while (cnt) {
		ssize_t n = write ? pwritev(fd, iov, cnt, off) : preadv(fd, iov, cnt, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;	/* the file shrank under us */
		off += n;
		while (cnt && (size_t)n >= iov->iov_len) {
			n -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt) {
			iov->iov_base = (u8 *)iov->iov_base + n;
			iov->iov_len -= n;
		}
	}
	return 0;
}

static bool range_ok(struct virtio_blk_disk *d, u64 sector, u64 nr)
{
	return sector <= d->capacity && nr <= d->capacity - sector;
}

static u8 do_rw(struct virtio_blk_disk *d, struct virtq_chain *c, u64 sector, bool write,
		u32 *written)
{
	struct iovec iov[VIRTQ_MAX_SEGS];
	u32 len = write ? c->out_len - sizeof(struct virtio_blk_outhdr) : c->in_len - 1;
	int n;

	if (write && d->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (len % SECTOR_SIZE || !range_ok(d, sector, len >> SECTOR_SHIFT))
		return VIRTIO_BLK_S_IOERR;
	n = data_iov(c, !write, write ? sizeof(struct virtio_blk_outhdr) : 0, len, iov);
	if (rw_full(d->fd, iov, n, (off_t)sector << SECTOR_SHIFT, write) < 0)
		return VIRTIO_BLK_S_IOERR;
	if (!write)
		*written = len;
	d->nr_bytes += len;
	return VIRTIO_BLK_S_OK;
}

/*
 * Write-zeroes must leave zeroes, whatever the file system offers: a hole
 * (when the driver allows unmapping), ZERO_RANGE, a hole anyway (it reads
 * as zeroes), and as a last resort zeroes written.
 */
static int zero_range(int fd, off_t off, off_t len, bool unmap)
{
	static const u8 zeroes[64 * 1024];

	if (unmap && !fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len))
		return 0;
	if (!fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len) ||
	    !fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len))
		return 0;
	while (len > 0) {
		ssize_t n = pwrite(fd, zeroes, min((off_t)sizeof(zeroes), len), off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		off += n;
		len -= n;
	}
	return 0;
}

static u8 do_discard(struct virtio_blk_disk *d, struct virtq_chain *c, bool zeroes)
{
	u32 len = c->out_len - sizeof(struct virtio_blk_outhdr), i, nr;

	if (d->readonly)
		return VIRTIO_BLK_S_IOERR;
	nr = len / sizeof(struct virtio_blk_discard_write_zeroes);
	if (!nr || len % sizeof(struct virtio_blk_discard_write_zeroes) ||
	    nr > BLK_MAX_DISCARD_SEG)
		return VIRTIO_BLK_S_IOERR;
	for (i = 0; i < nr; i++) {
		struct virtio_blk_discard_write_zeroes seg;
		u64 sector;
		u32 num, flags;
		off_t off, bytes;

		virtq_chain__read(c, sizeof(struct virtio_blk_outhdr) + i * sizeof(seg),
				  &seg, sizeof(seg));
		sector = seg.sector;
		num = seg.num_sectors;
		flags = seg.flags;
		if (!range_ok(d, sector, num) || (flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
			return VIRTIO_BLK_S_IOERR;
		/* UNMAP belongs to write-zeroes (write_zeroes_may_unmap); discard has no flags. */
		if (!zeroes && flags)
			return VIRTIO_BLK_S_UNSUPP;
		if (!num)
			continue;
		off = (off_t)sector << SECTOR_SHIFT;
		bytes = (off_t)num << SECTOR_SHIFT;
		if (zeroes) {
			if (zero_range(d->fd, off, bytes, flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
				return VIRTIO_BLK_S_IOERR;
		} else {
			/* Discard is a hint: a file system without holes ignores it. */
			fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, bytes);
		}
	}
	return VIRTIO_BLK_S_OK;
}

int virtio_blk__request(struct virtio_blk_disk *d, struct virtq_chain *c)
{
	struct virtio_blk_outhdr hdr;
	u32 written = 0;
	u8 status;

	/* Without a writable byte for the status the request cannot be answered. */
	if (!c->in_len)
		return -EINVAL;
	d->nr_requests++;
	if (virtq_chain__read(c, 0, &hdr, sizeof(hdr)) != sizeof(hdr)) {
		status = VIRTIO_BLK_S_IOERR;
		goto out;
	}
	switch (hdr.type) {
	case VIRTIO_BLK_T_IN:
		status = do_rw(d, c, hdr.sector, false, &written);
		break;
	case VIRTIO_BLK_T_OUT:
		status = do_rw(d, c, hdr.sector, true, &written);
		break;
	case VIRTIO_BLK_T_FLUSH:
		status = d->readonly || !fdatasync(d->fd) ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
		break;
	case VIRTIO_BLK_T_GET_ID: {
		char id[VIRTIO_BLK_ID_BYTES] = { 0 };
		struct stat st;

		/* Stable for the file: its inode, so two disks never share an id. */
		if (!fstat(d->fd, &st))
			snprintf(id, sizeof(id), "lkvm-%llx", (unsigned long long)st.st_ino);
		written = virtq_chain__write(c, 0, id, min(sizeof(id), (size_t)c->in_len - 1));
		status = VIRTIO_BLK_S_OK;
		break;
	}
	case VIRTIO_BLK_T_DISCARD:
		status = do_discard(d, c, false);
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		status = do_discard(d, c, true);
		break;
	default:
		status = VIRTIO_BLK_S_UNSUPP;
	}
out:
	virtq_chain__write(c, c->in_len - 1, &status, 1);
	return written + 1;
}

static int blk_request(struct virtio_device *vdev, struct virtq_chain *c)
{
	return virtio_blk__request(&container_of(vdev, struct blk_dev, vdev)->disk, c);
}

static int blk_notify(struct virtio_device *vdev, u16 q)
{
	return virtio__drain(vdev, q, blk_request);
}

/*
 * The image's lock: an OFD lock (per open file, not per process, and gone
 * with the fd) on one byte far past any real data, write for a read-write
 * disk, read for a read-only one.  So two VMMs cannot both write an image,
 * nor one write what another reads, while read-only users share.  The
 * lock is advisory: it binds VMMs that look (lkvm, QEMU holds its own
 * bytes), not `dd`.
 */
#define DISK_LOCK_BYTE	0x4c4b564d00000000ull	/* "LKVM" */

int virtio_blk__lock(struct virtio_blk_disk *d, bool take)
{
	struct flock fl = {
		.l_type = !take ? F_UNLCK : d->readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = DISK_LOCK_BYTE,
		.l_len = 1,
	};

	if (d->fd < 0 || d->locked == take || d->no_locks)
		return 0;
	if (fcntl(d->fd, F_OFD_SETLK, &fl) < 0) {
		if (errno == EAGAIN || errno == EACCES)
			return -EBUSY;
		/*
		 * A filesystem without locks (NFSv3 without lockd, some FUSE and
		 * 9p mounts): shared storage is what migration runs on, so the
		 * disk works unlocked rather than not at all, and says so once.
		 */
		if (errno == ENOLCK || errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS) {
			pr_warn("disk %s: its filesystem does not lock files (%s): not locked; "
				"keeping other VMMs off it is up to you", d->path, strerror(errno));
			d->no_locks = true;
			return 0;
		}
		return -errno;
	}
	d->locked = take;
	return 0;
}

static void lock_error(const struct virtio_blk_disk *d, int err, char *why, size_t n)
{
	if (err == -EBUSY)
		snprintf_cut(why, n, "disk %s is in use by another process (another lkvm or VMM %s it)",
			 d->path, d->readonly ? "writes" : "uses");
	else
		snprintf_cut(why, n, "disk %s: cannot lock it: %s", d->path, strerror(-err));
}

static int blk_claim(struct virtio_device *vdev, bool take, char *why, size_t n)
{
	struct blk_dev *b = container_of(vdev, struct blk_dev, vdev);
	int ret = virtio_blk__lock(&b->disk, take);

	if (ret && why)
		lock_error(&b->disk, ret, why, n);
	return ret;
}

static const struct virtio_dev_ops blk_ops = {
	.name = "blk",
	.device_id = VIRTIO_ID_BLOCK,
	.nr_queues = 1,
	.queue_size = 256,
	.features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
		    (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_BLK_F_DISCARD) |
		    (1ULL << VIRTIO_BLK_F_WRITE_ZEROES),
	.config_size = sizeof(struct virtio_blk_config),
	.notify = blk_notify,
	.claim = blk_claim,
};

static struct virtio_dev_ops blk_ro_ops;

static void fill_config(struct blk_dev *b)
{
	struct virtio_blk_config *c = &b->config;

	c->capacity = b->disk.capacity;
	c->seg_max = VIRTQ_MAX_SEGS - 2;	/* room for header and status */
	c->blk_size = SECTOR_SIZE;
	c->max_discard_sectors = UINT_MAX;
	c->max_discard_seg = BLK_MAX_DISCARD_SEG;
	c->discard_sector_alignment = 1;
	c->max_write_zeroes_sectors = UINT_MAX;
	c->max_write_zeroes_seg = BLK_MAX_DISCARD_SEG;
	c->write_zeroes_may_unmap = 1;
}

static int register_identity(struct blk_dev *b, int i);

static int virtio_blk__init(struct kvm *kvm)
{
	bool sev = kvm->cfg.sev_mode != SEV_MODE_NONE;
	int i, j, ret;

	blk_ro_ops = blk_ops;
	blk_ro_ops.features = (blk_ops.features | (1ULL << VIRTIO_BLK_F_RO)) &
			      ~((1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	for (i = 0; i < nr_disk_opts; i++) {
		struct blk_dev *b = calloc(1, sizeof(*b));

		if (!b)
			return -ENOMEM;
		ret = virtio_blk__open_disk(&b->disk, disk_opts[i].path, disk_opts[i].readonly);
		if (ret < 0) {
			pr_err("disk %s: cannot open%s: %s", disk_opts[i].path,
			       disk_opts[i].readonly ? " read-only" : " read-write",
			       ret == -EINVAL ? "not a regular file" : strerror(-ret));
			free(b);
			return ret;
		}
		/*
		 * An empty image is almost surely the wrong file; a size that is
		 * not whole sectors loses its tail; and the same file twice would
		 * be two disks writing one image behind each other's caches.
		 */
		if (!b->disk.capacity) {
			pr_err("disk %s: %llu bytes, less than one 512-byte sector", disk_opts[i].path,
			       (unsigned long long)b->disk.bytes);
			ret = -EINVAL;
			goto err_close;
		}
		if (b->disk.bytes % 512)
			pr_warn("disk %s: %llu bytes is not a whole number of 512-byte sectors; "
				"the guest sees the first %llu", disk_opts[i].path,
				(unsigned long long)b->disk.bytes,
				(unsigned long long)b->disk.capacity * 512);
		for (j = 0; j < nr_blks; j++) {
			if (blks[j]->disk.dev == b->disk.dev &&
			    blks[j]->disk.ino == b->disk.ino) {
				pr_err("disk %s: the same file as disk %d (%s)", disk_opts[i].path, j,
				       disk_opts[j].path);
				ret = -EINVAL;
				goto err_close;
			}
		}
		/* A destination takes its disks over only when the guest moves in. */
		if (!kvm->cfg.incoming) {
			char why[600];

			ret = virtio_blk__lock(&b->disk, true);
			if (ret) {
				lock_error(&b->disk, ret, why, sizeof(why));
				pr_err("%s", why);
				goto err_close;
			}
		}
		fill_config(b);
		b->index = i;
		ret = register_identity(b, i);
		if (ret < 0)
			goto err_close;
		ret = virtio__init_device(&b->vdev, kvm, b->disk.readonly ? &blk_ro_ops : &blk_ops,
					  &b->config, sev);
		if (ret < 0)
			goto err_close;
		ret = virtio_pci__init(kvm, &b->vpci, &b->vdev, 0x018000);
		if (ret < 0)
			goto err_dev;
		blks[nr_blks++] = b;
		continue;
err_dev:
		virtio__exit_device(&b->vdev);
err_close:
		virtio_blk__close_disk(&b->disk);
		free(b);
		return ret;
	}
	return 0;
}

static int virtio_blk__exit(struct kvm *kvm)
{
	while (nr_blks) {
		struct blk_dev *b = blks[--nr_blks];

		virtio_pci__exit(kvm, &b->vpci);
		virtio__exit_device(&b->vdev);
		virtio_blk__close_disk(&b->disk);
		free(b);
	}
	return 0;
}
virtio_dev_init(virtio_blk__init, virtio_blk__exit);

/* ---- migration handshake: same disks on both sides ----------------------- */

struct disk_identity {
	u64 size, ino;
	char path[256];
};

static void identity_of(struct blk_dev *b, struct disk_identity *id)
{
	struct stat st;
	char real[PATH_MAX];

	memset(id, 0, sizeof(*id));
	if (!fstat(b->disk.fd, &st)) {
		id->size = st.st_size;
		id->ino = st.st_ino;
	}
	if (!realpath(b->disk.path, real)) {
		strncpy(real, b->disk.path, sizeof(real) - 1);
		real[sizeof(real) - 1] = 0;
	}
	/* Long paths are cut: the inode and size still have to match. */
	memcpy(id->path, real, min(strlen(real), sizeof(id->path) - 1));
}

/*
 * Disks must be the same files on both sides (shared storage): the path,
 * inode and size go into the handshake's device list, so a destination
 * with another disk is refused before any page moves.
 */
static int register_identity(struct blk_dev *b, int i)
{
	struct disk_identity id;
	char desc[400];

	identity_of(b, &id);
	/* ",ro" too: the guest saw VIRTIO_BLK_F_RO or not, and keeps what it saw. */
	snprintf(desc, sizeof(desc), "disk%d=%s,ino=%llu,size=%llu%s", i, id.path,
		 (unsigned long long)id.ino, (unsigned long long)id.size,
		 b->disk.readonly ? ",ro" : "");
	return migration__register_device(desc);
}
