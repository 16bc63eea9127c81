/*
 * The migration stream's wire format (docs/migration-stream.md): encoders
 * and strict decoders.  Nothing here does I/O, so the unit tests and the
 * fuzzer reach every check directly.  Decoders treat their input as hostile:
 * every length, count and offset is checked before use, nothing is
 * allocated from a peer's numbers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "lkvm/migration.h"
#include "lkvm/tsc.h"

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/* The fuzzer flips this to get past checksums and reach the checks behind them. */
bool mig_fuzz_ignore_crc;
#define crc_bad(a, b)	(!mig_fuzz_ignore_crc && (a) != (b))
#else
#define crc_bad(a, b)	((a) != (b))
#endif

/* A ZERO entry's page: all zero bytes. */
bool mig_page_is_zero(const void *p)
{
	const u64 *w = p;
	u64 acc = 0;
	unsigned int i;

	/* Random data exits on the first word; zero pages read 4 KiB. */
	if (w[0] || w[511])
		return false;
	for (i = 0; i < PAGE_SIZE / 8; i += 8)
		acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] |
		       w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7];
	return !acc;
}

const char *mig_strerror(int err)
{
	switch (err) {
	case -EBADMSG:	return "checksum mismatch";
	case -EKEYREJECTED:
		return "does not authenticate (another key, or altered on the way)";
	case -EPROTO:	return "malformed or out-of-order record";
	case -EMSGSIZE:	return "record longer than allowed";
	case -ERANGE:	return "page or instance out of range";
	case -EPIPE:	return "connection closed";
	case -ETIMEDOUT: return "timed out";
	default:	return strerror(-err);
	}
}

bool mig_crc__bad(u32 got, u32 want)
{
	return crc_bad(got, want);
}

void mig_preamble__encode(u8 out[MIG_PREAMBLE_SIZE], u32 channel, u64 session)
{
	memcpy(out, MIG_MAGIC, 8);
	put_le32(out + 8, MIG_VERSION);
	put_le32(out + 12, channel);
	put_le64(out + 16, session);
}

int mig_preamble__decode(const u8 in[MIG_PREAMBLE_SIZE], u32 *version, u32 *channel,
			 u64 *session)
{
	if (memcmp(in, MIG_MAGIC, 8))
		return -EPROTO;
	*version = get_le32(in + 8);
	*channel = get_le32(in + 12) & ~MIG_PRE_AUTH;	/* mig_preamble__auth() tells */
	*session = get_le64(in + 16);
	if (*channel > MIG_MAX_CHANNELS)
		return -EPROTO;
	return 0;
}

bool mig_preamble__auth(const u8 in[MIG_PREAMBLE_SIZE])
{
	return get_le32(in + 12) & MIG_PRE_AUTH;
}

u64 mig_hdr__max_len(u32 type)
{
	switch (type) {
	case MIG_REC_HELLO:		return MIG_MAX_HELLO;
	case MIG_REC_HELLO_REPLY:
	case MIG_REC_ACK:
	case MIG_REC_ABORT:
	case MIG_REC_GO:
	case MIG_REC_RUNNING:		return MIG_MAX_SMALL;
	case MIG_REC_RAM:		return MIG_MAX_RAM_LEN;
	case MIG_REC_SECTION:		return MIG_MAX_SECTION;
	case MIG_REC_ROUND:		return 24;
	case MIG_REC_CHAN_END:		return 24;
	case MIG_REC_END:		return 64;
	case MIG_REC_SYNC:
	case MIG_REC_SYNC_ACK:		return 0;
	case MIG_REC_SEV_PLATFORM:	return 16384;	/* SEV_MIG_PLATFORM_MAX fits */
	case MIG_REC_SEV_START:		return 4096;
	case MIG_REC_SEV_STARTED:	return MIG_MAX_SMALL;
	default:			return 0;
	}
}

void mig_hdr__encode(const struct mig_hdr *h, u8 out[MIG_HDR_SIZE])
{
	put_le32(out + 0, h->type);
	put_le32(out + 4, h->count);
	put_le32(out + 8, h->id);
	put_le32(out + 12, h->seq);
	put_le64(out + 16, h->len);
	put_le32(out + 24, h->crc);
	put_le32(out + 28, 0);
	put_le32(out + 32, 0);
	put_le32(out + 36, mig_crc32(0, out, 36));
}

