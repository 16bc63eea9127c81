/*
 * The destination's record loop.  Records are checked header first; RAM
 * page data lands in guest memory (clear pages through a small buffer that
 * stays in cache, each copied once with its crc); state sections are
 * buffered and loaded (dest.c) only once the whole stream is in and
 * checked.  Nothing here touches KVM, so the unit tests and the fuzzer
 * drive exactly this code with in-memory streams.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "lkvm/kvm.h"
#include "lkvm/migration.h"

#define BITS_PER_LONG		(8 * sizeof(long))
#define MIG_MAX_NR_SECTIONS	1024

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
		vsnprintf_cut(in->reason, sizeof(in->reason), fmt, ap);
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
	free((void *)in->encrypted);
	in->written = in->suspect = in->seen = in->encrypted = NULL;
	for (s = in->sections; s; s = n) {
		n = s->next;
		free(s->data);
		free(s);
	}
	in->sections = NULL;
	pthread_mutex_destroy(&in->lock);
}

u8 *mig_incoming__page_host(struct mig_incoming *in, u64 page)
{
	int i;

	for (i = 0; i < in->nr_banks; i++) {
		struct mig_mem_bank *b = &in->banks[i];

		if (page >= b->page_base && page - b->page_base < b->nr_pages)
			return b->host + (page - b->page_base) * PAGE_SIZE;
	}
	return NULL;
}

/*
 * A channel's receive state, kept until the channel ends.  The buffers are
 * made by the first record that needs each (they were made and freed per
 * record: a sealed-packet or deflate buffer of up to MIG_MAX_RAM_LEN, and
 * an inflate state, for every 512 pages).  The record's tables were
 * thread-local: 37 KiB in every thread of the VMM, vCPUs included, zeroed
 * (so resident) as each started.
 */
struct chan_rx {
	u8 tab[MIG_MAX_BATCH * MIG_ENT_SIZE];
	struct mig_page_ent ents[MIG_MAX_BATCH];
	struct iovec iov[MIG_MAX_BATCH];
	bool crc_ok[MIG_MAX_BATCH];
	u8 *hosts[MIG_MAX_BATCH];	/* each entry's page, looked up once */
	u8 *bounce;		/* clear pages on their way into guest memory */
	u8 *enc;		/* ENCRYPTED and DEFLATE data: not guest memory yet */
	size_t enc_cap;
	z_stream *zs;		/* for DEFLATE pages */
};

static void chan_rx__free(struct chan_rx *rx)
{
	if (rx->zs) {
		inflateEnd(rx->zs);
		free(rx->zs);
	}
	free(rx->enc);
	free(rx->bounce);
	free(rx);
}

/*
 * A DEFLATE entry's data into its page.  Its crc (of the deflate bytes, as
 * an ENCRYPTED entry's covers the packet: a flip that would inflate to the
 * same page is damage all the same) was good; still, anything but a stream
 * that ends exactly at the page's end with all its input used is refused,
 * and the page is then suspect, as a NORMAL page with a bad crc.
 */
static int inflate_page(z_stream *zs, const u8 *in, u32 len, u8 *page)
{
	if (inflateReset(zs) != Z_OK)
		return -EIO;
	zs->next_in = (u8 *)in;
	zs->avail_in = len;
	zs->next_out = page;
	zs->avail_out = PAGE_SIZE;
	if (inflate(zs, Z_FINISH) != Z_STREAM_END || zs->avail_out || zs->avail_in)
		return -EBADMSG;
	return 0;
}

/*
 * A RAM record's NORMAL pages on a clear channel: read RECV_BOUNCE_PAGES at
 * a time into the channel's buffer, which stays in cache, then each page
 * checked and copied into guest memory in one pass
 * (mig_crc32_copy_page()).  Read straight into guest memory, the pages
 * were then read back for their crcs from wherever the copy left them;
 * this way guest memory is written once and never read.  crc_ok[i] says
 * whether entry i's page matched its crc.
 */
#define RECV_BOUNCE_PAGES	128

static int recv_pages_bounced(struct mig_chan *c, u32 count, const struct mig_page_ent *ents,
			      u8 *const *hosts, bool *crc_ok, struct chan_rx *rx)
{
	u32 idx[RECV_BOUNCE_PAGES];
	u32 i = 0, n, j;
	u8 *buf = rx->bounce;
	int ret = 0;

	if (!buf) {		/* the channel's first such record; freed when it ends */
		buf = rx->bounce = aligned_alloc(64, RECV_BOUNCE_PAGES * PAGE_SIZE);
		if (!buf)
			return -ENOMEM;
	}

	while (i < count) {
		for (n = 0; i < count && n < RECV_BOUNCE_PAGES; i++)
			if ((ents[i].flags & MIG_PAGE_KIND_MASK) == MIG_PAGE_NORMAL)
				idx[n++] = i;
		if (!n)
			break;
		ret = mig_chan__raw_read(c, buf, (size_t)n * PAGE_SIZE);
		if (ret)
			break;
		for (j = 0; j < n; j++) {
			u32 crc = mig_crc32_copy_page(hosts[idx[j]], buf + (size_t)j * PAGE_SIZE,
						      false);

			crc_ok[idx[j]] = !mig_crc__bad(crc, ents[idx[j]].crc);
		}
	}
	mig_crc32_copy_fence();		/* once per record, not per page */
	return ret;
}

