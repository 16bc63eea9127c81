/*
 * The migration stream codec and the destination's record loop, driven
 * through in-memory streams: round trips, and every class of malformed
 * input the decoder must refuse (docs/migration-stream.md).
 */
#include <errno.h>
#include <zlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lkvm/cpuid.h"
#include "lkvm/migration.h"
#include "test.h"

#define NPAGES	8

static u8 src_mem[NPAGES * 4096] __attribute__((aligned(4096)));
static u8 dst_mem[NPAGES * 4096] __attribute__((aligned(4096)));
static int deflate_level;	/* the streams below with --compress's DEFLATE pages */

/* A stream under construction: a memfd the sender writes to. */
struct wstream {
	int fd;
	struct mig_chan c;
};

static void ws_open(struct wstream *w)
{
	w->fd = memfd_create("mig", 0);
	mig_chan__init_fd(&w->c, w->fd);
}

static u8 *ws_take(struct wstream *w, size_t *len)
{
	off_t n = lseek(w->fd, 0, SEEK_END);
	u8 *buf = malloc(n ? n : 1);

	pread(w->fd, buf, n, 0);
	close(w->fd);
	*len = n;
	return buf;
}

static void fill_shape(struct mig_shape *s)
{
	memset(s, 0, sizeof(*s));
	s->features = MIG_F_ZERO_PAGES;
	s->nr_channels = 1;
	s->nr_cpus = 1;
	s->nr_banks = 1;
	s->nr_pages = NPAGES;
	s->banks[0].gpa = 0;
	s->banks[0].size = NPAGES * 4096;
	strcpy(s->devices, "serial");
	s->devices_len = 6;
}

static void fill_src(void)
{
	u32 i;

	memset(src_mem, 0, sizeof(src_mem));
	for (i = 0; i < NPAGES; i++)
		if (i % 3)		/* pages 0, 3, 6 stay zero */
			memset(src_mem + i * 4096, 0x11 * (i + 1), 4096);
	src_mem[5 * 4096 + 100] = 0x5a;
}

static const struct mig_ram_src *ram_src(void)
{
	static struct mig_ram_src r;

	r.banks[0].host = src_mem;
	r.banks[0].page_base = 0;
	r.banks[0].nr_pages = NPAGES;
	r.nr_banks = 1;
	r.nr_pages = NPAGES;
	r.nr_channels = 1;
	r.deflate_level = deflate_level;
	return &r;
}

static u32 sec_instances = 2;	/* of section 0x10 */
static bool registry_ok;	/* receive() asks the real registry (mig-section.c) */

static int sec_ok(struct mig_incoming *in, u32 id, u32 instance)
{
	return id == 0x10 && instance < sec_instances ? 0 : -ENOENT;
}

/* HELLO; RAM round 0 (all pages); SECTION 0x10/0 and 0x10/1; END. */
static u8 *good_stream(size_t *len, u32 sections_claimed)
{
	struct wstream w;
	struct mig_shape s;
	struct mig_buf b = { 0 };
	struct mig_ram_stats st = { 0 };
	struct mig_end end = { .rounds = 1 };
	u8 pre[MIG_PREAMBLE_SIZE], eb[24];

	ws_open(&w);
	mig_preamble__encode(pre, 0, 42);
	mig_chan__writev(&w.c, &(struct iovec){ pre, sizeof(pre) }, 1);
	fill_shape(&s);
	s.session = 42;
	if (deflate_level)
		s.features |= MIG_F_DEFLATE;
	mig_shape__encode(&s, &b);
	mig_chan__send_rec(&w.c, MIG_REC_HELLO, 0, 0, b.data, b.len);
	mig_buf__free(&b);
	mig_ram__send(ram_src(), &w.c, NULL, 0, NULL, 0, &st);
	CHECK_EQ(st.deflated, deflate_level ? 5 : 0);	/* the 5 pages that are not zero */
	mig_chan__send_rec(&w.c, MIG_REC_SECTION, 0, 0x10, "cpu0", 4);
	mig_chan__send_rec(&w.c, MIG_REC_SECTION, 1, 0x10, "cpu1!", 5);
	end.pages = st.sent.pages;
	end.nr_sections = sections_claimed;
	mig_end__encode(&end, eb);
	mig_chan__send_rec(&w.c, MIG_REC_END, 0, 0, eb, sizeof(eb));
	return ws_take(&w, len);
}

/* The whole destination path over one buffer, as the fuzzer drives it. */
static int receive(const u8 *buf, size_t len, char *why, size_t wn)
{
	struct mig_incoming in;
	struct mig_chan c;
	struct mig_chan_end counted = { 0 };
	u8 pre[MIG_PREAMBLE_SIZE];
	u32 version, ch;
	u64 session;
	int ret;

	memset(dst_mem, 0, sizeof(dst_mem));
	if (mig_incoming__init(&in, NPAGES))
		return -ENOMEM;
	fill_shape(&in.local);
	in.local.features = MIG_F_ZERO_PAGES | MIG_F_PAGE_MAP | MIG_F_DEFLATE;
	in.banks[0].host = dst_mem;
	in.banks[0].nr_pages = NPAGES;
	in.nr_banks = 1;
	in.local.features |= MIG_F_PCI_STATE;
	in.section_ok = registry_ok ? NULL : sec_ok;
	mig_chan__init_buf(&c, buf, len);
	ret = mig_chan__read(&c, pre, sizeof(pre));
	if (!ret)
		ret = mig_preamble__decode(pre, &version, &ch, &session);
	if (!ret && version != MIG_VERSION)
		ret = -EPROTO;
	in.session = session;
	if (!ret)
		ret = mig_incoming__hello(&in, &c);
	if (!ret)
		ret = mig_incoming__recv(&in, &c, true, &counted);
	if (!ret)
		ret = mig_incoming__check_complete(&in, &counted, 1);
	if (why)
		snprintf_cut(why, wn, "%s", in.reason);
	mig_incoming__free(&in);
	return ret;
}

static void test_hdr_roundtrip(void)
{
	struct mig_hdr h = { .type = MIG_REC_RAM, .count = 3, .id = 7, .seq = 9,
			     .len = 3 * MIG_ENT_SIZE + 4096, .crc = 0xdeadbeef }, g;
	u8 b[MIG_HDR_SIZE];

	mig_hdr__encode(&h, b);
	CHECK_EQ(mig_hdr__decode(b, 9, &g), 0);
	CHECK_EQ(g.type, h.type);
	CHECK_EQ(g.count, 3);
	CHECK_EQ(g.id, 7);
	CHECK_EQ(g.len, h.len);
	CHECK_EQ(g.crc, 0xdeadbeef);
}

static int hdr_with(struct mig_hdr h, u32 seq)
{
	u8 b[MIG_HDR_SIZE];
	struct mig_hdr g;

	mig_hdr__encode(&h, b);
	return mig_hdr__decode(b, seq, &g);
}

