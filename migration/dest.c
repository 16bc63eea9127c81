/*
 * `lkvm run --incoming [ADDR:]PORT`: listen, take the control connection
 * and the data connections, receive the stream into guest memory
 * (incoming.c), check it, load the state sections, and only then
 * acknowledge and let the vCPUs start.  Registered as a run hook, so it
 * runs after devices and vCPUs exist and before the first instruction.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "lkvm/init.h"
#include "lkvm/ipc.h"
#include "lkvm/kvm.h"
#include "lkvm/migration.h"
#include "lkvm/run-hooks.h"
#include "lkvm/sev-migration.h"
#include "lkvm/virtio.h"

#define IDLE_TIMEOUT_MS		60000
#define CHANNEL_WAIT_MS		10000
#define GO_TIMEOUT_MS		30000	/* the source sends GO right after our ACK */
/*
 * Once every connection is in, no byte on any of them for this long ends
 * the receive: a source that hangs (SIGSTOP, a wedged host) still answers
 * TCP keepalive from its kernel, so nothing else would.  A live source is
 * never this quiet: its own sends give up after 30 s without progress, and
 * at the lowest --bandwidth (1 MB/s, shared) a 2 MiB batch leaves every ~2 s.
 */
#define SOURCE_SILENT_MS	120000
#define PREFAULT_CHUNK		(32UL << 20)

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE	23	/* Linux 5.14 */
#endif

struct data_thread {
	struct mig_incoming *in;
	struct mig_chan chan;
	struct mig_chan_end counted;
	pthread_t tid;
	u32 ch;
	int ctrl_fd;		/* the source's control connection: open until joined */
	int ret;
	bool started;
};

static void *data_thread_fn(void *arg)
{
	struct data_thread *t = arg;
	char name[16];

	snprintf(name, sizeof(name), "lkvm-mig-rx%u", t->ch);
	pthread_setname_np(pthread_self(), name);

	t->ret = mig_incoming__recv(t->in, &t->chan, false, &t->counted);
	if (t->ret) {
		mig_incoming__fail(t->in, t->ret, "data channel: %s", mig_strerror(t->ret));
		shutdown(t->chan.fd, SHUT_RDWR);
		/*
		 * Wake the control side, which waits for END meanwhile: else a
		 * source whose control connection went quiet (a stalled flow, a
		 * source that does not ABORT) would hold the receive until the
		 * silence watchdog.  Only its reading side: the failure path
		 * still tells the source why on it.
		 */
		shutdown(t->ctrl_fd, SHUT_RD);
	}
	return NULL;
}

/* Ends the receive when the source goes silent (SOURCE_SILENT_MS). */
struct watchdog {
	pthread_t tid;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done, started;
	struct mig_incoming *in;
	struct mig_chan *ctrl;
	struct data_thread *threads;
	u32 nch, silent_ms;
};

static u64 watchdog_bytes(struct watchdog *w)
{
	u64 sum = __atomic_load_n(&w->ctrl->bytes_in, __ATOMIC_RELAXED);
	u32 i;

	for (i = 0; i < w->nch; i++)
		sum += __atomic_load_n(&w->threads[i].chan.bytes_in, __ATOMIC_RELAXED);
	return sum;
}

