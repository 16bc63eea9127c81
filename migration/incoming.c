/*
 * The destination side: `lkvm run --incoming [ADDR:]PORT`.  Records are
 * checked header first; RAM page data is read straight into guest memory;
 * state sections are buffered and loaded only once the whole stream is in
 * and checked.  Any error leaves the guest unstarted and tells the source
 * why (ACK with an errno and a reason).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lkvm/kvm.h"
#include "lkvm/migration.h"
#include "lkvm/run-hooks.h"

#define BITS_PER_LONG		(8 * sizeof(long))
#define MIG_MAX_NR_SECTIONS	1024
#define IDLE_TIMEOUT_MS		60000
#define CHANNEL_WAIT_MS		10000

static void bit_set(_Atomic unsigned long *bm, u64 n)
{
	atomic_fetch_or_explicit(&bm[n / BITS_PER_LONG], 1UL << (n % BITS_PER_LONG),
				 memory_order_relaxed);
}

static void bit_clear(_Atomic unsigned long *bm, u64 n)
{
	atomic_fetch_and_explicit(&bm[n / BITS_PER_LONG], ~(1UL << (n % BITS_PER_LONG)),
				  memory_order_relaxed);
}

static bool bit_test(_Atomic unsigned long *bm, u64 n)
{
	return atomic_load_explicit(&bm[n / BITS_PER_LONG], memory_order_relaxed) &
	       (1UL << (n % BITS_PER_LONG));
}

void mig_incoming__fail(struct mig_incoming *in, int err, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&in->lock);
	if (!in->reason[0]) {		/* the first failure is the cause */
		va_start(ap, fmt);
		vsnprintf(in->reason, sizeof(in->reason), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&in->lock);
}

int mig_incoming__init(struct mig_incoming *in, u64 nr_pages)
{
	size_t words = DIV_ROUND_UP(nr_pages, BITS_PER_LONG) + 1;

	memset(in, 0, sizeof(*in));
	in->nr_pages = nr_pages;
	in->written = calloc(words, sizeof(long));
	in->suspect = calloc(words, sizeof(long));
	in->seen = calloc(words, sizeof(long));
	pthread_mutex_init(&in->lock, NULL);
	if (!in->written || !in->suspect || !in->seen) {
		mig_incoming__free(in);
		return -ENOMEM;
	}
	return 0;
}

void mig_incoming__free(struct mig_incoming *in)
{
	struct mig_sec_buf *s, *n;

	free((void *)in->written);
	free((void *)in->suspect);
	free((void *)in->seen);
	in->written = in->suspect = in->seen = NULL;
	for (s = in->sections; s; s = n) {
		n = s->next;
		free(s->data);
		free(s);
	}
	in->sections = NULL;
	pthread_mutex_destroy(&in->lock);
}

static u8 *page_host(struct mig_incoming *in, u64 page)
{
	int i;

	for (i = 0; i < in->nr_banks; i++) {
		struct mig_mem_bank *b = &in->banks[i];

		if (page >= b->page_base && page - b->page_base < b->nr_pages)
			return b->host + (page - b->page_base) * PAGE_SIZE;
	}
	return NULL;
}

static int recv_ram(struct mig_incoming *in, struct mig_chan *c, const struct mig_hdr *h,
		    struct mig_chan_end *counted)
{
	static _Thread_local u8 tab[MIG_MAX_BATCH * MIG_ENT_SIZE];
	static _Thread_local struct mig_page_ent ents[MIG_MAX_BATCH];
	static _Thread_local struct iovec iov[MIG_MAX_BATCH];
	u8 *enc = NULL;
	size_t enc_len = 0, enc_off = 0;
	int ret, nio = 0;
	u32 i;

