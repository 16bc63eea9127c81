/*
 * The source side of live migration: handshake, pre-copy rounds until the
 * remaining dirty set fits the downtime target, then pause, final round,
 * state sections, END, and the commit rule: the guest is gone from here
 * only once the destination has acknowledged "received, checked,
 * running".  Every failure before that resumes the guest.
 */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lkvm/ipc.h"
#include "lkvm/kvm.h"
#include "lkvm/migration.h"
#include "lkvm/page-map.h"
#include "lkvm/sev-migration.h"
#include "lkvm/virtio.h"

#define BITS_PER_LONG		(8 * sizeof(long))
#define CONNECT_TIMEOUT_MS	5000
#define SEND_TIMEOUT_MS		30000
#define ROUND_PROGRESS_MS	500	/* progress lines inside a long round */
#define CANCEL_GRACE_MS		2000	/* then a stuck sender's socket is shut */
/*
 * The final pause waits this long for every vCPU to leave KVM_RUN, which
 * takes microseconds unless one is blocked in a device (writing to a
 * console nobody reads); the other vCPUs are parked meanwhile.
 */
#define PAUSE_TIMEOUT_MS	5000

/*
 * The one migration this VMM may run (control.c allows one at a time), for
 * lkvm migrate --cancel.  A cancel is honoured until GO goes out; after
 * that the destination has been told to run the guest.
 */
static struct {
	pthread_mutex_t lock;
	struct kvm *kvm;
	int wait_fd;			/* the control socket while we wait for the destination */
	bool active;
	bool end_sent;			/* a stop from here on lets the commit finish */
	bool committing;		/* GO is out: a cancel is too late */
	bool stopping;			/* this VMM is stopping (its cancel, or after END) */
	atomic_bool cancel;
	char why[192];			/* the failure a cancel reports */
	char to[256];
	/* What lkvm migrate --set may change, read by the engine each round. */
	bool precopy_over;		/* the guest pauses for the last round: too late */
	u32 downtime_ms, max_rounds;
	bool auto_converge;
	u64 bandwidth_mbps;
	u32 changes;
	struct mig_rate cap;		/* --bandwidth, shared by the data channels */
	u32 ack_timeout_ms;
} cur = { .lock = PTHREAD_MUTEX_INITIALIZER, .wait_fd = -1, .cap = MIG_RATE_INIT };

/* The settings as they are now (lkvm migrate --set may have changed them). */
struct mig_tune {
	u32 downtime_ms, max_rounds;
	bool auto_converge;
};

/* Under cur.lock, with a migration active and not committing. */
static void request_cancel(const char *why)
{
	snprintf_cut(cur.why, sizeof(cur.why), "%s", why);
	atomic_store(&cur.cancel, true);
	if (cur.kvm->page_map)		/* an SEV wait for readiness */
		page_map__kick(cur.kvm->page_map);
	/*
	 * A destination that does not answer (the handshake, the ACK): wake the
	 * wait now.  Only the reading side: ABORT still goes out after it.
	 */
	if (cur.wait_fd >= 0)
		shutdown(cur.wait_fd, SHUT_RD);
	kvm__pause_wake(cur.kvm);	/* the final pause, waiting for a blocked vCPU */
}

int migration__cancel(char *msg, size_t n)
{
	int ret = 0;

	pthread_mutex_lock(&cur.lock);
	if (!cur.active) {
		snprintf(msg, n, "no migration in progress");
		ret = -ENOENT;
	} else if (cur.committing) {
		snprintf(msg, n, "too late: the destination has been told to run the guest");
		ret = -EBUSY;
	} else {
		request_cancel("cancelled (lkvm migrate --cancel)");
		snprintf(msg, n, "cancelling the migration to %s", cur.to);
	}
	pthread_mutex_unlock(&cur.lock);
	return ret;
}

static void bandwidth_text(u64 mbps, char *buf, size_t n)
{
	if (mbps)
		snprintf(buf, n, "%llu MB/s", (unsigned long long)mbps);
	else
		snprintf(buf, n, "no cap");
}

int migration__set(const struct mig_ipc_set *s, char *msg, size_t n)
{
	char bw[32], was[32];
	int ret = 0;

	if (!s->which || s->which & ~MIG_SET_ALL ||
	    (s->which & MIG_SET_DOWNTIME && (!s->downtime_ms || s->downtime_ms > 600000)) ||
	    (s->which & MIG_SET_MAX_ROUNDS && (!s->max_rounds || s->max_rounds > 10000)) ||
	    (s->which & MIG_SET_BANDWIDTH && s->bandwidth_mbps > MIG_MAX_BANDWIDTH_MBPS)) {
		snprintf(msg, n, "invalid settings");
		return -EINVAL;
	}
	pthread_mutex_lock(&cur.lock);
	if (!cur.active) {
		snprintf(msg, n, "no migration in progress");
		ret = -ENOENT;
	} else if (atomic_load(&cur.cancel)) {
		snprintf(msg, n, "too late: the migration to %s is being cancelled", cur.to);
		ret = -EBUSY;
	} else if (cur.precopy_over) {
		snprintf(msg, n, "too late: the migration to %s is past pre-copy", cur.to);
		ret = -EBUSY;
	} else {
		bandwidth_text(cur.bandwidth_mbps, was, sizeof(was));
		if (s->which & MIG_SET_DOWNTIME)
			cur.downtime_ms = s->downtime_ms;
		if (s->which & MIG_SET_MAX_ROUNDS)
			cur.max_rounds = s->max_rounds;
		if (s->which & MIG_SET_AUTO_CONVERGE)
			cur.auto_converge = s->auto_converge;
		if (s->which & MIG_SET_BANDWIDTH && s->bandwidth_mbps != cur.bandwidth_mbps) {
			cur.bandwidth_mbps = s->bandwidth_mbps;
			mig_rate__set(&cur.cap, s->bandwidth_mbps * 1000000);
		}
		cur.changes++;
		bandwidth_text(cur.bandwidth_mbps, bw, sizeof(bw));
		snprintf(msg, n, "migration to %s now: downtime target %u ms, bandwidth %s%s%s%s, "
			 "round limit %u, auto-converge %s", cur.to, cur.downtime_ms, bw,
			 strcmp(bw, was) ? " (was " : "", strcmp(bw, was) ? was : "",
			 strcmp(bw, was) ? ")" : "", cur.max_rounds,
			 cur.auto_converge ? "on" : "off");
	}
	pthread_mutex_unlock(&cur.lock);
	return ret;
}

/*
 * " (guest reset)": why this VMM stops, where the stop gave a reason.  A
 * guest that reset or powered off mid-migration is not the user's lkvm
 * stop, and the client's line should say which it was.  The reason is
 * published before kvm->stopping (release) and never rewritten, so it can
 * be read once the stop is seen.
 */
static void stop_reason(struct kvm *kvm, char *buf, size_t n)
{
	const char *r = kvm && kvm__stopping(kvm) ? kvm->exit_reason : NULL;

	snprintf_cut(buf, n, "%s%s%s", r ? " (" : "", r ?: "", r ? ")" : "");
}

u32 migration__stop(void)
{
	u32 bound = MIG_STOP_WAIT_MS;
	char r[128], why[160];

	pthread_mutex_lock(&cur.lock);
	if (cur.active && !cur.end_sent && !cur.stopping) {
		stop_reason(cur.kvm, r, sizeof(r));
		pr_warn("migration: cancelling the migration to %s: this VMM is stopping%s",
			cur.to, r);
		cur.stopping = true;
		snprintf_cut(why, sizeof(why), "cancelled: the source VMM is stopping%s", r);
		request_cancel(why);
	} else if (cur.active) {
		/*
		 * END is out: the destination has the whole guest, and letting
		 * the commit finish is the guest's best chance to live on.  If
		 * it fails, the result says the guest stops with this VMM.
		 */
		cur.stopping = true;
		/* The ACK, the GO's send and RUNNING may each take their whole timeout. */
		bound = max(bound, 2 * cur.ack_timeout_ms + SEND_TIMEOUT_MS + 5000);
	}
	pthread_mutex_unlock(&cur.lock);
	return bound;
}

/* After END: does a failure from here leave the guest stopping with this VMM? */
static bool source_stopping(void)
{
	bool s;

	pthread_mutex_lock(&cur.lock);
	s = cur.stopping;
	pthread_mutex_unlock(&cur.lock);
	return s;
}

/*
 * A cancel that arrived: the failure to report, in res->reason.  cur.lock
 * held: a second cancel or migration__stop() may rewrite why and stopping.
 */
static bool cancelled_locked(struct mig_result *res)
{
	if (!atomic_load(&cur.cancel))
		return false;
	snprintf_cut(res->reason, sizeof(res->reason), "%s", cur.why);
	res->source_stopping = cur.stopping;
	return true;
}

static bool cancelled(struct mig_result *res)
{
	bool ret;

	if (!atomic_load(&cur.cancel))
		return false;
	pthread_mutex_lock(&cur.lock);
	ret = cancelled_locked(res);
	pthread_mutex_unlock(&cur.lock);
	return ret;
}

/*
 * Set one of cur's phase flags (end_sent, committing) unless a cancel came
 * first: the check and the flag under one lock, so that a cancel is either
 * honoured here or refused by migration__cancel(), never lost between.
 */
