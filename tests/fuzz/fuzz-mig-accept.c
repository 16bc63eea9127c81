/*
 * libFuzzer target for the destination's connection intake (migration/
 * dest.c: accept_wanted(), pending_wanted(), pending_slot() and the
 * data-channel bookkeeping of migration__incoming()): which accepted
 * connection is the control channel, which is a data channel of this
 * migration, and which is a stranger to drop.
 *
 * dest.c is included whole, so its static functions are reachable as they
 * are; four calls are routed through this file:
 *   accept4  the real accept4 on an AF_UNIX listener, then the peer address
 *            the input names (two IPv4 hosts, IPv6, unix): no network;
 *   read     the real read, in chunks as small as the input says;
 *   poll     the real poll, never blocking: when nothing is ready the fake
 *            clock moves on by the timeout, and an endless wait becomes a
 *            stop request (what `lkvm stop` does);
 *   now_ns   that fake clock, so the 10 s preamble deadlines are reached
 *            in microseconds and the run is deterministic.
 *
 * The input scripts up to 32 client connections: when each connects (before
 * which accept_wanted call), what it sends then and later, its address,
 * whether it closes, whether its preamble asks for a sealed stream (--key),
 * then its nonce and some or all of a first sealed frame, or (a data
 * connection) a first frame the harness seals as a source would, and
 * whether this destination has --incoming-key.  The harness then asks for
 * the control connection and for as many data channels as the input says,
 * and checks what comes back against what the client sent (a keyed control
 * connection only with its whole first frame in, its nonce kept, ours sent
 * to it; a keyed data connection only with a frame sealed under the
 * nonces of the control connection taken, opened, its bytes next to be
 * read); every fd must be closed at the end.  And that nothing is lost:
 * a wait for a data channel that times out must not have had a source's
 * own connection to give (check_none_missed()).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "lkvm/util.h"
#include "fuzz-input.h"

static ssize_t fz_read(int fd, void *buf, size_t n);
static int fz_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
static int fz_poll(struct pollfd *fds, nfds_t n, int timeout);
static u64 fz_now_ns(void);

/* A keyed data connection's first-frame buffer grows a few times here. */
#define DATA_BUF_MIN	32u
#define read		fz_read
#define accept4		fz_accept4
#define poll		fz_poll
#define now_ns		fz_now_ns
#include "../../migration/dest.c"
#undef read
#undef accept4
#undef poll
#undef now_ns

/* ---- what dest.c calls that this target does not reach ---- */

int kvm_ipc__pause_as_user(struct kvm *kvm) { return -ENOSYS; }
void mig__test_hold(const char *key, const char *where) { }
void mig_json_str(const char *s, char *out, size_t n) { snprintf(out, n, "%s", s); }
bool mig_mem__anon_private(const void *p, u64 len) { return false; }
int mig_mem__for_each_touched(const struct mig_mem_bank *b, void (*fn)(u64, void *), void *arg)
{
	return 0;
}
int mig_shape__from_kvm(struct kvm *kvm, struct mig_shape *s) { return -ENOSYS; }
int mig_shape__adopt(struct kvm *kvm, const struct mig_shape *peer, const struct mig_shape *local,
		     char *why, size_t n) { return 0; }
int sev_mig__dst_prepare(struct kvm *kvm, struct mig_incoming *in) { return 0; }
int sev_mig__dst_handshake(struct kvm *kvm, struct mig_incoming *in, struct mig_chan *c)
{
	return 0;
}
int sev_mig__dst_finish(struct kvm *kvm, struct mig_incoming *in) { return 0; }
int virtio__claim_all(bool take, char *why, size_t n) { return 0; }

/* ---- the scripted clients ---- */

#define MAX_CONNS	32
#define MAX_CALLS	(1 + MIG_MAX_CHANNELS)

struct conn {
	u8 addr_kind;		/* 0: 10.0.0.1 (the source), 1: 10.0.0.2, 2: ::1, 3: unix */
	u16 port;
	u8 chunk;		/* bytes per read() at most, 0: no limit */
	bool lax;		/* its poll() says POLLIN below SO_RCVLOWAT, as TCP's may */
	u8 phase, phase2;	/* connect before call #phase; send part 2 before #phase2 */
	u8 close_how;		/* 0: stay open, 1: shutdown(WR) after part 1, 2: after part 2,
				 * 3: close() after part 2 */
	u8 data[128];
	u8 n1, n2;		/* part 1 = data[0..n1), part 2 = data[n1..n1+n2) */
	u8 seal_len;		/* a first frame of this many bytes, sealed on connecting */
	bool sealed_ok;		/* sealed under the nonces of the control connection taken */
	int cfd, sfd;		/* client end, server end (-1: none) */
	bool connected, sent2;
	bool returned;		/* accept_wanted() handed it over */
};

