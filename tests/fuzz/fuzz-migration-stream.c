/*
 * libFuzzer target for the destination's stream parser: the input is what
 * a source would send on the control connection (preamble, HELLO, RAM,
 * SECTION, ROUND, END ... records), fed through the same code `lkvm run
 * --incoming` runs, into a 16-page guest memory.  The first input byte
 * chooses whether checksums are enforced (the realistic case) or skipped
 * (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION), so mutations also reach the
 * checks behind the checksums.
 *
 * Bit 3 of the first byte plays `lkvm run --incoming-key`: the control
 * preamble stays clear, everything after it is sealed here under a fixed
 * test key (in frames of the sizes bits 4-5 choose) and read back through
 * migration/crypt.c, as dest.c reads a keyed source.  The destination then
 * offers NO_PAGE_CRC, so a HELLO that asks for it reaches the crc-less page
 * receive (page data opened by the frame reader straight into guest
 * memory) and the rule that such a NORMAL entry's crc is 0.  Bit 7 then
 * flips one sealed byte: a run that read that byte must fail.  Bit 6, clear
 * or sealed, reads what follows HELLO as data channel 1 (records until
 * CHAN_END, as dest.c's data threads do; sealed under that channel's key).
 *
 * With LKVM_FUZZ_SEED=DIR it writes a few valid streams into DIR first
 * (the seed corpus) and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lkvm/migration.h"
#include "lkvm/sev-migration.h"
#include "fuzz-mig-dest.h"

/*
 * The ENCRYPTED receiver, as migration/sev-dst.c's recv_encrypted() without
 * the firmware: the packet must decode (sev_mig_pkt__decode), bit 0 of the
 * header's flags plays a MAC mismatch, and the "plaintext" (the transport
 * bytes) lands in the page.  fuzz-migration-sev.c runs the real one.
 */
static int recv_enc(struct mig_incoming *in, u64 page, const u8 *data, u32 len)
{
	const u8 *hdr, *trans;
	u8 *host = mig_incoming__page_host(in, page);
	u32 hdr_len;

	if (!host)
		return -ERANGE;
	if (sev_mig_pkt__decode(data, len, &hdr, &hdr_len, &trans))
		return -EPROTO;
	if (hdr[0] & 1)
		return -EBADMSG;
	memcpy(host, trans, PAGE_SIZE);
	return 0;
}

/*
 * The first byte:
 *   bit 0    skip checksums
 *   bit 1    an SEV receiver is installed (ENCRYPTED pages)
 *   bit 2    clear mode: offer NO_PAGE_CRC, as a keyed destination does
 *   bit 3    sealed mode (--incoming-key)
 *   bits 4-5 sealed mode: the frame sizes (frame_sizes[], 3: all in turn)
 *   bit 6    after HELLO, the rest is data channel 1 (until CHAN_END)
 *   bit 7    sealed mode: one sealed byte flipped
 */
#define F_NOCRC		0x04
#define F_SEALED	0x08
#define F_FRAMES(f)	(((f) >> 4) & 3)
#define F_DATA		0x40
#define F_TAMPER	0x80

static u8 test_key[MIG_KEY_SIZE], test_nc[MIG_NONCE_SIZE], test_ns[MIG_NONCE_SIZE];

/* Plaintext bytes per frame for F_FRAMES 0..2; 3 cycles through all of these. */
static const u32 frame_sizes[] = { MIG_FRAME_MAX, 4096 + MIG_HDR_SIZE, 40, 4096, 1000, 13, 65536 };

static void sealed_setup(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	mig_key__from_bytes("lkvm fuzz stream key, 32 bytes..", 32, test_key);
	memset(test_nc, 0x11, sizeof(test_nc));
	memset(test_ns, 0x22, sizeof(test_ns));
}

/*
 * n bytes of plaintext sealed as a keyed source sends them on channel ch
 * (the key input as dest.c forms it), in frames of the sizes `frames`
 * chooses; the wire bytes in *out (malloc'd, NULL when none).
 */