static int enter_phase(struct mig_result *res, bool *flag)
{
	int ret = 0;

	pthread_mutex_lock(&cur.lock);
	if (cancelled_locked(res))
		ret = -ECANCELED;
	else
		*flag = true;
	pthread_mutex_unlock(&cur.lock);
	return ret;
}

/*
 * One channel per two CPUs this process may run on, but at least 2 where it
 * may run on 2.  A channel keeps about one core busy at each end (the
 * sender's crc, copy and TCP work, the receiver's copy and crc), and over
 * loopback both ends share these CPUs, so more than one per two CPUs only
 * makes threads switch.  Two on 2 CPUs because that measured faster on a
 * 2-CPU host whose single TCP stream moved memory at half the speed it
 * re-sent one hot buffer (raw TCP itself moved memory faster over two
 * streams there): 12 interleaved pairs of 1 GiB whole-VM migrations took
 * a median 397 ms on 2 channels against 495 ms on 1, and the in-process
 * stream made 2990 against 2450 MB/s at less CPU per GB.  Why one stream
 * is slower there is not settled: prefetching the next page did not help.
 * On an earlier 2-CPU host whose memory kept up with its TCP, 1 channel was
 * ~8% faster (310 against 337 ms), but 2 still matched raw single-stream
 * TCP moving the same memory (docs/migration-bench-log.md, "Session 15: two
 * channels in clear").
 *
 * Sealed (--key), one per CPU: AES-GCM costs each end about as much CPU
 * again as the copy, and that work does split across threads.  On the
 * same 2 CPUs, 1 GiB of random RAM, 13 interleaved whole-VM migrations
 * each: 1 channel median 780 ms, 2 channels 649 ms
 * (docs/migration-bench-log.md, "Session 14: the sealed stream").
 */
u32 mig__default_channels(bool sealed)
{
	cpu_set_t set;
	int cpus = 0, n;

	if (!sched_getaffinity(0, sizeof(set), &set))
		cpus = CPU_COUNT(&set);
	n = sealed ? cpus : max(cpus / 2, min(cpus, 2));
	return n < 1 ? 1 : min((u32)n, (u32)MIG_MAX_CHANNELS);
}

void mig_params__defaults(struct mig_params *p)
{
	memset(p, 0, sizeof(*p));
	p->downtime_ms = 30;
	p->channels = mig__default_channels(false);	/* control.c: sealed */
	p->max_rounds = 30;
	p->ack_timeout_ms = 30000;
	/* Test knob: the commit tests wait out this timeout several times. */
	if (getenv("LKVM_MIG_ACK_TIMEOUT_MS")) {
		unsigned int ms;

		if (sscanf(getenv("LKVM_MIG_ACK_TIMEOUT_MS"), "%u", &ms) == 1 && ms >= 100 &&
		    ms <= 600000)
			p->ack_timeout_ms = ms;
	}
}

struct src_chan {
	struct mig_src *m;
	u32 idx;
	struct mig_chan chan;
	struct mig_ram_stats st;
	struct mig_ram_tx *tx;		/* its sender buffers, for the migration's life */
	pthread_t tid;
	int ret;
};

struct mig_src {
	struct kvm *kvm;
	const struct mig_params *p;
	struct mig_ram_src ram;
	struct mig_dirty dirty;
	unsigned long *send_bm;		/* this round's pages (round 0: all) */
	u32 round;
	struct mig_chan ctrl;
	u8 nc[MIG_NONCE_SIZE], ns[MIG_NONCE_SIZE];	/* --key: the two sides' nonces */
	struct src_chan ch[MIG_MAX_CHANNELS];
	u32 nch;
	u64 session;
	bool paused, logging;
	bool held;		/* `lkvm pause` state frozen for the hand-over */
	bool refused;			/* the reason came from the destination */
	u32 features;			/* what HELLO asked for (and was granted) */
	struct mig_result *res;
	/* For progress inside a round (a long round 0 over a slow link). */
	mig_progress_fn fn;
	void *fn_arg;
	u64 round_pages;		/* pages this round sends */
	u64 rate;			/* dirty pages/s, as of the last round */
	bool disks_given;		/* disk locks released for the destination (GO) */
	u32 throttle;			/* auto-converge: the vCPU throttle now, % */
	u32 fast_rounds;		/* rounds in which the guest outran the link */
};

/*
 * SYNC and wait for its answer: socket buffers hold megabytes, so "sent"
 * is not "received".  A round ends when the destination has consumed it,
 * which makes the measured bandwidth, and so the convergence decision
 * and the downtime, honest.
 */
static int sync_channel(struct mig_chan *c, u32 round)
{
	struct mig_hdr h;
	int ret;

	ret = mig_chan__send_rec(c, MIG_REC_SYNC, 0, round, NULL, 0);
	if (ret)
		return ret;
	ret = mig_chan__recv_hdr(c, &h);
	if (ret)
		return ret;
	return h.type == MIG_REC_SYNC_ACK && h.id == round ? 0 : -EPROTO;
}

static void *round_thread(void *arg)
{
	struct src_chan *c = arg;
	char name[16];

	snprintf(name, sizeof(name), "lkvm-mig-tx%u", c->idx + 1);
	pthread_setname_np(pthread_self(), name);
	/* Round 0 sends every page; later rounds the harvested dirty set. */
	c->ret = mig_ram__send(&c->m->ram, &c->chan, &c->tx, c->idx,
			       c->m->round ? c->m->send_bm : NULL, c->m->round, &c->st);
	if (!c->ret && !c->m->paused)
		c->ret = sync_channel(&c->chan, c->m->round);
	/* Unblock the others: the round is lost anyway.  Not on a cancel:
	 * every sender stops at a record boundary by itself, and the
	 * destination should hear ABORT first, not a cut connection. */
	if (c->ret && c->ret != -ECANCELED)
		shutdown(c->chan.fd, SHUT_RDWR);
	return NULL;
}

static void report_pps(struct mig_src *m, u64 remaining, u64 dirty_rate, double bw, double pps,
		       bool final);

/* What the channel threads have sent so far (they publish it per batch). */
static void sent_so_far(struct mig_src *m, u64 *pages, u64 *bytes)
{
	u32 i;

	*pages = *bytes = 0;
	for (i = 0; i < m->nch; i++) {
		*pages += __atomic_load_n(&m->ch[i].st.sent.pages, __ATOMIC_RELAXED);
		*bytes += __atomic_load_n(&m->ch[i].st.sent.bytes, __ATOMIC_RELAXED);
	}
}

/*
 * One round over every channel in parallel; returns bytes sent.  While the
 * channel threads work, this thread reports progress every
 * ROUND_PROGRESS_MS: round 0 of a big guest over a capped or slow link can
 * take minutes, and a user (or a script) must see it move.
 */
static int send_round(struct mig_src *m, u64 *bytes)
{
	u64 before = 0, after = 0, pages0, bytes0, t0 = now_ns(), cancel_t = 0;
	struct timespec ts;
	u32 i, j;
	int ret = 0, err;
	bool cut = false;

	for (i = 0; i < m->nch; i++)
		before += m->ch[i].chan.bytes_out;
	sent_so_far(m, &pages0, &bytes0);
	for (i = 0; i < m->nch; i++) {
		m->ch[i].ret = 0;
		if (pthread_create(&m->ch[i].tid, NULL, round_thread, &m->ch[i])) {
			m->ch[i].ret = -EAGAIN;
			m->ch[i].tid = 0;
		}
	}
	clock_gettime(CLOCK_REALTIME, &ts);	/* pthread_timedjoin_np's clock */
	for (i = 0; i < m->nch; i++) {
		while (m->ch[i].tid) {
			timespec_add_ms(&ts, ROUND_PROGRESS_MS);
			err = pthread_timedjoin_np(m->ch[i].tid, NULL, &ts);
			if (!err) {
				m->ch[i].tid = 0;
			} else if (err == ETIMEDOUT) {
				u64 pages, b, now = now_ns(), el = now - t0;

				if (!m->paused) {
					sent_so_far(m, &pages, &b);
					pages -= pages0;
					b -= bytes0;
					report_pps(m, m->round_pages - min(pages, m->round_pages),
						   m->rate, el ? b * 1e9 / el : 0,
						   el ? pages * 1e9 / el : 0, false);
				}
				/* A sender blocked on a peer that stopped reading never
				 * reaches its next record: cut it loose. */
				if (atomic_load(&cur.cancel) && !cancel_t)
					cancel_t = now;
				if (cancel_t && !cut &&
				    now - cancel_t > CANCEL_GRACE_MS * 1000000ull) {
					for (j = 0; j < m->nch; j++)
						shutdown(m->ch[j].chan.fd, SHUT_RDWR);
					cut = true;
				}
			} else {
				pthread_join(m->ch[i].tid, NULL);
				m->ch[i].tid = 0;
			}
		}
		if (!ret && m->ch[i].ret)
			ret = m->ch[i].ret;
		after += m->ch[i].chan.bytes_out;
	}
	*bytes = after - before;
	return ret;
}

static int send_round_info(struct mig_src *m, u64 pages, u64 rate)
{
	struct mig_round r = { .round = m->round, .pages = pages, .dirty_rate = rate };
	u8 buf[24];

	mig_round__encode(&r, buf);
	return mig_chan__send_rec(&m->ctrl, MIG_REC_ROUND, 0, 0, buf, sizeof(buf));
}

