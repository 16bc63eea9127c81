/*
 * virtio-net (`-n/--network mode=tap[,tapif=NAME][,mac=MAC]`) on a host tap device
 * with vnet headers: the 12-byte virtio_net_hdr (virtio 1.x layout) is the
 * tap's own per-packet header, so frames pass through with one readv or
 * writev and no copy.  No offloads are offered, so the header carries no
 * checksum or GSO work in either direction.
 *
 * Transmit runs in the queue's notify handler.  Receive has its own thread:
 * it waits for the tap to be readable and for the driver to have buffers
 * (a kick on the receive queue wakes it), then reads one frame per chain.
 *
 * After an incoming migration the same thread announces the guest from its
 * new host: a few RARP frames from the guest's MAC, as QEMU sends, so that
 * the switches between the hosts learn its new port before the guest says
 * anything (a guest that only listens would otherwise be unreachable until
 * the old entries age out).  Needs nothing from the guest's driver.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>

#include "lkvm/init.h"
#include "lkvm/kvm.h"
#include "lkvm/migration.h"
#include "lkvm/virtio-devices.h"
#include "lkvm/virtio-pci.h"

#define NET_RXQ		0
#define NET_TXQ		1
#define NET_HDR_LEN	sizeof(struct virtio_net_hdr_v1)
#define NET_MAX_FRAME	(NET_HDR_LEN + 65536)
#define NET_DEFAULT_MAC	"\x52\x54\x00\x12\x34\x56"	/* + device index */

/* Announcements after arrival: 5 frames, 50 ms apart, then 100 ms more each time. */
#define ANNOUNCE_ROUNDS		5
#define ANNOUNCE_FIRST_MS	50
#define ANNOUNCE_STEP_MS	100

struct net_dev {
	struct virtio_device vdev;
	struct virtio_pci vpci;
	struct virtio_net_config config;
	int tap_fd;
	int kick_fd, stop_fd;		/* eventfds waking the receive thread */
	int announce_fd;		/* timerfd: the next announcement is due */
	int announce_left;		/* still to send: set once by the hook, then the rx thread's */
	u64 nr_announced;		/* frames the tap took, for the log */
	pthread_t rx_thread;
	bool rx_started;
	int idx;			/* netN, as in the handshake's device list */
	char ifname[IFNAMSIZ];
};

static struct {
	char tapif[IFNAMSIZ];
	u8 mac[6];
	bool has_mac;
} net_opts[VIRTIO_MAX_NETS];
static int nr_net_opts;
static struct net_dev *nets[VIRTIO_MAX_NETS];
static int nr_nets;

/*
 * Six octets of two hex digits joined by ':' (or '-'); the address must be
 * one a NIC may own: not multicast/broadcast (low bit of the first octet)
 * and not all zero.
 */
int virtio_net__parse_mac(const char *s, u8 mac[6], const char **why)
{
	const char sep = s[0] && s[1] ? s[2] : 0;
	int i;

	*why = "is not six hex octets like 52:54:00:12:34:56";
	if (sep != ':' && sep != '-')
		return -EINVAL;
	for (i = 0; i < 6; i++, s += 3) {
		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]) ||
		    s[2] != (i == 5 ? 0 : sep))
			return -EINVAL;
		mac[i] = (u8)strtoul((char[3]){ s[0], s[1], 0 }, NULL, 16);
	}
	if (mac[0] & 1) {
		*why = "is a multicast address (the first octet's low bit is set)";
		return -EINVAL;
	}
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5])) {
		*why = "is all zero";
		return -EINVAL;
	}
	return 0;
}

#define MAC_STR_LEN	18

