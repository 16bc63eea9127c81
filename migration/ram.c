/*
 * Sending RAM: batches of up to MIG_MAX_BATCH pages, each page checked for
 * zero (then it costs one 24-byte entry) or checksummed: in clear, copied
 * out as its crc is computed into a buffer the kernel then reads from cache;
 * sealed or SEV, handed to the kernel as an iovec into guest memory (with
 * --compress, deflated into a batch buffer when that makes it shorter).
 * Pages are striped over the data channels in MIG_CHUNK_PAGES chunks, and a
 * page always takes the same channel, so TCP ordering keeps its copies in
 * round order.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "lkvm/migration.h"
#include "lkvm/page-map.h"
#include "lkvm/sev-migration.h"

#define BITS_PER_LONG	(8 * sizeof(long))
/*
 * Clear pages with crcs are copied out of guest memory as their crc is
 * computed (one read of the page), into a buffer this big that stays in
 * cache for the kernel's copy into the socket; a record ends when it is
 * full.  Measured against 32, 64, 256 and 512 (docs/migration-bench-log.md,
 * "Session 17: each page read once at each end").
 */
#define SEND_COPY_PAGES	128

bool mig_mem__anon_private(const void *p, u64 len)
{
	unsigned long lo, hi, ino, a = (unsigned long)p;
	char perms[8], line[512];
	bool ok = false;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		/* "lo-hi perms offset dev inode [path]": anonymous has inode 0, no path
		 * (or a bracketed pseudo name). */
		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &lo, &hi, perms, &ino) != 4)
			continue;
		if (a < lo || a >= hi)
			continue;
		ok = a + len <= hi && !strcmp(perms, "rw-p") && ino == 0 && !strchr(line, '/');
		break;
	}
	fclose(f);
	return ok;
}

/*
 * Round 0 of a mostly untouched guest: instead of reading every page (a
 * read fault each), ask /proc/self/pagemap which pages were ever mapped.
 * Bit 63 present, bit 62 swapped: neither means the kernel never gave the
 * page to us, so it reads as zero.  Returns false if pagemap is unusable.
 */
static int pagemap_fd = -2;
static pthread_once_t pagemap_once = PTHREAD_ONCE_INIT;

static void pagemap_open(void)
{
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
}

static bool untouched_pages(const u8 *host, u64 n, u64 *ents)
{
	ssize_t want = n * sizeof(u64);

	pthread_once(&pagemap_once, pagemap_open);
	if (pagemap_fd < 0)
		return false;
	return pread(pagemap_fd, ents, want, (unsigned long)host / PAGE_SIZE * sizeof(u64)) == want;
}

#define PM_PRESENT	(1ULL << 63)
#define PM_SWAPPED	(1ULL << 62)

int mig_mem__for_each_touched(const struct mig_mem_bank *b, void (*fn)(u64 page, void *arg),
			      void *arg)
{
	static u64 ents[MIG_CHUNK_PAGES];
	u64 p, i, n;

	for (p = 0; p < b->nr_pages; p += n) {
		n = min(b->nr_pages - p, (u64)MIG_CHUNK_PAGES);
		if (!b->anon_private || !untouched_pages(b->host + p * PAGE_SIZE, n, ents)) {
			for (i = 0; i < n; i++)		/* unknown: assume touched */
				fn(b->page_base + p + i, arg);
			continue;
		}
		for (i = 0; i < n; i++)
			if (ents[i] & (PM_PRESENT | PM_SWAPPED))
				fn(b->page_base + p + i, arg);
	}
	return 0;
}

/*
 * A channel's sender state: the batch being built and the buffers its
 * pages go through, made once and kept for every round of the migration
 * (they were made and freed in each round: 512 KiB of copy buffer per
 * channel, and the batch tables lived in every thread's TLS).
 */
struct mig_ram_tx {
	u32 n;
	int nio;
	u64 data_len;
	struct mig_page_ent ents[MIG_MAX_BATCH];
	u8 tab[MIG_MAX_BATCH * MIG_ENT_SIZE];
	struct iovec iov[MIG_MAX_BATCH + 2];
	u8 hdr[MIG_HDR_SIZE];
	u8 *enc;			/* SEV: sealed packets of this batch */
	size_t enc_used;
	z_stream *zs;			/* --compress */
	u8 *zbuf;			/* this batch's deflated pages */
	size_t zused;
	u8 *scratch;			/* the page being deflated, copied out of the guest */
	u8 *copy;			/* clear pages, copied out with their crcs */
	u32 ncopy;
	bool deflating, copying;	/* this call's: which of the buffers it uses */
	u32 normal, zero, encrypted;	/* counted in the stats once sent */
	u32 deflated;
	u64 deflate_in, deflate_out;
	u64 pm[MIG_CHUNK_PAGES];	/* a chunk's pagemap entries (round 0) */
};