static int send_sections(struct mig_src *m, u32 *nr)
{
	struct mig_section *s;
	int ret;

	*nr = 0;
	for (s = mig_section__first(); s; s = s->next) {
		u32 n = s->count ? s->count(m->kvm) : 1, i;

		if (!s->save || (s->feature & ~m->features))
			continue;
		for (i = 0; i < n; i++) {
			struct mig_buf b = { 0 };

			ret = s->save(m->kvm, i, &b);
			if (!ret && b.err)
				ret = b.err;
			if (!ret && b.len > MIG_MAX_SECTION)
				ret = -EMSGSIZE;
			if (ret) {
				snprintf_cut(m->res->reason, sizeof(m->res->reason),
					 "saving section %s instance %u failed: %s", s->name, i,
					 strerror(-ret));
				mig_buf__free(&b);
				return ret;
			}
			ret = mig_chan__send_rec(&m->ctrl, MIG_REC_SECTION, i, s->id, b.data, b.len);
			mig_buf__free(&b);
			if (ret)
				return ret;
			(*nr)++;
		}
	}
	return 0;
}

/* The status record (HELLO_REPLY, ACK, RUNNING) whose header h was read. */
static int status_of(struct mig_src *m, u32 type, const struct mig_hdr *h, char *why, size_t n)
{
	u8 buf[MIG_MAX_SMALL];
	u32 st, f;
	int ret;

	/* A refusal comes as an ACK with the reason, in place of the record. */
	if (h->type != type && !((type == MIG_REC_HELLO_REPLY || type == MIG_REC_RUNNING) &&
				h->type == MIG_REC_ACK))
		return -EPROTO;
	ret = mig_chan__recv_payload(&m->ctrl, h, buf, sizeof(buf));
	if (!ret)
		ret = mig_status__decode(buf, h->len, &st, &f, why, n);
	if (ret)
		return ret;
	if (st)
		return st < 4096 ? -(int)st : -EPROTO;
	return h->type != type && type == MIG_REC_RUNNING ? -EPROTO : 0;
}

/* Read a status record (HELLO_REPLY or ACK) from the destination. */
static int recv_status(struct mig_src *m, u32 type, int timeout_ms, char *why, size_t n)
{
	struct mig_hdr h;
	int ret;

	mig_tcp__tune(m->ctrl.fd, timeout_ms);
	ret = mig_chan__recv_hdr(&m->ctrl, &h);
	if (ret)
		return ret;
	return status_of(m, type, &h, why, n);
}

/*
 * The control socket while we wait for the destination's answer (the
 * handshake in connect_all(), the ACK after END), so that a cancel or a
 * stop can wake the wait (-1: none).  Its caller clears it before the fd
 * can be closed, so a recycled number is never shut down.
 */
static void wait_watch(int fd)
{
	pthread_mutex_lock(&cur.lock);
	cur.wait_fd = fd;
	if (fd >= 0 && atomic_load(&cur.cancel))
		shutdown(fd, SHUT_RD);
	pthread_mutex_unlock(&cur.lock);
}

/*
 * --key: the source's nonce went out after the control preamble; the
 * destination answers with its own (MIG_AUTH_MAGIC + nonce), and from then
 * on the control connection is sealed.  A destination that will not take
 * an authenticated stream answers with a clear refusal instead, in the
 * shape of a HELLO_REPLY: its reason goes in why.
 */
static int auth_reply(struct mig_src *m, const u8 pre[MIG_PREAMBLE_SIZE], char *why, size_t n)
{
	u8 rb[MIG_AUTH_REPLY_SIZE];
	struct mig_hdr h;
	int ret;

	BUILD_BUG_ON(MIG_AUTH_REPLY_SIZE != MIG_HDR_SIZE);
	mig_tcp__tune(m->ctrl.fd, m->p->ack_timeout_ms);
	ret = mig_chan__read(&m->ctrl, rb, sizeof(rb));
	if (ret)
		return ret;
	if (!memcmp(rb, MIG_AUTH_MAGIC, 8)) {
		memcpy(m->ns, rb + 8, MIG_NONCE_SIZE);
		return mig_crypt__attach(&m->ctrl, m->p->key, m->nc, m->ns, pre, true);
	}
	ret = mig_hdr__decode(rb, m->ctrl.seq_in, &h);
	if (!ret)
		ret = status_of(m, MIG_REC_HELLO_REPLY, &h, why, n);
	return ret ? ret : -EPROTO;	/* a clear "yes" is no answer to a sealed preamble */
}

/*
 * The destination's first answer (WHAT: "handshake", "authentication")
 * never came.  A timeout is what a listener that is no lkvm (nc -l) gives,
 * or an lkvm that is stopped: say how long, not just "timed out".
 */
static void no_reply_why(struct mig_src *m, const char *what, int ret)
{
	if (ret == -ETIMEDOUT)
		snprintf_cut(m->res->reason, sizeof(m->res->reason),
			     "no %s reply from %s within %g s: not an lkvm run --incoming, or one "
			     "stopped or overloaded", what, m->p->to, m->p->ack_timeout_ms / 1000.0);
	else
		snprintf_cut(m->res->reason, sizeof(m->res->reason), "no %s reply from %s: %s%s",
			     what, m->p->to, mig_strerror(ret), ret == -EPROTO || ret == -EBADMSG ?
			     " (is it an lkvm run --incoming?)" : "");
}

static int connect_all(struct mig_src *m)
{
	u8 pre[MIG_PREAMBLE_SIZE];
	struct mig_shape shape;
	struct mig_buf b = { 0 };
	char why[MIG_MAX_REASON + 1] = "";
	u32 i;
	int fd, ret, sent;

	fd = mig_tcp__connect(m->p->to, CONNECT_TIMEOUT_MS);
	if (fd < 0) {
		snprintf_cut(m->res->reason, sizeof(m->res->reason), "cannot connect to %s: %s",
			 m->p->to, mig_net_strerror(fd));
		return fd;
	}
	mig_tcp__tune(fd, SEND_TIMEOUT_MS);
	mig_chan__init_fd(&m->ctrl, fd);
	wait_watch(fd);
	mig_chan__apply_fault_env(&m->ctrl, 0);
	mig_preamble__encode(pre, m->p->keyed ? MIG_PRE_AUTH : 0, m->session);
	if (m->p->keyed && mig_nonce__new(m->nc)) {
		snprintf_cut(m->res->reason, sizeof(m->res->reason),
			     "no random bytes for --key's nonce");
		return -EIO;
	}
	ret = mig_chan__writev(&m->ctrl, (struct iovec[]){ { pre, sizeof(pre) },
				{ m->nc, MIG_NONCE_SIZE } }, m->p->keyed ? 2 : 1);
	if (ret)
		goto err;
	if (m->p->keyed) {
		ret = auth_reply(m, pre, why, sizeof(why));
		if (ret) {
			m->refused = why[0];
			/* In clear: anyone on the path could have written it. */
			if (why[0])
				snprintf_cut(m->res->reason, sizeof(m->res->reason),
					 "destination refused (unauthenticated reply): %s", why);
			else
				no_reply_why(m, "authentication", ret);
			return ret;
		}
	}
	ret = mig_shape__from_kvm(m->kvm, &shape);
	if (ret) {
		snprintf_cut(m->res->reason, sizeof(m->res->reason),
			 "cannot describe this machine (the guest's CPUID): %s", strerror(-ret));
		return ret;
	}
	shape.nr_channels = m->nch;
	shape.session = m->session;
	if (m->p->compress)
		shape.features |= MIG_F_DEFLATE;
	if (m->p->keyed)
		shape.features |= MIG_F_NO_PAGE_CRC;
	m->features = shape.features;
	ret = mig_shape__encode(&shape, &b);
	if (!ret)
		ret = mig_chan__send_rec(&m->ctrl, MIG_REC_HELLO, 0, 0, b.data, b.len);
	mig_buf__free(&b);
	/*
	 * A destination may refuse and close before the last of a HELLO that
	 * spans several sealed frames is out (it reads them one by one): its
	 * reason is then already in our receive queue, and says more than the
	 * broken pipe.
	 */
	if (ret && ret != -EPIPE && ret != -ECONNRESET)
		goto err;
	sent = ret;
	ret = recv_status(m, MIG_REC_HELLO_REPLY, m->p->ack_timeout_ms, why, sizeof(why));
	if (sent && !why[0] && ret != -EKEYREJECTED) {
		ret = sent;
		goto err;
	}
	mig_tcp__tune(m->ctrl.fd, SEND_TIMEOUT_MS);
	if (ret == -EKEYREJECTED) {
		snprintf_cut(m->res->reason, sizeof(m->res->reason),
			 "the destination's handshake reply does not authenticate: it was "
			 "started with another --incoming-key than this --key (or the reply was "
			 "altered on the way)");
		m->refused = true;	/* nothing more from it can be read */
		return ret;
	}
	if (ret) {
		/*
		 * "Refused" only when the destination said so; else it never
		 * answered.  One that does not know a feature bit is an older
		 * lkvm (its decoder calls the HELLO malformed): say which bits.
		 */
		if (why[0] && ret == -EOPNOTSUPP && strstr(why, "malformed"))
			snprintf_cut(m->res->reason, sizeof(m->res->reason), "destination refused: "
				 "%s (this source asks for stream features 0x%x; a destination "
				 "that does not know one of them is an older lkvm: "
				 "docs/migration-stream.md, \"Versioning\")", why, m->features);
		else if (why[0])
			snprintf_cut(m->res->reason, sizeof(m->res->reason), "destination refused: %s",
				 why);
		else
			no_reply_why(m, "handshake", ret);
		m->refused = why[0];
		return ret;
	}
	/* SEV (issue 6): PDH exchange, SEND_START / RECEIVE_START. */
	ret = sev_mig__src_handshake(m->kvm, &m->ctrl, m->res->reason, sizeof(m->res->reason));
	if (ret) {
		m->refused = true;	/* the reason is complete; no ACK to wait for */
		return ret;
	}
	m->ram.sev = sev_mig__src_pages(m->kvm);
	mig__test_hold("hold-channels", "handshake done, data connections not opened yet");
	for (i = 0; i < m->nch; i++) {
		struct src_chan *c = &m->ch[i];

		fd = mig_tcp__connect(m->p->to, CONNECT_TIMEOUT_MS);
		if (fd < 0) {
			ret = fd;
			goto err;
		}
		mig_tcp__tune(fd, SEND_TIMEOUT_MS);
		mig_chan__init_fd(&c->chan, fd);
		c->m = m;
		c->idx = i;
		c->chan.rate = &cur.cap;	/* a cap of 0 costs nothing */
		c->chan.rate_cancel = &cur.cancel;
		mig_chan__apply_fault_env(&c->chan, i + 1);
		mig_preamble__encode(pre, (i + 1) | (m->p->keyed ? MIG_PRE_AUTH : 0), m->session);
		ret = mig_chan__writev(&c->chan, &(struct iovec){ pre, sizeof(pre) }, 1);
		if (!ret && m->p->keyed)
			ret = mig_crypt__attach(&c->chan, m->p->key, m->nc, m->ns, pre, true);
		if (ret)
			goto err;
	}
	return 0;
err:
	snprintf_cut(m->res->reason, sizeof(m->res->reason), "connection to %s failed: %s",
		 m->p->to, mig_net_strerror(ret));
	return ret;
}