static const char *mac_str(const u8 mac[6], char buf[MAC_STR_LEN])
{
	snprintf(buf, MAC_STR_LEN, "%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return buf;
}

/*
 * Device i's MAC: its mac=, or QEMU's default, locally administered and one
 * per device.  Two devices of one guest with one MAC would confuse every
 * switch; the defaults differ, so only a mac= can do that.
 */
static int settle_mac(const struct option *opt, int i)
{
	u8 *mac = net_opts[i].mac;
	char buf[MAC_STR_LEN];
	int j;

	if (!net_opts[i].has_mac) {
		memcpy(mac, NET_DEFAULT_MAC, 6);
		mac[5] += i;
	}
	for (j = 0; j < i; j++)
		if (!memcmp(net_opts[j].mac, mac, 6))
			return opt_error(opt, "devices %d and %d would both have the MAC %s "
					 "(give each its own mac=)", j, i, mac_str(mac, buf));
	return 0;
}

int virtio_net__parse_opt(const struct option *opt, const char *arg)
{
	char *s, *tok, *rest;
	bool tap = false, has_tapif = false;
	int ret = 0, j;

	if (nr_net_opts == VIRTIO_MAX_NETS)
		return opt_error(opt, "at most %d network devices", VIRTIO_MAX_NETS);
	s = strdup(arg);
	if (!s)
		return opt_error(opt, "out of memory");
	net_opts[nr_net_opts].tapif[0] = 0;
	net_opts[nr_net_opts].has_mac = false;
	/* Every setting once, none empty: "tapif=a,tapif=b" is a typo, not a choice. */
	for (rest = s; (tok = strsep(&rest, ",")); ) {
		if (!*tok) {
			ret = opt_error(opt, "empty setting in '%s'", arg);
			break;
		}
		if ((!strcmp(tok, "mode=tap") && tap) || (!strncmp(tok, "tapif=", 6) && has_tapif) ||
		    ((!strncmp(tok, "mac=", 4) || !strncmp(tok, "guest_mac=", 10)) &&
		     net_opts[nr_net_opts].has_mac)) {
			ret = opt_error(opt, "'%.*s' given twice", (int)strcspn(tok, "="), tok);
			break;
		}
		if (!strcmp(tok, "mode=tap")) {
			tap = true;
		} else if (!strncmp(tok, "mode=", 5)) {
			ret = opt_error(opt, "mode '%s' not supported (only mode=tap)", tok + 5);
			break;
		} else if (!strncmp(tok, "tapif=", 6)) {
			/* What the kernel takes as an interface name (dev_valid_name). */
			if (!tok[6] || strlen(tok + 6) >= IFNAMSIZ || strpbrk(tok + 6, "/: \t\n") ||
			    !strcmp(tok + 6, ".") || !strcmp(tok + 6, "..")) {
				ret = opt_error(opt, "bad tap interface name '%s': use 1 to %d "
						"characters, no '/', ':' or whitespace, not '.' or '..'",
						tok + 6, IFNAMSIZ - 1);
				break;
			}
			strcpy(net_opts[nr_net_opts].tapif, tok + 6);
			has_tapif = true;
			for (j = 0; j < nr_net_opts; j++) {
				if (!strcmp(net_opts[j].tapif, tok + 6)) {
					ret = opt_error(opt, "devices %d and %d both name tap '%s'", j,
							nr_net_opts, tok + 6);
					break;
				}
			}
			if (ret)
				break;
		} else if (!strncmp(tok, "mac=", 4) || !strncmp(tok, "guest_mac=", 10)) {
			const char *v = strchr(tok, '=') + 1, *why;

			if (virtio_net__parse_mac(v, net_opts[nr_net_opts].mac, &why)) {
				ret = opt_error(opt, "MAC address '%s' %s", v, why);
				break;
			}
			net_opts[nr_net_opts].has_mac = true;
		} else {
			ret = opt_error(opt, "unknown setting '%s' (want mode=tap,tapif=NAME,mac=MAC)",
					tok);
			break;
		}
	}
	free(s);
	if (!ret && !tap)
		ret = opt_error(opt, "mode=tap is required");
	if (!ret)
		ret = settle_mac(opt, nr_net_opts);
	if (!ret)
		nr_net_opts++;
	return ret;
}

static int tap_open(struct net_dev *nd, const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int hdr_len = NET_HDR_LEN, fd, err;

	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		pr_err("virtio-net: cannot create tap device: /dev/net/tun: %s%s", strerror(errno),
		       errno == EACCES ? " (root can create a tap for this user beforehand: "
		       "ip tuntap add NAME mode tap user USER, and chmod 0666 /dev/net/tun, "
		       "its usual mode)" : "");
		return err;
	}
	if (name)	/* length checked by the option parser */
		memcpy(ifr.ifr_name, name, min(strlen(name), sizeof(ifr.ifr_name) - 1));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		err = -errno;
		pr_err("virtio-net: cannot create tap device '%s': %s%s", name ? name : "(any)",
		       strerror(errno), errno == EPERM ? " (needs CAP_NET_ADMIN, or a tap "
		       "created beforehand for this user: ip tuntap add NAME mode tap user USER)" :
		       errno == EBUSY ? " (in use by another process)" :
		       errno == EINVAL ? " (an interface of that name exists and is not a tap)" : "");
		close(fd);
		return err;
	}
	/* virtio 1.x: the header always has num_buffers (12 bytes). */
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0 || ioctl(fd, TUNSETOFFLOAD, 0) < 0) {
		err = -errno;
		pr_err("virtio-net: tap '%s': cannot set vnet header: %s", ifr.ifr_name,
		       strerror(errno));
		close(fd);
		return err;
	}
	memcpy(nd->ifname, ifr.ifr_name, sizeof(nd->ifname));
	nd->ifname[sizeof(nd->ifname) - 1] = 0;
	nd->tap_fd = fd;
	return 0;
}