static void test_hdr_malformed(void)
{
	struct mig_hdr ok = { .type = MIG_REC_END, .len = 24 }, h;
	u8 b[MIG_HDR_SIZE];
	u32 i;

	CHECK_EQ(hdr_with(ok, 0), 0);
	CHECK_EQ(hdr_with(ok, 1), -EPROTO);		/* seq gap */
	h = ok; h.type = 99;
	CHECK_EQ(hdr_with(h, 0), -EPROTO);		/* unknown type */
	h = ok; h.len = 65;
	CHECK_EQ(hdr_with(h, 0), -EMSGSIZE);		/* over the type's cap */
	h = ok; h.type = MIG_REC_SECTION; h.len = MIG_MAX_SECTION + 1ULL;
	CHECK_EQ(hdr_with(h, 0), -EMSGSIZE);
	h = ok; h.type = MIG_REC_RAM; h.count = 0; h.len = 0;
	CHECK_EQ(hdr_with(h, 0), -EPROTO);		/* empty RAM record */
	h.count = MIG_MAX_BATCH + 1; h.len = (u64)h.count * MIG_ENT_SIZE;
	CHECK_EQ(hdr_with(h, 0), -EPROTO);		/* batch too large */
	h.count = 4; h.len = 4 * MIG_ENT_SIZE - 1;
	CHECK_EQ(hdr_with(h, 0), -EPROTO);		/* table longer than len */
	h = ok; h.count = 1;
	CHECK_EQ(hdr_with(h, 0), -EPROTO);		/* count on a non-RAM record */
	h = ok; h.len = ~0ULL;
	CHECK(hdr_with(h, 0) < 0);
	/* Reserved bytes and every single bit flip of a good header. */
	mig_hdr__encode(&ok, b);
	b[30] = 1;
	CHECK(mig_hdr__decode(b, 0, &h) < 0);
	for (i = 0; i < MIG_HDR_SIZE * 8; i++) {
		mig_hdr__encode(&ok, b);
		b[i / 8] ^= 1 << (i % 8);
		CHECK(mig_hdr__decode(b, 0, &h) < 0);
	}
}

static void test_preamble(void)
{
	u8 p[MIG_PREAMBLE_SIZE];
	u32 v, ch;
	u64 s;

	mig_preamble__encode(p, 3, 0x1122334455667788ULL);
	CHECK_EQ(mig_preamble__decode(p, &v, &ch, &s), 0);
	CHECK_EQ(v, MIG_VERSION);
	CHECK_EQ(ch, 3);
	CHECK(s == 0x1122334455667788ULL);
	p[0] ^= 1;
	CHECK_EQ(mig_preamble__decode(p, &v, &ch, &s), -EPROTO);
	mig_preamble__encode(p, MIG_MAX_CHANNELS + 1, 0);
	CHECK_EQ(mig_preamble__decode(p, &v, &ch, &s), -EPROTO);
}

/* Build a RAM record's header + table from entries; returns decode result. */
static int ents_check(struct mig_page_ent *e, u32 n, u64 len_adjust, u32 features, u32 rsvd_at)
{
	u8 tab[MIG_MAX_BATCH * MIG_ENT_SIZE];
	struct mig_page_ent out[MIG_MAX_BATCH];
	struct mig_hdr h = { .type = MIG_REC_RAM, .count = n };
	u32 i;

	h.len = (u64)n * MIG_ENT_SIZE + len_adjust;
	for (i = 0; i < n; i++) {
		mig_ent__encode(&e[i], tab + i * MIG_ENT_SIZE);
		h.len += e[i].len;
	}
	if (rsvd_at)
		tab[rsvd_at] = 1;
	h.crc = mig_crc32(0, tab, n * MIG_ENT_SIZE);
	return mig_ram__decode_entries(&h, tab, NPAGES, features, out);
}

static void test_entries(void)
{
	const u32 F = MIG_F_ZERO_PAGES;
	struct mig_page_ent e[3] = {
		{ 1, MIG_PAGE_NORMAL, 4096, 5 }, { 2, MIG_PAGE_ZERO, 0, 0 },
		{ 7, MIG_PAGE_NORMAL | MIG_PAGE_SHARED, 4096, 6 },
	};
	struct mig_page_ent b[3];

	CHECK_EQ(ents_check(e, 3, 0, F, 0), 0);
	CHECK_EQ(ents_check(e, 3, 1, F, 0), -EPROTO);		/* len != table + data */
	CHECK_EQ(ents_check(e, 3, 0, F, 20), -EPROTO);		/* reserved field */
	CHECK_EQ(ents_check(e, 3, 0, 0, 0), -EPROTO);		/* ZERO not negotiated */
	memcpy(b, e, sizeof(b)); b[2].page = NPAGES;
	CHECK_EQ(ents_check(b, 3, 0, F, 0), -ERANGE);		/* page >= nr_pages */
	memcpy(b, e, sizeof(b)); b[2].page = ~0ULL;
	CHECK_EQ(ents_check(b, 3, 0, F, 0), -ERANGE);
	memcpy(b, e, sizeof(b)); b[1].page = 1;
	CHECK_EQ(ents_check(b, 3, 0, F, 0), -EPROTO);		/* duplicate */
	memcpy(b, e, sizeof(b)); b[1].page = 0;
	CHECK_EQ(ents_check(b, 3, 0, F, 0), -EPROTO);		/* not increasing */
	memcpy(b, e, sizeof(b)); b[0].flags |= 1 << 9;
	CHECK_EQ(ents_check(b, 3, 0, F, 0), -EPROTO);		/* unknown flag */
	memcpy(b, e, sizeof(b)); b[0].flags = 9;
	CHECK_EQ(ents_check(b, 3, 0, F, 0), -EPROTO);		/* unknown kind */
	memcpy(b, e, sizeof(b)); b[0].len = 4095;
	CHECK_EQ(ents_check(b, 3, 0, F, 0), -EPROTO);		/* short page */
	memcpy(b, e, sizeof(b)); b[1].len = 8;
	CHECK_EQ(ents_check(b, 3, 0, F, 0), -EPROTO);		/* zero page with data */
	memcpy(b, e, sizeof(b)); b[1].crc = 1;
	CHECK_EQ(ents_check(b, 3, 0, F, 0), -EPROTO);
	memcpy(b, e, sizeof(b)); b[0].flags = MIG_PAGE_ENCRYPTED; b[0].len = 4 + 52 + 4096;
	CHECK_EQ(ents_check(b, 3, 0, F, 0), -EPROTO);		/* SEV not negotiated */
	CHECK_EQ(ents_check(b, 3, 0, F | MIG_F_SEV_PAGES, 0), 0);
	b[0].len = 4 + 51 + 4096;
	CHECK_EQ(ents_check(b, 3, 0, F | MIG_F_SEV_PAGES, 0), -EPROTO);
	b[0].len = 4 + 1025 + 4096;
	CHECK_EQ(ents_check(b, 3, 0, F | MIG_F_SEV_PAGES, 0), -EPROTO);
	/* DEFLATE: negotiated, 1 to 4095 bytes (a page that does not shrink goes NORMAL). */
	memcpy(b, e, sizeof(b)); b[0].flags = MIG_PAGE_DEFLATE; b[0].len = 100;
	CHECK_EQ(ents_check(b, 3, 0, F, 0), -EPROTO);
	CHECK_EQ(ents_check(b, 3, 0, F | MIG_F_DEFLATE, 0), 0);
	b[0].len = 4095;
	CHECK_EQ(ents_check(b, 3, 0, F | MIG_F_DEFLATE, 0), 0);
	b[0].len = 4096;
	CHECK_EQ(ents_check(b, 3, 0, F | MIG_F_DEFLATE, 0), -EPROTO);
	b[0].len = 0;
	CHECK_EQ(ents_check(b, 3, 0, F | MIG_F_DEFLATE, 0), -EPROTO);
	/* NO_PAGE_CRC (--key): a NORMAL page's crc field must be 0. */
	CHECK_EQ(ents_check(e, 3, 0, F | MIG_F_NO_PAGE_CRC, 0), -EPROTO);
	memcpy(b, e, sizeof(b)); b[0].crc = 0; b[2].crc = 0;
	CHECK_EQ(ents_check(b, 3, 0, F | MIG_F_NO_PAGE_CRC, 0), 0);
	b[2].crc = 1;
	CHECK_EQ(ents_check(b, 3, 0, F | MIG_F_NO_PAGE_CRC, 0), -EPROTO);
	memcpy(b, e, sizeof(b)); b[0].crc = 0; b[2].crc = 0; b[1].crc = 1;
	CHECK_EQ(ents_check(b, 3, 0, F | MIG_F_NO_PAGE_CRC, 0), -EPROTO);	/* ZERO still 0 */
}