/* An empty batch: no pages, nothing in the buffers, nothing counted. */
static void batch_clear(struct mig_ram_tx *b)
{
	b->n = 0;
	b->nio = 0;
	b->data_len = 0;
	b->enc_used = 0;
	b->zused = 0;
	b->ncopy = 0;
	b->normal = b->zero = b->encrypted = b->deflated = 0;
	b->deflate_in = b->deflate_out = 0;
}

static int flush(struct mig_chan *c, struct mig_ram_tx *b, u32 round, struct mig_ram_stats *st)
{
	struct mig_hdr h = { .type = MIG_REC_RAM, .count = b->n, .id = round };
	u32 i;
	int ret;

	if (!b->n)
		return 0;
	for (i = 0; i < b->n; i++)
		mig_ent__encode(&b->ents[i], b->tab + (size_t)i * MIG_ENT_SIZE);
	h.seq = c->seq_out;
	h.len = (u64)b->n * MIG_ENT_SIZE + b->data_len;
	h.crc = mig_crc32(0, b->tab, (size_t)b->n * MIG_ENT_SIZE);
	mig_hdr__encode(&h, b->hdr);
	b->iov[0].iov_base = b->hdr;
	b->iov[0].iov_len = MIG_HDR_SIZE;
	b->iov[1].iov_base = b->tab;
	b->iov[1].iov_len = (size_t)b->n * MIG_ENT_SIZE;
	ret = mig_chan__writev(c, b->iov, b->nio + 2);
	if (ret)
		return ret;
	c->seq_out++;
	st->sent.records++;
	st->normal += b->normal;
	st->zero += b->zero;
	st->encrypted += b->encrypted;
	st->deflated += b->deflated;
	st->deflate_in += b->deflate_in;
	st->deflate_out += b->deflate_out;
	/* Read by the migration thread for progress while this one sends. */
	__atomic_store_n(&st->sent.pages, st->sent.pages + b->n, __ATOMIC_RELAXED);
	__atomic_store_n(&st->sent.bytes, st->sent.bytes + h.len, __ATOMIC_RELAXED);
	batch_clear(b);
	return 0;
}

/* Append [p, p+len) to the batch's data iovecs, merging with a neighbour. */
static void add_iov(struct mig_ram_tx *b, void *p, size_t len)
{
	struct iovec *last = b->nio ? &b->iov[b->nio + 1] : NULL;

	if (last && (u8 *)last->iov_base + last->iov_len == p) {
		last->iov_len += len;
	} else {
		b->iov[b->nio + 2].iov_base = p;
		b->iov[b->nio + 2].iov_len = len;
		b->nio++;
	}
	b->data_len += len;
}

/*
 * SEV (issue 6): a private page is never read here; the firmware seals it
 * (SEND_UPDATE_DATA) into the batch's packet buffer.
 */
static int add_sealed(struct mig_ram_tx *b, struct mig_page_ent *e,
		      const struct sev_mig_pages *sev, u8 *host)
{
	u8 *out = b->enc + b->enc_used;
	u32 len;
	int ret;

	ret = sev->seal(sev, host, out, &len);
	if (ret)
		return ret;
	e->flags = MIG_PAGE_ENCRYPTED;
	e->len = len;
	e->crc = mig_crc32(0, out, len);
	add_iov(b, out, len);
	b->enc_used += len;
	b->encrypted++;
	return 0;
}

/*
 * --compress: the page deflated into the batch buffer, if that is shorter
 * than a page (else false, and it goes as it is).  Deflated from a copy:
 * deflate reads its input more than once, and a guest writing the page
 * meanwhile must not make the data describe no page at all (a page that
 * changed is dirty and comes again; this copy is consistent in itself).
 */