static struct conn conns[MAX_CONNS];
static int nconns;
static int lfd = -1;
static struct sockaddr_un laddr;
static socklen_t laddr_len;
static int queue[MAX_CONNS], q_head, q_tail;	/* connected, not yet accepted */
static u64 fake_now;
static bool verbose;
static int polls;

static struct conn *conn_of(int sfd)
{
	int i;

	for (i = 0; i < nconns; i++)
		if (conns[i].sfd == sfd)
			return &conns[i];
	return NULL;
}

static ssize_t fz_read(int fd, void *buf, size_t n)
{
	struct conn *c = conn_of(fd);

	if (c && c->chunk && n > c->chunk)
		n = c->chunk;
	return read(fd, buf, n);
}

static void fill_addr(const struct conn *c, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (c->addr_kind < 2) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(0x0a000001 + c->addr_kind);
		a->sin_port = htons(c->port);
	} else if (c->addr_kind == 2) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr.s6_addr[15] = 1;
		a->sin6_port = htons(c->port);
	} else {
		ss->ss_family = AF_UNIX;
	}
}

static int fz_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct sockaddr_storage ss;
	struct conn *c;
	int nfd;

	/*
	 * The listener blocks, as lkvm's does: an accept with nothing queued
	 * would wait for ever (dest.c must poll first).
	 */
	if (q_head == q_tail)
		abort();
	nfd = accept4(fd, NULL, NULL, flags);
	if (nfd < 0)
		return nfd;
	/* A number dest.c closed (a dropped stranger) comes back here. */
	while ((c = conn_of(nfd)))
		c->sfd = -1;
	c = &conns[queue[q_head++]];
	c->sfd = nfd;
	fill_addr(c, &ss);
	if (addr && len) {
		memcpy(addr, &ss, *len < sizeof(ss) ? *len : sizeof(ss));
		*len = sizeof(ss);
	}
	return nfd;
}

static int fz_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	int ret;

	/* No progress for this long inside one accept_wanted(): it spins. */
	if (++polls > 10000)
		abort();
	ret = poll(fds, n, 0);
	/*
	 * AF_UNIX poll() ignores SO_RCVLOWAT, which TCP's honours: a part of
	 * the first sealed frame must not count as ready (dest.c waits for
	 * it whole), or the loop would spin.  Not always: TCP reports POLLIN
	 * below it under receive memory pressure (a frame sent a byte a
	 * segment) or with less than a segment of window left, and so does
	 * this for a "lax" connection; dest.c must not spin on that either.
	 */
	for (nfds_t i = 0; ret > 0 && i < n; i++) {
		struct conn *c = fds[i].fd < 0 ? NULL : conn_of(fds[i].fd);
		int lowat = 1, avail = 0;
		socklen_t l = sizeof(lowat);

		if (fds[i].fd < 0 || (c && c->lax) || !(fds[i].revents & POLLIN) ||
		    (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) ||
		    getsockopt(fds[i].fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, &l) || lowat <= 1 ||
		    ioctl(fds[i].fd, FIONREAD, &avail) || avail >= lowat)
			continue;
		fds[i].revents &= ~POLLIN;
		if (!fds[i].revents)
			ret--;
	}
	if (ret)
		return ret;
	if (timeout < 0) {
		/* It would wait for ever: the user stops it. */
		pthread_mutex_lock(&inc.lock);
		inc.stopped = true;
		pthread_mutex_unlock(&inc.lock);
		return 0;
	}
	fake_now += (u64)timeout * 1000000ULL;
	return 0;
}

static u64 fz_now_ns(void)
{
	return fake_now;
}

#define SESSION		0x1122334455667788ULL
#define SEAL_MAX	(128 - MIG_PREAMBLE_SIZE - MIG_FRAME_OVERHEAD)
static const u8 fuzz_key[MIG_KEY_SIZE] = { 0x5a, 0x17, 0xc3 };
#define FRAME_AT	(MIG_PREAMBLE_SIZE + MIG_NONCE_SIZE)	/* a sealed client's first frame */
#define MIG_FRAME_TAG	(MIG_FRAME_OVERHEAD - 4)