static void test_entries_bad_crc(void)
{
	u8 tab[MIG_ENT_SIZE];
	struct mig_page_ent e = { 1, MIG_PAGE_NORMAL, 4096, 0 }, out;
	struct mig_hdr h = { .type = MIG_REC_RAM, .count = 1, .len = MIG_ENT_SIZE + 4096 };

	mig_ent__encode(&e, tab);
	h.crc = mig_crc32(0, tab, sizeof(tab)) ^ 1;
	CHECK_EQ(mig_ram__decode_entries(&h, tab, NPAGES, MIG_F_ZERO_PAGES, &out), -EBADMSG);
}

static void test_shape(void)
{
	struct mig_shape s, g, d;
	struct mig_buf b = { 0 };
	char why[256];
	size_t n;

	fill_shape(&s);
	s.nr_banks = 2;
	s.banks[1].gpa = 1ULL << 32;
	s.banks[1].size = 8192;
	s.nr_pages = NPAGES + 2;
	CHECK_EQ(mig_shape__encode(&s, &b), 0);	/* not REQUIRE: it evaluates twice */
	CHECK_EQ(mig_shape__decode(b.data, b.len, &g), 0);
	CHECK_EQ(g.nr_pages, NPAGES + 2);
	CHECK_EQ(g.banks[1].gpa, 1ULL << 32);
	CHECK(!strcmp(g.devices, "serial"));
	CHECK_EQ(mig_shape__compare(&s, &g, why, sizeof(why)), 0);
	/* Every truncation and one byte too many. */
	for (n = 0; n < b.len; n++)
		CHECK(mig_shape__decode(b.data, n, &g) < 0);
	mig_buf__put(&b, "x", 1);
	CHECK(mig_shape__decode(b.data, b.len, &g) < 0);
	mig_buf__free(&b);

#define BAD_SHAPE(field_stmt) do {					\
		struct mig_buf bb = { 0 };				\
		fill_shape(&d);						\
		field_stmt;						\
		mig_shape__encode(&d, &bb);				\
		CHECK(mig_shape__decode(bb.data, bb.len, &g) < 0);	\
		mig_buf__free(&bb);					\
	} while (0)
	BAD_SHAPE(d.nr_pages = NPAGES + 1);		/* pages != sum of banks */
	BAD_SHAPE(d.banks[0].size = 100);		/* unaligned */
	BAD_SHAPE(d.banks[0].size = 0);
	BAD_SHAPE(d.banks[0].gpa = 4095);
	BAD_SHAPE(d.banks[0].gpa = ~0ULL - 4095);	/* wraps */
	BAD_SHAPE(d.nr_cpus = 0);
	BAD_SHAPE(d.nr_cpus = MIG_MAX_CPUS + 1);
	BAD_SHAPE(d.nr_channels = 0);
	BAD_SHAPE(d.nr_channels = MIG_MAX_CHANNELS + 1);
	BAD_SHAPE(d.features = 1u << 31);		/* unknown feature */
	BAD_SHAPE(d.sev_mode = 3);
	BAD_SHAPE(d.devices[2] = '\n');			/* not printable */
	{
		/* nr_banks beyond the cap (encode refuses, so patch the bytes). */
		struct mig_buf bb = { 0 };

		fill_shape(&d);
		mig_shape__encode(&d, &bb);
		bb.data[12] = 5;
		CHECK(mig_shape__decode(bb.data, bb.len, &g) < 0);
		bb.data[12] = 0;
		CHECK(mig_shape__decode(bb.data, bb.len, &g) < 0);
		bb.data[12] = 1;
		put_le32(bb.data, (MIG_F_KNOWN + 1) & ~MIG_F_KNOWN);	/* lowest unknown bit */
		CHECK(mig_shape__decode(bb.data, bb.len, &g) < 0);
		mig_buf__free(&bb);
	}

	fill_shape(&s);
	fill_shape(&d);
	d.nr_pages = NPAGES / 2;
	d.banks[0].size /= 2;
	CHECK(mig_shape__compare(&s, &d, why, sizeof(why)) < 0);
	CHECK(strstr(why, "memory size differs") != NULL);
	fill_shape(&d);
	d.nr_cpus = 2;
	CHECK(mig_shape__compare(&s, &d, why, sizeof(why)) < 0);
	CHECK(strstr(why, "vCPU count differs: source 1, destination 2") != NULL);
	/* SEV modes in words, not enum values ("source 2, destination 0"). */
	fill_shape(&d);
	s.sev_mode = 2;
	CHECK(mig_shape__compare(&s, &d, why, sizeof(why)) < 0);
	CHECK(!strcmp(why, "SEV differs: the source is SEV on the firmware model "
			   "(--sev=emulated), the destination not an SEV guest"));
	s.sev_mode = 0;
	fill_shape(&d);
	strcpy(d.devices, "serial;virtio-blk=1M:disk.img");
	d.devices_len = strlen(d.devices);
	CHECK(mig_shape__compare(&s, &d, why, sizeof(why)) < 0);
	CHECK(!strcmp(why, "devices differ: the destination adds 'virtio-blk=1M:disk.img'"));
	/* The first entry that differs is named, not both lists. */
	strcpy(s.devices, "serial;virtio-blk;disk0=/a.img,ino=1,size=2;virtio-net;net0=02:00:00:00:00:01");
	s.devices_len = strlen(s.devices);
	strcpy(d.devices, "serial;virtio-blk;disk0=/a.img,ino=1,size=2;virtio-net;net0=02:00:00:00:00:02");
	d.devices_len = strlen(d.devices);
	CHECK(mig_shape__compare(&s, &d, why, sizeof(why)) < 0);
	CHECK(!strcmp(why, "devices differ: source 'net0=02:00:00:00:00:01', "
			   "destination 'net0=02:00:00:00:00:02'"));
	strcpy(d.devices, "serial;virtio-blk;disk0=/a.img,ino=1,size=2");
	d.devices_len = strlen(d.devices);
	CHECK(mig_shape__compare(&s, &d, why, sizeof(why)) < 0);
	CHECK(!strcmp(why, "devices differ: the destination lacks 'virtio-net'"));
	strcpy(d.devices, "serial;virtio-blk;disk0=/a.img,ino=1,size=3;virtio-net;net0=02:00:00:00:00:01");
	d.devices_len = strlen(d.devices);
	CHECK(mig_shape__compare(&s, &d, why, sizeof(why)) < 0);
	CHECK(strstr(why, "source 'disk0=/a.img,ino=1,size=2', destination 'disk0=/a.img,ino=1,size=3'"));
	/* An extra entry in the middle is named as such, not as a pair. */
	strcpy(d.devices, "serial;page-map;virtio-blk;disk0=/a.img,ino=1,size=2;virtio-net;net0=02:00:00:00:00:01");
	d.devices_len = strlen(d.devices);
	CHECK(mig_shape__compare(&s, &d, why, sizeof(why)) < 0);
	CHECK(!strcmp(why, "devices differ: the destination adds 'page-map'"));
	CHECK(mig_shape__compare(&d, &s, why, sizeof(why)) < 0);
	CHECK(!strcmp(why, "devices differ: the destination lacks 'page-map'"));
	memcpy(d.devices, s.devices, s.devices_len + 1);
	d.devices_len = s.devices_len;
	CHECK_EQ(mig_shape__compare(&s, &d, why, sizeof(why)), 0);
	fill_shape(&s);
	fill_shape(&d);
	s.features |= MIG_F_SEV_PAGES;
	CHECK(mig_shape__compare(&s, &d, why, sizeof(why)) < 0);
}