int mig_hdr__decode(const u8 in[MIG_HDR_SIZE], u32 expect_seq, struct mig_hdr *h)
{
	u64 max;

	if (crc_bad(get_le32(in + 36), mig_crc32(0, in, 36)))
		return -EBADMSG;
	h->type = get_le32(in + 0);
	h->count = get_le32(in + 4);
	h->id = get_le32(in + 8);
	h->seq = get_le32(in + 12);
	h->len = get_le64(in + 16);
	h->crc = get_le32(in + 24);
	if (get_le32(in + 28) || get_le32(in + 32))
		return -EPROTO;
	max = mig_hdr__max_len(h->type);
	if (!max && h->type != MIG_REC_SYNC && h->type != MIG_REC_SYNC_ACK)
		return -EPROTO;			/* unknown type */
	if (h->seq != expect_seq)
		return -EPROTO;			/* lost, repeated or spliced record */
	if (h->len > max)
		return -EMSGSIZE;
	if (h->type == MIG_REC_RAM &&
	    (h->count == 0 || h->count > MIG_MAX_BATCH ||
	     h->len < (u64)h->count * MIG_ENT_SIZE))
		return -EPROTO;
	if (h->type != MIG_REC_RAM && h->type != MIG_REC_SECTION && h->count)
		return -EPROTO;
	return 0;
}

void mig_ent__encode(const struct mig_page_ent *e, u8 out[MIG_ENT_SIZE])
{
	put_le64(out, e->page);
	put_le32(out + 8, e->flags);
	put_le32(out + 12, e->len);
	put_le32(out + 16, e->crc);
	put_le32(out + 20, 0);
}

int mig_ram__decode_entries(const struct mig_hdr *h, const u8 *tab, u64 nr_pages,
			    u32 features, struct mig_page_ent *ents)
{
	u64 total = (u64)h->count * MIG_ENT_SIZE;
	u32 i;

	if (h->count == 0 || h->count > MIG_MAX_BATCH)
		return -EPROTO;
	if (crc_bad(mig_crc32(0, tab, (size_t)h->count * MIG_ENT_SIZE), h->crc))
		return -EBADMSG;
	for (i = 0; i < h->count; i++) {
		struct mig_page_ent *e = &ents[i];
		const u8 *p = tab + (size_t)i * MIG_ENT_SIZE;

		e->page = get_le64(p);
		e->flags = get_le32(p + 8);
		e->len = get_le32(p + 12);
		e->crc = get_le32(p + 16);
		if (get_le32(p + 20))
			return -EPROTO;
		if (e->page >= nr_pages)
			return -ERANGE;
		if (i && e->page <= ents[i - 1].page)
			return -EPROTO;		/* strictly increasing: no duplicates */
		if (e->flags & ~(MIG_PAGE_KIND_MASK | MIG_PAGE_SHARED))
			return -EPROTO;
		switch (e->flags & MIG_PAGE_KIND_MASK) {
		case MIG_PAGE_NORMAL:
			if (e->len != PAGE_SIZE || ((features & MIG_F_NO_PAGE_CRC) && e->crc))
				return -EPROTO;
			break;
		case MIG_PAGE_ZERO:
			if (!(features & MIG_F_ZERO_PAGES) || e->len != 0 || e->crc)
				return -EPROTO;
			break;
		case MIG_PAGE_DEFLATE:
			/* Worth it only when shorter; else the sender sends NORMAL. */
			if (!(features & MIG_F_DEFLATE) || !e->len || e->len >= PAGE_SIZE)
				return -EPROTO;
			break;
		case MIG_PAGE_ENCRYPTED:
			if (!(features & MIG_F_SEV_PAGES) ||
			    e->len < 4 + MIG_ENC_HDR_MIN + PAGE_SIZE ||
			    e->len > 4 + MIG_ENC_HDR_MAX + PAGE_SIZE)
				return -EPROTO;
			break;
		default:
			return -EPROTO;
		}
		total += e->len;
	}
	if (total != h->len)
		return -EPROTO;
	return 0;
}

