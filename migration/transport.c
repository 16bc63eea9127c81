/*
 * Migration transport: TCP connections (IPv4/IPv6) and record I/O.  Record
 * payloads are handed to the kernel as iovecs pointing where the caller
 * wants the bytes (ram.c and incoming.c say where RAM pages go through).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lkvm/migration.h"


void mig_chan__init_fd(struct mig_chan *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
}

void mig_chan__init_buf(struct mig_chan *c, const void *buf, size_t len)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->buf = buf;
	c->buf_len = len;
}

void mig_chan__continue_fd(struct mig_chan *c, int fd)
{
	c->buf = NULL;
	c->buf_len = c->buf_pos = 0;
	c->fd = fd;
}

void mig_chan__close(struct mig_chan *c)
{
	mig_crypt__detach(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/*
 * LKVM_MIG_FAULT=flip:N or cut:N (N = byte offset on data channel 1, or on
 * the control channel with a "c" suffix: flip:Nc) corrupts or cuts the
 * outgoing stream at that offset.  The failure tests use it to prove the
 * receiver's checks and the source's recovery; it costs one compare per
 * write otherwise.  frame:N (every channel) seals at most N bytes a frame
 * under --key, as another writer may cut its frames: a record, the HELLO
 * first, then spans frames.  Several, comma-separated: frame:64,flip:150c.
 */
void mig_chan__apply_fault_env(struct mig_chan *c, int channel)
{
	const char *e = getenv("LKVM_MIG_FAULT");

	for (; e && *e; e = strchr(e, ',') ? strchr(e, ',') + 1 : "") {
		unsigned long long off;
		char kind[8], where = 0;
		int want;

		if (sscanf(e, "%7[a-z]:%llu%c", kind, &off, &where) < 2 || !off)
			continue;
		if (!strcmp(kind, "frame")) {
			c->fault_frame_max = min(off, (unsigned long long)MIG_FRAME_MAX);
			continue;
		}
		want = where == 'c' ? 0 : 1;
		if (channel != want)
			continue;
		if (!strcmp(kind, "flip"))
			c->fault_flip_at = off;
		else if (!strcmp(kind, "cut"))
			c->fault_cut_at = off;
	}
}