	if (!in->got_hello)
		return -EPROTO;
	ret = mig_chan__read(c, tab, (size_t)h->count * MIG_ENT_SIZE);
	if (ret)
		return ret;
	ret = mig_ram__decode_entries(h, tab, in->nr_pages, in->accepted_features, ents);
	if (ret) {
		mig_incoming__fail(in, ret, "bad RAM record (seq %u): %s", h->seq, strerror(-ret));
		return ret;
	}
	for (i = 0; i < h->count; i++)
		if ((ents[i].flags & MIG_PAGE_KIND_MASK) == MIG_PAGE_ENCRYPTED)
			enc_len += ents[i].len;
	if (enc_len) {
		if (!in->recv_encrypted)
			return -EOPNOTSUPP;
		enc = malloc(enc_len);	/* <= MIG_MAX_RAM_LEN: capped by the decoder */
		if (!enc)
			return -ENOMEM;
	}
	/* Page data lands in guest memory directly: the header said where. */
	for (i = 0; i < h->count; i++) {
		struct mig_page_ent *e = &ents[i];
		u8 *host = page_host(in, e->page);

		if (!host) {
			ret = -ERANGE;
			goto out;
		}
		switch (e->flags & MIG_PAGE_KIND_MASK) {
		case MIG_PAGE_NORMAL:
			if (nio && (u8 *)iov[nio - 1].iov_base + iov[nio - 1].iov_len == host) {
				iov[nio - 1].iov_len += PAGE_SIZE;
			} else {
				iov[nio].iov_base = host;
				iov[nio++].iov_len = PAGE_SIZE;
			}
			break;
		case MIG_PAGE_ENCRYPTED:
			iov[nio].iov_base = enc + enc_off;
			iov[nio++].iov_len = e->len;
			enc_off += e->len;
			break;
		}
	}
	ret = mig_chan__readv(c, iov, nio);
	if (ret)
		goto out;
	enc_off = 0;
	for (i = 0; i < h->count; i++) {
		struct mig_page_ent *e = &ents[i];
		u8 *host = page_host(in, e->page);

		bit_set(in->seen, e->page);
		switch (e->flags & MIG_PAGE_KIND_MASK) {
		case MIG_PAGE_ZERO:
			/* Fresh guest memory is zero: touch only what we wrote. */
			if (bit_test(in->written, e->page)) {
				memset(host, 0, PAGE_SIZE);
				bit_clear(in->written, e->page);
			}
			bit_clear(in->suspect, e->page);
			break;
		case MIG_PAGE_NORMAL:
			bit_set(in->written, e->page);
			if (!mig_crc__bad(mig_crc32(0, host, PAGE_SIZE), e->crc))
				bit_clear(in->suspect, e->page);
			else
				bit_set(in->suspect, e->page);
			break;
		case MIG_PAGE_ENCRYPTED:
			if (mig_crc__bad(mig_crc32(0, enc + enc_off, e->len), e->crc)) {
				bit_set(in->suspect, e->page);
			} else {
				ret = in->recv_encrypted(in, e->page, enc + enc_off, e->len);
				if (ret)
					goto out;
				bit_set(in->written, e->page);
				bit_clear(in->suspect, e->page);
			}
			enc_off += e->len;
			break;
		}
	}
	counted->records++;
	counted->pages += h->count;
	counted->bytes += h->len;
	in->pages_in += h->count;
	in->records_in++;
	in->bytes_in += MIG_HDR_SIZE + h->len;
out:
	free(enc);
	return ret;
}

static int default_section_ok(struct mig_incoming *in, u32 id, u32 instance)
{
	struct mig_section *s = mig_section__find(id);

	if (!s || !s->load)
		return -ENOENT;
	if (instance >= (s->count ? s->count(in->kvm) : 1))
		return -ERANGE;
	return 0;
}

static int recv_section(struct mig_incoming *in, struct mig_chan *c, const struct mig_hdr *h)
{
	struct mig_sec_buf *s;
	int ret;

	if (!in->got_hello)
		return -EPROTO;
	ret = (in->section_ok ? in->section_ok : default_section_ok)(in, h->id, h->count);
	if (ret) {
		mig_incoming__fail(in, ret, "section 0x%x instance %u: %s", h->id, h->count,
				   ret == -ENOENT ? "unknown here" : "no such instance here");
		return ret;
	}
	for (s = in->sections; s; s = s->next)
		if (s->id == h->id && s->instance == h->count) {
			mig_incoming__fail(in, -EPROTO, "section 0x%x instance %u sent twice",
					   h->id, h->count);
			return -EPROTO;
		}
	if (in->nr_sections >= MIG_MAX_NR_SECTIONS ||
	    h->len > MIG_MAX_SECTIONS_TOTAL - in->sections_bytes)
		return -EMSGSIZE;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->data = malloc(h->len ? h->len : 1);
	if (!s->data) {
		free(s);
		return -ENOMEM;
	}
	ret = mig_chan__recv_payload(c, h, s->data, h->len);
	if (ret) {
		free(s->data);
		free(s);
		return ret;
	}
	s->id = h->id;
	s->instance = h->count;
	s->len = h->len;
	s->next = in->sections;
	in->sections = s;
	in->sections_bytes += h->len;
	in->nr_sections++;
	return 0;
}

int mig_incoming__recv(struct mig_incoming *in, struct mig_chan *c, bool control,
		       struct mig_chan_end *counted)
{
	u8 small[MIG_MAX_SMALL];
	struct mig_hdr h;
	int ret;