int mig_shape__encode(const struct mig_shape *s, struct mig_buf *out)
{
	u8 tmp[32];
	u32 i;

	if (s->nr_banks > MIG_MAX_BANKS || s->devices_len > MIG_MAX_DEVICES_LEN)
		return -EINVAL;
	put_le32(tmp, s->features);
	put_le32(tmp + 4, s->nr_channels);
	put_le32(tmp + 8, s->nr_cpus);
	put_le32(tmp + 12, s->nr_banks);
	put_le64(tmp + 16, s->nr_pages);
	put_le64(tmp + 24, s->session);
	mig_buf__put(out, tmp, 32);
	for (i = 0; i < s->nr_banks; i++) {
		put_le64(tmp, s->banks[i].gpa);
		put_le64(tmp + 8, s->banks[i].size);
		mig_buf__put(out, tmp, 16);
	}
	put_le32(tmp, s->sev_mode);
	put_le32(tmp + 4, s->devices_len);
	mig_buf__put(out, tmp, 8);
	mig_buf__put(out, s->devices, s->devices_len);
	if (s->features & MIG_F_CPUID) {
		if (s->nr_cpuid > MIG_MAX_CPUID)
			return -EINVAL;
		put_le32(tmp, s->nr_cpuid);
		mig_buf__put(out, tmp, 4);
		for (i = 0; i < s->nr_cpuid; i++) {
			put_le32(tmp, s->cpuid[i].leaf);
			put_le32(tmp + 4, s->cpuid[i].subleaf);
			put_le32(tmp + 8, s->cpuid[i].reg);
			put_le32(tmp + 12, s->cpuid[i].value);
			mig_buf__put(out, tmp, 16);
		}
	}
	if (s->features & MIG_F_TSC) {
		if (!s->tsc_khz)
			return -EINVAL;
		put_le32(tmp, s->tsc_khz);
		mig_buf__put(out, tmp, 4);
	}
	return out->err;
}

int mig_shape__decode(const u8 *p, size_t len, struct mig_shape *s)
{
	size_t off = 32;
	u64 pages = 0;
	u32 i;

	memset(s, 0, sizeof(*s));
	if (len < 32)
		return -EPROTO;
	s->features = get_le32(p);
	s->nr_channels = get_le32(p + 4);
	s->nr_cpus = get_le32(p + 8);
	s->nr_banks = get_le32(p + 12);
	s->nr_pages = get_le64(p + 16);
	s->session = get_le64(p + 24);
	if (s->features & ~MIG_F_KNOWN)
		return -EOPNOTSUPP;
	if (!s->nr_channels || s->nr_channels > MIG_MAX_CHANNELS ||
	    !s->nr_cpus || s->nr_cpus > MIG_MAX_CPUS ||
	    !s->nr_banks || s->nr_banks > MIG_MAX_BANKS)
		return -EPROTO;
	if (len - off < (size_t)s->nr_banks * 16 + 8)
		return -EPROTO;
	for (i = 0; i < s->nr_banks; i++, off += 16) {
		u64 gpa = get_le64(p + off), size = get_le64(p + off + 8);

		if (!size || !IS_ALIGNED(gpa, PAGE_SIZE) || !IS_ALIGNED(size, PAGE_SIZE) ||
		    gpa + size < gpa)
			return -EPROTO;
		s->banks[i].gpa = gpa;
		s->banks[i].size = size;
		pages += size / PAGE_SIZE;	/* <= 4 * 2^52: no overflow */
	}
	if (pages != s->nr_pages)
		return -EPROTO;
	s->sev_mode = get_le32(p + off);
	s->devices_len = get_le32(p + off + 4);
	off += 8;
	if (s->sev_mode > 2 || s->devices_len > MIG_MAX_DEVICES_LEN ||
	    len - off < s->devices_len)
		return -EPROTO;
	for (i = 0; i < s->devices_len; i++)
		if (p[off + i] < 0x20 || p[off + i] > 0x7e)
			return -EPROTO;
	memcpy(s->devices, p + off, s->devices_len);
	s->devices[s->devices_len] = 0;
	off += s->devices_len;
	if (s->features & MIG_F_CPUID) {
		if (len - off < 4)
			return -EPROTO;
		s->nr_cpuid = get_le32(p + off);
		off += 4;
		if (s->nr_cpuid > MIG_MAX_CPUID || len - off < (size_t)s->nr_cpuid * 16)
			return -EPROTO;
		for (i = 0; i < s->nr_cpuid; i++, off += 16) {
			s->cpuid[i].leaf = get_le32(p + off);
			s->cpuid[i].subleaf = get_le32(p + off + 4);
			s->cpuid[i].reg = get_le32(p + off + 8);
			s->cpuid[i].value = get_le32(p + off + 12);
			if (s->cpuid[i].reg > 3)
				return -EPROTO;
		}
	}
	if (s->features & MIG_F_TSC) {
		if (len - off < 4)
			return -EPROTO;
		s->tsc_khz = get_le32(p + off);
		off += 4;
		if (s->tsc_khz < TSC_KHZ_MIN || s->tsc_khz > TSC_KHZ_MAX)	/* --tsc-khz's range */
			return -EPROTO;
	}
	return len == off ? 0 : -EPROTO;
}