/* How long sending `remaining` dirty pages takes at bw bytes/s, in ms (0: bw unknown). */
static double send_ms(u64 remaining, double bw)
{
	return bw > 0 ? remaining * PAGE_SIZE * 1000.0 / bw : 0;
}

/*
 * pps: inside a round, the pages per second it has sent so far; then the
 * expected downtime is the time the rest of the round would take at that
 * pace.  Counting 4 KiB for each page left would make round 0 over mostly
 * zero pages look like minutes of downtime.  0: dirty pages, 4 KiB each.
 */
static void report_pps(struct mig_src *m, u64 remaining, u64 dirty_rate, double bw, double pps,
		       bool final)
{
	struct mig_progress pr = {
		.round = m->round,
		.percent = m->ram.nr_pages ?
			100.0 * (m->ram.nr_pages - min(remaining, m->ram.nr_pages)) / m->ram.nr_pages : 100,
		.mbps = bw / 1e6,
		.dirty_pages_per_s = dirty_rate,
		.remaining_pages = remaining,
		.expected_downtime_ms = pps > 0 ? remaining / pps * 1000 : send_ms(remaining, bw),
		.final = final,
		.rate_known = bw > 0 || !remaining,
		.throttle_pct = m->throttle,
	};
	u32 i;

	/* 99.96% is not done: only 0 pages left is 100. */
	if (remaining && pr.percent > 99.9)
		pr.percent = 99.9;

	/* The sender threads may be running: see bytes_out_add() in transport.c. */
	for (i = 0; i < m->nch; i++)
		pr.bytes += __atomic_load_n(&m->ch[i].chan.bytes_out, __ATOMIC_RELAXED);
	pr.bytes += m->ctrl.bytes_out;
	if (m->fn)
		m->fn(&pr, m->fn_arg);
}

static void report(struct mig_src *m, u64 remaining, u64 dirty_rate, double bw, bool final)
{
	report_pps(m, remaining, dirty_rate, bw, 0, final);
}

/*
 * Test hooks that widen a window for a test to act in:
 * LKVM_MIG_FAULT=hold:MS waits MS ms after END, before reading the ACK (a
 * cancel there is refused, a stop lets the commit finish);
 * LKVM_MIG_FAULT=hold-paused:MS waits MS ms with the vCPUs paused, before
 * the final round (a cancel or a stop there must resume the guest);
 * LKVM_MIG_FAULT=hold-channels:MS waits MS ms after the handshake, before
 * the data connections are opened (the destination has taken this source
 * and waits for them, its port still open to another).
 */
void mig__test_hold(const char *key, const char *where)
{
	const char *e = getenv("LKVM_MIG_FAULT");
	size_t n = strlen(key);
	unsigned int ms;

	if (!e || strncmp(e, key, n) || e[n] != ':' || sscanf(e + n + 1, "%u", &ms) != 1 ||
	    !ms || ms > 60000)
		return;
	pr_warn("migration: test hook: %s, holding %u ms", where, ms);
	usleep(ms * 1000u);
}

static int send_go(struct mig_src *m)
{
	struct mig_buf b = { 0 };
	int ret;

	mig_status__encode(0, 0, "", &b);
	ret = b.err ? b.err : mig_chan__send_rec(&m->ctrl, MIG_REC_GO, 0, 0, b.data, b.len);
	mig_buf__free(&b);
	return ret;
}

/*
 * `lkvm resume` after an unknown outcome (the user checked that the
 * destination does not run the guest): give the guest back to this side,
 * as a failed migration would have; ipc-cmds.c then also lifts a pause
 * the user had made (they asked for the guest to run).  Called with the
 * IPC state lock held.
 */
static int resume_after_unknown(struct kvm *kvm, char *why, size_t n)
{
	int ret;

	/*
	 * The disks went with GO.  A destination that runs the guest holds
	 * them: then the user's look was wrong, and two copies must not run.
	 */
	ret = virtio__claim_all(true, why, n);
	if (ret) {
		pr_err("migration: not resumed after the unknown outcome: %s", why);
		return ret;
	}
	pr_warn("migration: resumed here by 'lkvm resume' after an unknown outcome");
	sev_mig__src_cancel(kvm);
	virtio__resume_all();
	kvm__resume(kvm);
	return 0;
}

/*
 * The destination did not take the guest after GO went out (or GO did not
 * go out whole): the disks come back before the guest runs here again.  If
 * another process took one meanwhile, the guest stays paused, as after an
 * unknown outcome, and says why ('lkvm resume' tries again).
 */
static int take_disks_back(struct mig_src *m)
{
	char why[MIG_REASON_SIZE];
	size_t l;
	int ret;

	ret = virtio__claim_all(true, why, sizeof(why));
	if (!ret) {
		m->disks_given = false;
		return 0;
	}
	l = strlen(m->res->reason);
	snprintf_cut(m->res->reason + l, sizeof(m->res->reason) - l,
		     "%sthe disks cannot be taken back: %s", l ? "; " : "", why);
	return ret;
}

/* After a failure: tell the destination, and fetch its reason if it has one. */
static void abort_stream(struct mig_src *m, int err)
{
	/* Keyed but not sealed yet (the handshake failed): not a word in clear. */
	bool unsealed = m->p->keyed && !m->ctrl.crypt;
	struct mig_buf b = { 0 };
	char why[MIG_MAX_REASON + 1] = "";
	u32 i;

	if (unsealed)
		m->refused = true;	/* nor wait for an answer */
	if (m->ctrl.fd >= 0 && !unsealed) {
		mig_status__encode(-err, 0, m->res->reason, &b);
		if (!b.err)
			mig_chan__send_rec(&m->ctrl, MIG_REC_ABORT, 0, 0, b.data, b.len);
		mig_buf__free(&b);
	}
	/*
	 * The destination answers ABORT (or its own earlier failure) with an
	 * ACK carrying its reason, then hangs up.  The data connections stay
	 * open until then (1 s at most): a destination thread that saw them
	 * close first would report a cut connection instead of our reason.
	 * Its echo of our ABORT is not worth repeating.
	 */
	if (m->ctrl.fd >= 0 && !m->refused &&
	    recv_status(m, MIG_REC_ACK, 1000, why, sizeof(why)) < 0 && why[0] &&
	    strncmp(why, "source aborted: ", 16)) {
		size_t l = strlen(m->res->reason);

		snprintf_cut(m->res->reason + l, sizeof(m->res->reason) - l,
			 "%sdestination says: %s", l ? "; " : "", why);
	}
	for (i = 0; i < m->nch; i++)
		mig_chan__close(&m->ch[i].chan);
	mig_chan__close(&m->ctrl);
}

/*
 * Auto-converge, QEMU's rule: a round in which the guest dirtied more than
 * half of what the round moved outran the link; from the second such round
 * on, each one raises the vCPU throttle (20%, then 10 more, up to 99%).
 * Every step is measured by the next round, so it goes no higher than the
 * guest's dirtying makes it.
 */
static void auto_converge(struct mig_src *m, u64 dirtied, u64 sent_bytes)
{
	u32 pct;
	int ret;

	if (dirtied * PAGE_SIZE * 2 <= sent_bytes || ++m->fast_rounds < 2)
		return;
	pct = m->throttle ? min(m->throttle + 10, 99u) : 20;
	if (pct == m->throttle)
		return;
	ret = kvm__throttle(m->kvm, pct);
	if (ret) {
		pr_warn("migration: cannot throttle the vCPUs: %s", strerror(-ret));
		return;
	}
	/* (m->round already counts the round just measured) */
	pr_info("migration: round %u: the guest dirtied %.1f MB while %.1f MB moved: its vCPUs "
		"now get %u%% of the time", m->round - 1, dirtied * PAGE_SIZE / 1e6,
		sent_bytes / 1e6, 100 - pct);
	m->throttle = pct;
	m->res->throttle_pct = pct;
}