static int net_tx(struct virtio_device *vdev, struct virtq_chain *c)
{
	struct net_dev *nd = container_of(vdev, struct net_dev, vdev);
	/*
	 * Our own header, all zero, in place of the guest's: no offload was
	 * negotiated, so its GSO and checksum fields must not reach the tap
	 * (a guest could hand the host a 64 KiB "GSO" frame to segment).
	 */
	static const u8 hdr[NET_HDR_LEN];
	struct iovec iov[VIRTQ_MAX_SEGS + 1] = { { (void *)hdr, NET_HDR_LEN } };
	size_t skip = NET_HDR_LEN;
	int i, n = 1;

	/* A frame must at least carry the header; a runt is dropped, not sent. */
	if (c->out_len < NET_HDR_LEN || c->out_len > NET_MAX_FRAME)
		return 0;
	for (i = 0; i < c->nr_out; i++) {
		size_t k = min(skip, (size_t)c->seg[i].len);

		skip -= k;
		if (k == c->seg[i].len)
			continue;
		iov[n].iov_base = (u8 *)c->seg[i].addr + k;
		iov[n].iov_len = c->seg[i].len - k;
		n++;
	}
	/* The tap takes or drops the frame whole; a full tap queue drops it. */
	if (writev(nd->tap_fd, iov, n) < 0 && errno != EAGAIN)
		pr_debug("virtio-net: tap write: %s", strerror(errno));
	return 0;
}

/* Lock held.  Returns true if the thread should wait for tap data. */
static bool rx_some(struct net_dev *nd, bool *need_kick)
{
	struct virtio_device *vdev = &nd->vdev;
	struct virt_queue *vq = &vdev->vqs[NET_RXQ];
	struct virtq_chain *c = vdev->chain;
	struct iovec iov[VIRTQ_MAX_SEGS];
	bool pushed = false;
	int i, ret, budget = 64;

	*need_kick = false;
	if (!virtio__queue_live(vdev, NET_RXQ) || virtq__map(vq)) {
		*need_kick = true;
		return false;
	}
	while (budget--) {
		struct pollfd p = { .fd = nd->tap_fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 0) <= 0)
			break;			/* nothing waiting on the tap */
		ret = virtq__pop(vq, c);
		if (ret <= 0) {
			if (ret < 0)
				virtio__guest_error(vdev, NET_RXQ, ret, "malformed receive chain");
			*need_kick = true;	/* no buffers: wait for the driver */
			break;
		}
		if (c->in_len < NET_HDR_LEN) {
			virtio__guest_error(vdev, NET_RXQ, -EINVAL, "receive buffer too small");
			*need_kick = true;
			break;
		}
		for (i = 0; i < c->nr_in; i++) {
			iov[i].iov_base = c->seg[c->nr_out + i].addr;
			iov[i].iov_len = c->seg[c->nr_out + i].len;
		}
		n = readv(nd->tap_fd, iov, c->nr_in);
		if (n < (ssize_t)NET_HDR_LEN)
			n = 0;		/* raced away or truncated: hand back empty */
		else {			/* no mergeable buffers: one chain per frame */
			static const u8 one[2] = { 1, 0 };	/* le16 num_buffers */

			/* Wherever byte 10 falls: the first segment may be 1 byte long. */
			virtq_chain__write(c, 10, one, sizeof(one));
		}
		virtq__push(vq, c, n);
		pushed = true;
	}
	if (pushed)
		virtio__signal_vq(vdev, NET_RXQ);
	return !*need_kick;
}