const char *(*mig_cpuid_bit_name)(u32 leaf, u32 subleaf, u32 reg, u32 bit);

/* The value of word w's register on side s (0 where s does not list it). */
static bool cpuid_word(const struct mig_shape *s, const struct mig_cpuid_word *w, u32 *value)
{
	u32 i;

	for (i = 0; i < s->nr_cpuid; i++)
		if (s->cpuid[i].leaf == w->leaf && s->cpuid[i].subleaf == w->subleaf &&
		    s->cpuid[i].reg == w->reg) {
			*value = s->cpuid[i].value;
			return true;
		}
	*value = 0;		/* a leaf one side does not have offers nothing */
	return false;
}

/* Append the names of the bits in `bits` of word w to buf ("avx2, 0x7.ebx bit 9"). */
static void name_bits(const struct mig_cpuid_word *w, u32 bits, char *buf, size_t n)
{
	static const char regn[4][4] = { "eax", "ebx", "ecx", "edx" };
	u32 b;

	for (b = 0; b < 32; b++) {
		size_t k = strlen(buf);
		const char *name;

		if (!(bits & (1u << b)) || k + 1 >= n)
			continue;
		name = mig_cpuid_bit_name ? mig_cpuid_bit_name(w->leaf, w->subleaf, w->reg, b) : NULL;
		if (name)
			snprintf(buf + k, n - k, "%s%s", k ? ", " : "", name);
		else
			snprintf(buf + k, n - k, "%s0x%x.%u.%s bit %u", k ? ", " : "", w->leaf,
				 w->subleaf, regn[w->reg], b);
	}
}

/*
 * The device lists are ';'-separated entries in command-line order
 * ("virtio-blk;disk0=PATH,ino=N,size=N;virtio-net;net0=MAC").  Names the
 * first entry that differs rather than printing both lists, which with a
 * few disks is longer than a terminal line.
 */
/* Does the ';'-separated @list hold the entry @e (@len bytes)? */
static bool list_has(const char *list, const char *e, size_t len)
{
	while (*list) {
		size_t l = strcspn(list, ";");

		if (l == len && !memcmp(list, e, len))
			return true;
		list += l + !!list[l];
	}
	return false;
}

/* The shape's sev_mode in a user's words (0 none, 1 hardware, 2 the model). */
static const char *sev_mode_name(u32 mode)
{
	switch (mode) {
	case 0:		return "not an SEV guest";
	case 1:		return "SEV on hardware (--sev)";
	case 2:		return "SEV on the firmware model (--sev=emulated)";
	default:	return "an unknown SEV mode";
	}
}

static int devices_compare(const char *a, const char *b, char *reason, size_t n)
{
	const char *a0 = a, *b0 = b;

	for (;;) {
		size_t la = strcspn(a, ";"), lb = strcspn(b, ";");

		if (!la && !lb && !*a && !*b)
			return 0;
		if (la != lb || memcmp(a, b, la)) {
			/* One side's extra entry shifts the rest: name it, not the pair. */
			bool a_there = *a && list_has(b0, a, la), b_here = *b && list_has(a0, b, lb);

			if (!*a || (a_there && !b_here))
				snprintf_cut(reason, n, "devices differ: the destination adds '%.*s'",
					 (int)lb, b);
			else if (!*b || (b_here && !a_there))
				snprintf_cut(reason, n, "devices differ: the destination lacks '%.*s'",
					 (int)la, a);
			else
				snprintf_cut(reason, n, "devices differ: source '%.*s', destination '%.*s'",
					 (int)la, a, (int)lb, b);
			return -EINVAL;
		}
		a += la + !!a[la];
		b += lb + !!b[lb];
	}
}