/* The guest's CPUID words in HELLO: carried, checked, compared both ways. */
static void test_shape_cpuid(void)
{
	struct mig_shape s, d, g;
	struct mig_buf b = { 0 };
	char why[512];
	size_t n;

	fill_shape(&s);
	s.features |= MIG_F_CPUID;
	s.nr_cpuid = 3;
	s.cpuid[0] = (struct mig_cpuid_word){ 0x1, 0, 2, 1u << 21 | 1u << 24 };	/* x2apic, tsc_deadline */
	s.cpuid[1] = (struct mig_cpuid_word){ 0x7, 0, 1, 1u << 5 | 1u << 30 };	/* avx2, bit 30 */
	s.cpuid[2] = (struct mig_cpuid_word){ 0x80000001, 0, 3, 1u << 20 };	/* nx */
	CHECK_EQ(mig_shape__encode(&s, &b), 0);
	CHECK_EQ(mig_shape__decode(b.data, b.len, &g), 0);
	CHECK_EQ(g.nr_cpuid, 3);
	CHECK_EQ(g.cpuid[1].value, 1u << 5 | 1u << 30);
	CHECK_EQ(g.cpuid[2].leaf, 0x80000001);
	CHECK_EQ(mig_shape__compare(&s, &g, why, sizeof(why)), 0);
	for (n = 0; n < b.len; n++)
		CHECK(mig_shape__decode(b.data, n, &g) < 0);
	b.data[b.len - 8] = 4;				/* reg beyond edx */
	CHECK(mig_shape__decode(b.data, b.len, &g) < 0);
	b.data[b.len - 8] = 3;
	b.data[b.len - 52] = MIG_MAX_CPUID + 1;		/* count beyond the cap */
	CHECK(mig_shape__decode(b.data, b.len, &g) < 0);
	b.data[b.len - 52] = 2;				/* count short of the bytes */
	CHECK(mig_shape__decode(b.data, b.len, &g) < 0);
	mig_buf__free(&b);
	s.nr_cpuid = MIG_MAX_CPUID + 1;
	CHECK(mig_shape__encode(&s, &b) < 0);
	mig_buf__free(&b);
	s.nr_cpuid = 3;

	/* Unnamed bits by position; named ones by their --cpuid-mask names. */
	mig_cpuid_bit_name = NULL;
	d = s;
	d.cpuid[1].value = 1u << 30;
	CHECK(mig_shape__compare(&s, &d, why, sizeof(why)) < 0);
	CHECK(strstr(why, "guest CPU features differ: the destination lacks 0x7.0.ebx bit 5 (the guest may use them)") != NULL);
	mig_cpuid_bit_name = cpuid__bit_name;
	CHECK(mig_shape__compare(&s, &d, why, sizeof(why)) < 0);
	CHECK(!strcmp(why, "guest CPU features differ: the destination lacks avx2 (the guest may use them)"));
	/* Both ways at once; a word only the destination lists counts too. */
	d.cpuid[0].value = 1u << 21;
	d.cpuid[1] = (struct mig_cpuid_word){ 0x7, 0, 1, 1u << 5 | 1u << 30 | 1u << 29 };
	d.cpuid[2] = (struct mig_cpuid_word){ 0x80000001, 0, 2, 1u << 5 };	/* lzcnt; nx missing */
	CHECK(mig_shape__compare(&s, &d, why, sizeof(why)) < 0);
	CHECK(strstr(why, "the destination lacks tsc_deadline, nx (the guest may use them); the destination adds sha, lzcnt (hide them there with --cpuid-mask)") != NULL);
	/* A source that sends no words is not compared (nothing to go by). */
	s.features &= ~MIG_F_CPUID;
	CHECK_EQ(mig_shape__compare(&s, &d, why, sizeof(why)), 0);
}

/*
 * The guest's TSC rate in HELLO (MIG_F_TSC): after the CPUID words when both
 * come, checked, and refused only by a destination pinned with --tsc-khz.
 */
static void test_shape_tsc(void)
{
	struct mig_shape s, d, g;
	struct mig_buf b = { 0 };
	char why[256];
	size_t n;

	fill_shape(&s);
	s.features |= MIG_F_CPUID | MIG_F_TSC;
	s.nr_cpuid = 1;
	s.cpuid[0] = (struct mig_cpuid_word){ 0x1, 0, 2, 1u << 21 };
	s.tsc_khz = 2596132;
	CHECK_EQ(mig_shape__encode(&s, &b), 0);
	CHECK_EQ(mig_shape__decode(b.data, b.len, &g), 0);
	CHECK_EQ(g.tsc_khz, 2596132);
	CHECK_EQ(g.nr_cpuid, 1);
	CHECK_EQ(g.cpuid[0].value, 1u << 21);
	CHECK(!g.tsc_pinned);		/* never on the wire */
	for (n = 0; n < b.len; n++)
		CHECK(mig_shape__decode(b.data, n, &g) < 0);
	/* The rate is the last 4 bytes: 0 is no rate; --tsc-khz's range holds. */
	memset(b.data + b.len - 4, 0, 4);
	CHECK(mig_shape__decode(b.data, b.len, &g) < 0);
	b.data[b.len - 4] = 0xe7, b.data[b.len - 3] = 0x03;		/* 999 */
	CHECK(mig_shape__decode(b.data, b.len, &g) < 0);
	b.data[b.len - 4] = 0xe8;					/* 1000 */
	CHECK_EQ(mig_shape__decode(b.data, b.len, &g), 0);
	memcpy(b.data + b.len - 4, "\x81\x96\x98\x00", 4);		/* 10000001 */
	CHECK(mig_shape__decode(b.data, b.len, &g) < 0);
	memset(b.data + b.len - 4, 0, 4);
	mig_buf__put(&b, "\1\0\0\0", 4);	/* one field too many */
	CHECK(mig_shape__decode(b.data, b.len, &g) < 0);
	mig_buf__free(&b);
	s.tsc_khz = 0;
	CHECK(mig_shape__encode(&s, &b) < 0);
	mig_buf__free(&b);
	/* Without CPUID words the rate follows the device list. */
	s.features &= ~MIG_F_CPUID;
	s.tsc_khz = 3000000;
	CHECK_EQ(mig_shape__encode(&s, &b), 0);
	CHECK_EQ(mig_shape__decode(b.data, b.len, &g), 0);
	CHECK_EQ(g.tsc_khz, 3000000);
	CHECK_EQ(g.nr_cpuid, 0);
	mig_buf__free(&b);

	/* An unpinned destination of any rate takes the guest (it adopts the rate). */
	fill_shape(&d);
	d.features |= MIG_F_TSC;
	d.tsc_khz = 2000000;
	CHECK_EQ(mig_shape__compare(&s, &d, why, sizeof(why)), 0);
	/* Pinned: within KVM's 250 ppm is the same rate, beyond it is refused. */
	d.tsc_pinned = true;
	d.tsc_khz = 3000000 + 750;		/* 250 ppm */
	CHECK_EQ(mig_shape__compare(&s, &d, why, sizeof(why)), 0);
	d.tsc_khz = 3000000 - 750;
	CHECK_EQ(mig_shape__compare(&s, &d, why, sizeof(why)), 0);
	d.tsc_khz = 3000000 + 752;
	CHECK(mig_shape__compare(&s, &d, why, sizeof(why)) < 0);
	CHECK(!strcmp(why, "TSC rate differs: the guest's runs at 3000000 kHz, the destination "
			   "was started with --tsc-khz 3000752"));
	/* A source that sends no rate is not compared. */
	s.features &= ~MIG_F_TSC;
	CHECK_EQ(mig_shape__compare(&s, &d, why, sizeof(why)), 0);
}