static void parse(struct rd *r, u32 nch)
{
	static const u8 chunks[8] = { 0, 1, 3, 7, 12, 23, 24, 25 };

	nconns = 0;
	while (r->n && nconns < MAX_CONNS) {
		struct conn *c = &conns[nconns++];
		u8 f = take_u8(r), k;
		u32 total;

		memset(c, 0, sizeof(*c));
		c->cfd = c->sfd = -1;
		c->addr_kind = f & 3;
		c->close_how = (f >> 2) & 3;
		c->chunk = chunks[f >> 5];
		c->lax = f & 0x10;
		c->port = take_u16(r);
		c->phase = take_u8(r) % (nch + 1);
		c->phase2 = c->phase + take_u8(r) % (nch + 1 - c->phase);
		k = take_u8(r);
		if (k & 0x80) {
			/* raw bytes */
			total = (k & 0x3f) % sizeof(c->data);
			for (u32 i = 0; i < total; i++)
				c->data[i] = take_u8(r);
		} else {
			/* a preamble: version, channel and session from the input */
			u8 v = take_u8(r), s = take_u8(r);
			u32 ch = take_u8(r);
			u64 session = s % 4 == 0 ? SESSION : s % 4 == 1 ? SESSION ^ 1 :
				      s % 4 == 2 ? 0 : take_u64(r);

			if (ch >= 0x80)
				ch = take_u32(r);
			else
				ch %= MIG_MAX_CHANNELS + 3;
			if (k & 0x10)
				ch |= MIG_PRE_AUTH;	/* a source with --key */
			mig_preamble__encode(c->data, ch, session);
			if (v) {
				c->data[8] = v;	/* another version */
				c->data[9] = v & 1 ? 0 : 1;
			}
			if (k & 0x40)
				c->data[take_u8(r) % 8] ^= take_u8(r) | 1;	/* the magic */
			total = MIG_PREAMBLE_SIZE;
			if ((k & 0x30) == 0x30) {
				/* sealed: its nonce, then (some of) a first frame */
				u8 how = take_u8(r);
				u32 len = how & 0x80 ? take_u32(r) : take_u8(r) % 48;

				for (u32 i = 0; i < MIG_NONCE_SIZE; i++)
					c->data[total++] = take_u8(r);
				if (how & 1) {
					put_le32(c->data + total, len);
					total += 4;
					while (total < sizeof(c->data) && (how & 2 ||
					       total < FRAME_AT + 4 + (u64)len + MIG_FRAME_TAG))
						c->data[total++] = 0xee;
				} else {
					total -= take_u8(r) % (MIG_NONCE_SIZE + 1);
				}
			} else if ((k & 0x18) == 0x18 && ch) {
				/* a data connection's first frame, sealed by advance() */
				c->seal_len = 1 + take_u8(r) % SEAL_MAX;
				total += MIG_FRAME_OVERHEAD + c->seal_len;
			} else if (k & 0x20) {
				/* possibly followed by a HELLO's first bytes */
				total += take_u8(r) % 16;
				for (u32 i = MIG_PREAMBLE_SIZE; i < total; i++)
					c->data[i] = 0xee;
			}
		}
		c->n1 = take_u8(r) % (total + 1);
		c->n2 = total - c->n1;
	}
}

/* The server end may be closed already (a dropped stranger): EPIPE is fine. */
static void send_all(int fd, const u8 *p, size_t n)
{
	ssize_t r = n ? send(fd, p, n, MSG_NOSIGNAL) : 0;

	if (r != (ssize_t)n && !(r < 0 && (errno == EPIPE || errno == ECONNRESET)))
		abort();
}

static u8 seal_byte(const struct conn *c, u32 i)
{
	return (u8)(i * 13 + c->port);
}

/*
 * c's first frame, sealed as a source seals it: under the key, the
 * nonces the destination holds now, and c's own preamble.  Before the
 * control connection is taken those are a past run's, and it must not
 * open.
 */
static void seal_first_frame(struct conn *c, int call)
{
	u8 plain[SEAL_MAX];
	struct mig_chan w;
	int sv[2];
	u32 i, n = MIG_FRAME_OVERHEAD + c->seal_len;

	for (i = 0; i < c->seal_len; i++)
		plain[i] = seal_byte(c, i);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		abort();
	mig_chan__init_fd(&w, sv[0]);
	if (mig_crypt__attach(&w, fuzz_key, inc.nc, inc.ns, c->data, true) ||
	    mig_chan__writev(&w, &(struct iovec){ plain, c->seal_len }, 1) ||
	    recv(sv[1], c->data + MIG_PREAMBLE_SIZE, n, MSG_WAITALL) != (ssize_t)n)
		abort();
	mig_chan__close(&w);
	close(sv[1]);
	c->sealed_ok = inc.keyed && call > 0;
}