/*
 * The guest must see the same CPU on both hosts: a feature it may already
 * use must not vanish, and one that appears would vanish again on the way
 * back.  Every word either side lists is compared (QEMU leaves this to the
 * user's -cpu option).
 */
static int cpuid_compare(const struct mig_shape *src, const struct mig_shape *dst,
			 char *reason, size_t n)
{
	char lacks[192] = "", adds[192] = "";
	const struct mig_shape *side[2] = { src, dst };
	int k;
	u32 i;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < side[k]->nr_cpuid; i++) {
			const struct mig_cpuid_word *w = &side[k]->cpuid[i];
			u32 s, d;
			bool in_src = cpuid_word(src, w, &s);

			cpuid_word(dst, w, &d);
			if (k == 1 && in_src)	/* compared in the first pass */
				continue;
			name_bits(w, s & ~d, lacks, sizeof(lacks));
			name_bits(w, d & ~s, adds, sizeof(adds));
		}
	}
	if (!lacks[0] && !adds[0])
		return 0;
	snprintf_cut(reason, n, "guest CPU features differ:%s%s%s%s%s%s", lacks[0] ?
		 " the destination lacks " : "", lacks, lacks[0] ? " (the guest may use them)" : "",
		 lacks[0] && adds[0] ? ";" : "", adds[0] ? " the destination adds " : "",
		 adds[0] ? adds : "");
	if (adds[0]) {
		size_t k = strlen(reason);

		snprintf(reason + k, n - k, " (hide them there with --cpuid-mask)");
	}
	return -EINVAL;
}

int mig_shape__compare(const struct mig_shape *src, const struct mig_shape *dst,
		       char *reason, size_t n)
{
	u32 i;

	if (src->nr_pages != dst->nr_pages) {
		snprintf_cut(reason, n, "memory size differs: source %llu MiB, destination %llu MiB",
			 (unsigned long long)(src->nr_pages >> 8),
			 (unsigned long long)(dst->nr_pages >> 8));
		return -EINVAL;
	}
	if (src->nr_cpus != dst->nr_cpus) {
		snprintf_cut(reason, n, "vCPU count differs: source %u, destination %u",
			 src->nr_cpus, dst->nr_cpus);
		return -EINVAL;
	}
	if (src->nr_banks != dst->nr_banks) {
		snprintf_cut(reason, n, "memory layout differs: source %u banks, destination %u",
			 src->nr_banks, dst->nr_banks);
		return -EINVAL;
	}
	for (i = 0; i < src->nr_banks; i++) {
		if (src->banks[i].gpa != dst->banks[i].gpa ||
		    src->banks[i].size != dst->banks[i].size) {
			snprintf_cut(reason, n, "memory bank %u differs: source 0x%llx+0x%llx, "
				 "destination 0x%llx+0x%llx", i,
				 (unsigned long long)src->banks[i].gpa,
				 (unsigned long long)src->banks[i].size,
				 (unsigned long long)dst->banks[i].gpa,
				 (unsigned long long)dst->banks[i].size);
			return -EINVAL;
		}
	}
	if (src->sev_mode != dst->sev_mode) {
		snprintf_cut(reason, n, "SEV differs: the source is %s, the destination %s",
			 sev_mode_name(src->sev_mode), sev_mode_name(dst->sev_mode));
		return -EINVAL;
	}
	if (src->features & ~dst->features) {
		snprintf_cut(reason, n, "destination lacks stream features 0x%x",
			 src->features & ~dst->features);
		return -EOPNOTSUPP;
	}
	if (devices_compare(src->devices, dst->devices, reason, n))
		return -EINVAL;
	/* Unpinned, the destination takes the guest's rate (mig_shape__adopt). */
	if ((src->features & MIG_F_TSC) && dst->tsc_pinned && !tsc__close(src->tsc_khz, dst->tsc_khz)) {
		snprintf_cut(reason, n, "TSC rate differs: the guest's runs at %u kHz, the destination "
			 "was started with --tsc-khz %u", src->tsc_khz, dst->tsc_khz);
		return -EINVAL;
	}
	if (src->features & MIG_F_CPUID)
		return cpuid_compare(src, dst, reason, n);
	return 0;
}