static void test_status(void)
{
	struct mig_buf b = { 0 };
	char why[64];
	u32 st, f;

	mig_status__encode(22, 1, "memory size\x01 differs", &b);
	CHECK_EQ(mig_status__decode(b.data, b.len, &st, &f, why, sizeof(why)), 0);
	CHECK_EQ(st, 22);
	CHECK(!strcmp(why, "memory size? differs"));		/* control chars masked */
	CHECK(mig_status__decode(b.data, b.len - 1, &st, &f, why, sizeof(why)) < 0);
	CHECK(mig_status__decode(b.data, 11, &st, &f, why, sizeof(why)) < 0);
	b.data[8] = 0xff;					/* reason_len too long */
	CHECK(mig_status__decode(b.data, b.len, &st, &f, why, sizeof(why)) < 0);
	mig_buf__free(&b);

	/*
	 * A reason longer than the wire takes (two long disk paths) is cut
	 * there with a mark, not refused nor cut mid-word unmarked; so is one
	 * decoded into a shorter buffer.
	 */
	{
		char lng[MIG_REASON_SIZE], got[MIG_MAX_REASON + 1];
		size_t k = 0, n;

		while (k + 20 < sizeof(lng))
			k += (size_t)snprintf(lng + k, sizeof(lng) - k, "/dir-%04zu", k);
		memset(&b, 0, sizeof(b));
		mig_status__encode(22, 0, lng, &b);
		REQUIRE(!b.err);
		CHECK_EQ(mig_status__decode(b.data, b.len, &st, &f, got, sizeof(got)), 0);
		n = strlen(got);
		CHECK(n <= MIG_MAX_REASON && n > MIG_MAX_REASON - 16);
		CHECK(!strcmp(got + n - 6, "/" STR_CUT_MARK));
		CHECK(!strncmp(got, lng, n - 5));
		CHECK_EQ(mig_status__decode(b.data, b.len, &st, &f, why, sizeof(why)), 0);
		CHECK(strstr(why, STR_CUT_MARK) == why + strlen(why) - 5);
		mig_buf__free(&b);
	}
}

static void test_end_records(void)
{
	struct mig_end e = { 3, 4, 5 }, g;
	struct mig_chan_end c = { 1, 2, 3 }, h;
	u8 b[24];

	mig_end__encode(&e, b);
	CHECK_EQ(mig_end__decode(b, 24, &g), 0);
	CHECK_EQ(g.pages, 5);
	CHECK(mig_end__decode(b, 23, &g) < 0);
	b[20] = 4;					/* unknown flag */
	CHECK(mig_end__decode(b, 24, &g) < 0);
	b[23] = 0x80;
	b[20] = 0;
	CHECK(mig_end__decode(b, 24, &g) < 0);
	b[23] = 0;
	b[20] = 2;					/* PAUSED */
	CHECK_EQ(mig_end__decode(b, 24, &g), 0);
	CHECK_EQ(g.flags, MIG_END_PAUSED);
	b[20] = 0;
	b[16] = 1;					/* crc without its flag */
	CHECK(mig_end__decode(b, 24, &g) < 0);
	b[20] = 1;
	CHECK_EQ(mig_end__decode(b, 24, &g), 0);
	CHECK_EQ(g.mem_crc, 1);
	mig_chan_end__encode(&c, b);
	CHECK_EQ(mig_chan_end__decode(b, 24, &h), 0);
	CHECK_EQ(h.bytes, 3);
	CHECK(mig_chan_end__decode(b, 25, &h) < 0);

	/* ROUND: what the destination's --status shows. */
	{
		struct mig_round r = { 7, 0x1122334455ULL, 99 }, q;

		mig_round__encode(&r, b);
		CHECK_EQ(b[0], 7);
		CHECK_EQ(b[8], 0x55);
		CHECK_EQ(mig_round__decode(b, 24, &q), 0);
		CHECK_EQ(q.round, 7);
		CHECK_EQ(q.pages, 0x1122334455ULL);
		CHECK_EQ(q.dirty_rate, 99);
		CHECK(mig_round__decode(b, 23, &q) < 0);
		b[5] = 1;				/* reserved */
		CHECK(mig_round__decode(b, 24, &q) < 0);
	}
}

static void test_stream_good(void)
{
	size_t len;
	u8 *s;
	char why[256];

	fill_src();
	s = good_stream(&len, 2);
	CHECK_EQ(receive(s, len, why, sizeof(why)), 0);
	CHECK_MEM(dst_mem, src_mem, sizeof(src_mem));
	free(s);
}

/* Every truncation of a good stream is refused. */
static void test_stream_truncated(void)
{
	size_t len, n;
	u8 *s;

	fill_src();
	s = good_stream(&len, 2);
	for (n = 0; n < len; n++)
		if (receive(s, n, NULL, 0) == 0) {
			CHECK(!"truncated stream accepted");
			printf("  at length %zu of %zu\n", n, len);
			break;
		}
	free(s);
}

/* Every single flipped byte anywhere in a good stream is refused. */
static void test_stream_flipped(void)
{
	size_t len, i;
	u8 *s;

	fill_src();
	s = good_stream(&len, 2);
	for (i = 0; i < len; i++) {
		s[i] ^= 0x20;
		if (receive(s, len, NULL, 0) == 0) {
			CHECK(!"flipped stream accepted");
			printf("  at offset %zu of %zu\n", i, len);
			break;
		}
		s[i] ^= 0x20;
	}
	free(s);
}

/* The same three with DEFLATE pages: decompressed exactly; any damage refused. */
static void test_stream_deflate(void)
{
	deflate_level = 1;
	test_stream_good();
	test_stream_truncated();
	test_stream_flipped();
	deflate_level = 0;
}

/*
 * DEFLATE data with a good crc that is not one page: longer, shorter, with
 * bytes after its end, or not deflate at all.  Each leaves the page suspect,
 * so the migration fails at END ("checksum mismatch on page 0") unless the
 * page comes again; the same stream with the page itself is accepted, so
 * the refusals are the inflate checks' and nothing else's.
 */