static bool add_deflated(struct mig_ram_tx *b, struct mig_page_ent *e, const u8 *host)
{
	u8 *out = b->zbuf + b->zused;
	z_stream *zs = b->zs;
	u32 len;

	memcpy(b->scratch, host, PAGE_SIZE);
	if (deflateReset(zs) != Z_OK)
		return false;
	zs->next_in = b->scratch;
	zs->avail_in = PAGE_SIZE;
	zs->next_out = out;
	zs->avail_out = PAGE_SIZE - 1;
	if (deflate(zs, Z_FINISH) != Z_STREAM_END)
		return false;		/* incompressible: no shorter than a page */
	len = PAGE_SIZE - 1 - zs->avail_out;
	e->flags = MIG_PAGE_DEFLATE;
	e->len = len;
	e->crc = mig_crc32(0, out, len);	/* of what goes on the wire, as ENCRYPTED's */
	add_iov(b, out, len);
	b->zused += len;
	b->deflated++;
	b->deflate_in += PAGE_SIZE;
	b->deflate_out += len;
	return true;
}

/*
 * The sender's reads of a guest page, which the guest and lkvm's devices
 * may be writing meanwhile: that is pre-copy.  A page written after it was
 * read is dirty and goes again (the last round with everything paused),
 * and the destination holds a page whose crc does not match as suspect
 * until then.  Each read is its own function so that tests/tsan/vmm.supp
 * names these races, and no other.
 */
static bool guest_page_is_zero(const void *host)
{
	return mig_page_is_zero(host);
}

/* Into the send buffer, with its crc: the crc is of what is sent. */
static u32 guest_page_copy(u8 *dst, const void *host)
{
	return mig_crc32_copy_page(dst, host, true);
}

/* Sent where it lies (an SEV guest's shared pages). */
static u32 guest_page_crc(const void *host)
{
	return mig_crc32(0, host, PAGE_SIZE);
}

static int add_page(const struct mig_ram_src *r, struct mig_chan *c, struct mig_ram_tx *b,
		    u64 page, u8 *host, u32 round, struct mig_ram_stats *st, bool untouched)
{
	const struct sev_mig_pages *sev = r->sev;
	struct mig_page_ent *e = &b->ents[b->n++];
	bool shared = sev && page_map__is_shared(sev->pm, page);
	int ret;

	e->page = page;
	if (sev && !shared) {
		ret = add_sealed(b, e, sev, host);
		if (ret)
			return ret;
	} else if (untouched || guest_page_is_zero(host)) {
		e->flags = MIG_PAGE_ZERO;
		e->len = 0;
		e->crc = 0;
		b->zero++;
	} else if (b->deflating && add_deflated(b, e, host)) {
		/* in the batch buffer */
	} else {
		e->flags = MIG_PAGE_NORMAL;
		e->len = PAGE_SIZE;
		/*
		 * Sealed, the page's bytes are under the frame's GCM tag, which
		 * checks them better than a crc; the crc pass cost a fifth of the
		 * sealed stream's speed (docs/migration.md, "With a key").
		 */
		if (b->copying) {
			/* Copied as its crc is computed: the send reads it from cache. */
			u8 *dst = b->copy + (size_t)b->ncopy++ * PAGE_SIZE;

			e->crc = guest_page_copy(dst, host);
			add_iov(b, dst, PAGE_SIZE);
		} else {
			e->crc = r->no_page_crc ? 0 : guest_page_crc(host);
			/* Guest memory in place; neighbours become one iovec. */
			add_iov(b, host, PAGE_SIZE);
		}
		b->normal++;
	}
	if (shared)	/* the page map's view when it was read */
		e->flags |= MIG_PAGE_SHARED;
	if (b->n < MIG_MAX_BATCH && !(b->copying && b->ncopy == SEND_COPY_PAGES))
		return 0;
	/* lkvm migrate --cancel: stop between records, the stream stays whole. */
	if (r->stop && atomic_load_explicit(r->stop, memory_order_relaxed))
		return -ECANCELED;
	return flush(c, b, round, st);
}

void mig_ram_tx__free(struct mig_ram_tx **txp)
{
	struct mig_ram_tx *b = *txp;

	if (!b)
		return;
	if (b->zs) {
		deflateEnd(b->zs);
		free(b->zs);
	}
	free(b->zbuf);
	free(b->scratch);
	free(b->enc);
	free(b->copy);
	free(b);
	*txp = NULL;
}

/*
 * The buffers this channel's pages need, each made the first time it is
 * needed (sealed channels copy nothing, --compress deflates, SEV seals) and
 * kept: a later round finds them.
 */