static size_t seal(const u8 *pt, size_t n, u32 ch, u64 session, u8 frames, u8 **out)
{
	static int fd = -1;
	struct mig_chan w;
	u8 pre[MIG_PREAMBLE_SIZE];
	size_t off = 0;
	off_t len;
	u32 i = 0;

	*out = NULL;
	if (fd < 0)
		fd = memfd_create("lkvm-fuzz-sealed", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, 0) || lseek(fd, 0, SEEK_SET))
		abort();
	mig_preamble__encode(pre, ch | MIG_PRE_AUTH, session);
	mig_chan__init_fd(&w, dup(fd));
	if (w.fd < 0 || mig_crypt__attach(&w, test_key, test_nc, test_ns, pre, true))
		abort();
	while (off < n) {
		size_t k = frame_sizes[frames < 3 ? frames : i++ % ARRAY_SIZE(frame_sizes)];

		k = min(k, n - off);
		if (mig_chan__writev(&w, &(struct iovec){ (void *)(pt + off), k }, 1))
			abort();
		off += k;
	}
	mig_chan__close(&w);
	len = lseek(fd, 0, SEEK_END);
	if (len <= 0)
		return 0;
	*out = malloc(len);
	if (!*out || pread(fd, *out, len, 0) != len)
		abort();
	return len;
}

/* A destination's reading end of channel ch: the wire bytes, opened with its key. */
static void sealed_chan(struct mig_chan *c, const u8 *wire, size_t len, u32 ch, u64 session)
{
	u8 pre[MIG_PREAMBLE_SIZE];

	mig_chan__init_buf(c, wire, len);
	mig_preamble__encode(pre, ch | MIG_PRE_AUTH, session);
	if (mig_crypt__attach(c, test_key, test_nc, test_ns, pre, false))
		abort();
}

/* The plaintext's first record, as far as it goes: the HELLO a data channel follows. */
static size_t first_record(const u8 *pt, size_t n)
{
	u64 len;

	if (n < MIG_HDR_SIZE)
		return n;
	len = get_le64(pt + 16);
	return len <= n - MIG_HDR_SIZE ? MIG_HDR_SIZE + len : n;
}

/*
 * Data channel 1 (F_DATA): its records until CHAN_END, as dest.c's data
 * thread reads them.  A clear channel takes no page without a crc.
 */
static int run_data(struct mig_incoming *in, struct mig_chan *d)
{
	struct mig_chan_end counted = { 0 };
	int ret = mig_incoming__recv(in, d, false, &counted);

	if ((in->accepted_features & MIG_F_NO_PAGE_CRC) && !d->crypt && counted.pages)
		__builtin_trap();
	return ret;
}

/*
 * The sealed mode: data is the control preamble (clear) and the plaintext
 * after it, which is sealed here and read back through crypt.c.  A keyed
 * destination offers NO_PAGE_CRC (dest.c).
 */
static int run_sealed(struct mig_incoming *in, u8 flag, const u8 *data, size_t size)
{
	struct mig_chan_end counted = { 0 };
	struct mig_chan c, d;
	const u8 *pt = data + MIG_PREAMBLE_SIZE;
	u8 *wc = NULL, *wd = NULL;
	size_t n = size - MIG_PREAMBLE_SIZE, nc, lc, ld = 0, flip = 0;
	u32 version, ch;
	u64 session;
	int ret;

	sealed_setup();
	in->local.features |= MIG_F_NO_PAGE_CRC;
	if (size < MIG_PREAMBLE_SIZE)
		return -EPIPE;
	ret = mig_preamble__decode(data, &version, &ch, &session);
	if (ret)
		return ret;
	/* dest.c drops any other control preamble before a byte is sealed. */
	if (version != MIG_VERSION || ch || !mig_preamble__auth(data))
		return -EPROTO;
	in->session = session;
	/* F_DATA: HELLO on the control connection, the rest on data channel 1. */
	nc = flag & F_DATA ? first_record(pt, n) : n;
	lc = seal(pt, nc, 0, session, F_FRAMES(flag), &wc);
	if (flag & F_DATA)
		ld = seal(pt + nc, n - nc, 1, session, F_FRAMES(flag), &wd);
	if (lc + ld && (flag & F_TAMPER)) {
		flip = mig_crc32(0, data, size) % (lc + ld);
		(flip < lc ? wc : wd)[flip < lc ? flip : flip - lc] ^= 1 << (size % 8);
	}
	sealed_chan(&c, wc, lc, 0, session);
	if (flag & F_DATA)
		sealed_chan(&d, wd, ld, 1, session);
	else
		mig_chan__init_buf(&d, NULL, 0);
	ret = mig_incoming__hello(in, &c);
	if (!ret && (flag & F_DATA))
		ret = run_data(in, &d);
	else if (!ret)
		ret = mig_incoming__recv(in, &c, true, &counted);
	if (!ret && !(flag & F_DATA))
		ret = mig_incoming__check_complete(in, &counted, 1);
	/* A changed byte that was read never passes: its frame fails its tag. */
	if (!ret && (flag & F_TAMPER) && (flip < lc ? flip < c.buf_pos : flip - lc < d.buf_pos))
		__builtin_trap();
	mig_chan__close(&c);
	mig_chan__close(&d);
	free(wc);
	free(wd);
	return ret;
}