static int read_some(struct mig_chan *c, struct iovec *iov, int cnt)
{
	ssize_t n;

	if (c->fd < 0) {
		size_t got = 0;
		int i;

		if (!c->buf)
			return -EPIPE;
		for (i = 0; i < cnt; i++) {
			size_t k = min(iov[i].iov_len, c->buf_len - c->buf_pos);

			memcpy(iov[i].iov_base, c->buf + c->buf_pos, k);
			c->buf_pos += k;
			got += k;
			if (k < iov[i].iov_len)
				break;
		}
		return got ? (int)min(got, (size_t)INT_MAX) : -EPIPE;
	}
	do {
		n = readv(c->fd, iov, min(cnt, IOV_MAX));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	if (n == 0)
		return -EPIPE;
	return (int)n;
}

/* Advance an iovec array past n bytes. */
static void iov_advance(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt && n) {
		(*iov)->iov_base = (u8 *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

static int raw_readv(struct mig_chan *c, struct iovec *iov, int cnt)
{
	while (cnt && !iov->iov_len)
		iov++, cnt--;
	while (cnt) {
		int n = read_some(c, iov, cnt);

		if (n < 0)
			return n;
		/* Atomic: the destination's watchdog reads it from its thread. */
		__atomic_fetch_add(&c->bytes_in, n, __ATOMIC_RELAXED);
		iov_advance(&iov, &cnt, n);
	}
	return 0;
}

int mig_chan__raw_read(struct mig_chan *c, void *p, size_t n)
{
	struct iovec iov = { p, n };

	return raw_readv(c, &iov, 1);
}

int mig_chan__readv(struct mig_chan *c, struct iovec *iov, int cnt)
{
	return c->crypt ? mig_crypt__readv(c, iov, cnt) : raw_readv(c, iov, cnt);
}

int mig_chan__read(struct mig_chan *c, void *p, size_t n)
{
	struct iovec iov = { p, n };

	return mig_chan__readv(c, &iov, 1);
}

/*
 * A new cap, from now on: no debt and no credit.  Under the lock, so that
 * no sender can reserve under the old cap after the change (one that
 * loaded the old rate would otherwise push next_ns past the new start).
 */
void mig_rate__set(struct mig_rate *r, u64 bps)
{
	pthread_mutex_lock(&r->lock);
	__atomic_store_n(&r->bps, bps, __ATOMIC_RELAXED);	/* rate_wait() peeks */
	r->next_ns = now_ns();
	atomic_fetch_add(&r->gen, 1);
	pthread_mutex_unlock(&r->lock);
}

/*
 * Reserve n bytes on the shared clock and wait until they are due.
 * -ECANCELED if a cancel ended the wait: the batch in hand is not sent
 * (at a low cap it would be seconds of traffic past the cap).  Without a
 * cap it returns after one load, taking no lock; with one, a lock per
 * batch (up to 2 MiB) costs nothing beside the copy.
 */
static int rate_wait(struct mig_chan *c, size_t n)
{
	struct mig_rate *r = c->rate;
	u64 now, start, due;
	u32 gen;

again:
	if (!__atomic_load_n(&r->bps, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&r->lock);
	if (!r->bps) {
		pthread_mutex_unlock(&r->lock);
		return 0;
	}
	gen = atomic_load(&r->gen);
	now = now_ns();
	start = max(r->next_ns, now - min(now, MIG_RATE_BURST_NS));
	/* 128 bits: n x 10^9 overflows 64 bits past 18 GB. */
	due = start + (u64)((unsigned __int128)n * 1000000000u / r->bps);
	r->next_ns = due;
	pthread_mutex_unlock(&r->lock);
	/*
	 * At a low cap one batch can mean a wait of many seconds: wait in
	 * poll(), which a cancel or a stop ends at once by shutting the socket
	 * down (POLLHUP), not in an uninterruptible sleep.
	 */
	while (due > now + 1000000) {
		struct pollfd pfd = { .fd = c->fd, .events = 0 };
		u64 ms = (due - now) / 1000000;

		if (poll(&pfd, 1, ms > 50 ? 50 : (int)ms) > 0)
			break;		/* hung up or failed: the send reports it */
		if (c->rate_cancel && atomic_load(c->rate_cancel))
			return -ECANCELED;
		if (atomic_load(&r->gen) != gen)
			goto again;	/* a new cap (lkvm migrate --set): reserve under it */
		now = now_ns();
	}
	return 0;
}

static int write_iov(struct mig_chan *c, struct iovec *iov, int cnt)
{
	struct msghdr msg = { 0 };
	ssize_t n;

	msg.msg_iov = iov;
	msg.msg_iovlen = min(cnt, IOV_MAX);
	do {
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		/* Not a socket (a file in tests): plain writev. */
		if (n < 0 && errno == ENOTSOCK)
			n = writev(c->fd, iov, min(cnt, IOV_MAX));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -ETIMEDOUT : -errno;
	return (int)n;
}

/*
 * Only the channel's own thread writes bytes_out; atomic because the
 * engine sums the channels' counts for its progress lines while their
 * sender threads run (report_pps() in migrate.c).
 */
static void bytes_out_add(struct mig_chan *c, u64 n)
{
	__atomic_fetch_add(&c->bytes_out, n, __ATOMIC_RELAXED);
}

/* Test hook: send the iovec byte by byte around the fault offset. */
static int write_faulty(struct mig_chan *c, struct iovec *iov, int cnt, size_t total)
{
	u64 start = c->bytes_out, end = start + total;
	u64 at = c->fault_cut_at ? c->fault_cut_at : c->fault_flip_at;
	u8 *copy, *p;
	int i, ret;

	if (at < start || at >= end)
		return 1;		/* not in this write */
	copy = malloc(total);
	if (!copy)
		return -ENOMEM;
	for (p = copy, i = 0; i < cnt; i++) {
		memcpy(p, iov[i].iov_base, iov[i].iov_len);
		p += iov[i].iov_len;
	}
	if (c->fault_cut_at) {
		ret = write_full(c->fd, copy, at - start);
		shutdown(c->fd, SHUT_RDWR);
		free(copy);
		c->fault_cut_at = 0;
		return ret ? ret : -ECONNRESET;
	}
	copy[at - start] ^= 0x20;
	c->fault_flip_at = 0;
	ret = write_full(c->fd, copy, total);
	free(copy);
	bytes_out_add(c, total);
	return ret;
}

int mig_chan__raw_writev(struct mig_chan *c, struct iovec *iov, int cnt)
{
	size_t total = 0;
	int i;

	for (i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	if (c->fd < 0) {			/* sink */
		bytes_out_add(c, total);
		return 0;
	}
	if (c->rate) {
		int ret = rate_wait(c, total);

		if (ret)
			return ret;
	}
	if (unlikely(c->fault_cut_at || c->fault_flip_at)) {
		int r = write_faulty(c, iov, cnt, total);

		if (r <= 0)
			return r;
	}
	while (cnt) {
		int n = write_iov(c, iov, cnt);

		if (n < 0)
			return n;
		bytes_out_add(c, n);
		iov_advance(&iov, &cnt, n);
	}
	return 0;
}

int mig_chan__writev(struct mig_chan *c, struct iovec *iov, int cnt)
{
	return c->crypt ? mig_crypt__writev(c, iov, cnt) : mig_chan__raw_writev(c, iov, cnt);
}

int mig_chan__send_rec(struct mig_chan *c, u32 type, u32 count, u32 id,
		       const void *payload, size_t len)
{
	struct mig_hdr h = {
		.type = type, .count = count, .id = id, .seq = c->seq_out,
		.len = len, .crc = mig_crc32(0, payload, len),
	};
	u8 hb[MIG_HDR_SIZE];
	struct iovec iov[2] = { { hb, sizeof(hb) }, { (void *)payload, len } };
	int ret;

	mig_hdr__encode(&h, hb);
	ret = mig_chan__writev(c, iov, len ? 2 : 1);
	if (!ret)
		c->seq_out++;
	return ret;
}

int mig_chan__recv_hdr(struct mig_chan *c, struct mig_hdr *h)
{
	u8 hb[MIG_HDR_SIZE];
	int ret;

	ret = mig_chan__read(c, hb, sizeof(hb));
	if (ret)
		return ret;
	ret = mig_hdr__decode(hb, c->seq_in, h);
	if (ret)
		return ret;
	c->seq_in++;
	return 0;
}

int mig_chan__recv_payload(struct mig_chan *c, const struct mig_hdr *h, void *buf, size_t cap)
{
	int ret;

	if (h->len > cap)
		return -EMSGSIZE;
	ret = mig_chan__read(c, buf, h->len);
	if (ret)
		return ret;
	if (mig_crc__bad(mig_crc32(0, buf, h->len), h->crc))
		return -EBADMSG;
	return 0;
}

int mig_addr__parse(const char *s, bool listen_side, char *host, size_t hn,
		    char *port, size_t pn)
{
	const char *colon, *h = s;
	size_t hl;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = rb - h;
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon && strchr(s, ':') != colon)
			return -EINVAL;		/* bare IPv6 needs brackets */
		if (!colon) {
			if (!listen_side)
				return -EINVAL;
			hl = 0;
			colon = s - 1;
		} else {
			hl = colon - s;
		}
	}
	if (hl >= hn || strlen(colon + 1) >= pn || !colon[1])
		return -EINVAL;
	for (const char *p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return -EINVAL;
	/* At most 5 digits first: atoi() of "4294999996" wrapped to 32700. */
	if (strlen(colon + 1) > 5 || strtoul(colon + 1, NULL, 10) < 1 ||
	    strtoul(colon + 1, NULL, 10) > 65535)
		return -EINVAL;
	if (!hl && !listen_side)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	strcpy(port, colon + 1);
	return 0;
}

void mig_tcp__tune(int fd, int timeout_ms)
{
	int one = 1, idle = 10, intvl = 5, cnt = 3;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };

	/* Headers are small and must not wait for Nagle behind the data. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/*
	 * No SO_SNDBUF/SO_RCVBUF: setting them turns off TCP's buffer
	 * autotuning and is capped by net.core.[wr]mem_max, 208 KiB on a stock
	 * kernel.  There, 1 GiB over loopback ran at a median 3566 MB/s with
	 * 4 MiB asked for and 4095 MB/s autotuned (6 runs each); with 4 MiB
	 * limits the two were level.  Autotuning also sizes a long link.
	 */
	/* 0 = no timeout: a peer that vanishes is then found by keepalive. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* getaddrinfo()'s result as -errno, in the codes mig_net_strerror() words. */
static int gai_errno(int rc)
{
	switch (rc) {
	case 0:
		return 0;
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
		return -ENOENT;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_SYSTEM:
		return errno ? -errno : -EHOSTUNREACH;
	default:
		return -EHOSTUNREACH;
	}
}

int mig_tcp__listen(const char *addr)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE },
			*res, *ai;
	char host[256], port[16];
	int fd = -1, one = 1, ret;

	if (mig_addr__parse(addr, true, host, sizeof(host), port, sizeof(port)))
		return -EINVAL;
	hints.ai_family = *host ? AF_UNSPEC : AF_INET6;
	ret = gai_errno(getaddrinfo(*host ? host : NULL, port, &hints, &res));
	if (ret)
		return ret;
	for (ai = res; ai; ai = ai->ai_next) {
		int zero = 0;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* A bare port listens on IPv4 and IPv6 alike. */
		if (ai->ai_family == AF_INET6 && !*host)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
		if (!bind(fd, ai->ai_addr, ai->ai_addrlen) && !listen(fd, MIG_MAX_CHANNELS + 4))
			break;
		ret = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return ret ? ret : -EADDRNOTAVAIL;
	return fd;
}

int mig_tcp__accept(int lfd, int timeout_ms)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	int ret, fd;

	do {
		ret = poll(&p, 1, timeout_ms);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return -ETIMEDOUT;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fd;
}

static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	struct pollfd p;
	int fd, ret, err = 0;
	socklen_t el = sizeof(err);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	mig_tcp__tune(fd, 0);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
		ret = -errno;
		goto err_close;
	}
	p.fd = fd;
	p.events = POLLOUT;
	do {
		ret = poll(&p, 1, timeout_ms);
	} while (ret < 0 && errno == EINTR);
	if (ret <= 0) {
		ret = ret ? -errno : -ETIMEDOUT;
		goto err_close;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
		ret = -(err ? err : errno);
		goto err_close;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;

err_close:
	close(fd);
	return ret;
}

const char *mig_net_strerror(int err)
{
	switch (err) {
	case -ENOENT:	return "the host name does not resolve";
	case -EAGAIN:	return "the host name cannot be resolved now (temporary DNS failure)";
	case -ECONNREFUSED:
		return "Connection refused (nothing listens there: no lkvm run --incoming, "
		       "or one already busy with another source)";
	default:	return strerror(-err);
	}
}

int mig_tcp__connect(const char *addr, int timeout_ms)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char host[256], port[16];
	int fd = -ECONNREFUSED, ret;

	if (mig_addr__parse(addr, false, host, sizeof(host), port, sizeof(port)))
		return -EINVAL;
	ret = gai_errno(getaddrinfo(host, port, &hints, &res));
	if (ret)
		return ret;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = connect_one(ai, timeout_ms);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	return fd;
}