static int tx_prepare(struct mig_ram_tx *b, const struct mig_ram_src *r, const struct mig_chan *c)
{
	if (r->sev && !b->enc) {
		b->enc = malloc((size_t)MIG_MAX_BATCH * sev_mig_pkt__len(r->sev->hdr_len));
		if (!b->enc)
			return -ENOMEM;
	}
	if (r->deflate_level && !b->zs) {
		/*
		 * Raw deflate: the entry's crc32 already guards the data.  A 4 KiB
		 * window covers the page; it and the default hash size measured
		 * fastest per page (memLevel 4 was slower: more collisions).
		 */
		if (!b->zbuf)
			b->zbuf = malloc((size_t)MIG_MAX_BATCH * PAGE_SIZE);
		if (!b->scratch)
			b->scratch = malloc(PAGE_SIZE);
		b->zs = calloc(1, sizeof(*b->zs));
		if (!b->zs || !b->zbuf || !b->scratch ||
		    deflateInit2(b->zs, r->deflate_level, Z_DEFLATED, -12, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK) {
			free(b->zs);
			b->zs = NULL;
			return -ENOMEM;
		}
	}
	if (!c->crypt && !r->sev && !r->no_page_crc && !b->copy) {
		b->copy = aligned_alloc(64, SEND_COPY_PAGES * PAGE_SIZE);
		if (!b->copy)
			return -ENOMEM;
	}
	return 0;
}

int mig_ram__send(const struct mig_ram_src *r, struct mig_chan *c, struct mig_ram_tx **txp,
		  u32 idx, const unsigned long *bm, u32 round, struct mig_ram_stats *st)
{
	struct mig_ram_tx *once = NULL, **keep = txp ? txp : &once;
	struct mig_ram_tx *tx = *keep;
	int bank, ret;

	if (r->no_page_crc && !c->crypt)
		return -EINVAL;		/* unchecked pages in clear: never */
	if (!tx) {
		tx = *keep = calloc(1, sizeof(*tx));
		if (!tx)
			return -ENOMEM;
	}
	ret = tx_prepare(tx, r, c);
	if (ret)
		goto out;
	/* What this call uses of what the channel has: its own settings. */
	tx->deflating = r->deflate_level;
	tx->copying = !c->crypt && !r->sev && !r->no_page_crc;
	batch_clear(tx);	/* a failed round may have left one half built */
	for (bank = 0; bank < r->nr_banks; bank++) {
		const struct mig_mem_bank *mb = &r->banks[bank];
		u64 first = mb->page_base, end = mb->page_base + mb->nr_pages;
		u64 chunk = first / MIG_CHUNK_PAGES;

		/* Walk only this channel's chunks. */
		chunk += (idx + r->nr_channels - chunk % r->nr_channels) % r->nr_channels;
		for (; chunk * MIG_CHUNK_PAGES < end; chunk += r->nr_channels) {
			u64 p = max(chunk * MIG_CHUNK_PAGES, first), p0 = p;
			u64 stop = min((chunk + 1) * MIG_CHUNK_PAGES, end);
			bool pm_ok = !bm && mb->anon_private &&
				     untouched_pages(mb->host + (p - first) * PAGE_SIZE, stop - p,
						     tx->pm);

			for (; p < stop; p++) {
				if (bm) {
					unsigned long w = bm[p / BITS_PER_LONG] >> (p % BITS_PER_LONG);

					if (!w) {	/* skip to the next word */
						p = ALIGN_DOWN(p, BITS_PER_LONG) + BITS_PER_LONG - 1;
						continue;
					}
					if (!(w & 1))
						continue;
				}
				ret = add_page(r, c, tx, p, mb->host + (p - first) * PAGE_SIZE, round, st,
					       pm_ok && !(tx->pm[p - p0] & (PM_PRESENT | PM_SWAPPED)));
				if (ret)
					goto out;
			}
		}
	}
	ret = flush(c, tx, round, st);
out:
	mig_ram_tx__free(&once);	/* no *txp: nothing kept */
	return ret;
}

int mig_ram__send_chan_end(struct mig_chan *c, const struct mig_ram_stats *st)
{
	u8 buf[24];

	mig_chan_end__encode(&st->sent, buf);
	return mig_chan__send_rec(c, MIG_REC_CHAN_END, 0, 0, buf, sizeof(buf));
}