/*
 * The bandwidth pre-copy decides by: bytes over time of the rounds sent
 * under the cap as it is now.  A cap changed by `lkvm migrate --set`
 * starts the measure again (a round the change cut in two counts alone
 * until a whole round under the new cap replaces it), and the figure never
 * exceeds the cap: the old rounds' speed is gone once it is lowered.
 */
struct bw_meter {
	u64 bytes, ns;
	u32 gen;			/* the cap's generation the figure is for */
	bool mixed;			/* it is one round the change cut in two */
};

static double bw_meter__add(struct bw_meter *b, u32 gen0, u64 bytes, u64 ns)
{
	u32 gen = atomic_load(&cur.cap.gen);
	double bw;
	u64 cap;

	if (gen != gen0 || b->mixed || gen0 != b->gen) {
		b->bytes = bytes;
		b->ns = ns;
		b->mixed = gen != gen0;
	} else {
		b->bytes += bytes;
		b->ns += ns;
	}
	b->gen = gen;
	bw = b->ns ? b->bytes * 1e9 / b->ns : 0;
	pthread_mutex_lock(&cur.cap.lock);
	cap = cur.cap.bps;
	pthread_mutex_unlock(&cur.cap.lock);
	return cap && bw > cap ? cap : bw;
}

/* Converged: the rest fits the downtime target at this bandwidth. */
static bool fits(u64 remaining, double bw, u32 downtime_ms)
{
	return bw > 0 && send_ms(remaining, bw) <= downtime_ms;
}

/*
 * End of a round: is pre-copy over (converged, or at the round limit)?
 * Decided under cur.lock with the settings as they are now, so that a
 * `lkvm migrate --set` either counts here or is refused as too late, never
 * accepted and then ignored.
 */
static bool precopy_done(struct mig_src *m, u64 remaining, double bw, struct mig_tune *t)
{
	bool done;

	pthread_mutex_lock(&cur.lock);
	*t = (struct mig_tune){ cur.downtime_ms, cur.max_rounds, cur.auto_converge };
	done = !remaining || fits(remaining, bw, t->downtime_ms) || m->round >= t->max_rounds;
	cur.precopy_over = done;
	pthread_mutex_unlock(&cur.lock);
	return done;
}

/* Full speed again: before the guest pauses for good, or runs on here. */
static void unthrottle(struct mig_src *m)
{
	if (!m->throttle)
		return;
	kvm__throttle(m->kvm, 0);
	m->throttle = 0;
}