static void test_stream_deflate_bad(void)
{
	static const struct {
		const char *what;
		u32 out_len;		/* bytes the data inflates to */
		u32 trailing;		/* bytes after the deflate stream */
		bool garbage;
	} cases[] = {
		{ "the page itself", 4096, 0, false },	/* the one accepted */
		{ "a short page", 4095, 0, false },
		{ "a long page", 4097, 0, false },
		{ "trailing bytes", 4096, 3, false },
		{ "not deflate", 4096, 0, true },
	};
	u32 i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		static u8 page[8192], z[8192];
		struct wstream w;
		struct mig_shape s;
		struct mig_buf b = { 0 };
		struct mig_end end = { .rounds = 1, .pages = NPAGES };
		struct mig_page_ent e[NPAGES];
		u8 pre[MIG_PREAMBLE_SIZE], eb[24], tab[NPAGES * MIG_ENT_SIZE], hb[MIG_HDR_SIZE];
		struct mig_hdr h = { .type = MIG_REC_RAM, .count = NPAGES, .seq = 1 };
		z_stream zs = { 0 };
		char why[256];
		size_t len;
		u8 *buf;
		u32 p, zlen;
		int ret;

		memset(page, 0x33, sizeof(page));
		deflateInit2(&zs, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
		zs.next_in = page;
		zs.avail_in = cases[i].out_len;
		zs.next_out = z;
		zs.avail_out = sizeof(z);
		deflate(&zs, Z_FINISH);
		zlen = sizeof(z) - zs.avail_out + cases[i].trailing;
		deflateEnd(&zs);
		if (cases[i].garbage)
			memset(z, 0xff, zlen);
		/* Page 0 DEFLATE claiming 0x33s, the others ZERO. */
		for (p = 0; p < NPAGES; p++) {
			e[p] = (struct mig_page_ent){ p, MIG_PAGE_ZERO, 0, 0 };
			if (!p)
				e[p] = (struct mig_page_ent){ 0, MIG_PAGE_DEFLATE, zlen,
							      mig_crc32(0, z, zlen) };
			mig_ent__encode(&e[p], tab + p * MIG_ENT_SIZE);
		}
		h.len = sizeof(tab) + zlen;
		h.crc = mig_crc32(0, tab, sizeof(tab));
		mig_hdr__encode(&h, hb);

		ws_open(&w);
		mig_preamble__encode(pre, 0, 42);
		mig_chan__writev(&w.c, &(struct iovec){ pre, sizeof(pre) }, 1);
		fill_shape(&s);
		s.session = 42;
		s.features |= MIG_F_DEFLATE;
		mig_shape__encode(&s, &b);
		mig_chan__send_rec(&w.c, MIG_REC_HELLO, 0, 0, b.data, b.len);
		mig_buf__free(&b);
		mig_chan__writev(&w.c, (struct iovec[]){ { hb, sizeof(hb) }, { tab, sizeof(tab) },
						       { z, zlen } }, 3);
		w.c.seq_out++;		/* written by hand: the next record is seq 2 */
		mig_chan__send_rec(&w.c, MIG_REC_SECTION, 0, 0x10, "cpu0", 4);
		mig_chan__send_rec(&w.c, MIG_REC_SECTION, 1, 0x10, "cpu1!", 5);
		end.nr_sections = 2;
		mig_end__encode(&end, eb);
		mig_chan__send_rec(&w.c, MIG_REC_END, 0, 0, eb, sizeof(eb));
		buf = ws_take(&w, &len);
		ret = receive(buf, len, why, sizeof(why));
		if (i == 0) {
			CHECK_EQ(ret, 0);
			CHECK_MEM(dst_mem, page, 4096);
		} else if (ret == 0 || !strstr(why, "checksum mismatch on page 0")) {
			CHECK(!"bad DEFLATE page not refused as a bad page");
			printf("  case: %s: %d, %s\n", cases[i].what, ret, why);
		}
		free(buf);
	}
}

static void test_stream_section_count(void)
{
	size_t len;
	u8 *s;
	char why[256];

	fill_src();
	s = good_stream(&len, 3);
	CHECK_EQ(receive(s, len, why, sizeof(why)), -EPROTO);
	CHECK(strstr(why, "section count") != NULL);
	free(s);
}

/* Stream pieces for the cases below. */
static void start(struct wstream *w, struct mig_shape *s)
{
	struct mig_buf b = { 0 };
	u8 pre[MIG_PREAMBLE_SIZE];

	ws_open(w);
	mig_preamble__encode(pre, 0, 1);
	mig_chan__writev(&w->c, &(struct iovec){ pre, sizeof(pre) }, 1);
	s->session = 1;
	mig_shape__encode(s, &b);
	mig_chan__send_rec(&w->c, MIG_REC_HELLO, 0, 0, b.data, b.len);
	mig_buf__free(&b);
}

static void finish(struct wstream *w, u64 pages, u32 sections)
{
	struct mig_end end = { .rounds = 1, .pages = pages, .nr_sections = sections };
	u8 eb[24];

	mig_end__encode(&end, eb);
	mig_chan__send_rec(&w->c, MIG_REC_END, 0, 0, eb, sizeof(eb));
}

static int feat_load(struct kvm *kvm, u32 instance, const void *data, size_t len)
{
	return 0;
}

static struct mig_section feat_section = {
	.name = "feature-test", .id = 0x7e, .feature = MIG_F_PCI_STATE, .load = feat_load,
};

/*
 * A section behind a stream feature (as MIG_SEC_PCI is): taken when HELLO
 * asked for the bit, refused with the reason when it did not (an older
 * source never sends it; one that does without the bit is confused).
 */
static void test_stream_feature_section(void)
{
	struct mig_ram_stats st = { 0 };
	struct wstream w;
	struct mig_shape sh;
	size_t len;
	u8 *s;
	char why[256];
	int with;

	mig_section__register(&feat_section);
	CHECK(mig_section__features() & MIG_F_PCI_STATE);
	registry_ok = true;
	fill_src();
	for (with = 0; with < 2; with++) {
		fill_shape(&sh);
		if (with)
			sh.features |= MIG_F_PCI_STATE;
		start(&w, &sh);
		memset(&st, 0, sizeof(st));
		mig_ram__send(ram_src(), &w.c, NULL, 0, NULL, 0, &st);
		mig_chan__send_rec(&w.c, MIG_REC_SECTION, 0, 0x7e, "x", 1);
		finish(&w, st.sent.pages, 1);
		s = ws_take(&w, &len);
		why[0] = 0;
		if (with) {
			CHECK_EQ(receive(s, len, why, sizeof(why)), 0);
		} else {
			CHECK_EQ(receive(s, len, why, sizeof(why)), -EPROTO);
			CHECK(strstr(why, "section 0x7e instance 0: its stream feature was not "
				      "agreed at HELLO") != NULL);
		}
		free(s);
	}
	registry_ok = false;
}

/*
 * A page torn while the guest wrote it (its crc does not match the bytes
 * sent) is accepted if it comes again intact before END, refused if not.
 */
static void test_stream_torn_page(void)
{
	struct mig_ram_stats st = { 0 };
	unsigned long bm[1] = { 1UL << 4 };
	struct mig_shape sh;
	struct wstream w;
	size_t len;
	u8 *s, *p;
	char why[256];
	size_t off;

	for (int resend = 0; resend < 2; resend++) {
		fill_src();
		fill_shape(&sh);
		start(&w, &sh);
		mig_ram__send(ram_src(), &w.c, NULL, 0, NULL, 0, &st);
		off = lseek(w.fd, 0, SEEK_END);
		if (resend)
			mig_ram__send(ram_src(), &w.c, NULL, 0, (unsigned long *)bm, 1, &st);
		finish(&w, st.sent.pages, 0);
		s = ws_take(&w, &len);
		/* Tear page 4 in round 0: locate its bytes (0x55 fill) and change one. */
		p = memmem(s, off, src_mem + 4 * 4096, 4096);
		REQUIRE(p != NULL);
		p[77] ^= 0xff;
		if (resend) {
			CHECK_EQ(receive(s, len, why, sizeof(why)), 0);
			CHECK_MEM(dst_mem, src_mem, sizeof(src_mem));
		} else {
			CHECK_EQ(receive(s, len, why, sizeof(why)), -EBADMSG);
			CHECK(strstr(why, "checksum mismatch on page 4") != NULL);
		}
		free(s);
		memset(&st, 0, sizeof(st));
	}
}

static void test_stream_page_missing(void)
{
	struct mig_ram_stats st = { 0 };
	unsigned long bm[1] = { 0xff & ~(1UL << 2) };
	struct mig_shape sh;
	struct wstream w;
	size_t len;
	u8 *s;
	char why[256];

	fill_src();
	fill_shape(&sh);
	start(&w, &sh);
	mig_ram__send(ram_src(), &w.c, NULL, 0, bm, 1, &st);
	finish(&w, st.sent.pages, 0);
	s = ws_take(&w, &len);
	CHECK_EQ(receive(s, len, why, sizeof(why)), -EPROTO);
	CHECK(strstr(why, "page 2 never sent") != NULL);
	free(s);
}