/*
 * QEMU's self-announcement: a broadcast RARP "request reverse" from the
 * guest's MAC, asking for its own address.  Nobody answers; the point is
 * the source MAC every switch on the way learns from.
 */
void virtio_net__announce_frame(const u8 mac[6], u8 f[VIRTIO_NET_ANNOUNCE_LEN])
{
	memset(f, 0, VIRTIO_NET_ANNOUNCE_LEN);	/* padding, sender/target IP 0 */
	memset(f, 0xff, 6);			/* to everyone */
	memcpy(f + 6, mac, 6);
	f[12] = 0x80, f[13] = 0x35;		/* ETH_P_RARP */
	f[14] = 0, f[15] = 1;			/* hardware: Ethernet */
	f[16] = 0x08, f[17] = 0x00;		/* protocol: IPv4 */
	f[18] = 6, f[19] = 4;			/* address lengths */
	f[20] = 0, f[21] = 3;			/* RARP request reverse */
	memcpy(f + 22, mac, 6);			/* sender hardware address */
	memcpy(f + 32, mac, 6);			/* target hardware address */
}

/* Receive thread.  Sends one announcement and arms the timer for the next. */
static void announce_one(struct net_dev *nd)
{
	u8 hdr[NET_HDR_LEN] = { 0 }, frame[VIRTIO_NET_ANNOUNCE_LEN];
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { frame, sizeof(frame) } };
	int sent = ANNOUNCE_ROUNDS - nd->announce_left;
	u64 ms = ANNOUNCE_FIRST_MS + (u64)sent * ANNOUNCE_STEP_MS;
	struct itimerspec next = { .it_value = { ms / 1000, (ms % 1000) * 1000000 } };
	char buf[MAC_STR_LEN];

	virtio_net__announce_frame(nd->config.mac, frame);
	/* A tap that is down (EIO) or full (EAGAIN) drops it, as it would a guest's frame. */
	if (writev(nd->tap_fd, iov, 2) == (ssize_t)(sizeof(hdr) + sizeof(frame)))
		nd->nr_announced++;
	if (--nd->announce_left > 0)
		timerfd_settime(nd->announce_fd, 0, &next, NULL);
	else
		pr_info("virtio-net: %s: announced %s (%llu of %d RARP frames taken by the tap)",
			nd->ifname, mac_str(nd->config.mac, buf),
			(unsigned long long)nd->nr_announced, ANNOUNCE_ROUNDS);
}

static void *rx_loop(void *arg)
{
	struct net_dev *nd = arg;
	bool need_kick = true;
	char name[16];
	u64 cnt;

	snprintf(name, sizeof(name), "lkvm-net%d-rx", nd->idx);
	pthread_setname_np(pthread_self(), name);

	for (;;) {
		struct pollfd p[4] = {
			{ .fd = nd->stop_fd, .events = POLLIN },
			{ .fd = nd->kick_fd, .events = POLLIN },
			{ .fd = nd->tap_fd, .events = need_kick ? 0 : POLLIN },
			{ .fd = nd->announce_fd, .events = POLLIN },
		};

		if (poll(p, 4, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[0].revents)
			return NULL;
		if (p[3].revents && read(nd->announce_fd, &cnt, sizeof(cnt)) == sizeof(cnt) &&
		    __atomic_load_n(&nd->announce_left, __ATOMIC_ACQUIRE) > 0)
			announce_one(nd);
		if (p[1].revents && read(nd->kick_fd, &cnt, sizeof(cnt)) < 0)
			continue;
		pthread_mutex_lock(&nd->vdev.lock);
		rx_some(nd, &need_kick);
		pthread_mutex_unlock(&nd->vdev.lock);
	}
}

static void kick_rx(struct net_dev *nd)
{
	u64 one = 1;

	(void)!write(nd->kick_fd, &one, sizeof(one));
}

static int net_notify(struct virtio_device *vdev, u16 q)
{
	struct net_dev *nd = container_of(vdev, struct net_dev, vdev);

	if (q == NET_TXQ)
		return virtio__drain(vdev, q, net_tx);
	kick_rx(nd);		/* new receive buffers */
	return 0;
}

static void net_driver_ok(struct virtio_device *vdev)
{
	kick_rx(container_of(vdev, struct net_dev, vdev));
}

/*
 * The guest arrived (the source has let go), before its first instruction
 * here: start the announcements.  The receive thread sends them, so they
 * stop with it.
 */
static void net_arrived(struct virtio_device *vdev)
{
	struct net_dev *nd = container_of(vdev, struct net_dev, vdev);
	struct itimerspec now = { .it_value = { 0, 1 } };

	__atomic_store_n(&nd->announce_left, ANNOUNCE_ROUNDS, __ATOMIC_RELEASE);
	if (timerfd_settime(nd->announce_fd, 0, &now, NULL) < 0)
		pr_warn("virtio-net: %s: cannot announce the guest: %s", nd->ifname,
			strerror(errno));
}

static const struct virtio_dev_ops net_ops = {
	.name = "net",
	.device_id = VIRTIO_ID_NET,
	.nr_queues = 2,
	.queue_size = 256,
	.features = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS) |
		    (1ULL << VIRTIO_NET_F_MTU),
	.config_size = sizeof(struct virtio_net_config),
	.notify = net_notify,
	.driver_ok = net_driver_ok,
	.arrived = net_arrived,
};