static int send_guest(struct kvm *kvm, const struct mig_params *p, mig_progress_fn fn,
		      void *arg, struct mig_result *res)
{
	struct mig_src *m;
	struct mig_end end = { 0 };
	u64 t0 = now_ns(), t_pause = 0, round_t, bytes, remaining = 0, rate = 0, i;
	struct bw_meter meter = { .gen = atomic_load(&cur.cap.gen) };
	u32 gen0;
	struct mig_tune t;
	double bw = 0;
	char why[MIG_MAX_REASON + 1] = "";
	u8 endbuf[24];
	int ret, stuck = -1;
	const char *stuck_dev = "?";

	memset(res, 0, sizeof(*res));
	res->compress = p->compress;
	res->sealed = p->keyed;
	if (kvm->cfg.sev_mode != SEV_MODE_NONE && p->verify) {
		snprintf_cut(res->reason, sizeof(res->reason),
			 "--verify would read private SEV guest memory: not with SEV");
		res->status = -EINVAL;
		return -EINVAL;
	}
	/* SEV: the guest must be migration-ready before anything moves. */
	ret = sev_mig__src_begin(kvm, p->wait_ready_ms, &cur.cancel, res->reason,
				 sizeof(res->reason));
	if (ret) {
		res->status = ret;
		return ret;
	}
	if (!mig_section__find(MIG_SEC_CPU)) {
		/* Without it the destination would boot the vCPUs from reset. */
		snprintf_cut(res->reason, sizeof(res->reason),
			 "this lkvm cannot save vCPU state (no vCPU migration section)");
		res->status = -EOPNOTSUPP;
		return -EOPNOTSUPP;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf_cut(res->reason, sizeof(res->reason), "out of memory");
		res->status = -ENOMEM;
		return -ENOMEM;
	}
	m->kvm = kvm;
	m->p = p;
	m->res = res;
	m->fn = fn;
	m->fn_arg = arg;
	m->round_pages = kvm->nr_pages;
	m->nch = p->channels ? min(p->channels, (u32)MIG_MAX_CHANNELS) : 1;
	res->channels = m->nch;
	m->ctrl.fd = -1;
	for (i = 0; i < MIG_MAX_CHANNELS; i++)
		m->ch[i].chan.fd = -1;
	for (i = 0; i < (u64)kvm->nr_mem_banks && i < MIG_MAX_BANKS; i++) {
		m->ram.banks[i].host = kvm->mem_banks[i].host_addr;
		m->ram.banks[i].page_base = kvm->mem_banks[i].page_base;
		m->ram.banks[i].nr_pages = kvm->mem_banks[i].size / PAGE_SIZE;
		m->ram.banks[i].anon_private = mig_mem__anon_private(kvm->mem_banks[i].host_addr,
								      kvm->mem_banks[i].size);
	}
	m->ram.nr_banks = i;
	m->ram.nr_pages = kvm->nr_pages;
	m->ram.nr_channels = m->nch;
	m->ram.stop = &cur.cancel;
	m->ram.deflate_level = p->compress;
	m->ram.no_page_crc = p->keyed;	/* with MIG_F_NO_PAGE_CRC in HELLO */
	if (getrandom(&m->session, sizeof(m->session), 0) != sizeof(m->session))
		m->session = t0 ^ getpid();

	ret = mig_dirty__init(&m->dirty, kvm->nr_pages);
	if (ret)
		goto out_free;
	m->send_bm = calloc(DIV_ROUND_UP(kvm->nr_pages, BITS_PER_LONG) + 1, sizeof(long));
	if (!m->send_bm) {
		ret = -ENOMEM;
		goto out_dirty;
	}
	ret = connect_all(m);
	wait_watch(-1);
	if (ret && cancelled(res))	/* what woke the handshake, not its echo */
		ret = -ECANCELED;
	if (ret)
		goto out_fail;
	pr_debug("migration: connected at %.3f ms", (now_ns() - t0) / 1e6);

	/* Logging first: writes during round 0 must land in round 1's set. */
	ret = migration__log_start(kvm, &m->dirty);
	if (ret) {
		snprintf_cut(res->reason, sizeof(res->reason), "cannot start dirty logging: %s",
			 strerror(-ret));
		goto out_fail;
	}
	m->logging = true;
	pr_debug("migration: dirty logging on at %.3f ms", (now_ns() - t0) / 1e6);
	/*
	 * Round 0 at 0%, at once: the user sees it start, and a client whose
	 * VMM dies from here on knows a migration was under way (the first
	 * measured report comes only 0.5 s into a long round).
	 */
	report(m, m->ram.nr_pages, 0, 0, false);

	for (;;) {
		u64 round_ns;

		round_t = now_ns();
		gen0 = atomic_load(&cur.cap.gen);
		ret = send_round(m, &bytes);
		if (cancelled(res)) {
			ret = -ECANCELED;
			goto out_fail;
		}
		if (ret)
			goto out_fail_io;
		round_ns = now_ns() - round_t;
		pr_debug("migration: round %u: %llu bytes in %.3f ms", m->round,
			 (unsigned long long)bytes, round_ns / 1e6);
		bw = bw_meter__add(&meter, gen0, bytes, round_ns);

		ret = migration__log_take(kvm, m->send_bm, &remaining);
		if (ret)
			goto out_fail_sync;
		/* SEV: pages that flipped shared<->private go again, the new way. */
		sev_mig__src_merge_changed(kvm, m->send_bm);
		ret = sev_mig__src_check(kvm, res->reason, sizeof(res->reason));
		if (ret)
			goto out_fail;
		rate = round_ns ? remaining * 1000000000ull / round_ns : 0;
		m->rate = rate;
		m->round_pages = remaining;
		report(m, remaining, rate, bw, false);
		ret = send_round_info(m, remaining, rate);
		if (ret)
			goto out_fail_io;
		m->round++;
		if (precopy_done(m, remaining, bw, &t)) {
			if (remaining && !fits(remaining, bw, t.downtime_ms)) {
				/* Not silently: the downtime will be longer than asked. */
				res->round_limit = true;
				pr_warn("migration: %u rounds and the guest still dirties memory "
					"faster than it moves: stopping it with %llu pages left "
					"(expected downtime %.0f ms, target %u ms)", m->round,
					(unsigned long long)remaining,
					send_ms(remaining, bw),
					t.downtime_ms);
			}
			break;
		}
		if (t.auto_converge) {
			auto_converge(m, remaining, bytes);
		} else if (m->throttle) {	/* turned off by lkvm migrate --set */
			unthrottle(m);
			m->fast_rounds = 0;
		}
	}

	if (cancelled(res)) {
		ret = -ECANCELED;
		goto out_fail;
	}
	/* Stop-and-copy: the guest stays paused until the ACK or a failure. */
	t_pause = now_ns();
	ret = kvm__pause_until(kvm, &cur.cancel, PAUSE_TIMEOUT_MS, &stuck);
	unthrottle(m);		/* parked now: the throttle has nothing left to do */
	if (ret == -ESHUTDOWN) {	/* a stop came first: the guest ends here */
		char r[128];

		stop_reason(kvm, r, sizeof(r));
		snprintf_cut(res->reason, sizeof(res->reason), "the source VMM is stopping%s", r);
		res->source_stopping = true;
		goto out_fail;
	}
	if (ret == -ECANCELED && cancelled(res))	/* undone: the guest runs on */
		goto out_fail;
	if (ret == -ETIMEDOUT) {
		snprintf_cut(res->reason, sizeof(res->reason), "vCPU %d did not stop within %u s "
			 "(blocked in a device: a console nobody reads?)", stuck,
			 PAUSE_TIMEOUT_MS / 1000);
		goto out_fail;
	}
	if (ret) {
		snprintf_cut(res->reason, sizeof(res->reason), "cannot pause the vCPUs: %s",
			 strerror(-ret));
		goto out_fail;
	}
	/*
	 * Devices too: an in-flight request finishes, no new one starts.  One
	 * blocked (virtio-console on a console nobody reads) is given up on
	 * like a blocked vCPU, within what is left of the same 5 s.
	 */
	ret = virtio__pause_all_until(&cur.cancel, t_pause + PAUSE_TIMEOUT_MS * 1000000ull,
				      &stuck_dev);
	if (ret) {
		kvm__resume(kvm);
		if (ret == -ECANCELED && cancelled(res))
			goto out_fail;
		snprintf_cut(res->reason, sizeof(res->reason), "the virtio-%s device did not stop "
			 "within %u s (blocked: a console nobody reads?)", stuck_dev,
			 PAUSE_TIMEOUT_MS / 1000);
		goto out_fail;
	}
	m->paused = true;
	pr_debug("migration: paused in %.3f ms", (now_ns() - t_pause) / 1e6);
	mig__test_hold("hold-paused", "vCPUs paused");
	{
		/* Pages harvested now join the ones left from the last round. */
		unsigned long *more = calloc(DIV_ROUND_UP(kvm->nr_pages, BITS_PER_LONG) + 1,
					     sizeof(long));
		u64 w, n;

		if (!more) {
			ret = -ENOMEM;
			goto out_fail;
		}
		ret = migration__log_take(kvm, more, &n);
		if (ret) {
			free(more);
			goto out_fail_sync;
		}
		for (w = 0; w < DIV_ROUND_UP(kvm->nr_pages, BITS_PER_LONG); w++)
			m->send_bm[w] |= more[w];
		free(more);
	}
	sev_mig__src_merge_changed(kvm, m->send_bm);
	ret = sev_mig__src_check(kvm, res->reason, sizeof(res->reason));
	if (ret)
		goto out_fail;
	ret = send_round(m, &bytes);
	if (cancelled(res)) {
		ret = -ECANCELED;
		goto out_fail;
	}
	if (ret)
		goto out_fail_io;
	pr_debug("migration: final round sent at %.3f ms", (now_ns() - t_pause) / 1e6);
	report(m, 0, rate, bw, true);
	m->round++;
	ret = send_sections(m, &end.nr_sections);
	if (ret)
		goto out_fail_io;
	pr_debug("migration: %u sections sent at %.3f ms", end.nr_sections,
		 (now_ns() - t_pause) / 1e6);
	for (i = 0; i < m->nch; i++) {
		ret = mig_ram__send_chan_end(&m->ch[i].chan, &m->ch[i].st);
		if (ret)
			goto out_fail_io;
		end.pages += m->ch[i].st.sent.pages;
	}
	end.rounds = m->round;
	if (p->verify) {
		/* The guest is paused: this is exactly what the destination must hold. */
		end.mem_crc = mig_mem_crc(m->ram.banks, m->ram.nr_banks);
		end.flags |= MIG_END_MEM_CRC;
		res->mem_crc = end.mem_crc;
	}
	/*
	 * The guest goes over in the run state the user gave it: paused by
	 * `lkvm pause`, it stays paused there.  From here until the outcome,
	 * pause/resume requests are refused, so that state cannot change
	 * after it is written down.
	 */
	m->held = true;
	if (kvm_ipc__hold_run_state())
		end.flags |= MIG_END_PAUSED;
	mig_end__encode(&end, endbuf);
	/* From END on a stop lets the commit finish; a cancel counts until GO. */
	ret = enter_phase(res, &cur.end_sent);
	if (ret)
		goto out_fail;
	ret = mig_chan__send_rec(&m->ctrl, MIG_REC_END, 0, 0, endbuf, sizeof(endbuf));
	if (ret)
		goto out_fail_io;
	pr_debug("migration: END sent at %.3f ms", (now_ns() - t_pause) / 1e6);
	mig__test_hold("hold", "END sent");
	/* A cancel shuts this wait down (request_cancel): it is still in time. */
	wait_watch(m->ctrl.fd);
	ret = cancelled(res) ? -ECANCELED :
	      recv_status(m, MIG_REC_ACK, p->ack_timeout_ms, why, sizeof(why));
	wait_watch(-1);
	if (ret && cancelled(res)) {
		ret = -ECANCELED;
		goto out_fail;
	}
	if (ret) {
		if (why[0])
			snprintf_cut(res->reason, sizeof(res->reason), "destination refused: %s", why),
			m->refused = true;
		else if (ret == -ETIMEDOUT)
			snprintf_cut(res->reason, sizeof(res->reason),
				 "no acknowledgement from the destination within %u ms",
				 p->ack_timeout_ms);
		else
			snprintf_cut(res->reason, sizeof(res->reason),
				 "connection lost waiting for the acknowledgement: %s", strerror(-ret));
		goto out_fail;
	}

	/*
	 * The destination holds a checked guest and runs it only on our GO.
	 * Until GO is out whole, any failure resumes the guest here (a GO that
	 * failed to send never reached it complete); after, only RUNNING
	 * tells us it took it.
	 */
	ret = enter_phase(res, &cur.committing);
	if (ret)
		goto out_fail;
	/* The disks go with the guest: the destination locks them before it runs it. */
	virtio__claim_all(false, NULL, 0);
	m->disks_given = true;
	ret = send_go(m);
	if (ret) {
		snprintf_cut(res->reason, sizeof(res->reason),
			 "connection lost before the go-ahead: %s", mig_strerror(ret));
		goto out_fail;
	}
	mig__test_hold("hold-go", "GO sent");
	why[0] = 0;
	ret = recv_status(m, MIG_REC_RUNNING, p->ack_timeout_ms, why, sizeof(why));
	if (ret && why[0] && ret != -EPROTO) {
		/* Its own failure, in words (a stop, no GO in time): it did not start it. */
		snprintf_cut(res->reason, sizeof(res->reason), "the destination did not start the "
			 "guest: %s", why);
		m->refused = true;
		goto out_fail;
	}
	if (ret)
		goto out_unknown;

	/* Committed: the guest runs on the destination now. */
	sev_mig__src_commit(kvm);	/* SEND_FINISH: never runs here again */
	res->verified = p->verify;
	res->paused = end.flags & MIG_END_PAUSED;
	res->downtime_ns = now_ns() - t_pause;
	res->status = 0;
	ret = 0;
	goto out_stats;

out_unknown:
	/*
	 * GO went out, RUNNING did not come back: the destination may run the
	 * guest, or may not.  Neither resume (two copies) nor exit (none):
	 * keep ours paused, devices too, for the user to decide after looking
	 * at the destination ('lkvm resume' or 'lkvm stop' here).
	 */
	snprintf_cut(res->reason, sizeof(res->reason), "the destination was told to run the guest "
		 "but did not confirm it: %s", why[0] ? why :
		 ret == -ETIMEDOUT ? "no answer" : mig_strerror(ret));
	res->status = ret < 0 ? ret : -EPROTO;
	res->unknown = true;
	res->paused = end.flags & MIG_END_PAUSED;
	res->source_stopping = source_stopping();
	if (m->logging)
		migration__log_stop(kvm);
	kvm_ipc__hold_unknown(resume_after_unknown);
	goto out_stats;

out_fail_sync:
	snprintf_cut(res->reason, sizeof(res->reason), "dirty page harvest failed: %s",
		 strerror(-ret));
	goto out_fail;
out_fail_io:
	/* A capped send that a cancel cut short is the cancel, not an I/O error. */
	if (ret == -ECANCELED && cancelled(res))
		goto out_fail;
	if (!res->reason[0])
		snprintf_cut(res->reason, sizeof(res->reason), "stream to %s failed: %s", p->to,
			 mig_strerror(ret));
out_fail:
	unthrottle(m);		/* first: abort_stream() may wait 1 s for the destination */
	abort_stream(m, ret);
	res->status = ret;
	if (source_stopping())		/* a stop after END: no resuming for long */
		res->source_stopping = true;
	if (m->logging)
		migration__log_stop(kvm);
	if (m->disks_given && take_disks_back(m)) {
		/*
		 * Someone took a disk in the hand-over: no running on it here.
		 * Kept paused for 'lkvm resume' to retry; a VMM that is stopping
		 * anyway just stops with it ("stopped").
		 */
		if (!res->source_stopping) {
			res->unknown = true;
			res->paused = end.flags & MIG_END_PAUSED;
			kvm_ipc__hold_unknown(resume_after_unknown);
		}
		goto out_stats;
	}
	sev_mig__src_cancel(kvm);	/* SEND_CANCEL before the guest runs again */
	if (m->paused) {
		virtio__resume_all();
		kvm__resume(kvm);
	}
	if (m->held)
		kvm_ipc__release_run_state();
	res->paused_here = kvm_ipc__user_paused();	/* by `lkvm pause`: it stays so */
out_stats:
	if (m->dirty.overflows)
		pr_warn("migration: a vCPU's dirty ring overflowed %llu time(s); every page was "
			"sent again", (unsigned long long)m->dirty.overflows);
	res->total_ns = now_ns() - t0;
	res->rounds = m->round;
	for (i = 0; i < m->nch; i++) {
		res->pages_zero += m->ch[i].st.zero;
		res->pages_normal += m->ch[i].st.normal;
		res->pages_encrypted += m->ch[i].st.encrypted;
		res->pages_deflated += m->ch[i].st.deflated;
		res->deflate_in += m->ch[i].st.deflate_in;
		res->deflate_out += m->ch[i].st.deflate_out;
		res->bytes += m->ch[i].chan.bytes_out;
		mig_chan__close(&m->ch[i].chan);
		mig_ram_tx__free(&m->ch[i].tx);
	}
	res->bytes += m->ctrl.bytes_out;
	res->pages_total = res->pages_zero + res->pages_normal + res->pages_encrypted +
			   res->pages_deflated;
	mig_chan__close(&m->ctrl);
	/* Committed too: the harvester and ring-full exits must not reach
	 * m->dirty once it is freed (a no-op after the failure path's stop). */
	if (m->logging)
		migration__log_stop(kvm);
	free(m->send_bm);
out_dirty:
	mig_dirty__free(&m->dirty);
out_free:
	free(m);
	return ret;
}