static void *watchdog_fn(void *arg)
{
	struct watchdog *w = arg;
	u64 last = watchdog_bytes(w), t_last = now_ns();
	u32 i;

	pthread_setname_np(pthread_self(), "lkvm-mig-watch");
	pthread_mutex_lock(&w->lock);
	while (!w->done) {
		struct timespec until;
		u64 bytes, now;

		clock_gettime(CLOCK_MONOTONIC, &until);
		timespec_add_ms(&until, 250);
		pthread_cond_timedwait(&w->cond, &w->lock, &until);
		if (w->done)
			break;
		bytes = watchdog_bytes(w);
		now = now_ns();
		if (bytes != last) {
			last = bytes;
			t_last = now;
			continue;
		}
		if (now - t_last < w->silent_ms * 1000000ULL)
			continue;
		mig_incoming__fail(w->in, -ETIMEDOUT, "no data from the source for %.1f s "
				   "(is it stopped or its host hung?)", w->silent_ms / 1000.0);
		/* Wake every reader; the control channel keeps its sending side
		 * to tell the source why, should it come back. */
		shutdown(w->ctrl->fd, SHUT_RD);
		for (i = 0; i < w->nch; i++)
			shutdown(w->threads[i].chan.fd, SHUT_RDWR);
		break;
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void watchdog__start(struct watchdog *w)
{
	const char *env = getenv("LKVM_MIG_SILENT_MS");	/* test knob */
	unsigned int ms;
	pthread_condattr_t ca;

	w->silent_ms = SOURCE_SILENT_MS;
	if (env && sscanf(env, "%u", &ms) == 1 && ms >= 100 && ms <= 3600000)
		w->silent_ms = ms;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	w->started = !pthread_create(&w->tid, NULL, watchdog_fn, w);
	if (!w->started)
		pr_warn("migration: no watchdog thread: a source that hangs will hold this wait");
}

static void watchdog__stop(struct watchdog *w)
{
	if (!w->started)
		return;
	pthread_mutex_lock(&w->lock);
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->tid, NULL);
	w->started = false;
}

/*
 * Fault in all guest RAM while we wait for the source.  Receiving into
 * memory the kernel has never mapped costs a page fault and a page clear
 * per 4K page inside the stream, which on a 2-core machine halves its
 * speed; done beforehand, the stream only copies.  The destination must be
 * able to hold the whole guest anyway, and finding out now that it cannot
 * is better than finding out mid-stream.  MADV_POPULATE_WRITE never
 * changes a page's contents, so it may race the receive threads.
 */
struct prefault {
	struct kvm *kvm;
	pthread_t tid;
	atomic_bool stop;
	atomic_bool quiet;		/* stopped because nothing will arrive: say nothing */
	bool started;
};

static void *prefault_fn(void *arg)
{
	struct prefault *pf = arg;
	struct kvm *kvm = pf->kvm;
	u64 t0 = now_ns(), done = 0;
	int i, ret;

	pthread_setname_np(pthread_self(), "lkvm-prefault");
	for (i = 0; i < kvm->nr_mem_banks; i++) {
		u8 *host = kvm->mem_banks[i].host_addr;
		u64 size = kvm->mem_banks[i].size, off, n;

		for (off = 0; off < size; off += n) {
			if (atomic_load(&pf->stop)) {
				/* Said because it explains a slower stream. */
				if (!atomic_load(&pf->quiet))
					pr_info("migration: pre-fault stopped after %llu of %llu "
						"MiB; the rest faults in on first touch",
						(unsigned long long)(done >> 20),
						(unsigned long long)(kvm->ram_size >> 20));
				return NULL;
			}
			n = size - off < PREFAULT_CHUNK ? size - off : PREFAULT_CHUNK;
			/* EINTR: the capability drop's signal; EAGAIN: try again. */
			do {
				ret = madvise(host + off, n, MADV_POPULATE_WRITE);
			} while (ret && (errno == EINTR || errno == EAGAIN) &&
				 !atomic_load(&pf->stop));
			if (ret) {
				/* EINVAL: a kernel before 5.14; ENOMEM/EFAULT: no memory now. */
				if (!atomic_load(&pf->stop))
					pr_warn("migration: cannot pre-fault guest RAM (%s); "
						"the stream will fault it in", strerror(errno));
				return NULL;
			}
			done += n;
		}
	}
	pr_info("migration: guest RAM faulted in (%llu MiB in %.2f s)",
		(unsigned long long)(done >> 20), (now_ns() - t0) / 1e9);
	return NULL;
}

/* MemAvailable from /proc/meminfo in bytes, 0 if unknown. */
static u64 mem_available(void)
{
	unsigned long long kb = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (u64)kb << 10;
}

static void prefault__start(struct prefault *pf, struct kvm *kvm)
{
	u64 avail;

	pf->kvm = kvm;
	atomic_init(&pf->stop, false);
	atomic_init(&pf->quiet, false);
	pf->started = false;
	if (kvm->cfg.no_prefault)
		return;
	/*
	 * Faulting in more than the host has free would call the OOM killer
	 * before the source even connects: leave such RAM to be faulted in as
	 * pages arrive (a guest whose pages are mostly zero may still fit).
	 */
	avail = mem_available();
	if (avail && kvm->ram_size > avail) {
		pr_warn("migration: guest RAM (%llu MiB) is more than the host has available "
			"(%llu MiB): not faulting it in first", (unsigned long long)(kvm->ram_size >> 20),
			(unsigned long long)(avail >> 20));
		return;
	}
	pf->started = !pthread_create(&pf->tid, NULL, prefault_fn, pf);
}

static void prefault__stop(struct prefault *pf, bool quiet)
{
	if (!pf->started)
		return;
	atomic_store(&pf->quiet, quiet);
	atomic_store(&pf->stop, true);
	pthread_join(pf->tid, NULL);
	pf->started = false;
}

static int send_ack(struct mig_chan *c, int err, const char *reason)
{
	struct mig_buf b = { 0 };
	int ret;

	mig_status__encode(err < 0 ? -err : err, 0, reason, &b);
	ret = b.err ? b.err : mig_chan__send_rec(c, MIG_REC_ACK, 0, 0, b.data, b.len);
	mig_buf__free(&b);
	return ret;
}

/*
 * After its ACK the destination holds a checked guest but must not run it
 * until the source says GO: a source that gave up waiting for the ACK (a
 * stall, a cut) resumes the guest, and two copies must never run.  ABORT,
 * a closed connection, a stop or 30 s of silence mean no, and the source
 * is told so (an ACK with the reason, in place of RUNNING).
 */
static bool stop_requested(void);

static int wait_go(struct mig_incoming *in, struct mig_chan *c)
{
	char why[MIG_MAX_REASON + 1] = "";
	u8 buf[MIG_MAX_SMALL];
	struct mig_hdr h;
	u32 st, f;
	int ret;

	mig_tcp__tune(c->fd, GO_TIMEOUT_MS);
	ret = mig_chan__recv_hdr(c, &h);
	if (!ret && h.type != MIG_REC_GO && h.type != MIG_REC_ABORT)
		ret = -EPROTO;
	if (!ret)
		ret = mig_chan__recv_payload(c, &h, buf, sizeof(buf));
	if (!ret)
		ret = mig_status__decode(buf, h.len, &st, &f, why, sizeof(why));
	if (ret) {
		if (!stop_requested())	/* (a stop's own reason is the caller's) */
			mig_incoming__fail(in, ret, "no go-ahead from the source after the "
					   "acknowledgement: %s", mig_strerror(ret));
		return ret;
	}
	if (h.type == MIG_REC_ABORT || st) {
		mig_incoming__fail(in, -ECANCELED, "source aborted: %s (after the acknowledgement)",
				   why[0] ? why : "no reason given");
		return -ECANCELED;
	}
	return 0;
}

static int send_running(struct mig_chan *c)
{
	const char *fault = getenv("LKVM_MIG_FAULT");
	struct mig_buf b = { 0 };
	int ret;

	/* Test hook: the source then never learns that we run (outcome unknown). */
	if (fault && !strcmp(fault, "no-running")) {
		pr_warn("migration: test hook: not confirming that the guest runs");
		return 0;
	}
	mig_status__encode(0, 0, "running", &b);
	ret = b.err ? b.err : mig_chan__send_rec(c, MIG_REC_RUNNING, 0, 0, b.data, b.len);
	mig_buf__free(&b);
	return ret;
}

/* Every registered section instance must have come: a missing vCPU state
 * would leave that vCPU in its reset state. */
static int check_sections_present(struct mig_incoming *in)
{
	struct mig_section *s;
	struct mig_sec_buf *b;

	for (s = mig_section__first(); s; s = s->next) {
		u32 n = s->count ? s->count(in->kvm) : 1, i;

		/* One behind a feature the source did not ask for (an older lkvm): none. */
		if (!s->load || (s->feature & ~in->accepted_features))
			continue;
		for (i = 0; i < n; i++) {
			for (b = in->sections; b; b = b->next)
				if (b->id == s->id && b->instance == i)
					break;
			if (!b) {
				mig_incoming__fail(in, -ENOENT, "section %s instance %u missing",
						   s->name, i);
				return -ENOENT;
			}
		}
	}
	return 0;
}

static int load_sections(struct mig_incoming *in)
{
	struct mig_section *s;
	struct mig_sec_buf *b;
	int ret, pass;

	/*
	 * Sections marked load_first (the page map), then the others, each
	 * pass in id order (the registry's), so e.g. the page map precedes
	 * SEV and virtio, which check a live queue's rings against it.
	 */
	for (pass = 0; pass < 2; pass++) {
		for (s = mig_section__first(); s; s = s->next) {
			if (s->load_first != !pass)
				continue;
			for (b = in->sections; b; b = b->next) {
				if (b->id != s->id)
					continue;
				ret = s->load(in->kvm, b->instance, b->data, b->len);
				if (ret) {
					mig_incoming__fail(in, ret, "section %s instance %u refused: %s",
							   s->name, b->instance, strerror(-ret));
					return ret;
				}
			}
		}
	}
	return 0;
}

static void mark_written(u64 page, void *arg)
{
	struct mig_incoming *in = arg;

	atomic_fetch_or_explicit(&in->written[page / (8 * sizeof(long))],
				 1UL << (page % (8 * sizeof(long))), memory_order_relaxed);
}

/*
 * The destination between its two run hooks: bound, pre-faulting, and
 * listed on the control socket (list, stop) while capabilities are still
 * held; receiving the stream, untrusted bytes, only after they are gone.
 * Every fd that a stop request must interrupt is in fds[] (-1: free).
 */
static struct incoming_ctx {
	struct mig_incoming in;
	struct prefault pf;
	bool inited;
	int lfd;
	pthread_mutex_t lock;		/* fds[], stopped */
	int fds[MIG_MAX_CHANNELS + 2];
	int ctrl_fd;			/* of fds[]: the source's control connection */
	bool stopped;
	/* For lkvm migrate --status here; under lock. */
	enum { PH_WAITING, PH_RECEIVING, PH_CHECKING, PH_COMMITTING } phase;
	char from[64];
	u64 t0_ns;			/* of the current phase's wait or of the stream */
	u64 listen_t0_ns;
	/* Once the guest runs here: where from, and when (--status after). */
	char arrived_from[64];
	u64 arrived_ns;
	/* --incoming-key: the master key, and this stream's two nonces. */
	bool keyed;
	const u8 *key;
	u8 nc[MIG_NONCE_SIZE], ns[MIG_NONCE_SIZE];
} inc = { .lfd = -1, .ctrl_fd = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static void addr_name(const struct sockaddr_storage *ss, char *buf, size_t n);

/* peer: the source's address, as accept() gave it (NULL: phase only) */
static void set_phase(int phase, const struct sockaddr_storage *peer)
{
	pthread_mutex_lock(&inc.lock);
	if (peer) {
		addr_name(peer, inc.from, sizeof(inc.from));
		inc.t0_ns = now_ns();
	}
	inc.phase = phase;
	pthread_mutex_unlock(&inc.lock);
}

/*
 * shutdown() wakes a thread blocked in accept() or read() on the fd.  The
 * control connection keeps its sending side: the failure path then tells
 * the source why ("stopped by 'lkvm stop'") instead of just hanging up.
 */
static void incoming_stop(struct kvm *kvm)
{
	u32 i;

	pthread_mutex_lock(&inc.lock);
	inc.stopped = true;
	for (i = 0; i < ARRAY_SIZE(inc.fds); i++)
		if (inc.fds[i] >= 0)
			shutdown(inc.fds[i], inc.fds[i] == inc.ctrl_fd ? SHUT_RD : SHUT_RDWR);
	pthread_mutex_unlock(&inc.lock);
}

static void watch_fd(int fd)
{
	u32 i;

	pthread_mutex_lock(&inc.lock);
	if (inc.stopped)
		shutdown(fd, SHUT_RDWR);
	for (i = 0; i < ARRAY_SIZE(inc.fds); i++) {
		if (inc.fds[i] < 0) {
			inc.fds[i] = fd;
			break;
		}
	}
	pthread_mutex_unlock(&inc.lock);
}

/* Before close(): a recycled fd number must never be shut down. */
static void unwatch_fd(int fd)
{
	u32 i;

	pthread_mutex_lock(&inc.lock);
	for (i = 0; i < ARRAY_SIZE(inc.fds); i++)
		if (inc.fds[i] == fd)
			inc.fds[i] = -1;
	if (inc.ctrl_fd == fd)
		inc.ctrl_fd = -1;
	pthread_mutex_unlock(&inc.lock);
}

static bool stop_requested(void)
{
	bool s;

	pthread_mutex_lock(&inc.lock);
	s = inc.stopped;
	pthread_mutex_unlock(&inc.lock);
	return s;
}

static void close_chan(struct mig_chan *c)
{
	if (c->fd >= 0)
		unwatch_fd(c->fd);
	mig_chan__close(c);
}

static void pending_close_all(bool log);
static void pending_take_queue(int lfd);

/* all_in: the source's connections are in; what is pending is a stranger. */
static void close_listener(bool all_in)
{
	if (inc.lfd >= 0) {
		if (all_in)
			pending_take_queue(inc.lfd);
		unwatch_fd(inc.lfd);
		close(inc.lfd);
		inc.lfd = -1;
		pending_close_all(all_in);
	}
}

/* Idempotent: the receive hook calls it when done, the exit path always. */
static int incoming_cleanup(struct kvm *kvm)
{
	bool inited;

	pthread_mutex_lock(&kvm->run_lock);
	kvm->stop_notify = NULL;
	pthread_mutex_unlock(&kvm->run_lock);
	/* Its guest has arrived (or will not): the key has nothing more to open. */
	explicit_bzero(kvm->cfg.mig_key, sizeof(kvm->cfg.mig_key));
	explicit_bzero(inc.nc, sizeof(inc.nc));
	explicit_bzero(inc.ns, sizeof(inc.ns));
	inc.key = NULL;
	__atomic_store_n(&kvm->incoming_wait, false, __ATOMIC_RELEASE);
	prefault__stop(&inc.pf, true);	/* the stream, if any, stopped it already */
	close_listener(false);
	/* Under the lock: a --status may be reading the receive's bitmaps. */
	pthread_mutex_lock(&inc.lock);
	inited = inc.inited;
	inc.inited = false;
	pthread_mutex_unlock(&inc.lock);
	if (inited)
		mig_incoming__free(&inc.in);
	return 0;
}

/*
 * Taking connections.  The port is open to anyone who can reach it: a
 * "is it up yet?" probe, a health check, a port scan, a stale source's
 * data channel.  None of them may end the wait or hold the real source
 * up, so up to MAX_PENDING accepted connections are read side by side,
 * each given PREAMBLE_WAIT_MS to send its 24-byte preamble (a keyed
 * data connection as long again for its first frame), and one that is
 * not what this step wants is logged, closed and forgotten.  Room for
 * all of a source's data channels at once, and strangers besides.
 */
#define MAX_STRANGERS		8
#define MAX_PENDING		(MIG_MAX_CHANNELS + MAX_STRANGERS)
#define PREAMBLE_WAIT_MS	10000
#define ACCEPT_BURST		(4 * MAX_PENDING)	/* accepts per wake-up, at most */
/*
 * SO_RCVLOWAT does not keep TCP's poll() quiet: it reports POLLIN below
 * it under receive memory pressure (a first frame sent a byte a segment)
 * and when the window left is under a segment (most of a large frame
 * sent).  A keyed connection that woke so with its frame not all in is
 * not polled for input for this long, so a stranger cannot make the loop
 * spin; a real source's HELLO, one small write, does not wait on it.
 */
#define FRAME_RECHECK_MS	50
/* A conforming source's first frame is its HELLO record and nothing else. */
#define FIRST_FRAME_MAX		(MIG_HDR_SIZE + MIG_MAX_HELLO)

/*
 * A keyed destination also does the nonce exchange here, and takes a
 * control connection only once its whole first sealed frame (the HELLO)
 * is in the socket: the handshake after that cannot wait on the peer, so
 * a stranger that goes silent at any step holds up nobody but itself.
 * Likewise a keyed data connection only once its first frame has opened
 * (PEND_DATA, pending_data_in()).
 */
enum pend_stage {
	PEND_PREAMBLE,		/* reading the 24-byte preamble */
	PEND_NONCE,		/* keyed: reading the source's nonce */
	PEND_FRAME,		/* keyed: our nonce sent, waiting for the first frame */
	PEND_DATA,		/* keyed: a data channel of this migration, reading its first frame */
};

/* PEND_DATA's buffer starts this small and doubles as the frame comes. */
#ifndef DATA_BUF_MIN		/* (the intake fuzzer's is smaller) */
#define DATA_BUF_MIN		(16u << 10)
#endif

struct pending {
	int fd;
	u32 got;		/* bytes of this stage's read */
	u32 frame;		/* PEND_FRAME, PEND_DATA: the first frame's size once known */
	enum pend_stage stage;
	u64 deadline;
	u64 quiet_until;	/* PEND_FRAME: not polled for input before this */
	u32 channel;
	u64 session;
	u8 pre[MIG_PREAMBLE_SIZE];
	u8 nc[MIG_NONCE_SIZE], ns[MIG_NONCE_SIZE];
	u8 *buf;		/* PEND_DATA: the first frame so far (got bytes of cap) */
	u32 cap;
	struct sockaddr_storage addr;
};

/*
 * What the caller wants: the control channel, or a data channel of
 * session from the host at src (its control connection's peer).
 */
struct conn_want {
	bool control;
	u64 session;
	const struct sockaddr_storage *src;
};

/*
 * Kept from one call to the next: the source opens all its data channels
 * at once, and the one whose preamble comes second must not be closed
 * when the first is returned (through a proxy the order is anyone's).
 */
static struct pending pend[MAX_PENDING] = { [0 ... MAX_PENDING - 1] = { .fd = -1 } };

/* Same host (the port differs per connection). */
static bool same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr));
	return false;
}