static void test_stream_refusals(void)
{
	struct mig_ram_stats st = { 0 };
	struct mig_shape sh;
	struct wstream w;
	size_t len;
	u8 *s;
	char why[256];

	/* Different memory size: refused at HELLO with the reason. */
	fill_shape(&sh);
	sh.nr_pages = NPAGES * 2;
	sh.banks[0].size *= 2;
	start(&w, &sh);
	s = ws_take(&w, &len);
	CHECK_EQ(receive(s, len, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "memory size differs") != NULL);
	free(s);

	/* RAM before HELLO. */
	ws_open(&w);
	{
		u8 pre[MIG_PREAMBLE_SIZE];

		mig_preamble__encode(pre, 0, 1);
		mig_chan__writev(&w.c, &(struct iovec){ pre, sizeof(pre) }, 1);
	}
	fill_src();
	mig_ram__send(ram_src(), &w.c, NULL, 0, NULL, 0, &st);
	s = ws_take(&w, &len);
	CHECK(receive(s, len, NULL, 0) < 0);
	free(s);

	/* Unknown section, duplicate section, END before RAM, HELLO twice. */
	fill_shape(&sh);
	start(&w, &sh);
	mig_chan__send_rec(&w.c, MIG_REC_SECTION, 0, 0x99, "x", 1);
	s = ws_take(&w, &len);
	CHECK_EQ(receive(s, len, why, sizeof(why)), -ENOENT);
	CHECK(strstr(why, "section 0x99") != NULL);
	free(s);

	start(&w, &sh);
	mig_chan__send_rec(&w.c, MIG_REC_SECTION, 0, 0x10, "x", 1);
	mig_chan__send_rec(&w.c, MIG_REC_SECTION, 0, 0x10, "y", 1);
	s = ws_take(&w, &len);
	CHECK_EQ(receive(s, len, why, sizeof(why)), -EPROTO);
	free(s);

	start(&w, &sh);
	mig_chan__send_rec(&w.c, MIG_REC_SECTION, 2, 0x10, "x", 1);	/* no instance 2 */
	s = ws_take(&w, &len);
	CHECK(receive(s, len, NULL, 0) < 0);
	free(s);

	start(&w, &sh);
	finish(&w, 0, 0);
	s = ws_take(&w, &len);
	CHECK_EQ(receive(s, len, why, sizeof(why)), -EPROTO);		/* pages never sent */
	free(s);

	start(&w, &sh);
	{
		struct mig_buf b = { 0 };

		mig_shape__encode(&sh, &b);
		mig_chan__send_rec(&w.c, MIG_REC_HELLO, 0, 0, b.data, b.len);
		mig_buf__free(&b);
	}
	s = ws_take(&w, &len);
	CHECK_EQ(receive(s, len, NULL, 0), -EPROTO);
	free(s);

	/* More sections than are buffered until END: the reason names the cap. */
	sec_instances = 2000;
	start(&w, &sh);
	for (u32 i = 0; i <= 1024; i++)
		mig_chan__send_rec(&w.c, MIG_REC_SECTION, i, 0x10, NULL, 0);
	s = ws_take(&w, &len);
	why[0] = 0;
	CHECK_EQ(receive(s, len, why, sizeof(why)), -EMSGSIZE);
	CHECK(strstr(why, "more than 1024 sections") != NULL);
	free(s);
	sec_instances = 2;

	/* Records of the other direction, and CHAN_END on the control channel. */
	start(&w, &sh);
	mig_chan__send_rec(&w.c, MIG_REC_ACK, 0, 0, "\0\0\0\0\0\0\0\0\0\0\0\0", 12);
	s = ws_take(&w, &len);
	CHECK_EQ(receive(s, len, NULL, 0), -EPROTO);
	free(s);
	start(&w, &sh);
	{
		struct mig_chan_end ce = { 0 };
		u8 b[24];

		mig_chan_end__encode(&ce, b);
		mig_chan__send_rec(&w.c, MIG_REC_CHAN_END, 0, 0, b, 24);
	}
	s = ws_take(&w, &len);
	CHECK_EQ(receive(s, len, NULL, 0), -EPROTO);
	free(s);

	/* ABORT from the source. */
	start(&w, &sh);
	{
		struct mig_buf b = { 0 };

		mig_status__encode(ECONNRESET, 0, "source gave up", &b);
		mig_chan__send_rec(&w.c, MIG_REC_ABORT, 0, 0, b.data, b.len);
		mig_buf__free(&b);
	}
	s = ws_take(&w, &len);
	CHECK_EQ(receive(s, len, why, sizeof(why)), -ECANCELED);
	CHECK(strstr(why, "source gave up") != NULL);
	free(s);

	/* A wrong version in the preamble. */
	fill_src();
	s = good_stream(&len, 2);
	s[8] = MIG_VERSION + 1;
	CHECK_EQ(receive(s, len, NULL, 0), -EPROTO);
	free(s);
	s = good_stream(&len, 2);
	s[8] = 1;		/* version 1 started on ACK, without GO */
	CHECK_EQ(receive(s, len, NULL, 0), -EPROTO);
	free(s);
}

/* Zero pages cost an entry, not a page. */
static void test_zero_pages_cheap(void)
{
	struct mig_ram_stats st = { 0 };
	struct wstream w;

	memset(src_mem, 0, sizeof(src_mem));
	ws_open(&w);
	mig_ram__send(ram_src(), &w.c, NULL, 0, NULL, 0, &st);
	CHECK_EQ(st.zero, NPAGES);
	CHECK_EQ(st.normal, 0);
	CHECK_EQ(w.c.bytes_out, MIG_HDR_SIZE + NPAGES * MIG_ENT_SIZE);
	close(w.fd);
	CHECK(mig_page_is_zero(src_mem));
	src_mem[4095] = 1;
	CHECK(!mig_page_is_zero(src_mem));
	src_mem[4095] = 0;
	src_mem[2048] = 1;
	CHECK(!mig_page_is_zero(src_mem));
}

/*
 * A page copied with its crc: zlib's crc, the same bytes, nothing written
 * outside the page; random pages from every source alignment, to cached
 * and non-temporal destinations, aligned (the fused copy) and not.
 */
static void crc32_check_copy_page(int level)
{
	static u8 src[4096 + 64], dst[3 * 4096] __attribute__((aligned(4096)));
	static const size_t dst_offs[] = { 0, 4096, 64, 32, 16, 1, 4095 };
	size_t soff, d, i;
	int cached;

	srandom(5);
	for (soff = 0; soff < 64; soff++)
		for (d = 0; d < sizeof(dst_offs) / sizeof(dst_offs[0]); d++)
			for (cached = 0; cached < 2; cached++) {
				u8 *out = dst + 4096 / 2 + dst_offs[d];
				u32 got;

				for (i = 0; i < sizeof(src); i++)
					src[i] = random();
				memset(dst, 0xa5, sizeof(dst));
				got = mig_crc32_copy_page(out, src + soff, cached);
				mig_crc32_copy_fence();
				if (got != crc32(0, src + soff, 4096) || memcmp(out, src + soff, 4096) ||
				    out[-1] != 0xa5 || out[4096] != 0xa5) {
					CHECK(!"page copy or its crc wrong");
					printf("  level %d src offset %zu dst offset %zu %s\n", level, soff,
					       dst_offs[d], cached ? "cached" : "non-temporal");
					return;
				}
			}
}