static int run_one(const u8 *data, size_t size)
{
	struct mig_incoming in;
	struct mig_chan c, d;
	struct mig_chan_end counted = { 0 };
	int ret;

	if (size < 1)
		return -EINVAL;
	mig_fuzz_ignore_crc = data[0] & 1;
	if (fuzz_dest__init(&in))
		return -ENOMEM;
	/* Bit 1: pretend an SEV receiver is installed, to reach ENCRYPTED pages. */
	if (data[0] & 2) {
		in.local.features |= MIG_F_SEV_PAGES;
		in.recv_encrypted = recv_enc;
	}
	if (data[0] & F_SEALED) {
		ret = run_sealed(&in, data[0], data + 1, size - 1);
		mig_incoming__free(&in);
		return ret;
	}
	/* Bit 2: a keyed destination's features; this channel is clear, so any
	 * RAM record after a HELLO that asks for NO_PAGE_CRC must be refused. */
	if (data[0] & F_NOCRC)
		in.local.features |= MIG_F_NO_PAGE_CRC;
	mig_chan__init_buf(&c, data + 1, size - 1);
	ret = fuzz_dest__hello(&in, &c);
	if (!ret && (data[0] & F_DATA)) {
		mig_chan__init_buf(&d, c.buf + c.buf_pos, c.buf_len - c.buf_pos);
		ret = run_data(&in, &d);
		mig_incoming__free(&in);
		return ret;
	}
	if (!ret && (in.accepted_features & MIG_F_NO_PAGE_CRC)) {
		ret = mig_incoming__recv(&in, &c, true, &counted);
		/* Not one page taken without a crc on a clear channel. */
		if (counted.pages)
			__builtin_trap();
		mig_incoming__free(&in);
		return ret;
	}
	if (!ret)
		ret = mig_incoming__recv(&in, &c, true, &counted);
	if (!ret)
		ret = mig_incoming__check_complete(&in, &counted, 1);
	mig_incoming__free(&in);
	return ret;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	run_one(data, size);
	return 0;
}

/* ---- seed corpus ---- */

/*
 * RAM records for the seeds, encoded here rather than with ram.c so the
 * fuzzer links only the parser's files: pages [first, end) of `mem` whose
 * bit is set in mask (all when mask is 0), ZERO or NORMAL, or DEFLATE
 * with `compress`.
 */
static bool seed_keyed;		/* NORMAL pages without crcs (MIG_F_NO_PAGE_CRC) */
/*
 * One page of data, the others ZERO: a stream of a few KiB where most
 * mutations land on record headers, entries and END, not in page bytes.
 */
static bool seed_sparse;
static bool seed_abort;		/* ABORT in place of END */
static bool seed_mem_crc;	/* END carries the guest memory's crc */