	for (;;) {
		ret = mig_chan__recv_hdr(c, &h);
		if (ret)
			return ret;
		switch (h.type) {
		case MIG_REC_RAM:
			ret = recv_ram(in, c, &h, counted);
			break;
		case MIG_REC_SECTION:
			ret = control ? recv_section(in, c, &h) : -EPROTO;
			break;
		case MIG_REC_ROUND:
			ret = control ? mig_chan__recv_payload(c, &h, small, sizeof(small)) : -EPROTO;
			break;
		case MIG_REC_CHAN_END: {
			struct mig_chan_end e;

			if (control)
				return -EPROTO;
			ret = mig_chan__recv_payload(c, &h, small, sizeof(small));
			if (!ret)
				ret = mig_chan_end__decode(small, h.len, &e);
			if (!ret && (e.records != counted->records || e.pages != counted->pages ||
				     e.bytes != counted->bytes)) {
				mig_incoming__fail(in, -EPROTO, "data channel totals differ: sent %llu "
						   "pages, received %llu",
						   (unsigned long long)e.pages,
						   (unsigned long long)counted->pages);
				ret = -EPROTO;
			}
			return ret;
		}
		case MIG_REC_END:
			if (!control || !in->got_hello)
				return -EPROTO;
			ret = mig_chan__recv_payload(c, &h, small, sizeof(small));
			if (!ret)
				ret = mig_end__decode(small, h.len, &in->end);
			if (!ret)
				in->got_end = true;
			return ret;
		case MIG_REC_ABORT: {
			u32 st, f;
			char why[128];

			if (!control)
				return -EPROTO;
			ret = mig_chan__recv_payload(c, &h, small, sizeof(small));
			if (!ret)
				ret = mig_status__decode(small, h.len, &st, &f, why, sizeof(why));
			if (!ret)
				mig_incoming__fail(in, -ECANCELED, "source aborted: %s", why);
			return -ECANCELED;
		}
		default:	/* HELLO twice, or records of the other direction */
			ret = -EPROTO;
			break;
		}
		if (ret)
			return ret;
	}
}

int mig_incoming__hello(struct mig_incoming *in, struct mig_chan *c)
{
	u8 buf[MIG_MAX_HELLO];
	struct mig_buf reply = { 0 };
	struct mig_hdr h;
	char why[256] = "";
	int ret;

	ret = mig_chan__recv_hdr(c, &h);
	if (ret)
		return ret;
	if (h.type != MIG_REC_HELLO)
		return -EPROTO;
	ret = mig_chan__recv_payload(c, &h, buf, sizeof(buf));
	if (ret)
		return ret;
	ret = mig_shape__decode(buf, h.len, &in->peer);
	if (ret)
		snprintf(why, sizeof(why), "malformed machine description (%s)", strerror(-ret));
	else if (in->peer.session != in->session)
		ret = -EPROTO, snprintf(why, sizeof(why), "session id differs from the preamble's");
	else
		ret = mig_shape__compare(&in->peer, &in->local, why, sizeof(why));
	if (ret)
		mig_incoming__fail(in, ret, "refused: %s", why);
	in->accepted_features = ret ? 0 : in->peer.features;
	mig_status__encode(ret ? -ret : 0, in->accepted_features, ret ? why : "", &reply);
	if (!reply.err) {
		int r = mig_chan__send_rec(c, MIG_REC_HELLO_REPLY, 0, 0, reply.data, reply.len);

		if (!ret)
			ret = r;
	}
	mig_buf__free(&reply);
	if (!ret)
		in->got_hello = true;
	return ret;
}

static bool bitmap_any(_Atomic unsigned long *bm, u64 nbits, bool want_set, u64 *first)
{
	u64 i;

	for (i = 0; i < nbits; i++) {
		unsigned long w = atomic_load_explicit(&bm[i / BITS_PER_LONG],
						       memory_order_relaxed);

		if (!want_set && i % BITS_PER_LONG == 0 && i + BITS_PER_LONG <= nbits && w == ~0UL) {
			i += BITS_PER_LONG - 1;
			continue;
		}
		if (want_set && i % BITS_PER_LONG == 0 && !w) {
			i += BITS_PER_LONG - 1;
			continue;
		}
		if (!!(w & (1UL << (i % BITS_PER_LONG))) == want_set) {
			*first = i;
			return true;
		}
	}
	return false;
}