static void net_free(struct net_dev *nd)
{
	if (nd->tap_fd >= 0)
		close(nd->tap_fd);
	if (nd->kick_fd >= 0)
		close(nd->kick_fd);
	if (nd->stop_fd >= 0)
		close(nd->stop_fd);
	if (nd->announce_fd >= 0)
		close(nd->announce_fd);
	free(nd);
}

/*
 * The guest's driver read its MAC at boot and keeps it: a destination
 * that would give it another is refused in the handshake, like another
 * disk, instead of leaving the guest with an address its host does not
 * expect.
 */
static int register_identity(struct net_dev *nd, int i)
{
	char desc[40], buf[MAC_STR_LEN];

	snprintf(desc, sizeof(desc), "net%d=%s", i, mac_str(nd->config.mac, buf));
	return migration__register_device(desc);
}

static int virtio_net__init(struct kvm *kvm)
{
	bool sev = kvm->cfg.sev_mode != SEV_MODE_NONE;
	char mac[MAC_STR_LEN];
	int i, ret;

	for (i = 0; i < nr_net_opts; i++) {
		struct net_dev *nd = calloc(1, sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		nd->tap_fd = -1;
		nd->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		nd->stop_fd = eventfd(0, EFD_CLOEXEC);
		nd->announce_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (nd->kick_fd < 0 || nd->stop_fd < 0 || nd->announce_fd < 0) {
			ret = -errno;
			goto err_free;
		}
		ret = tap_open(nd, net_opts[i].tapif[0] ? net_opts[i].tapif : NULL);
		if (ret < 0)
			goto err_free;
		memcpy(nd->config.mac, net_opts[i].mac, 6);
		nd->config.status = VIRTIO_NET_S_LINK_UP;
		nd->config.mtu = 1500;
		ret = virtio__init_device(&nd->vdev, kvm, &net_ops, &nd->config, sev);
		if (ret < 0)
			goto err_free;
		ret = virtio_pci__init(kvm, &nd->vpci, &nd->vdev, 0x020000);
		if (ret < 0)
			goto err_dev;
		ret = register_identity(nd, i);
		if (ret < 0) {
			virtio_pci__exit(kvm, &nd->vpci);
			goto err_dev;
		}
		nd->idx = i;
		if (pthread_create(&nd->rx_thread, NULL, rx_loop, nd)) {
			ret = -EAGAIN;
			virtio_pci__exit(kvm, &nd->vpci);
			goto err_dev;
		}
		nd->rx_started = true;
		pr_info("virtio-net: tap %s, MAC %s", nd->ifname, mac_str(nd->config.mac, mac));
		nets[nr_nets++] = nd;
		continue;
err_dev:
		virtio__exit_device(&nd->vdev);
err_free:
		net_free(nd);
		return ret;
	}
	return 0;
}

static int virtio_net__exit(struct kvm *kvm)
{
	u64 one = 1;

	while (nr_nets) {
		struct net_dev *nd = nets[--nr_nets];

		if (nd->rx_started && write(nd->stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(nd->rx_thread, NULL);
		virtio_pci__exit(kvm, &nd->vpci);
		virtio__exit_device(&nd->vdev);
		net_free(nd);
	}
	return 0;
}
virtio_dev_init(virtio_net__init, virtio_net__exit);