static void put_ram(struct mig_chan *c, const u8 *mem, u32 first, u32 end, u64 mask,
		    u32 round, struct mig_chan_end *sent, bool compress, u64 enc_mask)
{
	static u8 z[NPAGES][4096];
	static u8 pkt[NPAGES][4 + SEV_PKT_HDR_SIZE + 4096];
	struct mig_page_ent e;
	u8 tab[NPAGES * MIG_ENT_SIZE];
	struct iovec iov[NPAGES + 2];
	struct mig_hdr h = { .type = MIG_REC_RAM, .id = round };
	u32 p, n = 0, nio = 2;

	for (p = first; p < end; p++) {
		const u8 *pg = mem + (size_t)p * 4096;

		if (mask && !(mask & (1ULL << p)))
			continue;
		e.page = p;
		if (enc_mask & (1ULL << p)) {
			/* an SEV packet: le32 header length, header, "ciphertext" */
			u8 *out = pkt[n];

			memset(out, 0, 4 + SEV_PKT_HDR_SIZE);
			out[0] = SEV_PKT_HDR_SIZE;
			memset(out + 4 + 4, 0xa5, SEV_PKT_HDR_SIZE - 4);	/* iv, mac */
			memcpy(out + 4 + SEV_PKT_HDR_SIZE, pg, 4096);
			e.flags = MIG_PAGE_ENCRYPTED;
			e.len = sev_mig_pkt__len(SEV_PKT_HDR_SIZE);
			e.crc = mig_crc32(0, out, e.len);
			iov[nio].iov_base = out;
			iov[nio++].iov_len = e.len;
		} else if (mig_page_is_zero(pg)) {
			e.flags = MIG_PAGE_ZERO;
			e.len = 0;
			e.crc = 0;
		} else if (compress) {
			z_stream zs = { 0 };

			deflateInit2(&zs, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
			zs.next_in = (u8 *)pg;
			zs.avail_in = 4096;
			zs.next_out = z[n];
			zs.avail_out = 4095;
			deflate(&zs, Z_FINISH);
			e.flags = MIG_PAGE_DEFLATE;
			e.len = 4095 - zs.avail_out;
			e.crc = mig_crc32(0, z[n], e.len);
			deflateEnd(&zs);
			iov[nio].iov_base = z[n];
			iov[nio++].iov_len = e.len;
		} else {
			e.flags = MIG_PAGE_NORMAL;
			e.len = 4096;
			e.crc = seed_keyed ? 0 : mig_crc32(0, pg, 4096);	/* as --key sends */
			iov[nio].iov_base = (void *)pg;
			iov[nio++].iov_len = 4096;
		}
		mig_ent__encode(&e, tab + n * MIG_ENT_SIZE);
		h.len += MIG_ENT_SIZE + e.len;
		n++;
	}
	if (!n)
		return;
	fuzz_seed__ram_rec(c, &h, tab, n, iov, nio);
	sent->records++;
	sent->pages += n;
	sent->bytes += h.len;
}

/*
 * keyed: HELLO asks for NO_PAGE_CRC (pages go without crcs, as --key sends
 * them); sealed >= 0: and the stream is sealed (bit 3), in frames chosen
 * by F_FRAMES = sealed; data: after HELLO, data channel 1's records (RAM,
 * a SYNC, CHAN_END) in place of the control connection's.
 */
static void write_seed(const char *dir, const char *name, bool ignore_crc, bool sections,
		       bool deflate, u64 enc_mask, bool keyed, int sealed, bool data)
{
	char tmpl[] = "/tmp/lkvm-fuzz-seed.XXXXXX";
	struct mig_chan_end st = { 0 };
	struct mig_end end = { .rounds = 2 };
	struct mig_shape s;
	struct mig_buf b = { 0 };
	struct mig_chan c;
	u8 p[MIG_PREAMBLE_SIZE], eb[24], flag = ignore_crc | (enc_mask ? 2 : 0) |
		(sealed >= 0 ? F_SEALED | sealed << 4 : keyed ? F_NOCRC : 0) | (data ? F_DATA : 0);
	int fd = mkstemp(tmpl), i;

	for (i = 0; i < NPAGES; i++)
		memset(guest + i * 4096, (seed_sparse ? i == 1 : i % 3) ? 0x10 + i : 0, 4096);
	seed_keyed = keyed;
	mig_chan__init_fd(&c, fd);
	mig_chan__writev(&c, &(struct iovec){ &flag, 1 }, 1);
	mig_preamble__encode(p, sealed >= 0 ? MIG_PRE_AUTH : 0, 99);
	mig_chan__writev(&c, &(struct iovec){ p, sizeof(p) }, 1);
	local_shape(&s);
	s.features = MIG_F_ZERO_PAGES | (deflate ? MIG_F_DEFLATE : 0) |
		     (enc_mask ? MIG_F_SEV_PAGES : 0) | (keyed ? MIG_F_NO_PAGE_CRC : 0);
	s.session = 99;
	mig_shape__encode(&s, &b);
	mig_chan__send_rec(&c, MIG_REC_HELLO, 0, 0, b.data, b.len);
	mig_buf__free(&b);
	memset(eb, 0, sizeof(eb));
	if (data) {
		c.seq_out = 0;		/* a connection of its own */
		put_ram(&c, guest, 0, NPAGES, 0, 0, &st, deflate, enc_mask);
		mig_chan__send_rec(&c, MIG_REC_SYNC, 0, 0, NULL, 0);
		put_ram(&c, guest, 0, NPAGES, seed_sparse ? 0x0f0d : 0x0f0f, 1, &st, false, enc_mask);
		mig_chan_end__encode(&st, eb);
		mig_chan__send_rec(&c, MIG_REC_CHAN_END, 0, 0, eb, 24);
		goto save;
	}
	put_ram(&c, guest, 0, 12, 0, 0, &st, deflate, enc_mask);	/* round 0, bank 0 */
	put_ram(&c, guest, 12, NPAGES, 0, 0, &st, deflate, enc_mask);	/* round 0, bank 1 */
	mig_chan__send_rec(&c, MIG_REC_ROUND, 0, 0, eb, 24);
	/* round 1: some again (sparse: only zero ones) */
	put_ram(&c, guest, 0, NPAGES, seed_sparse ? 0x0f0d : 0x0f0f, 1, &st, false, enc_mask);
	if (sections) {
		mig_chan__send_rec(&c, MIG_REC_SECTION, 0, MIG_SEC_CPU, "regs", 4);
		mig_chan__send_rec(&c, MIG_REC_SECTION, 1, MIG_SEC_CPU, "regs", 4);
		mig_chan__send_rec(&c, MIG_REC_SECTION, 0, MIG_SEC_CLOCK, "", 0);
		end.nr_sections = 3;
	}
	if (seed_abort) {
		mig_status__encode(EIO, 0, "the source gave up", &b);
		mig_chan__send_rec(&c, MIG_REC_ABORT, 0, 0, b.data, b.len);
		mig_buf__free(&b);
		goto save;
	}
	end.pages = st.pages;
	if (seed_mem_crc) {
		end.flags = MIG_END_MEM_CRC;
		end.mem_crc = mig_mem_crc((struct mig_mem_bank[]){ { guest, 0, 12 },
								    { guest + 12 * 4096, 12, 4 } }, 2);
	}
	mig_end__encode(&end, eb);
	mig_chan__send_rec(&c, MIG_REC_END, 0, 0, eb, sizeof(eb));
save:
	/* A seed the parser refuses would keep the fuzzer shallow. */
	fuzz_seed__save(fd, dir, name, run_one,
			keyed && sealed < 0 ? -EPROTO : seed_abort ? -ECANCELED : 0);
	close(fd);
	unlink(tmpl);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("LKVM_FUZZ_SEED");

	if (dir) {
		mkdir(dir, 0700);
		write_seed(dir, "full", false, true, false, 0, false, -1, false);
		write_seed(dir, "full-nocrc", true, true, false, 0, false, -1, false);
		write_seed(dir, "nosections", false, false, false, 0, false, -1, false);
		write_seed(dir, "deflate", false, true, true, 0, false, -1, false);
		/* SEV: private pages ENCRYPTED, the others plain (bit 1 of the flag). */
		write_seed(dir, "sev", false, true, false, 0x3cf6, false, -1, false);
		write_seed(dir, "sev-deflate", false, true, true, 0x00ff, false, -1, false);
		/* --key's NO_PAGE_CRC on this clear channel: refused at the first RAM. */
		write_seed(dir, "keyed-features", false, true, false, 0, true, -1, false);
		write_seed(dir, "keyed-features-data", false, false, false, 0, true, -1, true);
		/* A data channel's records, to CHAN_END. */
		write_seed(dir, "data", false, false, true, 0, false, -1, true);
		/* Sealed (bit 3): NO_PAGE_CRC taken, pages opened into guest memory. */
		write_seed(dir, "sealed", false, true, false, 0, true, 0, false);
		write_seed(dir, "sealed-frames", false, true, false, 0, true, 3, false);
		write_seed(dir, "sealed-page-frames", false, true, false, 0, true, 1, false);
		write_seed(dir, "sealed-deflate", false, true, true, 0, true, 2, false);
		write_seed(dir, "sealed-sev", false, true, false, 0x3cf6, true, 3, false);
		/* Sealed, pages with crcs (a source without NO_PAGE_CRC). */
		write_seed(dir, "sealed-crcs", false, true, false, 0, false, 1, false);
		/* Sealed data channels, as a keyed source sends its pages. */
		write_seed(dir, "sealed-data", false, false, false, 0, true, 0, true);
		write_seed(dir, "sealed-data-frames", false, false, true, 0x0ff0, true, 3, true);
		/* Small, checksums skipped: mutations reach END's counts, the
		 * section list, CHAN_END's totals and ABORT. */
		seed_sparse = true;
		write_seed(dir, "sparse-nocrc", true, true, false, 0, false, -1, false);
		write_seed(dir, "sparse-nocrc-data", true, false, false, 0, false, -1, true);
		seed_mem_crc = true;
		write_seed(dir, "sparse-mem-crc", true, true, false, 0, false, -1, false);
		seed_mem_crc = false;
		seed_abort = true;
		write_seed(dir, "sparse-abort", true, true, false, 0, false, -1, false);
		exit(0);
	}
	return 0;
}