/*
 * The slot for a new connection when all are taken, so that a flood of
 * connections cannot push out a source half way through its handshake:
 * one from the host that holds the most slots (a flood from one host
 * then pushes out only its own, not a source's elsewhere), of those the
 * one furthest behind in its handshake (a silent flood from the source's
 * own host goes before the source), then the oldest.  A connection from
 * the source's own host goes last while its data channels are awaited.
 * A flood from many hosts, or one that handshakes as far as a source
 * does, can still push a source out.  First of all goes a keyed control
 * connection kept while data channels are awaited only to be told it is
 * turned away (pending_hello_in()): kept, it pushes out nothing that
 * would have stayed when such connections were dropped at once.
 */
struct evict_rank {
	int n;			/* slots its host holds */
	bool src;		/* from the source's host */
	bool refusing;		/* kept only to be told why it is turned away */
	u32 sent;		/* bytes it has sent at this stage, read or not */
};

static bool evict_before(const struct pending *a, const struct evict_rank *ra,
			 const struct pending *b, const struct evict_rank *rb)
{
	if (ra->refusing != rb->refusing)
		return ra->refusing;
	if (ra->src != rb->src)
		return !ra->src;
	if (ra->n != rb->n)
		return ra->n > rb->n;
	if (a->stage != b->stage)
		return a->stage < b->stage;
	if (ra->sent != rb->sent)
		return ra->sent < rb->sent;
	return a->deadline < b->deadline;
}

/*
 * What p has sent at its stage, read or not.  Connections accepted in one
 * burst have had nothing read yet: by bytes read, a source whose preamble
 * is in would rank below a stranger that sent one byte and stopped.
 */
static u32 pending_sent(const struct pending *p)
{
	int avail = 0;

	if (p->stage == PEND_FRAME)	/* got is what is in the socket already */
		return p->got;
	if (ioctl(p->fd, FIONREAD, &avail) < 0 || avail < 0)
		avail = 0;
	return p->got + (u32)avail;
}

static int pending_slot(const struct conn_want *w)
{
	struct evict_rank r[MAX_PENDING];
	int i, j, slot = -1;

	for (i = 0; i < MAX_PENDING; i++)
		if (pend[i].fd < 0)
			return i;
	for (i = 0; i < MAX_PENDING; i++) {
		r[i].src = w->src && same_host(&pend[i].addr, w->src);
		r[i].refusing = !w->control && (pend[i].stage == PEND_NONCE ||
						pend[i].stage == PEND_FRAME);
		r[i].sent = pending_sent(&pend[i]);
		for (r[i].n = 0, j = 0; j < MAX_PENDING; j++)
			r[i].n += same_host(&pend[i].addr, &pend[j].addr);
		if (slot < 0 || evict_before(&pend[i], &r[i], &pend[slot], &r[slot]))
			slot = i;
	}
	return slot;
}

/*
 * The address accept() returned, not getpeername(): a peer that has reset
 * the connection by the time it is logged has no name any more ("?:0").
 */
static void addr_name(const struct sockaddr_storage *ss, char *buf, size_t n)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
	}
	snprintf(buf, n, ss->ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
}

static void stray_note(const struct sockaddr_storage *addr, const char *fmt, ...) __printf(2, 3);
static void pending_drop(struct pending *p, const char *fmt, ...) __printf(2, 3);

static struct ratelimit stray_log = RATELIMIT_INIT;

static void stray_vnote(const struct sockaddr_storage *addr, const char *fmt, va_list ap)
{
	char peer[INET6_ADDRSTRLEN + 8], why[256];

	vsnprintf(why, sizeof(why), fmt, ap);
	addr_name(addr, peer, sizeof(peer));
	pr_limited(pr_warn, &stray_log, "migration: ignored a connection from %s: %s", peer, why);
}

/* One line for a connection that is not the source's (at most 10 per 10 s). */
static void stray_note(const struct sockaddr_storage *addr, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	stray_vnote(addr, fmt, ap);
	va_end(ap);
}

static void pending_free(struct pending *p)
{
	close(p->fd);
	p->fd = -1;
	free(p->buf);
	p->buf = NULL;
	p->cap = 0;
}