/* kvm->stop_notify while a migration runs: a stop reaches it at once. */
static void stop_notify(struct kvm *kvm)
{
	migration__stop();
}

int migration__send(struct kvm *kvm, const struct mig_params *p, mig_progress_fn fn,
		    void *arg, struct mig_result *res)
{
	u64 t0 = now_ns();
	bool stopping;
	int ret;

	pthread_mutex_lock(&cur.lock);
	cur.kvm = kvm;
	cur.active = true;
	cur.end_sent = false;
	cur.committing = false;
	cur.stopping = false;
	atomic_store(&cur.cancel, false);
	snprintf(cur.to, sizeof(cur.to), "%s", p->to);
	cur.precopy_over = false;
	cur.downtime_ms = p->downtime_ms;
	cur.max_rounds = p->max_rounds;
	cur.auto_converge = p->auto_converge;
	cur.bandwidth_mbps = p->bandwidth_mbps;
	cur.changes = 0;
	cur.ack_timeout_ms = p->ack_timeout_ms;
	mig_rate__set(&cur.cap, p->bandwidth_mbps * 1000000);	/* no credit at the start */
	pthread_mutex_unlock(&cur.lock);
	/*
	 * Not only at teardown (migrate_exit): the stop's status and "the
	 * guest stops with this VMM" must be known while the engine still
	 * waits, not after the control socket's own 2 s at exit.
	 */
	pthread_mutex_lock(&kvm->run_lock);
	kvm->stop_notify = stop_notify;
	stopping = kvm->stopping;
	pthread_mutex_unlock(&kvm->run_lock);
	if (stopping)
		migration__stop();
	ret = send_guest(kvm, p, fn, arg, res);
	pthread_mutex_lock(&kvm->run_lock);
	kvm->stop_notify = NULL;
	pthread_mutex_unlock(&kvm->run_lock);
	if (!res->total_ns)	/* refused before it began (an SEV wait counts) */
		res->total_ns = now_ns() - t0;
	pthread_mutex_lock(&cur.lock);
	cur.active = false;
	/* The settings it ended with: --set may have changed them. */
	res->downtime_target_ms = cur.downtime_ms;
	res->max_rounds = cur.max_rounds;
	res->auto_converge = cur.auto_converge;
	res->bandwidth_mbps = cur.bandwidth_mbps;
	res->settings_changed = cur.changes;
	pthread_mutex_unlock(&cur.lock);
	return ret;
}

/*
 * JSON has no NaN or infinity, and a line must stay one line: a figure
 * that is not finite, negative or absurd (the client prints what its VMM
 * sends) prints as 0.
 */
static double fin(double x)
{
	return isfinite(x) && x >= 0 && x < 1e15 ? x : 0;
}

/*
 * A figure printed with fmt, or unset (the text's "?", JSON's null) when the
 * VMM did not report one of the fields it comes from (bits from of
 * unreported: an lkvm build without them): unknown, not 0.
 */
static __attribute__((format(printf, 6, 7)))
const char *fig(u64 unreported, u64 from, const char *unset, char *b, size_t n,
		const char *fmt, ...)
{
	va_list ap;

	if (unreported & from)
		return unset;
	va_start(ap, fmt);
	vsnprintf(b, n, fmt, ap);
	va_end(ap);
	return b;
}

#define PF(f)	(1ULL << MIG_PF_##f)
int mig_progress__text(const struct mig_progress *p, char *buf, size_t n)
{
	char mbps[32] = "? MB/s", down[48] = "expected downtime not known yet";
	char thr[32] = "", f[4][32];
	u64 u = p->unreported;

	/* Nothing measured yet (the first report of a capped round): no 0s. */
	if (p->rate_known && !(u & PF(MBPS)))
		snprintf(mbps, sizeof(mbps), "%.1f MB/s", p->mbps);
	if (p->rate_known && !(u & PF(EXPECTED_DOWNTIME_MS)))
		snprintf(down, sizeof(down), "expected downtime %.1f ms", p->expected_downtime_ms);
	if (p->throttle_pct)
		snprintf(thr, sizeof(thr), "  vCPUs throttled %u%%", min(p->throttle_pct, 99u));
	return snprintf(buf, n, "migrate: round %s%s: %5s%%  %s  %s dirty pages/s  "
			"%s pages left  %s%s",
			fig(u, PF(ROUND), "?", f[0], 32, "%u", p->round),
			p->final ? " (final)" : "",
			fig(u, PF(PERCENT), "?", f[1], 32, "%.1f", p->percent), mbps,
			fig(u, PF(DIRTY_PAGES_PER_S), "?", f[2], 32, "%llu",
			    (unsigned long long)p->dirty_pages_per_s),
			fig(u, PF(REMAINING_PAGES), "?", f[3], 32, "%llu",
			    (unsigned long long)p->remaining_pages), down, thr);
}

/* One line per report for scripts (lkvm migrate --json, on stderr). */
int mig_progress__json(const struct mig_progress *p, char *buf, size_t n)
{
	char mbps[32] = "null", down[32] = "null", f[7][32];
	u64 u = p->unreported;

	if (p->rate_known && !(u & PF(MBPS)))
		snprintf(mbps, sizeof(mbps), "%.1f", fin(p->mbps));
	if (p->rate_known && !(u & PF(EXPECTED_DOWNTIME_MS)))
		snprintf(down, sizeof(down), "%.1f", fin(p->expected_downtime_ms));
	return snprintf(buf, n, "{\"event\":\"progress\",\"round\":%s,\"final\":%s,"
			"\"percent\":%s,\"mbps\":%s,\"dirty_pages_per_s\":%s,"
			"\"remaining_pages\":%s,\"expected_downtime_ms\":%s,\"bytes\":%s,"
			"\"throttle_pct\":%s}",
			fig(u, PF(ROUND), "null", f[0], 32, "%u", p->round),
			u & PF(FINAL) ? "null" : p->final ? "true" : "false",
			fig(u, PF(PERCENT), "null", f[1], 32, "%.1f", fin(p->percent)), mbps,
			fig(u, PF(DIRTY_PAGES_PER_S), "null", f[2], 32, "%llu",
			    (unsigned long long)p->dirty_pages_per_s),
			fig(u, PF(REMAINING_PAGES), "null", f[3], 32, "%llu",
			    (unsigned long long)p->remaining_pages), down,
			fig(u, PF(BYTES), "null", f[4], 32, "%llu", (unsigned long long)p->bytes),
			fig(u, PF(THROTTLE_PCT), "null", f[5], 32, "%u", min(p->throttle_pct, 99u)));
}