int mig_incoming__check_complete(struct mig_incoming *in, const struct mig_chan_end *chans,
				 int nr_chans)
{
	u64 pages = 0, p;
	int i;

	if (!in->got_end) {
		mig_incoming__fail(in, -EPROTO, "stream ended without END");
		return -EPROTO;
	}
	for (i = 0; i < nr_chans; i++)
		pages += chans[i].pages;
	if (pages != in->end.pages) {
		mig_incoming__fail(in, -EPROTO, "page count differs: source sent %llu, received %llu",
				   (unsigned long long)in->end.pages, (unsigned long long)pages);
		return -EPROTO;
	}
	if (in->nr_sections != in->end.nr_sections) {
		mig_incoming__fail(in, -EPROTO, "section count differs: source sent %u, received %u",
				   in->end.nr_sections, in->nr_sections);
		return -EPROTO;
	}
	if (bitmap_any(in->suspect, in->nr_pages, true, &p)) {
		mig_incoming__fail(in, -EBADMSG, "checksum mismatch on page %llu",
				   (unsigned long long)p);
		return -EBADMSG;
	}
	if (bitmap_any(in->seen, in->nr_pages, false, &p)) {
		mig_incoming__fail(in, -EPROTO, "page %llu never sent", (unsigned long long)p);
		return -EPROTO;
	}
	return 0;
}

/* ---- lkvm run --incoming ---- */

struct data_thread {
	struct mig_incoming *in;
	struct mig_chan chan;
	struct mig_chan_end counted;
	pthread_t tid;
	int ret;
	bool started;
};

static void *data_thread_fn(void *arg)
{
	struct data_thread *t = arg;

	t->ret = mig_incoming__recv(t->in, &t->chan, false, &t->counted);
	if (t->ret) {
		mig_incoming__fail(t->in, t->ret, "data channel: %s", strerror(-t->ret));
		/* Wake the control side, which waits for END meanwhile. */
		shutdown(t->chan.fd, SHUT_RDWR);
	}
	return NULL;
}