int mig_status__encode(u32 status, u32 features, const char *reason, struct mig_buf *out)
{
	size_t rl = reason ? strnlen(reason, MIG_MAX_REASON + 1) : 0;
	char cut[MIG_MAX_REASON + 1];
	u8 tmp[12];

	/* Longer than the wire takes: cut where the reader sees it was. */
	if (rl > MIG_MAX_REASON) {
		memcpy(cut, reason, MIG_MAX_REASON);
		cut[MIG_MAX_REASON] = 0;
		rl = str_cut_mark(cut, sizeof(cut));
		reason = cut;
	}

	put_le32(tmp, status);
	put_le32(tmp + 4, features);
	put_le32(tmp + 8, (u32)rl);
	mig_buf__put(out, tmp, 12);
	mig_buf__put(out, reason, rl);
	return out->err;
}

int mig_status__decode(const u8 *p, size_t len, u32 *status, u32 *features,
		       char *reason, size_t n)
{
	u32 rl, i;

	if (len < 12)
		return -EPROTO;
	*status = get_le32(p);
	*features = get_le32(p + 4);
	rl = get_le32(p + 8);
	if (rl > MIG_MAX_REASON || len - 12 != rl)
		return -EPROTO;
	if (n) {
		size_t k = 0;

		/* Printable only: the text ends up on a terminal. */
		for (i = 0; i < rl && k + 1 < n; i++)
			reason[k++] = (p[12 + i] >= 0x20 && p[12 + i] < 0x7f) ? p[12 + i] : '?';
		reason[k] = 0;
		if (i < rl)		/* the caller's buffer is shorter: say so */
			str_cut_mark(reason, n);
	}
	return 0;
}

void mig_end__encode(const struct mig_end *e, u8 out[24])
{
	put_le32(out, e->rounds);
	put_le32(out + 4, e->nr_sections);
	put_le64(out + 8, e->pages);
	put_le32(out + 16, e->mem_crc);
	put_le32(out + 20, e->flags);
}

int mig_end__decode(const u8 *p, size_t len, struct mig_end *e)
{
	if (len != 24)
		return -EPROTO;
	e->rounds = get_le32(p);
	e->nr_sections = get_le32(p + 4);
	e->pages = get_le64(p + 8);
	e->mem_crc = get_le32(p + 16);
	e->flags = get_le32(p + 20);
	if (e->flags & ~(MIG_END_MEM_CRC | MIG_END_PAUSED) ||
	    (!(e->flags & MIG_END_MEM_CRC) && e->mem_crc))
		return -EPROTO;
	return 0;
}

void mig_chan_end__encode(const struct mig_chan_end *e, u8 out[24])
{
	put_le64(out, e->records);
	put_le64(out + 8, e->pages);
	put_le64(out + 16, e->bytes);
}

int mig_chan_end__decode(const u8 *p, size_t len, struct mig_chan_end *e)
{
	if (len != 24)
		return -EPROTO;
	e->records = get_le64(p);
	e->pages = get_le64(p + 8);
	e->bytes = get_le64(p + 16);
	return 0;
}

/* ROUND: le32 round, le32 rsvd, le64 pages, le64 dirty pages per second. */
void mig_round__encode(const struct mig_round *r, u8 p[24])
{
	put_le32(p, r->round);
	put_le32(p + 4, 0);
	put_le64(p + 8, r->pages);
	put_le64(p + 16, r->dirty_rate);
}

int mig_round__decode(const u8 *p, size_t len, struct mig_round *r)
{
	if (len != 24 || get_le32(p + 4))
		return -EPROTO;
	r->round = get_le32(p);
	r->pages = get_le64(p + 8);
	r->dirty_rate = get_le64(p + 16);
	return 0;
}