static int recv_ram(struct mig_incoming *in, struct mig_chan *c, const struct mig_hdr *h,
		    struct mig_chan_end *counted, struct chan_rx *rx)
{
	u8 *tab = rx->tab, **hosts = rx->hosts;
	struct mig_page_ent *ents = rx->ents;
	struct iovec *iov = rx->iov;
	bool *crc_ok = rx->crc_ok;
	bool bounce;
	u8 *enc;
	size_t enc_len = 0, enc_off = 0;
	bool no_crc = in->accepted_features & MIG_F_NO_PAGE_CRC;
	int ret, nio = 0;
	u32 i, kind;

	if (!in->got_hello)
		return -EPROTO;
	if (no_crc && !c->crypt) {
		/* Only a GCM tag may stand in for the page crcs. */
		mig_incoming__fail(in, -EPROTO, "pages without crcs on a channel without --key");
		return -EPROTO;
	}
	ret = mig_chan__read(c, tab, (size_t)h->count * MIG_ENT_SIZE);
	if (ret)
		return ret;
	ret = mig_ram__decode_entries(h, tab, in->nr_pages, in->accepted_features, ents);
	if (ret) {
		mig_incoming__fail(in, ret, "bad RAM record (seq %u): %s", h->seq, mig_strerror(ret));
		return ret;
	}
	for (i = 0; i < h->count; i++) {
		kind = ents[i].flags & MIG_PAGE_KIND_MASK;
		if (kind == MIG_PAGE_ENCRYPTED && !in->recv_encrypted)
			return -EOPNOTSUPP;
		if (kind == MIG_PAGE_ENCRYPTED || kind == MIG_PAGE_DEFLATE)
			enc_len += ents[i].len;
		if (kind == MIG_PAGE_DEFLATE && !rx->zs) {
			rx->zs = calloc(1, sizeof(*rx->zs));
			if (!rx->zs || inflateInit2(rx->zs, -15) != Z_OK) {
				free(rx->zs);
				rx->zs = NULL;
				return -ENOMEM;
			}
		}
	}
	/*
	 * Clear pages with crcs: through a small buffer (recv_pages_bounced()),
	 * not straight into guest memory, unless there is other data to place.
	 */
	bounce = !c->crypt && !no_crc && !enc_len;
	if (enc_len > rx->enc_cap) {
		/*
		 * enc_len <= MIG_MAX_RAM_LEN (capped by the decoder): room for
		 * the largest record at once, so it is made once.  Its pages
		 * become resident only as far as records fill it.
		 */
		free(rx->enc);
		rx->enc_cap = max(enc_len, (size_t)MIG_MAX_RAM_LEN);
		rx->enc = malloc(rx->enc_cap);
		if (!rx->enc) {
			rx->enc_cap = 0;
			return -ENOMEM;
		}
	}
	enc = rx->enc;
	/* Page data lands in guest memory directly: the header said where. */
	for (i = 0; i < h->count; i++) {
		struct mig_page_ent *e = &ents[i];
		u8 *host = hosts[i] = mig_incoming__page_host(in, e->page);

		if (!host)
			return -ERANGE;
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
		case MIG_PAGE_DEFLATE:
			iov[nio].iov_base = enc + enc_off;
			iov[nio++].iov_len = e->len;
			enc_off += e->len;
			break;
		}
	}
	if (bounce)
		ret = recv_pages_bounced(c, h->count, ents, hosts, crc_ok, rx);
	else
		ret = mig_chan__readv(c, iov, nio);
	if (ret)
		return ret;
	enc_off = 0;
	for (i = 0; i < h->count; i++) {
		struct mig_page_ent *e = &ents[i];
		u8 *host = hosts[i];

		bit_set(in->seen, e->page);
		switch (e->flags & MIG_PAGE_KIND_MASK) {
		case MIG_PAGE_ZERO:
			/* Fresh guest memory is zero: touch only what we wrote. */
			if (bit_test(in->written, e->page)) {
				memset(host, 0, PAGE_SIZE);
				bit_clear(in->written, e->page);
			}
			bit_clear(in->suspect, e->page);
			if (in->encrypted)
				bit_clear(in->encrypted, e->page);
			break;
		case MIG_PAGE_NORMAL:
			bit_set(in->written, e->page);
			/* NO_PAGE_CRC: only on a sealed channel (checked above). */
			if (no_crc || (bounce ? crc_ok[i] :
				       !mig_crc__bad(mig_crc32(0, host, PAGE_SIZE), e->crc)))
				bit_clear(in->suspect, e->page);
			else
				bit_set(in->suspect, e->page);
			if (in->encrypted)
				bit_clear(in->encrypted, e->page);
			break;
		case MIG_PAGE_DEFLATE:
			/* Damaged data never reaches guest memory. */
			if (mig_crc__bad(mig_crc32(0, enc + enc_off, e->len), e->crc)) {
				bit_set(in->suspect, e->page);
			} else {
				bit_set(in->written, e->page);
				if (inflate_page(rx->zs, enc + enc_off, e->len, host))
					bit_set(in->suspect, e->page);
				else
					bit_clear(in->suspect, e->page);
			}
			if (in->encrypted)
				bit_clear(in->encrypted, e->page);
			enc_off += e->len;
			break;
		case MIG_PAGE_ENCRYPTED:
			if (mig_crc__bad(mig_crc32(0, enc + enc_off, e->len), e->crc)) {
				bit_set(in->suspect, e->page);
			} else {
				ret = in->recv_encrypted(in, e->page, enc + enc_off, e->len);
				if (ret)
					return ret;
				bit_set(in->written, e->page);
				bit_clear(in->suspect, e->page);
				if (in->encrypted)
					bit_set(in->encrypted, e->page);
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
	return 0;
}

static int default_section_ok(struct mig_incoming *in, u32 id, u32 instance)
{
	struct mig_section *s = mig_section__find(id);

	if (!s || !s->load)
		return -ENOENT;
	if (s->feature & ~in->accepted_features)
		return -EPROTO;
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
				   ret == -ENOENT ? "unknown here" : ret == -EPROTO ?
				   "its stream feature was not agreed at HELLO" :
				   "no such instance here");
		return ret;
	}
	for (s = in->sections; s; s = s->next)
		if (s->id == h->id && s->instance == h->count) {
			mig_incoming__fail(in, -EPROTO, "section 0x%x instance %u sent twice",
					   h->id, h->count);
			return -EPROTO;
		}
	/* Caps on what is buffered until END: named, not "record longer than allowed". */
	if (in->nr_sections >= MIG_MAX_NR_SECTIONS) {
		mig_incoming__fail(in, -EMSGSIZE, "more than %d sections", MIG_MAX_NR_SECTIONS);
		return -EMSGSIZE;
	}
	if (h->len > MIG_MAX_SECTIONS_TOTAL - in->sections_bytes) {
		mig_incoming__fail(in, -EMSGSIZE, "sections of more than %u MiB in all",
				   MIG_MAX_SECTIONS_TOTAL >> 20);
		return -EMSGSIZE;
	}
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

static int recv_records(struct mig_incoming *in, struct mig_chan *c, bool control,
			struct mig_chan_end *counted, struct chan_rx *rx)
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
			ret = recv_ram(in, c, &h, counted, rx);
			break;
		case MIG_REC_SECTION:
			ret = control ? recv_section(in, c, &h) : -EPROTO;
			break;
		case MIG_REC_ROUND: {
			struct mig_round r;

			ret = control ? mig_chan__recv_payload(c, &h, small, sizeof(small)) : -EPROTO;
			if (!ret)
				ret = mig_round__decode(small, h.len, &r);
			if (!ret) {	/* for lkvm migrate --status here */
				pthread_mutex_lock(&in->lock);
				in->last_round = r;
				pthread_mutex_unlock(&in->lock);
			}
			break;
		}
		case MIG_REC_SYNC:
			/* Everything before it is in guest memory: say so. */
			ret = mig_chan__send_rec(c, MIG_REC_SYNC_ACK, 0, h.id, NULL, 0);
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
			char why[MIG_MAX_REASON + 1];

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

int mig_incoming__recv(struct mig_incoming *in, struct mig_chan *c, bool control,
		       struct mig_chan_end *counted)
{
	struct chan_rx *rx = calloc(1, sizeof(*rx));
	int ret;

	if (!rx)
		return -ENOMEM;
	ret = recv_records(in, c, control, counted, rx);
	chan_rx__free(rx);
	return ret;
}

int mig_incoming__hello(struct mig_incoming *in, struct mig_chan *c)
{
	u8 buf[MIG_MAX_HELLO];
	struct mig_buf reply = { 0 };
	struct mig_hdr h;
	char why[MIG_REASON_SIZE] = "";
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
	if (!ret && in->adopt)
		ret = in->adopt(in->kvm, &in->peer, &in->local, why, sizeof(why));
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
	if (in->end.flags & MIG_END_MEM_CRC) {
		u32 crc = mig_mem_crc(in->banks, in->nr_banks);

		if (crc != in->end.mem_crc) {
			mig_incoming__fail(in, -EBADMSG, "guest memory checksum differs: source "
					   "0x%08x, received 0x%08x", in->end.mem_crc, crc);
			return -EBADMSG;
		}
	}
	return 0;
}