/* Before accept_wanted call #call: connect, send and close what is due. */
static void advance(int call)
{
	int i;

	for (i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];

		if (c->phase == call && !c->connected) {
			c->cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (c->cfd < 0 || connect(c->cfd, (struct sockaddr *)&laddr, laddr_len))
				abort();
			c->connected = true;
			queue[q_tail++] = i;
			if (c->seal_len)
				seal_first_frame(c, call);
			send_all(c->cfd, c->data, c->n1);
			if (c->close_how == 1)
				shutdown(c->cfd, SHUT_WR);
		}
		if (c->connected && c->phase2 == call && !c->sent2) {
			c->sent2 = true;
			send_all(c->cfd, c->data + c->n1, c->n2);
			if (c->close_how == 2)
				shutdown(c->cfd, SHUT_WR);
			if (c->close_how == 3) {
				close(c->cfd);
				c->cfd = -1;
			}
		}
	}
}

/*
 * A keyed control connection is taken only with the nonces exchanged and
 * its whole first frame in: its nonce is the one kept, and it got ours.
 */
static void check_sealed(struct conn *c)
{
	u32 sent = c->n1 + (c->sent2 ? c->n2 : 0), len;
	u8 reply[MIG_AUTH_REPLY_SIZE];

	if (sent < FRAME_AT + 4)
		abort();
	len = get_le32(c->data + FRAME_AT);
	if (!len || len > FIRST_FRAME_MAX || sent < FRAME_AT + MIG_FRAME_OVERHEAD + len)
		abort();
	if (memcmp(inc.nc, c->data + MIG_PREAMBLE_SIZE, MIG_NONCE_SIZE))
		abort();
	if (c->cfd >= 0 && (recv(c->cfd, reply, sizeof(reply), MSG_DONTWAIT) != sizeof(reply) ||
			    memcmp(reply, MIG_AUTH_MAGIC, 8) ||
			    memcmp(reply + 8, inc.ns, MIG_NONCE_SIZE)))
		abort();
}

/*
 * A keyed data connection: its first frame was sealed under this
 * migration's nonces, has opened, and its bytes are the next to read.
 */
static void check_opened(struct conn *c, struct mig_chan *chan)
{
	u8 got[SEAL_MAX];
	u32 i;

	if (!c->sealed_ok || !mig_crypt__opened(chan))
		abort();
	/* Opened already: this read does not touch the (blocking) socket. */
	if (mig_chan__read(chan, got, c->seal_len))
		abort();
	for (i = 0; i < c->seal_len; i++)
		if (got[i] != seal_byte(c, i))
			abort();
}

/* What the client of chan sent first: must be a wanted preamble. */
static void check_wanted(struct mig_chan *chan, bool control, u64 want_session, u32 ch,
			 u64 session, const struct sockaddr_storage *addr)
{
	struct conn *c = conn_of(chan->fd);
	struct sockaddr_storage ss;
	u32 v, pch;
	u64 ps;

	if (!c || c->n1 + c->n2 < MIG_PREAMBLE_SIZE)
		abort();
	c->returned = true;
	if (mig_preamble__decode(c->data, &v, &pch, &ps) || v != MIG_VERSION)
		abort();
	if (pch != ch || ps != session)
		abort();
	/* Sealed or not, as this destination is (--incoming-key). */
	if (mig_preamble__auth(c->data) != inc.keyed)
		abort();
	if (control ? ch != 0 : (ch == 0 || ch > MIG_MAX_CHANNELS || ps != want_session))
		abort();
	if (addr) {
		fill_addr(c, &ss);
		if (memcmp(&ss, addr, sizeof(ss)))
			abort();
	}
	if (control && inc.keyed)
		check_sealed(c);
	if (!control && inc.keyed)
		check_opened(c, chan);
}

/*
 * A source's own keyed data connection: a channel of this migration
 * (session, 1..nch) no other connection claims with a frame that opens,
 * its first frame sealed under this migration's nonces, all of it sent on
 * connecting and the connection left open.
 */