/* Each crc32 implementation equals zlib's for every length and alignment. */
static void crc32_check_level(int level)
{
	static u8 buf[9000];
	size_t off, n;
	u32 i;

	srandom(3);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = random();
	for (off = 0; off < 17; off++)
		for (n = 0; n + off < sizeof(buf); n += n < 600 ? 1 : 61) {
			u32 seed = (u32)(n * 2654435761u);

			if (mig_crc32(seed, buf + off, n) != crc32(seed, buf + off, n)) {
				CHECK(!"crc32 differs from zlib");
				printf("  level %d offset %zu length %zu\n", level, off, n);
				return;
			}
		}
	/* Chained calls equal one call. */
	CHECK_EQ(mig_crc32(mig_crc32(0, buf, 4096), buf + 4096, 4000), crc32(0, buf, 8096));
	/* A one-bit change anywhere in a page changes its crc. */
	for (i = 0; i < 4096 * 8; i += 509) {
		u32 before = mig_crc32(0, buf, 4096);

		buf[i / 8] ^= 1 << (i % 8);
		CHECK(mig_crc32(0, buf, 4096) != before);
		buf[i / 8] ^= 1 << (i % 8);
	}
	crc32_check_copy_page(level);
}

static void test_crc32_zlib(void)
{
	CHECK_EQ(mig_crc32__set_level(0), 0);
	crc32_check_level(0);
	mig_crc32__set_level(-1);
}

static void test_crc32_pclmul(void)
{
	if (mig_crc32__set_level(1) != 1) {
		mig_crc32__set_level(-1);
		SKIP("this CPU has no PCLMULQDQ");
	}
	crc32_check_level(1);
	mig_crc32__set_level(-1);
}

static void test_crc32_vpclmul_avx2(void)
{
	if (mig_crc32__set_level(2) != 2) {
		mig_crc32__set_level(-1);
		SKIP("this CPU has no VPCLMULQDQ with AVX2");
	}
	crc32_check_level(2);
	mig_crc32__set_level(-1);
}

static void test_crc32_vpclmul_avx512(void)
{
	if (mig_crc32__set_level(3) != 3) {
		mig_crc32__set_level(-1);
		SKIP("this CPU has no VPCLMULQDQ with AVX-512");
	}
	crc32_check_level(3);
	mig_crc32__set_level(-1);
}

/* LKVM_CRC_LEVEL: a level this CPU has, or a refusal; unset means the best. */
static void test_crc32_parse_level(void)
{
	int best = mig_crc32__set_level(-1);
	char s[2] = "0";

	CHECK_EQ(mig_crc32__parse_level(NULL), best);
	CHECK_EQ(mig_crc32__parse_level(""), best);
	for (s[0] = '0'; s[0] <= '3'; s[0]++)
		CHECK_EQ(mig_crc32__parse_level(s), s[0] - '0' <= best ? s[0] - '0' : -EOPNOTSUPP);
	CHECK_EQ(mig_crc32__parse_level("4"), -EINVAL);
	CHECK_EQ(mig_crc32__parse_level("-1"), -EINVAL);
	CHECK_EQ(mig_crc32__parse_level("01"), -EINVAL);
	CHECK_EQ(mig_crc32__parse_level("1 "), -EINVAL);
	CHECK_EQ(mig_crc32__parse_level("avx2"), -EINVAL);
}

/* JSON strings stay valid whatever the text: a peer's reason, a --to. */
static void test_json_str(void)
{
	char out[64];

	mig_json_str("a\"b\\c\n", out, sizeof(out));
	CHECK(!strcmp(out, "a\\\"b\\\\c\\n"));
	mig_json_str("\t\r\x01\x1f.", out, sizeof(out));		/* control characters kept */
	CHECK(!strcmp(out, "\\t\\r\\u0001\\u001f."));
	mig_json_str("caf\xc3\xa9 \xe2\x82\xac", out, sizeof(out));	/* UTF-8 kept */
	CHECK(!strcmp(out, "caf\xc3\xa9 \xe2\x82\xac"));
	mig_json_str("\xff\xfe:7000", out, sizeof(out));		/* not UTF-8 */
	CHECK(!strcmp(out, "\\ufffd\\ufffd:7000"));
	mig_json_str("\xc0\xaf \xed\xa0\x80 \xe2\x82", out, sizeof(out));	/* overlong, surrogate, cut */
	CHECK(!strcmp(out, "\\ufffd\\ufffd \\ufffd\\ufffd\\ufffd \\ufffd\\ufffd"));
	mig_json_str("\xff\xff\xff\xff\xff\xff", out, 20);		/* cut to fit, whole escapes */
	CHECK(!strcmp(out, "\\ufffd\\ufffd" STR_CUT_MARK));	/* ... and marked */
	mig_json_str("0123456789abcdef", out, 24);		/* fits: not marked */
	CHECK(!strcmp(out, "0123456789abcdef"));
	mig_json_str("a long disk path: /srv/images/guest-disk.img", out, 32);
	CHECK(!strcmp(out, "a long disk path: /s" STR_CUT_MARK));
}

/* A text cut to fit says so, after a whole character, at a separator when near. */
static void test_cut_mark(void)
{
	char buf[32], path[34];

	CHECK_EQ(snprintf_cut(buf, sizeof(buf), "%s", "fits"), 4);
	CHECK(!strcmp(buf, "fits"));
	CHECK_EQ(snprintf_cut(path, sizeof(path), "disk %s", "/a/very-long-directory/name.img"), 33);
	CHECK(!strcmp(path, "disk /a/very-long-directory/" STR_CUT_MARK));
	/* No separator near: cut mid-word, but marked. */
	snprintf_cut(buf, sizeof(buf), "%s", "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ");
	CHECK(!strcmp(buf, "abcdefghijklmnopqrstuvwxyz" STR_CUT_MARK));
	/* Never inside a UTF-8 character ("\xc3\xa9" would straddle the cut). */
	snprintf_cut(buf, sizeof(buf), "%s", "abcdefghijklmnopqrstuvwxy\xc3\xa9zzzzzzzzzz");
	CHECK(!strcmp(buf, "abcdefghijklmnopqrstuvwxy" STR_CUT_MARK));
	/* A buffer too small for the mark keeps what fits. */
	snprintf_cut(buf, 4, "%s", "abcdef");
	CHECK(!strcmp(buf, "abc"));
	CHECK_EQ(snprintf_cut(buf, 0, "%s", "abcdef"), 0);
}

TEST_MAIN_BEGIN("test-migration-stream")
	RUN(test_json_str);
	RUN(test_cut_mark);
	RUN(test_crc32_zlib);
	RUN(test_crc32_pclmul);
	RUN(test_crc32_vpclmul_avx2);
	RUN(test_crc32_vpclmul_avx512);
	RUN(test_crc32_parse_level);
	RUN(test_hdr_roundtrip);
	RUN(test_hdr_malformed);
	RUN(test_preamble);
	RUN(test_entries);
	RUN(test_entries_bad_crc);
	RUN(test_shape);
	RUN(test_shape_cpuid);
	RUN(test_shape_tsc);
	RUN(test_status);
	RUN(test_end_records);
	RUN(test_stream_good);
	RUN(test_stream_truncated);
	RUN(test_stream_flipped);
	RUN(test_stream_deflate);
	RUN(test_stream_deflate_bad);
	RUN(test_stream_section_count);
	RUN(test_stream_feature_section);
	RUN(test_stream_torn_page);
	RUN(test_stream_page_missing);
	RUN(test_stream_refusals);
	RUN(test_zero_pages_cheap);
TEST_MAIN_END()