/* A keyed data connection is named with the channel it claimed. */
static void pending_drop(struct pending *p, const char *fmt, ...)
{
	char why[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (p->stage == PEND_DATA)
		stray_note(&p->addr, "a data connection for channel %u of this migration: %s",
			   p->channel, why);
	else
		stray_note(&p->addr, "%s", why);
	pending_free(p);
}

/*
 * A refusing HELLO_REPLY, unsealed, to a control connection about to be
 * dropped.  p's fd is non-blocking (accept4): a peer that reads nothing
 * cannot stall us, its few hundred bytes just stay unsent.  The source
 * reads it in place of its HELLO_REPLY, or keyed, of our nonce (it is as
 * long as a record header: auth_reply() in migrate.c).
 */
static void refuse_clear(struct pending *p, int err, const char *why)
{
	struct mig_buf b = { 0 };
	struct mig_chan c;

	mig_status__encode(err, 0, why, &b);
	mig_chan__init_fd(&c, p->fd);
	if (!b.err)
		mig_chan__send_rec(&c, MIG_REC_HELLO_REPLY, 0, 0, b.data, b.len);
	mig_buf__free(&b);
}

/*
 * Why a source that comes while another's migration is being received is
 * turned away: this destination as the source reached it, the other
 * source, and for how long.
 */
static void busy_why(const struct pending *p, char *buf, size_t n)
{
	struct sockaddr_storage self = { 0 };
	socklen_t len = sizeof(self);
	char me[INET6_ADDRSTRLEN + 8] = "?", from[sizeof(inc.from)];
	double secs;

	if (!getsockname(p->fd, (struct sockaddr *)&self, &len))
		addr_name(&self, me, sizeof(me));
	pthread_mutex_lock(&inc.lock);
	snprintf(from, sizeof(from), "%s", inc.from);
	secs = (now_ns() - inc.t0_ns) / 1e9;
	pthread_mutex_unlock(&inc.lock);
	snprintf(buf, n, "this destination (%s) is busy: it is receiving a migration from another "
		 "source (%s) for %.1f s now, and takes one source at a time", me, from, secs);
}

#define BUSY_DROP	"another source while a migration is being received"

/*
 * A source's control connection while another's migration is received,
 * unkeyed: it hears why in the clear, as a source of another version
 * does, and is dropped.
 */
static void refuse_busy_clear(struct pending *p)
{
	char why[MIG_MAX_REASON];

	busy_why(p, why, sizeof(why));
	refuse_clear(p, EBUSY, why);
	pending_drop(p, BUSY_DROP " (told so)");
}

/*
 * The reply to a keyed HELLO that does not open under our key: sealed
 * under a throwaway key.  Sealed under ours, a known text would let
 * anyone who reaches the port test key guesses offline.  The source
 * fails to open it all the same, and says the keys differ.
 */
static void refuse_junk_key(struct mig_chan *c, const u8 nc[MIG_NONCE_SIZE],
			    const u8 ns[MIG_NONCE_SIZE], int err, const char *why)
{
	u8 junk[MIG_KEY_SIZE], pre[MIG_PREAMBLE_SIZE];

	mig_preamble__encode(pre, MIG_PRE_AUTH, 0);
	if (!mig_nonce__new(junk) && !mig_crypt__attach(c, junk, nc, ns, pre, false))
		send_ack(c, err, why);
	explicit_bzero(junk, sizeof(junk));
}

#define UNAUTHENTICATED	"the source's stream does not authenticate with this destination's " \
			"--incoming-key (another key, or altered on the way)"

/*
 * Keyed, a source's control connection while another's migration is
 * received, with its nonce exchanged and its first frame (its HELLO) all
 * in the socket: opened under our key, it shows the peer holds the key,
 * and the refusal goes back sealed, as its HELLO_REPLY would (the source
 * reads nothing clear past the nonces).  A peer whose frame does not open
 * hears what one with another key hears in the handshake.  The frame is
 * all in, so the non-blocking reads take it without waiting.
 */
static void refuse_busy_sealed(struct pending *p)
{
	char why[MIG_MAX_REASON];
	u8 pre[MIG_PREAMBLE_SIZE];
	struct mig_chan c;
	int ret;

	mig_chan__init_fd(&c, p->fd);
	mig_preamble__encode(pre, MIG_PRE_AUTH, p->session);
	ret = mig_crypt__attach(&c, inc.key, p->nc, p->ns, pre, false);
	if (!ret)
		ret = mig_crypt__open_first(&c);
	if (!ret) {
		busy_why(p, why, sizeof(why));
		ret = send_ack(&c, -EBUSY, why);
	} else if (ret == -EKEYREJECTED) {
		refuse_junk_key(&c, p->nc, p->ns, -EKEYREJECTED, UNAUTHENTICATED);
	}
	mig_crypt__detach(&c);
	if (!ret)
		pending_drop(p, BUSY_DROP " (told so)");
	else if (ret == -EKEYREJECTED)
		pending_drop(p, BUSY_DROP ", and its HELLO does not authenticate with this "
			     "destination's --incoming-key");
	else
		pending_drop(p, BUSY_DROP " (not told: %s)", mig_strerror(ret));
}

/* "a data connection for channel N of this migration" (or of which). */
static const char *data_conn_name(const struct pending *p, const struct conn_want *w)
{
	static char buf[96];

	snprintf(buf, sizeof(buf), "a data connection for channel %u %s", p->channel,
		 w->control ? "while no source is connected" :
		 p->session == w->session ? "of this migration" : "of another migration");
	return buf;
}

/*
 * A complete preamble: is it the connection wanted?  A source of another
 * stream version hears why (in its HELLO_REPLY) before it is dropped.
 */
static bool pending_wanted(struct pending *p, const struct conn_want *w)
{
	u32 *channel = &p->channel, version;
	u64 *session = &p->session;

	if (mig_preamble__decode(p->pre, &version, channel, session)) {
		pending_drop(p, "not a migration stream (bad preamble)");
		return false;
	}
	if (version != MIG_VERSION) {
		char why[96];

		snprintf(why, sizeof(why), "unsupported stream version %u (this lkvm speaks %u)",
			 version, MIG_VERSION);
		if (w->control && !*channel)
			refuse_clear(p, EPROTO, why);
		pending_drop(p, "%s", why);
		return false;
	}
	/*
	 * Authenticated or not, as this destination is: a mismatch is told in
	 * the clear (no shared key to seal it with), and the wait goes on.
	 */
	if (mig_preamble__auth(p->pre) != inc.keyed) {
		const char *why = inc.keyed ?
			"this destination takes only an authenticated stream: give lkvm migrate "
			"--key FILE, the key of its --incoming-key" :
			"the source asks for an authenticated stream (lkvm migrate --key), but this "
			"destination has no key: start it with --incoming-key FILE";

		if (w->control && !*channel)
			refuse_clear(p, EPROTO, why);
		pending_drop(p, "%s%s%s", *channel ? data_conn_name(p, w) : "",
			     *channel ? ", " : "", inc.keyed ? "not authenticated (this "
			     "destination has --incoming-key)" : "authenticated, and this "
			     "destination has no --incoming-key");
		return false;
	}
	if (w->control && *channel) {
		pending_drop(p, "a data connection (channel %u) while no source is connected",
			     *channel);
		return false;
	}
	if (!w->control && *channel && *session != w->session) {
		pending_drop(p, "a data connection of another migration while a migration is "
			     "being received");
		return false;
	}
	/*
	 * Another source while one's migration is received: told so, not
	 * just reset.  Keyed, only once it has shown it holds the key (its
	 * caller takes it through the nonces to refuse_busy_sealed()).
	 */
	if (!w->control && !*channel && !inc.keyed) {
		refuse_busy_clear(p);
		return false;
	}
	return true;
}

/* How far a connection got, for the line that drops it. */
static const char *pending_progress(const struct pending *p)
{
	static char buf[96];

	if (p->stage == PEND_NONCE)
		snprintf(buf, sizeof(buf), "its preamble and %u of its nonce's %d bytes", p->got,
			 MIG_NONCE_SIZE);
	else if (p->stage == PEND_FRAME && p->frame)
		snprintf(buf, sizeof(buf), "its nonce and %u of its first frame's %u bytes",
			 p->got, p->frame);
	else if (p->stage == PEND_FRAME)
		snprintf(buf, sizeof(buf), "its nonce and %u bytes of its first frame", p->got);
	else if (p->stage == PEND_DATA && p->frame)
		snprintf(buf, sizeof(buf), "its preamble and %u of its first frame's %u bytes",
			 p->got, p->frame);
	else if (p->stage == PEND_DATA)
		snprintf(buf, sizeof(buf), "its preamble and %u bytes of its first frame", p->got);
	else
		snprintf(buf, sizeof(buf), "%u of the preamble's %d bytes", p->got,
			 MIG_PREAMBLE_SIZE);
	return buf;
}

/* poll() wakes a reader only when this many bytes are in. */
static void pending_lowat(struct pending *p, int bytes)
{
	setsockopt(p->fd, SOL_SOCKET, SO_RCVLOWAT, &bytes, sizeof(bytes));
}

/*
 * --incoming-key: the source's nonce is in; ours goes back at once (40
 * bytes fit any socket buffer, so a non-blocking send takes them whole).
 */
static bool pending_reply(struct pending *p)
{
	u8 reply[MIG_AUTH_REPLY_SIZE];

	if (mig_nonce__new(p->ns)) {
		pending_drop(p, "no random bytes for our nonce");
		return false;
	}
	memcpy(reply, MIG_AUTH_MAGIC, 8);
	memcpy(reply + 8, p->ns, MIG_NONCE_SIZE);
	if (send(p->fd, reply, sizeof(reply), MSG_NOSIGNAL | MSG_DONTWAIT) != sizeof(reply)) {
		pending_drop(p, "cannot take our authentication reply (%s)", strerror(errno));
		return false;
	}
	p->stage = PEND_FRAME;
	p->got = 0;
	pending_lowat(p, 4);	/* its length word: checked as soon as it is in */
	return true;
}

/*
 * The first sealed frame is read by the handshake, not here: peeked at
 * for its length, then waited for whole (SO_RCVLOWAT keeps poll() from
 * spinning on a part).  Its length is checked before the wait: one no
 * frame can have would hold a slot for nothing.
 */
static bool pending_frame_in(struct pending *p, short revents)
{
	u8 hdr[4];
	int avail = 0;

	if (ioctl(p->fd, FIONREAD, &avail) < 0)
		avail = 0;
	p->got = avail;
	if (!p->frame && avail >= (int)sizeof(hdr) &&
	    recv(p->fd, hdr, sizeof(hdr), MSG_PEEK | MSG_DONTWAIT) == sizeof(hdr)) {
		u32 len = get_le32(hdr);

		if (!len || len > FIRST_FRAME_MAX) {
			pending_drop(p, "its first frame's length (%u) is no HELLO's (1..%u)", len,
				     FIRST_FRAME_MAX);
			return false;
		}
		p->frame = MIG_FRAME_OVERHEAD + len;
		pending_lowat(p, p->frame);
	}
	if (p->frame && (u32)avail >= p->frame) {
		pending_lowat(p, 1);	/* back to the default, for the blocking reads */
		return true;
	}
	if (revents & (POLLRDHUP | POLLHUP | POLLERR))
		pending_drop(p, "closed after %s", pending_progress(p));
	else if (revents & POLLIN)	/* woken below SO_RCVLOWAT: not again at once */
		p->quiet_until = now_ns() + FRAME_RECHECK_MS * 1000000ULL;
	return false;
}

/*
 * --incoming-key, a data connection of this migration: its first frame,
 * read into p->buf as it comes, each pending one side by side with the
 * others.  Its preamble is in clear, so anyone who saw the control
 * connection's can claim a channel with it; which claimant is the source
 * only the frame's tag tells, and a silent one must not hold the source's
 * own up.  Not waited for in the socket as a HELLO is (pending_frame_in):
 * a data channel's first frame, up to 256 KiB, may not fit its receive
 * buffer.  The buffer grows with what has come, so a claimant that names
 * a large frame and sends little costs little; MAX_PENDING of them hold
 * at most MAX_PENDING first frames (6 MiB).  A source's first frame on
 * each channel comes without waiting on us (round 0's pages, or its
 * SYNC): 16 channels' first 256 KiB frames take about 4 s at the lowest
 * --bandwidth, 1 MB/s, inside the PREAMBLE_WAIT_MS each gets for it.
 * True once the frame is all in.
 */
static bool pending_data_in(struct pending *p)
{
	for (;;) {
		u32 need = p->frame ? p->frame : 4, len;
		ssize_t r;

		if (p->got == need && p->frame)
			return true;
		if (p->got == need) {
			len = get_le32(p->buf);
			if (!len || len > MIG_FRAME_MAX) {
				pending_drop(p, "its first frame's length (%u) is no frame's (1..%u)",
					     len, MIG_FRAME_MAX);
				return false;
			}
			p->frame = MIG_FRAME_OVERHEAD + len;
			continue;
		}
		if (p->got == p->cap) {
			u32 cap = min(max(2 * p->cap, DATA_BUF_MIN), MIG_FRAME_OVERHEAD + MIG_FRAME_MAX);
			u8 *buf = realloc(p->buf, cap);

			if (!buf) {
				pending_drop(p, "no memory for its first frame");
				return false;
			}
			p->buf = buf;
			p->cap = cap;
		}
		r = read(p->fd, p->buf + p->got, min(need, p->cap) - p->got);
		if (r > 0) {
			p->got += r;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return false;
		pending_drop(p, "closed after %s", pending_progress(p));
		return false;
	}
}

/*
 * The whole first frame of keyed data connection p, opened under this
 * migration's key for the channel it claims: true if it opens, and then
 * c holds the channel's keys and the frame's bytes, the next to be read;
 * else p is dropped.
 */
static bool pending_open(struct pending *p, struct mig_chan *c)
{
	u8 pre[MIG_PREAMBLE_SIZE];
	int ret;

	mig_chan__init_buf(c, p->buf, p->got);
	mig_preamble__encode(pre, p->channel | MIG_PRE_AUTH, p->session);
	ret = mig_crypt__attach(c, inc.key, inc.nc, inc.ns, pre, false);
	if (!ret)
		ret = mig_crypt__open_first(c);
	if (ret) {
		mig_crypt__detach(c);
		mig_chan__init_fd(c, -1);
		pending_drop(p, "%s", ret == -EKEYREJECTED ? "its first frame does not authenticate" :
			     mig_strerror(ret));
		return false;
	}
	/* Its frame opened from the buffer: the rest comes from the socket. */
	mig_chan__continue_fd(c, p->fd);
	free(p->buf);
	p->buf = NULL;
	p->cap = 0;
	return true;
}

/*
 * Keyed, a control connection's first frame is in: the one wanted, or,
 * while another's migration is received, one to turn away.
 */
static bool pending_hello_in(struct pending *p, const struct conn_want *w)
{
	if (w->control)
		return true;
	refuse_busy_sealed(p);
	return false;
}

/*
 * One readiness report of pending connection p: true when it is the
 * connection wanted, ready to be taken (a keyed data connection with its
 * first frame opened into c); false when it is not yet, or was dropped
 * (p->fd < 0).
 */
static bool pending_step(struct pending *p, short revents, const struct conn_want *w,
			 struct mig_chan *c)
{
	u8 *dst = p->stage == PEND_NONCE ? p->nc : p->pre;
	u32 need = p->stage == PEND_NONCE ? MIG_NONCE_SIZE : MIG_PREAMBLE_SIZE;
	ssize_t r;

	if (p->stage == PEND_FRAME)
		return pending_frame_in(p, revents) && pending_hello_in(p, w);
	if (p->stage == PEND_DATA)
		return pending_data_in(p) && pending_open(p, c);
	r = read(p->fd, dst + p->got, need - p->got);
	if (r <= 0 && !(r < 0 && (errno == EAGAIN || errno == EINTR))) {
		pending_drop(p, "closed after %s", pending_progress(p));
		return false;
	}
	if (r > 0)
		p->got += r;
	if (p->got < need)
		return false;
	if (p->stage == PEND_NONCE)
		return pending_reply(p) && pending_frame_in(p, 0) && pending_hello_in(p, w);
	if (!pending_wanted(p, w))
		return false;
	if (!inc.keyed)
		return true;
	p->got = 0;
	if (!p->channel) {
		p->stage = PEND_NONCE;	/* a keyed control connection: its nonce next */
		return false;
	}
	p->stage = PEND_DATA;
	p->deadline = now_ns() + PREAMBLE_WAIT_MS * 1000000ULL;
	return pending_data_in(p) && pending_open(p, c);
}

/*
 * A keyed data connection half way in when the next source is awaited:
 * its migration is over.  (A keyed control connection half way through
 * the nonces while data connections are awaited goes on, to hear why it
 * is turned away: pending_hello_in().)
 */
static bool pending_stale(const struct pending *p, const struct conn_want *w)
{
	return w->control && p->stage == PEND_DATA;
}

/*
 * The listener is about to close once the source's connections are all
 * in: what the kernel has accepted for it and we have not would be reset.
 * Taken into the free places, so that a source among them is told why
 * (pending_refuse_late()); past those, the rest are reset as before.
 */
static void pending_take_queue(int lfd)
{
	int i = 0, k, nfd;

	for (k = 0; k < ACCEPT_BURST; k++) {
		struct pollfd lp = { .fd = lfd, .events = POLLIN };
		struct sockaddr_storage addr = { 0 };
		socklen_t alen = sizeof(addr);

		while (i < MAX_PENDING && pend[i].fd >= 0)
			i++;
		/* The listener blocks: ask first. */
		if (i == MAX_PENDING || poll(&lp, 1, 0) != 1)
			return;
		nfd = accept4(lfd, (struct sockaddr *)&addr, &alen, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (nfd >= 0)
			pend[i] = (struct pending){ .fd = nfd, .addr = addr };
		else if (errno != ECONNABORTED && errno != EINTR)
			return;
	}
}

/*
 * The listener closes with p still pending: a source that came while
 * another's migration was received hears why, if what is in its socket
 * now (nothing is waited for) shows it to be one.  True when it was
 * dropped here, told or not.  Keyed and not yet past the nonces, it is
 * told in the clear, in place of our nonce: there is no time left to
 * exchange them.  Keyed and past them, only if its HELLO is all in: it
 * reads nothing clear any more, and sealing a known text under our key
 * for a peer that has not shown it holds the key would let it test key
 * guesses offline.
 */
static bool pending_refuse_late(struct pending *p)
{
	u32 version, channel;
	u64 session;
	ssize_t r;

	if (p->stage == PEND_FRAME) {
		if (pending_frame_in(p, 0))
			refuse_busy_sealed(p);
		else if (p->fd >= 0)	/* (else dropped: its length was no HELLO's) */
			pending_drop(p, BUSY_DROP " (not told: it had sent %s, and past the nonces "
				     "it reads only sealed bytes)", pending_progress(p));
		return true;
	}
	if (p->stage == PEND_PREAMBLE) {
		r = read(p->fd, p->pre + p->got, MIG_PREAMBLE_SIZE - p->got);
		if (r > 0)
			p->got += r;
		if (p->got < MIG_PREAMBLE_SIZE ||
		    mig_preamble__decode(p->pre, &version, &channel, &session) ||
		    version != MIG_VERSION || channel || mig_preamble__auth(p->pre) != inc.keyed)
			return false;
	} else if (p->stage != PEND_NONCE) {
		return false;
	}
	if (!inc.keyed) {
		refuse_busy_clear(p);
	} else {
		char why[MIG_MAX_REASON];

		busy_why(p, why, sizeof(why));
		refuse_clear(p, EBUSY, why);
		pending_drop(p, BUSY_DROP " (told so, in the clear)");
	}
	return true;
}

/* When the listener closes: nothing will ask for these any more. */
static void pending_close_all(bool log)
{
	int i;

	for (i = 0; i < MAX_PENDING; i++) {
		if (pend[i].fd < 0 || (log && pending_refuse_late(&pend[i])))
			continue;
		if (log)
			pending_drop(&pend[i], "still pending when the source had all its "
				     "connections in (it had sent %s)", pending_progress(&pend[i]));
		else
			pending_free(&pend[i]);
	}
}

/*
 * The next wanted connection, into c, in blocking mode with its preamble
 * read (a keyed control connection also with the nonces exchanged and
 * its first frame in; a keyed data connection with its first frame
 * opened): 0, or -ETIMEDOUT after timeout_ms (-1: none), -ECANCELED on a
 * stop (which shuts down the listening socket), or an accept/poll error.
 */
static int accept_wanted(int lfd, int timeout_ms, const struct conn_want *w, struct mig_chan *c,
			 u32 *channel, u64 *session, struct sockaddr_storage *addr)
{
	u64 deadline = timeout_ms < 0 ? 0 : now_ns() + timeout_ms * 1000000ULL;
	int i, k, fd = -1, ret, aerr = 0;

	mig_chan__init_fd(c, -1);
	while (fd < 0) {
		struct pollfd pfd[MAX_PENDING + 1] = { { .fd = lfd, .events = POLLIN } };
		u64 now = now_ns(), next = deadline;
		int wait_ms;

		for (i = 0; i < MAX_PENDING; i++) {
			pfd[i + 1].fd = pend[i].fd;	/* -1: ignored by poll */
			pfd[i + 1].events = POLLIN | POLLRDHUP;
			if (pend[i].fd >= 0 && (!next || pend[i].deadline < next))
				next = pend[i].deadline;
			if (pend[i].fd >= 0 && pend[i].quiet_until > now) {
				pfd[i + 1].events = POLLRDHUP;	/* a hang-up still ends it */
				if (!next || pend[i].quiet_until < next)
					next = pend[i].quiet_until;
			}
		}
		wait_ms = !next ? -1 : next <= now ? 0 : (int)((next - now + 999999) / 1000000);
		ret = poll(pfd, MAX_PENDING + 1, wait_ms);
		if (ret < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		if (stop_requested()) {
			ret = -ECANCELED;
			break;
		}
		now = now_ns();
		for (i = 0; i < MAX_PENDING && fd < 0; i++) {
			struct pending *p = &pend[i];

			if (p->fd < 0)
				continue;
			if (pending_stale(p, w)) {
				pending_drop(p, "still pending after its migration");
				continue;
			}
			if (pfd[i + 1].revents && pending_step(p, pfd[i + 1].revents, w, c)) {
				fd = p->fd;
				p->fd = -1;
				*channel = p->channel;
				*session = p->session;
				if (addr)
					*addr = p->addr;
				if (p->stage == PEND_FRAME) {
					memcpy(inc.nc, p->nc, MIG_NONCE_SIZE);
					memcpy(inc.ns, p->ns, MIG_NONCE_SIZE);
				}
				continue;
			}
			if (p->fd >= 0 && now >= p->deadline)
				pending_drop(p, "sent %s in %d s", pending_progress(p),
					     PREAMBLE_WAIT_MS / 1000);
		}
		if (fd >= 0)
			break;
		/*
		 * Empty the accept queue, not one per wake-up: under a flood a
		 * full queue drops new SYNs, a source's among them, and its
		 * connect() then waits out SYN retransmits until it gives up.
		 */
		for (k = 0; pfd[0].revents && k < ACCEPT_BURST; k++) {
			struct pollfd lp = { .fd = lfd, .events = POLLIN };
			struct sockaddr_storage addr = { 0 };
			socklen_t alen = sizeof(addr);
			int nfd;

			/* The listener blocks: ask before each accept after the first. */
			if (k && poll(&lp, 1, 0) != 1)
				break;
			nfd = accept4(lfd, (struct sockaddr *)&addr, &alen,
					  SOCK_CLOEXEC | SOCK_NONBLOCK);

			if (nfd >= 0) {
				int slot = pending_slot(w);

				if (pend[slot].fd >= 0)
					pending_drop(&pend[slot], "more than %d connections at once",
						     MAX_PENDING);
				pend[slot] = (struct pending){ .fd = nfd, .addr = addr,
					.deadline = now + PREAMBLE_WAIT_MS * 1000000ULL };
				continue;
			}
			if (errno == EAGAIN || errno == EINTR)
				break;
			if (errno != ECONNABORTED) {
				aerr = -errno;
				break;
			}
		}
		if (aerr) {
			ret = aerr;
			break;
		}
		if (deadline && now >= deadline) {
			ret = -ETIMEDOUT;
			break;
		}
	}
	if (fd < 0)
		return ret;
	c->fd = fd;
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		ret = -errno;
		mig_chan__close(c);
		return ret;
	}
	mig_tcp__tune(fd, IDLE_TIMEOUT_MS);
	return 0;
}

/* Run hook 1 (before the capability drop): set up, fault RAM in, bind. */
static int incoming_listen(struct kvm *kvm)
{
	struct mig_incoming *in = &inc.in;
	bool stopping;
	u32 i;
	int ret;

	if (!kvm->cfg.incoming)
		return 0;
	for (i = 0; i < ARRAY_SIZE(inc.fds); i++)
		inc.fds[i] = -1;
	ret = mig_incoming__init(in, kvm->nr_pages);
	if (ret)
		return ret;
	inc.t0_ns = inc.listen_t0_ns = now_ns();
	inc.inited = true;
	in->kvm = kvm;
	ret = mig_shape__from_kvm(kvm, &in->local);
	if (ret) {
		pr_err("migration: cannot describe this machine (the guest's CPUID): %s",
		       strerror(-ret));
		return ret;
	}
	in->local.features = MIG_F_ZERO_PAGES | MIG_F_PAGE_MAP | MIG_F_CPUID | MIG_F_DEFLATE |
			     MIG_F_TSC | mig_section__features();
	in->adopt = mig_shape__adopt;
	inc.keyed = kvm->cfg.mig_keyed;
	if (inc.keyed)		/* every channel sealed: the tags check the pages */
		in->local.features |= MIG_F_NO_PAGE_CRC;
	inc.key = kvm->cfg.mig_key;
	for (i = 0; i < (u32)kvm->nr_mem_banks && i < MIG_MAX_BANKS; i++) {
		in->banks[i].host = kvm->mem_banks[i].host_addr;
		in->banks[i].page_base = kvm->mem_banks[i].page_base;
		in->banks[i].nr_pages = kvm->mem_banks[i].size / PAGE_SIZE;
		in->banks[i].anon_private = mig_mem__anon_private(kvm->mem_banks[i].host_addr,
								      kvm->mem_banks[i].size);
		/*
		 * A page that already holds something here (a kernel loaded with
		 * -k, firmware tables) must be cleared when the source says zero:
		 * mark every page that may be non-zero as written.
		 */
		mig_mem__for_each_touched(&in->banks[i], mark_written, in);
	}
	in->nr_banks = i;
	ret = sev_mig__dst_prepare(kvm, in);	/* SEV: SEV_PAGES + packet receiver */
	if (ret)
		return ret;
	inc.lfd = mig_tcp__listen(kvm->cfg.incoming);
	if (inc.lfd < 0) {
		ret = inc.lfd;
		inc.lfd = -1;
		pr_err("migration: cannot listen on %s: %s%s", kvm->cfg.incoming, mig_net_strerror(ret),
		       ret == -EACCES ? " (a port below 1024 needs root or CAP_NET_BIND_SERVICE)" :
		       ret == -EADDRINUSE ? " (another lkvm run --incoming, or another program, "
		       "listens there)" :
		       ret == -EADDRNOTAVAIL ? " (that address is not one of this host's: give "
		       "one of its own, or only the port to listen on all of them)" : "");
		return ret;
	}
	watch_fd(inc.lfd);
	__atomic_store_n(&kvm->incoming_wait, true, __ATOMIC_RELEASE);
	pthread_mutex_lock(&kvm->run_lock);
	kvm->stop_notify = incoming_stop;
	stopping = kvm->stopping;
	pthread_mutex_unlock(&kvm->run_lock);
	if (stopping)		/* a signal before stop_notify was set */
		incoming_stop(kvm);
	return 0;
}

/* Run hook 2 (unprivileged): take the stream, check it, load it, ACK. */
/*
 * A source that gave up while this VMM was not reading (stopped, swapped
 * out, a slow start) left its preamble and HELLO queued and closed: its
 * FIN is already here.  A live source never shuts its sending side before
 * the end, so this one is not a migration to take, and the wait goes on.
 */
static bool source_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void drop_source(struct mig_chan *ctrl, const struct sockaddr_storage *addr,
			const char *why)
{
	char peer[INET6_ADDRSTRLEN + 8];

	addr_name(addr, peer, sizeof(peer));
	pr_warn("migration: ignored a connection from %s: %s; waiting on", peer, why);
	close_chan(ctrl);	/* unwatched first, and no longer inc.ctrl_fd */
	mig_chan__init_fd(ctrl, -1);
	inc.in.reason[0] = 0;
	inc.in.got_hello = false;
	pthread_mutex_lock(&inc.lock);
	inc.t0_ns = inc.listen_t0_ns;	/* --status: waiting since the listen */
	pthread_mutex_unlock(&inc.lock);
	set_phase(PH_WAITING, NULL);
}

#define STALE_SOURCE	"its source closed it before the handshake (it gave up waiting)"

/*
 * --incoming-key: the nonces were exchanged while the connection was
 * pending (pending_reply), and its first frame is in: seal the channel.
 */
static int auth_attach(struct mig_chan *ctrl, u64 session)
{
	u8 pre[MIG_PREAMBLE_SIZE];

	mig_preamble__encode(pre, MIG_PRE_AUTH, session);
	return mig_crypt__attach(ctrl, inc.key, inc.nc, inc.ns, pre, false);
}

/*
 * The source's HELLO did not authenticate: another key, or not a source
 * at all.  It hears so, sealed under a throwaway key (refuse_junk_key():
 * a source with another key finds it does not authenticate either), and
 * the wait goes on: a stranger must not be able to end it.
 */
static void refuse_unauthenticated(struct mig_chan *ctrl, const struct sockaddr_storage *addr)
{
	refuse_junk_key(ctrl, inc.nc, inc.ns, -EKEYREJECTED, UNAUTHENTICATED);
	drop_source(ctrl, addr, UNAUTHENTICATED);
}

/*
 * A frame of the source's HELLO opened, so it holds our key, and a later
 * one did not: the HELLO spans frames (a record may) and the stream was
 * changed on the way.  "Another key" would be false, so it hears what
 * happened, sealed under our key, which it has shown it holds (a text
 * it could open reveals nothing it does not know).  The wait goes on:
 * whoever changed the stream must not end it.
 */
static void refuse_altered(struct mig_chan *ctrl, const struct sockaddr_storage *addr)
{
	static const char why[] = "the source's HELLO was altered on the way: it spans "
		"sealed frames, and a later one does not authenticate though the first "
		"did (the keys match)";

	send_ack(ctrl, -EBADMSG, why);
	drop_source(ctrl, addr, why);
}

int migration__incoming(struct kvm *kvm)
{
	struct data_thread *threads = NULL;
	struct watchdog dog = { 0 };
	struct sockaddr_storage src_addr;
	struct mig_chan_end ctrl_counted = { 0 }, all[MIG_MAX_CHANNELS + 1];
	struct mig_incoming *in = &inc.in;
	struct mig_chan ctrl;
	u64 t0 = 0, t_end;
	u32 ch, nch = 0, i;
	int fd, ret;
	bool paused = false, stopped;

	mig_chan__init_fd(&ctrl, -1);
	/*
	 * Said and started only now, when the control socket's name check and
	 * the capability drop have passed: a run that fails those says nothing
	 * more.  After the page walk of the listen hook: faulted-in pages are
	 * still zero.
	 */
	pr_info("migration: waiting for the source on %s", kvm->cfg.incoming);
	prefault__start(&inc.pf, kvm);
again:
	ret = accept_wanted(inc.lfd, -1, &(struct conn_want){ .control = true }, &ctrl, &ch,
			    &in->session, &src_addr);
	if (ret) {
		if (stop_requested())	/* asked for: not an error */
			pr_info("migration: %s while waiting for the source; the guest is not started",
				kvm->exit_reason);
		else
			pr_err("migration: waiting for the source: %s", strerror(-ret));
		goto out;
	}
	t0 = now_ns();
	set_phase(PH_RECEIVING, &src_addr);
	fd = ctrl.fd;
	pthread_mutex_lock(&inc.lock);
	inc.ctrl_fd = fd;
	pthread_mutex_unlock(&inc.lock);
	watch_fd(fd);
	if (source_gone(fd)) {
		drop_source(&ctrl, &src_addr, STALE_SOURCE);
		goto again;
	}
	if (inc.keyed) {
		/*
		 * Until a frame of it opens, it may be anyone.  Its first frame is
		 * all here (accept_wanted) and a source's HELLO is all in it; a
		 * peer that split it gets the short wait a preamble gets.
		 */
		mig_tcp__tune(fd, PREAMBLE_WAIT_MS);
		ret = auth_attach(&ctrl, in->session);
		if (ret)
			goto out_fail;	/* out of memory: no source will fare better */
	}
	ret = mig_incoming__hello(in, &ctrl);
	if (ret == -EKEYREJECTED && !stop_requested()) {
		if (mig_crypt__opened(&ctrl))
			refuse_altered(&ctrl, &src_addr);
		else
			refuse_unauthenticated(&ctrl, &src_addr);
		goto again;
	}
	/* Keyed, and nothing of it authenticated: a stranger, whatever else went wrong. */
	if (ret && inc.keyed && !mig_crypt__opened(&ctrl) && !stop_requested()) {
		char why[128];

		snprintf(why, sizeof(why), "no authenticated HELLO: %s", mig_strerror(ret));
		drop_source(&ctrl, &src_addr, why);
		goto again;
	}
	if (inc.keyed)
		mig_tcp__tune(fd, IDLE_TIMEOUT_MS);
	/* Gone while we read its HELLO (not our own stop shutting the read side). */
	if ((ret == -EPIPE || ret == -ECONNRESET) && !stop_requested() && source_gone(fd)) {
		drop_source(&ctrl, &src_addr, STALE_SOURCE);
		goto again;
	}
	if (!ret)	/* SEV: PDH out, session in, RECEIVE_START */
		ret = sev_mig__dst_handshake(kvm, in, &ctrl);
	if (ret)
		goto out_fail;
	/*
	 * From here the control connection may be quiet for as long as a round
	 * takes (minutes for a large guest under --bandwidth): no read timeout;
	 * keepalive notices a source host that vanished.
	 */
	mig_tcp__tune(fd, 0);
	nch = in->peer.nr_channels;
	threads = calloc(nch, sizeof(*threads));
	if (!threads) {
		ret = -ENOMEM;
		goto out_fail;
	}
	for (i = 0; i < nch; i++) {
		struct mig_chan chan;
		u64 session;

		/* Keyed, it comes with its first frame opened: the source's own. */
		ret = accept_wanted(inc.lfd, CHANNEL_WAIT_MS,
				    &(struct conn_want){ .session = in->session, .src = &src_addr },
				    &chan, &ch, &session, NULL);
		if (ret) {
			char missing[64] = "";
			size_t o = 0;
			u32 k;

			for (k = 0; k < nch && o < sizeof(missing) - 12; k++)
				if (!threads[k].started)
					o += snprintf(missing + o, sizeof(missing) - o, "%s%u",
						      o ? "," : "", k + 1);
			mig_incoming__fail(in, ret, "data channel%s %s of %u: %s",
					   nch - i > 1 ? "s" : "", missing, nch,
					   ret == -ETIMEDOUT ? "did not come" : strerror(-ret));
			goto out_threads;
		}
		mig_tcp__tune(chan.fd, 0);
		watch_fd(chan.fd);
		/*
		 * Its own session (and keyed, a frame under its own key): a
		 * repeated or impossible channel is the source's bug.
		 */
		if (ch > nch || threads[ch - 1].started) {
			close_chan(&chan);
			mig_incoming__fail(in, -EPROTO, "unexpected data connection (channel %u)", ch);
			ret = -EPROTO;
			goto out_threads;
		}
		threads[ch - 1].in = in;
		threads[ch - 1].ch = ch;
		threads[ch - 1].ctrl_fd = ctrl.fd;
		threads[ch - 1].chan = chan;
		ret = pthread_create(&threads[ch - 1].tid, NULL, data_thread_fn, &threads[ch - 1]);
		if (ret) {
			close_chan(&threads[ch - 1].chan);
			ret = -ret;
			goto out_threads;
		}
		threads[ch - 1].started = true;
	}
	/*
	 * Every connection of this source is in: a second source now gets
	 * "connection refused" at once, instead of waiting in the backlog
	 * for the whole migration and then a reset.
	 */
	close_listener(true);
	dog.in = in;
	dog.ctrl = &ctrl;
	dog.threads = threads;
	dog.nch = nch;
	watchdog__start(&dog);
	ret = mig_incoming__recv(in, &ctrl, true, &ctrl_counted);
	/*
	 * Named before the data channels are shut down below: each would
	 * otherwise record its "connection closed" first, the echo in place
	 * of the cause.  (A data channel that failed first keeps its reason.)
	 */
	if (ret && !stop_requested())
		mig_incoming__fail(in, ret, "control channel: %s", mig_strerror(ret));

out_threads:
	if (ret) {
		/* Stop the data threads: they may be blocked reading. */
		for (i = 0; i < nch; i++)
			if (threads && threads[i].started)
				shutdown(threads[i].chan.fd, SHUT_RDWR);
	}
	for (i = 0; threads && i < nch; i++)
		if (threads[i].started)
			pthread_join(threads[i].tid, NULL);
	watchdog__stop(&dog);	/* before any fd it watches is closed */
	for (i = 0; threads && i < nch; i++) {
		if (!threads[i].started)
			continue;
		if (!ret && threads[i].ret)
			ret = threads[i].ret;
		all[i] = threads[i].counted;
		close_chan(&threads[i].chan);
	}
	prefault__stop(&inc.pf, false);
	if (ret)
		goto out_fail;
	set_phase(PH_CHECKING, NULL);
	all[nch] = ctrl_counted;
	t_end = now_ns();
	ret = mig_incoming__check_complete(in, all, nch + 1);
	if (!ret)
		ret = check_sections_present(in);
	if (!ret)
		ret = load_sections(in);
	if (!ret)	/* SEV: pages vs. the installed map, RECEIVE_FINISH */
		ret = sev_mig__dst_finish(kvm, in);
	if (ret)
		goto out_fail;
	pr_debug("migration: checked and loaded in %.3f ms after END", (now_ns() - t_end) / 1e6);
	/*
	 * Paused by `lkvm pause` on the source: paused here the same way, before
	 * any vCPU starts (they park at once), and before the ACK so that a
	 * failure here still leaves the source with the guest.
	 */
	paused = in->end.flags & MIG_END_PAUSED;
	if (paused) {
		ret = kvm_ipc__pause_as_user(kvm);
		if (ret) {
			mig_incoming__fail(in, ret, "cannot pause the guest as on the source: %s",
					   strerror(-ret));
			goto out_fail;
		}
	}
	/*
	 * ACK, then run only on the source's GO (wait_go): if the ACK cannot
	 * be sent, or GO does not come, the guest is not started here.  Once
	 * GO came, RUNNING tells the source it may exit; if that is lost the
	 * source keeps its copy paused and says the outcome is unknown.
	 */
	ret = send_ack(&ctrl, 0, paused ? "received, checked, paused as on the source" :
			   "received, checked, running");
	if (ret) {
		pr_err("migration: cannot acknowledge to the source: %s", strerror(-ret));
		goto out;
	}
	set_phase(PH_COMMITTING, NULL);
	ret = wait_go(in, &ctrl);
	if (ret) {
		if (stop_requested())
			snprintf(in->reason, sizeof(in->reason), "%s", kvm->exit_reason);
		pr_err("migration: incoming migration failed: %s; the guest is not started",
		       in->reason);
		/* In place of RUNNING: the source may resume its copy at once. */
		send_ack(&ctrl, ret, in->reason);
		goto out;
	}
	/*
	 * The source released the disks with GO: take them now, before the
	 * guest runs.  Refused (another process got one), the source takes
	 * them back and its guest runs on there.
	 */
	mig__test_hold("hold-claim", "GO received, disks not taken yet");
	ret = virtio__claim_all(true, in->reason, sizeof(in->reason));
	if (ret) {
		pr_err("migration: incoming migration failed: %s; the guest is not started",
		       in->reason);
		send_ack(&ctrl, ret, in->reason);
		goto out;
	}
	/*
	 * A stop (lkvm stop, a signal) that came after GO but before here
	 * was meant for a destination still waiting: confirming now would
	 * send the source away for a guest that never runs here.  Refused
	 * in place of RUNNING instead, the source resumes it.  Checked under
	 * inc.lock, which incoming_stop() takes: a stop after this one stops
	 * a guest that has arrived.
	 */
	pthread_mutex_lock(&inc.lock);
	stopped = inc.stopped;
	pthread_mutex_unlock(&inc.lock);
	if (stopped) {
		virtio__claim_all(false, NULL, 0);	/* the source takes them back */
		ret = -ESHUTDOWN;
		snprintf(in->reason, sizeof(in->reason), "%s", kvm->exit_reason);
		pr_err("migration: incoming migration failed: %s; the guest is not started",
		       in->reason);
		send_ack(&ctrl, ret, in->reason);
		goto out;
	}
	pthread_mutex_lock(&inc.lock);
	snprintf(inc.arrived_from, sizeof(inc.arrived_from), "%s", inc.from);
	inc.arrived_ns = now_ns();
	pthread_mutex_unlock(&inc.lock);
	if (send_running(&ctrl))
		pr_warn("migration: cannot confirm to the source that the guest runs here; "
			"it keeps its copy paused");
	if (in->end.flags & MIG_END_MEM_CRC)
		pr_info("migration: guest memory crc32 0x%08x matches the source's", in->end.mem_crc);
	pr_info("migration: received %llu pages in %llu records, %.1f MB%s in %.3f s; %s",
		(unsigned long long)in->pages_in, (unsigned long long)in->records_in,
		in->bytes_in / 1e6, inc.keyed ? " sealed (--incoming-key)" : "", (now_ns() - t0) / 1e9,
		paused ? "paused as on the source ('lkvm resume' starts it)" : "running");
	goto out;

out_fail:
	if (stop_requested())	/* the errors above are only its echo */
		snprintf(in->reason, sizeof(in->reason), "%s", kvm->exit_reason);
	else if (!in->reason[0])
		mig_incoming__fail(in, ret, "control channel: %s", mig_strerror(ret));
	pr_err("migration: incoming migration failed: %s; the guest is not started", in->reason);
	if (ctrl.fd >= 0)
		send_ack(&ctrl, ret, in->reason);
out:
	close_chan(&ctrl);
	free(threads);
	incoming_cleanup(kvm);
	return ret;
}

/*
 * lkvm migrate --status on a destination still waiting for its guest:
 * the phase, the source, and how much of guest RAM has arrived (every page
 * comes at least once in round 0, as data or as a zero entry).
 */
int migration__incoming_status(struct kvm *kvm, char *buf, size_t n, bool json)
{
	static const char *const names[] = { "waiting", "receiving", "checking", "committing" };
	static const char *const words[] = {
		"waiting for a source on", "receiving from", "checking what came from",
		"waiting for the go of" };
	struct mig_incoming *in = &inc.in;
	struct mig_round r;
	u64 seen = 0, i, words_n, bytes;
	double secs, pct;
	char from[600], raw[280];
	int phase;

	pthread_mutex_lock(&inc.lock);
	if (!inc.inited) {
		pthread_mutex_unlock(&inc.lock);
		return -ENOENT;
	}
	phase = inc.phase;
	secs = (now_ns() - inc.t0_ns) / 1e9;
	snprintf(raw, sizeof(raw), "%s", phase == PH_WAITING ? kvm->cfg.incoming : inc.from);
	words_n = DIV_ROUND_UP(in->nr_pages, 8 * sizeof(long));
	for (i = 0; i < words_n; i++)
		seen += __builtin_popcountl(atomic_load_explicit(&in->seen[i],
								 memory_order_relaxed));
	bytes = in->bytes_in;
	pthread_mutex_lock(&in->lock);
	r = in->last_round;
	pthread_mutex_unlock(&in->lock);
	pthread_mutex_unlock(&inc.lock);

	mig_json_str(raw, from, sizeof(from));
	pct = in->nr_pages ? 100.0 * min(seen, in->nr_pages) / in->nr_pages : 0;
	if (json && phase == PH_WAITING)
		snprintf(buf, n, "{\"active\":false,\"incoming\":true,\"phase\":\"waiting\","
			 "\"listen\":\"%s\",\"elapsed_ms\":%.0f}", from, secs * 1000);
	else if (json)
		snprintf(buf, n, "{\"active\":true,\"incoming\":true,\"phase\":\"%s\","
			 "\"from\":\"%s\",\"elapsed_ms\":%.0f,\"round\":%u,\"percent\":%.1f,"
			 "\"ram_pages\":%llu,\"pages_arrived\":%llu,\"bytes\":%llu,"
			 "\"mb_per_s\":%.1f,\"dirty_pages_per_s\":%llu}",
			 names[phase], from, secs * 1000, r.round, pct,
			 (unsigned long long)in->nr_pages, (unsigned long long)seen,
			 (unsigned long long)bytes, secs > 0 ? bytes / 1e6 / secs : 0.0,
			 (unsigned long long)r.dirty_rate);
	else if (phase == PH_WAITING)
		snprintf(buf, n, "incoming: %s %s for %.1f s", words[phase], raw, secs);
	else
		snprintf(buf, n, "incoming: %s %s for %.1f s: round %u, %.0f%% of guest RAM arrived, "
			 "%.1f MB in, %.1f MB/s, source dirtying %llu pages/s", words[phase], raw,
			 secs, r.round, pct, bytes / 1e6, secs > 0 ? bytes / 1e6 / secs : 0.0,
			 (unsigned long long)r.dirty_rate);
	return 0;
}

/*
 * The guest arrived here by migration: where from and how long ago, for
 * lkvm migrate --status once the source has exited (a source VMM whose
 * migration succeeded is gone, so a script that lost its `lkvm migrate`
 * learns the outcome here).  -ENOENT: it did not.
 */
int migration__arrival(char *from, size_t n, u64 *ago_ns)
{
	int ret = -ENOENT;

	pthread_mutex_lock(&inc.lock);
	if (inc.arrived_ns) {
		snprintf(from, n, "%s", inc.arrived_from);
		*ago_ns = now_ns() - inc.arrived_ns;
		ret = 0;
	}
	pthread_mutex_unlock(&inc.lock);
	return ret;
}

static int incoming_hook(struct kvm *kvm)
{
	if (!kvm->cfg.incoming)
		return 0;
	return migration__incoming(kvm);
}

static struct run_hook incoming_listen_hook = {
	.name = "incoming migration: listen",
	.prio = RUN_HOOK_INCOMING_LISTEN,
	.fn = incoming_listen,
};
run_hook_register(incoming_listen_hook);

static struct run_hook incoming_run_hook = {
	.name = "incoming migration",
	.prio = RUN_HOOK_INCOMING,
	.fn = incoming_hook,
};
run_hook_register(incoming_run_hook);

late_exit(incoming_cleanup);