static bool source_data_conn(const struct conn *c, u64 session, u32 nch)
{
	u32 v, ch, ch2;
	u64 s;
	int i;

	if (!c->sealed_ok || c->phase2 != c->phase || c->close_how ||
	    mig_preamble__decode(c->data, &v, &ch, &s) || v != MIG_VERSION || s != session)
		return false;
	ch &= ~MIG_PRE_AUTH;
	if (!ch || ch > nch)
		return false;
	for (i = 0; i < nconns; i++) {
		const struct conn *o = &conns[i];

		if (o != c && o->sealed_ok && !mig_preamble__decode(o->data, &v, &ch2, &s) &&
		    (ch2 & ~MIG_PRE_AUTH) == ch)
			return false;
	}
	return true;
}

/*
 * Liveness: a wait for a data channel that timed out (call #call) must
 * not have had a source's own connection to give, connected before it.
 * With no more connections than pending places none is pushed out, and
 * one whose bytes are all in is read and opened without the clock moving.
 */
static void check_none_missed(int call, u64 session, u32 nch)
{
	int i;

	if (nconns > MAX_PENDING)
		return;
	for (i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];

		if (c->connected && c->phase <= call && !c->returned &&
		    source_data_conn(c, session, nch)) {
			if (verbose)
				fprintf(stderr, "conn %d (channel %u) was never handed over\n", i,
					get_le32(c->data + 12) & ~MIG_PRE_AUTH);
			abort();
		}
	}
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		n++;
	closedir(d);
	return n;
}