static int accept_preamble(int lfd, int timeout_ms, u32 *channel, u64 *session,
			   char *why, size_t n)
{
	u8 pre[MIG_PREAMBLE_SIZE];
	struct mig_chan c;
	u32 version;
	int fd, ret;

	fd = mig_tcp__accept(lfd, timeout_ms);
	if (fd < 0) {
		snprintf(why, n, "accept: %s", strerror(-fd));
		return fd;
	}
	mig_tcp__tune(fd, IDLE_TIMEOUT_MS);
	mig_chan__init_fd(&c, fd);
	ret = mig_chan__read(&c, pre, sizeof(pre));
	if (!ret)
		ret = mig_preamble__decode(pre, &version, channel, session);
	if (!ret && version != MIG_VERSION) {
		struct mig_buf b = { 0 };

		snprintf(why, n, "unsupported stream version %u (this lkvm speaks %u)",
			 version, MIG_VERSION);
		mig_status__encode(EPROTO, 0, why, &b);
		if (!b.err)
			mig_chan__send_rec(&c, MIG_REC_HELLO_REPLY, 0, 0, b.data, b.len);
		mig_buf__free(&b);
		ret = -EPROTO;
	} else if (ret) {
		snprintf(why, n, "not a migration stream (bad preamble)");
	}
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
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

/* Every registered section instance must have come: a missing vCPU state
 * would leave that vCPU in its reset state. */
static int check_sections_present(struct mig_incoming *in)
{
	struct mig_section *s;
	struct mig_sec_buf *b;

	for (s = mig_section__first(); s; s = s->next) {
		u32 n = s->count ? s->count(in->kvm) : 1, i;

		if (!s->load)
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
	int ret;

	/* In id order (the registry's), so e.g. the page map precedes SEV. */
	for (s = mig_section__first(); s; s = s->next) {
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
	return 0;
}

int migration__incoming(struct kvm *kvm)
{
	struct data_thread *threads = NULL;
	struct mig_chan_end ctrl_counted = { 0 }, all[MIG_MAX_CHANNELS + 1];
	struct mig_incoming in;
	struct mig_chan ctrl;
	u64 t0 = 0;
	u32 ch, nch = 0, i;
	int lfd, fd, ret;
	char why[256] = "";

	ret = mig_incoming__init(&in, kvm->nr_pages);
	if (ret)
		return ret;
	in.kvm = kvm;
	mig_shape__from_kvm(kvm, &in.local);
	in.local.features = MIG_F_ZERO_PAGES | MIG_F_PAGE_MAP;
	for (i = 0; i < (u32)kvm->nr_mem_banks && i < MIG_MAX_BANKS; i++) {
		in.banks[i].host = kvm->mem_banks[i].host_addr;
		in.banks[i].page_base = kvm->mem_banks[i].page_base;
		in.banks[i].nr_pages = kvm->mem_banks[i].size / PAGE_SIZE;
	}
	in.nr_banks = i;
	mig_chan__init_fd(&ctrl, -1);

	lfd = mig_tcp__listen(kvm->cfg.incoming);
	if (lfd < 0) {
		pr_err("migration: cannot listen on %s: %s", kvm->cfg.incoming, strerror(-lfd));
		ret = lfd;
		goto out_free;
	}
	pr_info("migration: waiting for the source on %s", kvm->cfg.incoming);
	fd = accept_preamble(lfd, -1, &ch, &in.session, why, sizeof(why));
	if (fd < 0 || ch != 0) {
		if (fd >= 0) {
			close(fd);
			snprintf(why, sizeof(why), "first connection is not a control channel");
		}
		pr_err("migration: %s", why);
		ret = -EPROTO;
		goto out_listen;
	}
	t0 = now_ns();
	mig_chan__init_fd(&ctrl, fd);
	ret = mig_incoming__hello(&in, &ctrl);
	if (ret)
		goto out_fail;
	nch = in.peer.nr_channels;
	threads = calloc(nch, sizeof(*threads));
	if (!threads) {
		ret = -ENOMEM;
		goto out_fail;
	}
	for (i = 0; i < nch; i++) {
		u64 session;

		fd = accept_preamble(lfd, CHANNEL_WAIT_MS, &ch, &session, why, sizeof(why));
		if (fd < 0) {
			mig_incoming__fail(&in, fd, "data channel %u: %s", i + 1, why);
			ret = fd;
			goto out_threads;
		}
		if (session != in.session || ch < 1 || ch > nch || threads[ch - 1].started) {
			close(fd);
			mig_incoming__fail(&in, -EPROTO, "unexpected data connection (channel %u)", ch);
			ret = -EPROTO;
			goto out_threads;
		}
		threads[ch - 1].in = &in;
		mig_chan__init_fd(&threads[ch - 1].chan, fd);
		ret = pthread_create(&threads[ch - 1].tid, NULL, data_thread_fn, &threads[ch - 1]);
		if (ret) {
			close(fd);
			ret = -ret;
			goto out_threads;
		}
		threads[ch - 1].started = true;
	}
	ret = mig_incoming__recv(&in, &ctrl, true, &ctrl_counted);

out_threads:
	if (ret) {
		/* Stop the data threads: they may be blocked reading. */
		for (i = 0; i < nch; i++)
			if (threads && threads[i].started)
				shutdown(threads[i].chan.fd, SHUT_RDWR);
	}
	for (i = 0; threads && i < nch; i++) {
		if (!threads[i].started)
			continue;
		pthread_join(threads[i].tid, NULL);
		if (!ret && threads[i].ret)
			ret = threads[i].ret;
		all[i] = threads[i].counted;
		mig_chan__close(&threads[i].chan);
	}
	if (ret)
		goto out_fail;
	all[nch] = ctrl_counted;
	ret = mig_incoming__check_complete(&in, all, nch + 1);
	if (!ret)
		ret = check_sections_present(&in);
	if (!ret)
		ret = load_sections(&in);
	if (ret)
		goto out_fail;
	/*
	 * Commit point: the source exits when it reads this ACK, so it goes out
	 * before our vCPUs start; if it cannot be sent we must not run.
	 */
	ret = send_ack(&ctrl, 0, "received, checked, running");
	if (ret) {
		pr_err("migration: cannot acknowledge to the source: %s", strerror(-ret));
		goto out_close;
	}
	pr_info("migration: received %llu pages in %llu records, %.1f MB in %.3f s; running",
		(unsigned long long)in.pages_in, (unsigned long long)in.records_in,
		in.bytes_in / 1e6, (now_ns() - t0) / 1e9);
	goto out_close;

out_fail:
	if (!in.reason[0])
		mig_incoming__fail(&in, ret, "%s", strerror(-ret));
	pr_err("migration: incoming migration failed: %s; the guest is not started", in.reason);
	if (ctrl.fd >= 0)
		send_ack(&ctrl, ret, in.reason);
out_close:
	mig_chan__close(&ctrl);
	free(threads);
out_listen:
	close(lfd);
out_free:
	mig_incoming__free(&in);
	return ret;
}

static int incoming_hook(struct kvm *kvm)
{
	if (!kvm->cfg.incoming)
		return 0;
	return migration__incoming(kvm);
}

static struct run_hook incoming_run_hook = {
	.name = "incoming migration",
	.prio = RUN_HOOK_INCOMING,
	.fn = incoming_hook,
};
run_hook_register(incoming_run_hook);