#define RF(f)	(1ULL << MIG_RF_##f)
int mig_result__text(const struct mig_result *r, char *buf, size_t n)
{
	char thr[64] = "", z[64] = "", f[10][32];
	const char *chans;

	if (r->compress)
		snprintf(z, sizeof(z), ", %s compressed %s:1",
			 fig(r->unreported, RF(PAGES_DEFLATED), "?", f[0], 32, "%llu",
			     (unsigned long long)r->pages_deflated),
			 fig(r->unreported, RF(DEFLATE_IN) | RF(DEFLATE_OUT), "?", f[1], 32, "%.1f",
			     r->deflate_out ? (double)r->deflate_in / r->deflate_out : 0.0));
	if (r->throttle_pct)
		snprintf(thr, sizeof(thr), "; auto-converge throttled the vCPUs up to %u%%",
			 min(r->throttle_pct, 99u));
	if (r->unknown && r->source_stopping)
		return snprintf(buf, n, "migration outcome unknown: %s; this VMM is stopping, so "
				"the guest runs at the destination or nowhere", r->reason);
	if (r->unknown)
		return snprintf(buf, n, "migration outcome unknown: %s; the guest is paused here: "
				"'lkvm resume' here if the destination does not run it, "
				"'lkvm stop' here if it does", r->reason);
	if (r->status)
		return snprintf(buf, n, "migration failed: %s; %s", r->reason,
				r->source_stopping ? "the guest stops with this VMM" :
				r->paused_here ? "the guest stays here, paused ('lkvm resume')" :
				"the guest runs on here");
	chans = fig(r->unreported, RF(CHANNELS), "?", f[9], 32, "%u", r->channels);
	return snprintf(buf, n, "migration done: total %s s, downtime %s ms, %s MB sent "
			"(%s MB/s), %s rounds, %s pages (%s normal%s, %s zero, %s encrypted), "
			"%s channel%s%s%s%s%s%s",
			fig(r->unreported, RF(TOTAL_NS), "?", f[0], 32, "%.3f", r->total_ns / 1e9),
			fig(r->unreported, RF(DOWNTIME_NS), "?", f[1], 32, "%.1f", r->downtime_ns / 1e6),
			fig(r->unreported, RF(BYTES), "?", f[2], 32, "%.1f", r->bytes / 1e6),
			fig(r->unreported, RF(BYTES) | RF(TOTAL_NS), "?", f[3], 32, "%.1f",
			    r->total_ns ? r->bytes / (r->total_ns / 1e9) / 1e6 : 0),
			fig(r->unreported, RF(ROUNDS), "?", f[4], 32, "%llu", (unsigned long long)r->rounds),
			fig(r->unreported, RF(PAGES_TOTAL), "?", f[5], 32, "%llu",
			    (unsigned long long)r->pages_total),
			fig(r->unreported, RF(PAGES_NORMAL), "?", f[6], 32, "%llu",
			    (unsigned long long)r->pages_normal), z,
			fig(r->unreported, RF(PAGES_ZERO), "?", f[7], 32, "%llu",
			    (unsigned long long)r->pages_zero),
			fig(r->unreported, RF(PAGES_ENCRYPTED), "?", f[8], 32, "%llu",
			    (unsigned long long)r->pages_encrypted),
			chans, strcmp(chans, "1") ? "s" : "",
			r->sealed ? ", sealed (--key)" : "",
			r->verified ? ", guest memory verified" : "",
			r->round_limit ? "; did not converge: pre-copy stopped at its round limit, "
			"above the downtime target" : "", thr,
			r->paused ? "; the guest is paused there, as it was here ('lkvm resume')" : "");
}

/* Escape from *sp into out while it stays below room bytes; *sp: where it stopped. */
static size_t json_esc(const unsigned char **sp, char *out, size_t room)
{
	const unsigned char *p = *sp;
	size_t k = 0;

	/* Each step writes at most 6 bytes: k stays below room. */
	while (*p && k + 7 < room) {
		int len = utf8_len(p);

		if (!len) {
			memcpy(out + k, "\\ufffd", 6);
			k += 6;
			p++;
			continue;
		}
		if (len == 1 && *p < 0x20) {	/* kept, escaped: the text says what stderr says */
			if (*p == '\n' || *p == '\t' || *p == '\r')
				k += (size_t)snprintf(out + k, room - k, "\\%c",
						      *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r');
			else
				k += (size_t)snprintf(out + k, room - k, "\\u%04x", *p);
			p++;
			continue;
		}
		if (*p == '"' || *p == '\\')
			out[k++] = '\\';
		memcpy(out + k, p, len);
		k += len;
		p += len;
	}
	*sp = p;
	return k;
}

/*
 * s as the inside of a JSON string, cut to fit n (after a whole character,
 * ending in STR_CUT_MARK): quotes, backslashes and
 * control characters escaped, and bytes that are not UTF-8 (a
 * peer's text, a host name given on the command line) as U+FFFD, so that
 * the output is always valid JSON.
 */
void mig_json_str(const char *s, char *out, size_t n)
{
	const size_t mark = sizeof(STR_CUT_MARK) - 1;
	const unsigned char *p = (const unsigned char *)s;
	size_t k;

	if (!n)
		return;
	k = json_esc(&p, out, n);
	if (*p && n > mark + 1) {	/* cut: again, leaving room for the mark */
		p = (const unsigned char *)s;
		k = json_esc(&p, out, n - mark);
		memcpy(out + k, STR_CUT_MARK, mark);
		k += mark;
	}
	out[k] = 0;
}

/* Where the guest is now, for scripts. */
const char *mig_result__where(const struct mig_result *r)
{
	if (r->unknown)
		return r->source_stopping ? "destination-or-nowhere" : "paused-here-unknown";
	if (!r->status)
		return "destination";
	return r->source_stopping ? "stopped" : "source";
}

/* A flag of r as JSON, or null when the VMM did not report it. */
static const char *json_flag(const struct mig_result *r, int f, bool v)
{
	return r->unreported & 1ULL << f ? "null" : v ? "true" : "false";
}

int mig_result__json(const struct mig_result *r, char *buf, size_t n)
{
	char reason[2 * MIG_REASON_SIZE], crc[16] = "null";	/* no crc without --verify */
	char ratio[32] = "null";		/* none compressed */
	char f[16][32];

	/* The reason is ours, but escape it anyway: it quotes the peer. */
	mig_json_str(r->reason, reason, sizeof(reason));
	if (r->verified && mig_result__reported(r, MIG_RF_MEM_CRC))
		snprintf(crc, sizeof(crc), "\"0x%08x\"", r->mem_crc);
	if (r->deflate_out && mig_result__reported(r, MIG_RF_DEFLATE_IN))
		snprintf(ratio, sizeof(ratio), "%.2f", fin((double)r->deflate_in / r->deflate_out));
	return snprintf(buf, n, "{\"status\":\"%s\",\"reason\":\"%s\",\"total_ms\":%s,"
			"\"downtime_ms\":%s,\"bytes\":%s,\"rounds\":%s,\"pages\":%s,"
			"\"pages_normal\":%s,\"pages_zero\":%s,\"pages_encrypted\":%s,"
			"\"pages_compressed\":%s,\"compress\":%s,\"compression_ratio\":%s,"
			"\"channels\":%s,\"sealed\":%s,"
			"\"throughput_mbps\":%s,\"verified\":%s,\"mem_crc32\":%s,"
			"\"converged\":%s,\"max_rounds\":%s,\"downtime_target_ms\":%s,"
			"\"auto_converge\":%s,\"throttle_pct\":%s,\"bandwidth_cap_mbps\":%s,"
			"\"settings_changed\":%s,\"paused\":%s,\"guest\":\"%s\"}",
			r->unknown ? "unknown" : r->status ? "failed" : "completed", reason,
			fig(r->unreported, RF(TOTAL_NS), "null", f[0], 32, "%.3f", r->total_ns / 1e6),
			fig(r->unreported, RF(DOWNTIME_NS), "null", f[1], 32, "%.3f", r->downtime_ns / 1e6),
			fig(r->unreported, RF(BYTES), "null", f[2], 32, "%llu", (unsigned long long)r->bytes),
			fig(r->unreported, RF(ROUNDS), "null", f[3], 32, "%llu", (unsigned long long)r->rounds),
			fig(r->unreported, RF(PAGES_TOTAL), "null", f[4], 32, "%llu",
			    (unsigned long long)r->pages_total),
			fig(r->unreported, RF(PAGES_NORMAL), "null", f[5], 32, "%llu",
			    (unsigned long long)r->pages_normal),
			fig(r->unreported, RF(PAGES_ZERO), "null", f[6], 32, "%llu",
			    (unsigned long long)r->pages_zero),
			fig(r->unreported, RF(PAGES_ENCRYPTED), "null", f[7], 32, "%llu",
			    (unsigned long long)r->pages_encrypted),
			fig(r->unreported, RF(PAGES_DEFLATED), "null", f[8], 32, "%llu",
			    (unsigned long long)r->pages_deflated),
			json_flag(r, MIG_RF_COMPRESS, r->compress), ratio,
			fig(r->unreported, RF(CHANNELS), "null", f[9], 32, "%u", r->channels),
			json_flag(r, MIG_RF_SEALED, r->sealed),
			fig(r->unreported, RF(BYTES) | RF(TOTAL_NS), "null", f[10], 32, "%.1f",
			    r->total_ns ? r->bytes / (r->total_ns / 1e9) / 1e6 : 0),
			json_flag(r, MIG_RF_VERIFIED, r->verified), crc,
			r->status || r->unknown ? "null" :
			json_flag(r, MIG_RF_ROUND_LIMIT, !r->round_limit),
			fig(r->unreported, RF(MAX_ROUNDS), "null", f[11], 32, "%u", r->max_rounds),
			fig(r->unreported, RF(DOWNTIME_TARGET_MS), "null", f[12], 32, "%u", r->downtime_target_ms),
			json_flag(r, MIG_RF_AUTO_CONVERGE, r->auto_converge),
			fig(r->unreported, RF(THROTTLE_PCT), "null", f[13], 32, "%u", min(r->throttle_pct, 99u)),
			fig(r->unreported, RF(BANDWIDTH_MBPS), "null", f[14], 32, "%llu",
			    (unsigned long long)r->bandwidth_mbps),
			fig(r->unreported, RF(SETTINGS_CHANGED), "null", f[15], 32, "%u", r->settings_changed),
			json_flag(r, MIG_RF_PAUSED, r->paused), mig_result__where(r));
}