static void run_one(const u8 *data, size_t size)
{
	struct rd r = { data, size };
	struct sockaddr_storage src;
	bool started[MIG_MAX_CHANNELS] = { 0 };
	struct mig_chan chans[MAX_CALLS];
	int nchans = 0, i, ret, fd, base = count_fds();
	u32 nch, ch, k;
	u64 session, s;

	k = take_u8(&r);
	nch = 1 + k % MIG_MAX_CHANNELS;
	inc.keyed = k & 0x40;		/* a destination with --incoming-key */
	inc.key = fuzz_key;
	parse(&r, nch);
	fake_now = 1000000000000ULL;
	q_head = q_tail = 0;
	pthread_mutex_lock(&inc.lock);
	inc.stopped = false;
	pthread_mutex_unlock(&inc.lock);

	/* migration__incoming(): the control connection, then nch data channels. */
	advance(0);
	polls = 0;
	ret = accept_wanted(lfd, -1, &(struct conn_want){ .control = true }, &chans[0], &ch,
			    &session, &src);
	if (verbose)
		fprintf(stderr, "control: %d\n", ret ?: chans[0].fd);
	if (ret)
		goto out;
	nchans++;
	check_wanted(&chans[0], true, 0, ch, session, &src);
	for (k = 0; k < nch; k++) {
		advance(k + 1);
		polls = 0;
		ret = accept_wanted(lfd, CHANNEL_WAIT_MS,
				    &(struct conn_want){ .session = session, .src = &src },
				    &chans[nchans], &ch, &s, NULL);
		if (verbose)
			fprintf(stderr, "data %u: %d (channel %u)\n", k, ret ?: chans[nchans].fd,
				ret ? 0 : ch);
		if (ret == -ETIMEDOUT)
			check_none_missed(k + 1, session, nch);
		if (ret)
			break;
		check_wanted(&chans[nchans++], false, session, ch, s, NULL);
		if (ch > nch || started[ch - 1])
			break;		/* "unexpected data connection": the migration fails */
		started[ch - 1] = true;
	}
out:
	/* close_listener(true) */
	pending_close_all(true);
	for (i = 0; i < nchans; i++)
		mig_chan__close(&chans[i]);
	/* Connections still in the backlog: accept and close them. */
	while (q_head < q_tail) {
		fd = fz_accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			break;
		close(fd);
	}
	for (i = 0; i < nconns; i++) {
		if (conns[i].cfd >= 0)
			close(conns[i].cfd);
		conns[i].cfd = conns[i].sfd = -1;
	}
	for (i = 0; i < MAX_PENDING; i++)
		if (pend[i].fd >= 0)
			abort();	/* pending_close_all() left one */
	if (count_fds() != base)
		abort();		/* an fd leaked */
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	run_one(data, size);
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("LKVM_FUZZ_SEED");
	int i;

	verbose = getenv("LKVM_FUZZ_VERBOSE");
	signal(SIGPIPE, SIG_IGN);	/* as lkvm run does */
	memset(&laddr, 0, sizeof(laddr));
	laddr.sun_family = AF_UNIX;
	/* abstract namespace: no file */
	snprintf(laddr.sun_path + 1, sizeof(laddr.sun_path) - 1, "lkvm-fuzz-accept-%d", getpid());
	laddr_len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(laddr.sun_path + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&laddr, laddr_len) ||
	    listen(lfd, 4 * MAX_CONNS))
		abort();
	if (dir) {
		/* control + 2 data channels, a stranger, a slow one */
#define NONCE32	7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, \
		7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7
		static const u8 seeds[][128] = {
			{ 1,
			  0x00, 0, 0, 0, 0, 0x00, 0, 0, 0, 24,		/* control */
			  0x00, 1, 0, 1, 0, 0x00, 0, 0, 1, 24,		/* data 1 */
			  0x00, 2, 0, 2, 0, 0x00, 0, 0, 2, 24 },	/* data 2 */
			{ 0,
			  0x23, 0, 0, 0, 0, 0x80 | 9, 'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 4,
			  0x20, 5, 0, 0, 0, 0x00, 0, 0, 0, 10,		/* control in bytes */
			  0x01, 6, 0, 1, 0, 0x00, 0, 1, 1, 24,		/* other session */
			  0x00, 7, 0, 1, 0, 0x00, 0, 0, 1, 24 },	/* data 1 */
			/*
			 * --incoming-key: a sealed control (nonce, a 20-byte frame),
			 * 2 data with sealed first frames of 41 and 84 bytes
			 */
			{ 0x41,
			  0x00, 0, 0, 0, 0, 0x30, 0, 0, 0, 0x01, 20, NONCE32, 96,
			  0x00, 1, 0, 1, 0, 0x18, 0, 0, 1, 40, 255,
			  0x00, 2, 0, 2, 0, 0x18, 0, 0, 2, 83, 128 },
			/* the same after a stranger that sends its nonce and goes silent */
			{ 0x41,
			  0x01, 9, 0, 0, 0, 0x30, 0, 0, 0, 0x00, 0, NONCE32, 0, 56,
			  0x00, 0, 0, 0, 0, 0x30, 0, 0, 0, 0x01, 20, NONCE32, 96,
			  0x00, 1, 0, 1, 0, 0x18, 0, 0, 1, 40, 255,
			  0x00, 2, 0, 2, 0, 0x18, 0, 0, 2, 83, 128 },
			/*
			 * A stranger that sends its nonce and 24 of a 60-byte first
			 * frame, over a TCP that wakes poll() below SO_RCVLOWAT.
			 */
			{ 0x41,
			  0x11, 9, 0, 0, 2, 0x30, 0, 0, 0, 0x01, 40, NONCE32, 80 },
			/*
			 * Keyed claims to channel 1 before the source's: one silent
			 * after its preamble, one that sends the length word of a
			 * 200-byte frame and 6 bytes of it, and stalls.
			 */
			{ 0x40,
			  0x00, 0, 0, 0, 0, 0x30, 0, 0, 0, 0x01, 20, NONCE32, 96,
			  0x01, 3, 0, 1, 0, 0x10, 0, 0, 1, 24,
			  0x01, 4, 0, 1, 0, 0x80 | 34, 'L', 'K', 'V', 'M', 'M', 'I', 'G', 0,
			  2, 0, 0, 0, 1, 0, 0, 0x80, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
			  200, 0, 0, 0, 1, 2, 3, 4, 5, 6, 34,
			  0x00, 1, 0, 1, 0, 0x18, 0, 0, 1, 40, 255 },
			/*
			 * --incoming-key, channel 1's first frame in two parts: 60 of
			 * its 85 bytes on connecting, the rest only after channel 2
			 * (whole at once) has been handed over, so the wait for the
			 * second data channel resumes a half-read frame.
			 */
			{ 0x41,
			  0x00, 0, 0, 0, 0, 0x30, 0, 0, 0, 0x01, 20, NONCE32, 96,
			  0x00, 1, 0, 1, 1, 0x18, 0, 0, 1, 40, 60,
			  0x00, 2, 0, 1, 0, 0x18, 0, 0, 2, 83, 128 },
		};
		static const size_t lens[] = { 31, 47, 67, 112, 45, 107, 67 };
		char path[512];

		mkdir(dir, 0700);
		for (i = 0; i < (int)ARRAY_SIZE(seeds); i++) {
			FILE *f;

			snprintf(path, sizeof(path), "%s/seed%d", dir, i);
			f = fopen(path, "wb");
			if (!f || fwrite(seeds[i], 1, lens[i], f) != lens[i])
				exit(1);
			fclose(f);
		}
		exit(0);
	}
	return 0;
}
