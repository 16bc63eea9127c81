/*
 * Live migration: the stream (docs/migration-stream.md), its transport and
 * the pre-copy engine.
 *
 *   stream.c     wire format: encode, and a decoder that checks everything
 *   transport.c  TCP control + data connections, record I/O without copies
 *   dirty.c      dirty page tracking: KVM dirty ring, dirty bitmap fallback
 *   ram.c        sending RAM records from guest memory in place
 *   incoming.c   the destination: receive into guest memory, check, ack
 *   migrate.c    the source: rounds, convergence, the commit rule
 */
#ifndef LKVM__MIGRATION_H
#define LKVM__MIGRATION_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/uio.h>

#include "lkvm/mig-section.h"
#include "lkvm/util.h"

struct kvm;
struct kvm_cpu;
struct kvm_dirty_gfn;
struct sev_mig_pages;

/* ---- wire format ---- */

#define MIG_MAGIC		"LKVMMIG"	/* 8 bytes with the NUL */
#define MIG_VERSION		2	/* 2: the GO / RUNNING commit */
#define MIG_PREAMBLE_SIZE	24
#define MIG_HDR_SIZE		40
#define MIG_ENT_SIZE		24

enum mig_rec_type {
	MIG_REC_HELLO		= 1,
	MIG_REC_HELLO_REPLY	= 2,
	MIG_REC_RAM		= 16,
	MIG_REC_SECTION		= 32,
	MIG_REC_ROUND		= 48,
	MIG_REC_CHAN_END	= 64,
	MIG_REC_END		= 80,
	MIG_REC_ACK		= 96,
	MIG_REC_ABORT		= 112,
	MIG_REC_SYNC		= 128,	/* src -> dst, data: answer when consumed */
	MIG_REC_SYNC_ACK	= 144,	/* dst -> src, data: everything before read */
	/* SEV handshake on the control connection (docs/sev-migration.md) */
	MIG_REC_SEV_PLATFORM	= 160,	/* dst -> src: PDH, PEK||OCA||CEK, ASK||ARK */
	MIG_REC_SEV_START	= 176,	/* src -> dst: policy, source PDH, session */
	MIG_REC_SEV_STARTED	= 192,	/* dst -> src: RECEIVE_START's result */
	/* The commit after ACK (docs/migration-stream.md "Commit") */
	MIG_REC_GO		= 208,	/* src -> dst: run it (status 0) */
	MIG_REC_RUNNING		= 224,	/* dst -> src: got GO, starting it */
};

#define MIG_F_ZERO_PAGES	(1u << 0)
#define MIG_F_SEV_PAGES		(1u << 1)	/* SEV handshake + ENCRYPTED pages */
#define MIG_F_PAGE_MAP		(1u << 2)
#define MIG_F_CPUID		(1u << 3)	/* HELLO carries the guest's CPUID feature words */
#define MIG_F_DEFLATE		(1u << 4)	/* DEFLATE pages (lkvm migrate --compress) */
#define MIG_F_TSC		(1u << 5)	/* HELLO carries the guest's TSC rate */
/* --key only: NORMAL pages carry crc 0; the AES-GCM tags check their bytes. */
#define MIG_F_NO_PAGE_CRC	(1u << 6)
/* Section MIG_SEC_PCI: the config address latch, devices' writable config and BARs. */
#define MIG_F_PCI_STATE		(1u << 7)
/* Section MIG_SEC_RTC: the CMOS index latch and the CMOS bytes a guest writes. */
#define MIG_F_RTC_STATE		(1u << 8)
/* Section MIG_SEC_CONSOLE: virtio-console input typed but not yet taken by the driver. */
#define MIG_F_CONSOLE_INPUT	(1u << 9)
#define MIG_F_KNOWN		(MIG_F_ZERO_PAGES | MIG_F_SEV_PAGES | MIG_F_PAGE_MAP | MIG_F_CPUID | \
				 MIG_F_DEFLATE | MIG_F_TSC | MIG_F_NO_PAGE_CRC | MIG_F_PCI_STATE | \
				 MIG_F_RTC_STATE | MIG_F_CONSOLE_INPUT)

/* Page entry flags. */
#define MIG_PAGE_NORMAL		1
#define MIG_PAGE_ZERO		2
#define MIG_PAGE_ENCRYPTED	3
#define MIG_PAGE_DEFLATE	4	/* raw deflate of the page, shorter than a page */
#define MIG_PAGE_KIND_MASK	0xffu
#define MIG_PAGE_SHARED		(1u << 8)
#define MIG_ENC_HDR_MIN		52
#define MIG_ENC_HDR_MAX		1024

/* Caps on everything a peer can ask us to read or allocate. */
#define MIG_MAX_CHANNELS	16
#define MIG_MAX_BATCH		512
#define MIG_MAX_BANKS		4
#define MIG_MAX_CPUS		64
#define MIG_MAX_DEVICES_LEN	4096
#define MIG_MAX_REASON		512
/*
 * A failed migration's reason at either end (mig_result, mig_incoming):
 * room for a peer's whole MIG_MAX_REASON and what is said around it.  A
 * longer one is cut with STR_CUT_MARK (snprintf_cut()), never mid-word
 * unmarked; so is a reason longer than MIG_MAX_REASON put on the wire.
 */
#define MIG_REASON_SIZE		1024
/* mig_result__json() and __text(): every figure and the reason, whole. */
#define MIG_RESULT_TEXT_SIZE	4096
#define MIG_MAX_HELLO		8192
#define MIG_MAX_SMALL		1024
#define MIG_MAX_SECTION		(16u << 20)
#define MIG_MAX_SECTIONS_TOTAL	(64u << 20)	/* all buffered sections together */
#define MIG_MAX_RAM_LEN		((u64)MIG_MAX_BATCH * (MIG_ENT_SIZE + 4 + MIG_ENC_HDR_MAX + PAGE_SIZE))
#define MIG_CHUNK_PAGES		512		/* striping unit over data channels */

struct mig_hdr {
	u32 type;
	u32 count;
	u32 id;
	u32 seq;
	u64 len;
	u32 crc;
};

struct mig_page_ent {
	u64 page;
	u32 flags;
	u32 len;
	u32 crc;		/* crc32 of this page's data (0 bytes: crc32 of nothing = 0) */
};

/* One CPUID register of the guest's vCPU 0, as the guest sees it. */
struct mig_cpuid_word {
	u32 leaf, subleaf, reg;		/* reg: 0 eax, 1 ebx, 2 ecx, 3 edx */
	u32 value;
};
#define MIG_MAX_CPUID		32

/*
 * Names CPUID bits in a refusal ("avx2" rather than "0x7.ebx bit 5"); set by
 * x86/cpuid.c, NULL where it is not linked (the stream fuzzer).
 */
extern const char *(*mig_cpuid_bit_name)(u32 leaf, u32 subleaf, u32 reg, u32 bit);

struct mig_shape {
	u32 features;
	u32 nr_channels;
	u32 nr_cpus;
	u32 nr_banks;
	u64 nr_pages;
	u64 session;			/* repeats the preamble's, under the crc */
	struct { u64 gpa, size; } banks[MIG_MAX_BANKS];
	u32 sev_mode;
	u32 devices_len;
	char devices[MIG_MAX_DEVICES_LEN + 1];
	u32 nr_cpuid;			/* with MIG_F_CPUID */
	struct mig_cpuid_word cpuid[MIG_MAX_CPUID];
	u32 tsc_khz;			/* with MIG_F_TSC: the guest's TSC rate */
	bool tsc_pinned;		/* local only: lkvm run --tsc-khz (not sent) */
};

#define MIG_END_MEM_CRC	(1u << 0)	/* mem_crc is set: the destination compares */
#define MIG_END_PAUSED	(1u << 1)	/* paused by `lkvm pause`: stays paused there */

struct mig_end {
	u32 rounds;
	u32 nr_sections;
	u64 pages;
	u32 mem_crc;			/* crc32 of all guest RAM in page order */
	u32 flags;
};

struct mig_chan_end {
	u64 records, pages, bytes;
};

/* stream.c: pure encoders/decoders, no I/O.  Decoders return -EPROTO/-EINVAL
 * for anything malformed and never read outside the given buffer. */
/* channel may carry MIG_PRE_AUTH; decode strips it (mig_preamble__auth() tells). */
void mig_preamble__encode(u8 out[MIG_PREAMBLE_SIZE], u32 channel, u64 session);
bool mig_preamble__auth(const u8 in[MIG_PREAMBLE_SIZE]);
int mig_preamble__decode(const u8 in[MIG_PREAMBLE_SIZE], u32 *version, u32 *channel,
			 u64 *session);
void mig_hdr__encode(const struct mig_hdr *h, u8 out[MIG_HDR_SIZE]);
int mig_hdr__decode(const u8 in[MIG_HDR_SIZE], u32 expect_seq, struct mig_hdr *h);
u64 mig_hdr__max_len(u32 type);
void mig_ent__encode(const struct mig_page_ent *e, u8 out[MIG_ENT_SIZE]);
/* Checks the entry table of a RAM record against its header. */
int mig_ram__decode_entries(const struct mig_hdr *h, const u8 *tab, u64 nr_pages,
			    u32 features, struct mig_page_ent *ents);
int mig_shape__encode(const struct mig_shape *s, struct mig_buf *out);
int mig_shape__decode(const u8 *p, size_t len, struct mig_shape *s);
/* 0 if a destination shaped `dst` can take a guest shaped `src`; else a reason. */
int mig_shape__compare(const struct mig_shape *src, const struct mig_shape *dst,
		       char *reason, size_t n);
int mig_status__encode(u32 status, u32 features, const char *reason, struct mig_buf *out);
int mig_status__decode(const u8 *p, size_t len, u32 *status, u32 *features,
		       char *reason, size_t n);
void mig_end__encode(const struct mig_end *e, u8 out[24]);
int mig_end__decode(const u8 *p, size_t len, struct mig_end *e);
void mig_chan_end__encode(const struct mig_chan_end *e, u8 out[24]);
int mig_chan_end__decode(const u8 *p, size_t len, struct mig_chan_end *e);
/* ROUND: informational, for progress on both sides. */
struct mig_round {
	u32 round;
	u64 pages, dirty_rate;
};
void mig_round__encode(const struct mig_round *r, u8 p[24]);
int mig_round__decode(const u8 *p, size_t len, struct mig_round *r);
u32 mig_crc32(u32 crc, const void *p, size_t n);
/*
 * One page copied from src to dst, and zlib's crc32 of it.  cached: dst is
 * a buffer read again soon (kept in cache); else dst is written around the
 * cache (guest memory on the destination, not read again soon), and such
 * copies are ordered before later stores only by mig_crc32_copy_fence():
 * call it before telling another thread that the pages are there.
 */
u32 mig_crc32_copy_page(void *dst, const void *src, bool cached);
void mig_crc32_copy_fence(void);
/* Tests: 0 zlib, 1 PCLMULQDQ, 2 VPCLMULQDQ with AVX2, 3 with AVX-512, -1
 * best; returns what was set (at most what this CPU has). */
int mig_crc32__set_level(int level);
/* LKVM_CRC_LEVEL's value (NULL or "": this CPU's best): the level, or
 * -EINVAL (not a level) or -EOPNOTSUPP (this CPU lacks it). */
int mig_crc32__parse_level(const char *s);
bool mig_crc__bad(u32 got, u32 want);
/* strerror() with the stream's meaning of the errnos the decoder returns. */
const char *mig_strerror(int err);	/* every crc compare goes through this */

/* ---- transport.c ---- */

/* One connection.  fd < 0 with buf set reads from memory (tests, fuzzer);
 * fd < 0 without buf swallows writes. */
/*
 * lkvm migrate --bandwidth: one cap for all channels together.  Senders
 * reserve their bytes on a shared virtual clock and wait until it says the
 * cap allows them.  After a stall the clock catches up at most
 * MIG_RATE_BURST_NS: a cap is a limit, not an average since the start.
 */
#define MIG_RATE_BURST_NS	100000000ULL
#define MIG_MAX_BANDWIDTH_MBPS	1000000		/* lkvm migrate --bandwidth's range */
struct mig_rate {
	pthread_mutex_t lock;		/* reservations and changes, one at a time */
	u64 bps;			/* 0 = no cap (lkvm migrate --set may change it) */
	u64 next_ns;			/* when the bytes reserved so far are due */
	_Atomic u32 gen;		/* bumped on a change: waits on the old cap end */
};
#define MIG_RATE_INIT	{ .lock = PTHREAD_MUTEX_INITIALIZER }

/* A new cap for the senders, effective at once (even mid-wait). */
void mig_rate__set(struct mig_rate *r, u64 bps);

struct mig_chan {
	int fd;
	const u8 *buf;
	size_t buf_len, buf_pos;
	u32 seq_in, seq_out;
	u64 bytes_in, bytes_out;
	struct mig_rate *rate;		/* send cap shared by the channels, NULL = none */
	const atomic_bool *rate_cancel;	/* ends a capped wait early (the migration's cancel) */
	u64 fault_flip_at, fault_cut_at;	/* test hooks: 0 = off (LKVM_MIG_FAULT) */
	u32 fault_frame_max;		/* test hook: sealed frames this small, 0 = off */
	struct mig_crypt *crypt;	/* authenticated stream (crypt.c), NULL = clear */
};

void mig_chan__init_fd(struct mig_chan *c, int fd);
void mig_chan__init_buf(struct mig_chan *c, const void *buf, size_t len);
/* A buffer channel whose bytes are all read goes on from fd (its keys kept). */
void mig_chan__continue_fd(struct mig_chan *c, int fd);
void mig_chan__close(struct mig_chan *c);
int mig_chan__read(struct mig_chan *c, void *p, size_t n);
int mig_chan__readv(struct mig_chan *c, struct iovec *iov, int cnt);
int mig_chan__writev(struct mig_chan *c, struct iovec *iov, int cnt);
/* A record with a payload in one buffer; fills seq and crc. */
int mig_chan__send_rec(struct mig_chan *c, u32 type, u32 count, u32 id,
		       const void *payload, size_t len);
/* Next header on the channel, checked, with seq advanced. */
int mig_chan__recv_hdr(struct mig_chan *c, struct mig_hdr *h);
/* A small record's payload (len <= cap), crc checked. */
int mig_chan__recv_payload(struct mig_chan *c, const struct mig_hdr *h, void *buf, size_t cap);

/* "[ADDR:]PORT", "HOST:PORT", "[v6addr]:PORT".  listen_side allows a bare port. */
int mig_addr__parse(const char *s, bool listen_side, char *host, size_t hn, char *port, size_t pn);
int mig_tcp__listen(const char *addr);	/* -ENOENT/-EAGAIN: ADDR did not resolve */
int mig_tcp__accept(int lfd, int timeout_ms);
/* A connected socket, or -errno; -ENOENT/-EAGAIN: the name did not resolve. */
int mig_tcp__connect(const char *addr, int timeout_ms);
/* mig_tcp__connect()'s and mig_tcp__listen()'s errors as words. */
const char *mig_net_strerror(int err);
/* NODELAY, 4 MiB buffers, keepalive; send/receive timeout (0: none). */
void mig_tcp__tune(int fd, int timeout_ms);
void mig_chan__apply_fault_env(struct mig_chan *c, int channel);
/* The bytes on the wire, under any crypt layer (crypt.c's own I/O). */
int mig_chan__raw_read(struct mig_chan *c, void *p, size_t n);
int mig_chan__raw_writev(struct mig_chan *c, struct iovec *iov, int cnt);

/* ---- crypt.c: the authenticated stream (--key / --incoming-key) ---- */

#define MIG_KEY_SIZE		32		/* the master key hashed from the key file */
#define MIG_KEY_FILE_MIN	32	/* random bytes: head -c 32 /dev/urandom */
#define MIG_KEY_FILE_MAX	4096
#define MIG_NONCE_SIZE		32
/* Preamble channel flag: the stream after this preamble is authenticated. */
#define MIG_PRE_AUTH		0x80000000u
/* The destination's answer to an authenticated control preamble: magic + its nonce. */
#define MIG_AUTH_MAGIC		"LKVMAUTH"
#define MIG_AUTH_REPLY_SIZE	(8 + MIG_NONCE_SIZE)
#define MIG_FRAME_MAX		(256u << 10)	/* plaintext bytes per frame */
#define MIG_FRAME_OVERHEAD	(4 + 16)	/* its length word and GCM tag */

struct mig_crypt;
/* Read and check a key file (a regular file, mode 600 or stricter, 32..4096 bytes). */
int mig_key__load(const char *path, u8 key[MIG_KEY_SIZE], char *why, size_t n);
void mig_key__from_bytes(const void *buf, size_t len, u8 key[MIG_KEY_SIZE]);
int mig_nonce__new(u8 nonce[MIG_NONCE_SIZE]);
int mig_hkdf_sha256(const u8 *ikm, size_t ikm_len, const u8 *salt, size_t salt_len,
		    const u8 *info, size_t info_len, u8 *out, size_t out_len);
/* One direction's AES key for the connection that began with preamble pre. */
int mig_key__derive(const u8 key[MIG_KEY_SIZE], const u8 nc[MIG_NONCE_SIZE],
		    const u8 ns[MIG_NONCE_SIZE], const u8 pre[MIG_PREAMBLE_SIZE], bool to_dst,
		    u8 out[MIG_KEY_SIZE]);
/* From now on c's bytes go in frames; freed by mig_chan__close(). */
int mig_crypt__attach(struct mig_chan *c, const u8 key[MIG_KEY_SIZE], const u8 nc[MIG_NONCE_SIZE],
		      const u8 ns[MIG_NONCE_SIZE], const u8 pre[MIG_PREAMBLE_SIZE], bool source);
void mig_crypt__detach(struct mig_chan *c);
/* A frame from the peer has opened: it holds the key. */
bool mig_crypt__opened(const struct mig_chan *c);
/*
 * The peer's first frame, read and opened before anything asks for its
 * bytes (they wait for the next read): 0, or -EKEYREJECTED if it does
 * not authenticate, or the read's error.
 */
int mig_crypt__open_first(struct mig_chan *c);
int mig_crypt__readv(struct mig_chan *c, struct iovec *iov, int cnt);
int mig_crypt__writev(struct mig_chan *c, struct iovec *iov, int cnt);

/* ---- dirty.c ---- */

struct mig_dirty {
	u64 nr_pages;
	_Atomic unsigned long *bits;
	pthread_mutex_t lock;		/* harvesting: ring full exits vs. the engine */
	bool ring;			/* tracking by dirty ring (else bitmap) */
	bool active;
	u64 harvested;			/* pages reported since start */
	/*
	 * A ring was found with every slot dirty: KVM went past its soft limit
	 * and may have overwritten entries we never saw, so the next take
	 * reports every page.
	 */
	atomic_bool lost;
	u64 overflows;			/* times that happened (diagnostics) */
};

int mig_dirty__init(struct mig_dirty *d, u64 nr_pages);
void mig_dirty__free(struct mig_dirty *d);
void mig_dirty__set(struct mig_dirty *d, u64 page);
/* Move the dirty set into `out` (a bitmap of nr_pages bits) and clear it;
 * returns the number of pages moved (every page after a ring overflow). */
u64 mig_dirty__take(struct mig_dirty *d, unsigned long *out);
/* Fold a KVM_GET_DIRTY_LOG bitmap of a slot whose first page is page_base. */
u64 mig_dirty__merge_bitmap(struct mig_dirty *d, u64 page_base, const unsigned long *bm,
			    u64 npages);
/* Harvest one vCPU's ring: entries from *fetch on with the DIRTY flag.  A
 * slot maps to a page base through slot_base[slot] (npages for bounds);
 * returns entries harvested (caller then issues KVM_RESET_DIRTY_RINGS). */
struct mig_slot_map {
	u32 slot;
	u64 page_base, npages;
};
u64 mig_dirty__harvest_ring(struct mig_dirty *d, struct kvm_dirty_gfn *gfns, u32 entries,
			    u32 *fetch, const struct mig_slot_map *slots, int nr_slots);

/* Start/stop logging on every memory bank. */
int migration__log_start(struct kvm *kvm, struct mig_dirty *d);
void migration__log_stop(struct kvm *kvm);
/*
 * Harvest everything pending, then move the dirty set into `out`
 * (mig_dirty__take()) in the same step; *n: the pages moved.
 */
int migration__log_take(struct kvm *kvm, unsigned long *out, u64 *n);

/* ---- the destination (incoming.c) ---- */

struct mig_mem_bank {
	u8 *host;
	u64 page_base, nr_pages;
	/* Private anonymous memory: a page the kernel never mapped is zero,
	 * so round 0 can skip reading it (/proc/self/pagemap says which). */
	bool anon_private;
};

/* True if [p, p+len) lies in one private anonymous mapping of ours. */
bool mig_mem__anon_private(const void *p, u64 len);
/* Call fn for every page of the bank that may be non-zero (all of them
 * unless pagemap says which were never mapped).  Not thread-safe. */
int mig_mem__for_each_touched(const struct mig_mem_bank *b, void (*fn)(u64 page, void *arg),
			      void *arg);

struct mig_sec_buf {
	u32 id, instance;
	u8 *data;
	size_t len;
	struct mig_sec_buf *next;
};

struct mig_incoming {
	struct mig_shape local;		/* our machine */
	struct mig_shape peer;		/* the source's HELLO */
	struct mig_mem_bank banks[MIG_MAX_BANKS];
	int nr_banks;
	u64 nr_pages;
	_Atomic unsigned long *written;	/* pages ever received with data */
	_Atomic unsigned long *suspect;	/* page crc failed, not yet re-sent */
	_Atomic unsigned long *seen;	/* pages named by any entry */
	_Atomic u64 pages_in, records_in, bytes_in;
	struct mig_round last_round;	/* the source's last ROUND; under lock */
	struct mig_sec_buf *sections;
	size_t sections_bytes;
	u32 nr_sections;
	u32 accepted_features;
	bool got_hello, got_end;
	struct mig_end end;
	/*
	 * After the HELLO compared equal: make this machine run the guest as
	 * its source did (today: the TSC rate; a source that sends none gets
	 * local's, undoing what a source that went away set), or say why not.
	 * NULL: nothing.
	 */
	int (*adopt)(struct kvm *kvm, const struct mig_shape *peer, const struct mig_shape *local,
		     char *why, size_t n);
	/* Is (id, instance) a section we can load?  NULL: the registry. */
	int (*section_ok)(struct mig_incoming *in, u32 id, u32 instance);
	struct kvm *kvm;
	u64 session;
	pthread_mutex_t lock;		/* sections, reason */
	char reason[MIG_REASON_SIZE];
	/* Installed by SEV migration (issue 6) to take ENCRYPTED pages. */
	int (*recv_encrypted)(struct mig_incoming *in, u64 page, const u8 *data, u32 len);
	/* SEV: pages whose latest copy came ENCRYPTED (NULL without SEV). */
	_Atomic unsigned long *encrypted;
};

int mig_incoming__init(struct mig_incoming *in, u64 nr_pages);
void mig_incoming__free(struct mig_incoming *in);
/* Host address of guest page PAGE in the receive banks, or NULL. */
u8 *mig_incoming__page_host(struct mig_incoming *in, u64 page);
/* Read records until END (control) or CHAN_END (data).  0 or -errno with
 * in->reason set. */
int mig_incoming__recv(struct mig_incoming *in, struct mig_chan *c, bool control,
		       struct mig_chan_end *counted);
/* After END and every CHAN_END: totals, suspects, sections complete. */
/* The first record of the control channel: HELLO, compare, HELLO_REPLY. */
int mig_incoming__hello(struct mig_incoming *in, struct mig_chan *c);
int mig_incoming__check_complete(struct mig_incoming *in, const struct mig_chan_end *chans,
				 int nr_chans);
void mig_incoming__fail(struct mig_incoming *in, int err, const char *fmt, ...) __printf(3, 4);

/* `lkvm run --incoming`: call after every device is initialised and before
 * kvm_cpu__start_all().  0: the state is loaded, the source has the ACK,
 * start the vCPUs.  <0: exit non-zero, never run the guest. */
int migration__incoming(struct kvm *kvm);
/* lkvm migrate --status while receiving: one line (or JSON object) in
 * BUF; -ENOENT when this VMM is not receiving. */
int migration__incoming_status(struct kvm *kvm, char *buf, size_t n, bool json);
/* The guest arrived here by migration: its source's address and how long
 * ago; -ENOENT when it did not. */
int migration__arrival(char *from, size_t n, u64 *ago_ns);

/* ---- the source (migrate.c, ram.c) ---- */

/* RAM sender over a set of banks; one call per channel and round. */
struct mig_ram_src {
	struct mig_mem_bank banks[MIG_MAX_BANKS];
	int nr_banks;
	u64 nr_pages;
	u32 nr_channels;
	const struct sev_mig_pages *sev;	/* SEV: private pages sealed (NULL: none) */
	const atomic_bool *stop;	/* set: -ECANCELED before the next record */
	int deflate_level;		/* --compress: zlib level 1-9, 0 = off */
	bool no_page_crc;		/* MIG_F_NO_PAGE_CRC: sealed channels only */
};

struct mig_ram_stats {
	u64 zero, normal;
	u64 deflated;			/* --compress: pages sent as DEFLATE */
	u64 deflate_in;			/* bytes of those pages before and after */
	u64 deflate_out;
	u64 encrypted;			/* SEV: private pages sent as firmware packets */
	struct mig_chan_end sent;	/* what CHAN_END reports */
};

/* A channel's sender state and buffers (ram.c): made by its first
 * mig_ram__send() and kept for the next rounds, until mig_ram_tx__free(). */
struct mig_ram_tx;
void mig_ram_tx__free(struct mig_ram_tx **tx);
/* Send the pages of channel `idx` (0-based) that are set in `bm` (all pages
 * when bm is NULL) as RAM records, straight from guest memory.  `tx`: the
 * channel's kept state (*tx NULL at first); NULL: made for this call only. */
int mig_ram__send(const struct mig_ram_src *r, struct mig_chan *c, struct mig_ram_tx **tx,
		  u32 idx, const unsigned long *bm, u32 round, struct mig_ram_stats *st);
int mig_ram__send_chan_end(struct mig_chan *c, const struct mig_ram_stats *st);

struct mig_params {
	const char *to;			/* HOST:PORT */
	u32 downtime_ms;		/* target; default 30 */
	u64 bandwidth_mbps;		/* MB/s cap, 0 = none */
	u32 channels;			/* data connections; default mig__default_channels() */
	u32 max_rounds;			/* default 30 */
	u32 ack_timeout_ms;		/* default 30000 */
	bool verify;			/* ship a whole-RAM crc32 in END (costs downtime) */
	u32 wait_ready_ms;		/* SEV: wait this long for MIGRATION_READY */
	bool auto_converge;		/* throttle the vCPUs while the guest outruns the link */
	u32 compress;			/* zlib level 1-9 for RAM pages, 0 = send them as they are */
	bool keyed;			/* --key: an authenticated, encrypted stream */
	u8 key[MIG_KEY_SIZE];		/* its master key */
};

struct mig_progress {
	u32 round;
	double percent;			/* of this round */
	double mbps;			/* MB/s over the last round */
	u64 dirty_pages_per_s;
	u64 remaining_pages;
	double expected_downtime_ms;
	u64 bytes;
	bool final;
	bool rate_known;		/* else mbps and expected_downtime_ms mean nothing yet */
	u32 throttle_pct;		/* auto-converge: vCPUs get (100 - this)% of the time */
	/*
	 * Bit MIG_PF_*: a field the VMM did not send (another lkvm build, read
	 * by mig_ipc__decode_progress()): its figure is unknown, not 0.
	 * Always 0 in the VMM.
	 */
	u64 unreported;
};

/* The progress report's named fields, in the order of their table (control-fields.c). */
enum mig_progress_field {
	MIG_PF_ROUND, MIG_PF_FINAL, MIG_PF_PERCENT, MIG_PF_MBPS, MIG_PF_DIRTY_PAGES_PER_S,
	MIG_PF_REMAINING_PAGES, MIG_PF_EXPECTED_DOWNTIME_MS, MIG_PF_BYTES, MIG_PF_RATE_KNOWN,
	MIG_PF_THROTTLE_PCT, MIG_PF_NR
};

struct mig_result {
	int status;			/* 0 committed, else -errno */
	char reason[MIG_REASON_SIZE];
	u64 total_ns, downtime_ns, bytes, rounds;
	u64 pages_normal, pages_zero, pages_total;
	u64 pages_encrypted;		/* SEV: private pages as firmware packets */
	u64 pages_deflated;		/* --compress: pages sent compressed */
	u64 deflate_in, deflate_out;	/* their bytes before and after */
	u32 compress;			/* the level asked for, 0 = off */
	bool sealed;			/* --key: the stream was authenticated and encrypted */
	u32 channels;
	u32 mem_crc;			/* with verify: the crc the destination matched */
	bool verified;
	bool source_stopping;		/* failed because this VMM stops: no guest here either */
	bool paused;			/* committed, and paused (lkvm pause): it stays paused there */
	bool paused_here;		/* failed, and the guest stays paused here (lkvm pause) */
	bool unknown;			/* GO sent, RUNNING not heard: paused here, may run there */
	bool round_limit;		/* pre-copy ended at --max-rounds, not at the target */
	u32 max_rounds, downtime_target_ms;
	bool auto_converge;
	u32 throttle_pct;		/* the highest vCPU throttle auto-converge needed */
	u64 bandwidth_mbps;		/* the cap at the end, 0 = none */
	u32 settings_changed;		/* lkvm migrate --set requests applied */
	/*
	 * Bit MIG_RF_*: a field the VMM did not send (another lkvm build read
	 * by mig_ipc__decode_result()): its figure is unknown, not 0.  Always
	 * 0 in the VMM that ran the migration.
	 */
	u64 unreported;
};

/* The result's named fields, in the order of their table (control-fields.c). */
enum mig_result_field {
	MIG_RF_STATUS, MIG_RF_REASON, MIG_RF_TOTAL_NS, MIG_RF_DOWNTIME_NS, MIG_RF_BYTES,
	MIG_RF_ROUNDS, MIG_RF_PAGES_NORMAL, MIG_RF_PAGES_ZERO, MIG_RF_PAGES_TOTAL,
	MIG_RF_PAGES_ENCRYPTED, MIG_RF_PAGES_DEFLATED, MIG_RF_DEFLATE_IN, MIG_RF_DEFLATE_OUT,
	MIG_RF_COMPRESS, MIG_RF_SEALED, MIG_RF_CHANNELS, MIG_RF_MEM_CRC, MIG_RF_VERIFIED,
	MIG_RF_SOURCE_STOPPING, MIG_RF_PAUSED, MIG_RF_PAUSED_HERE, MIG_RF_UNKNOWN,
	MIG_RF_ROUND_LIMIT, MIG_RF_MAX_ROUNDS, MIG_RF_DOWNTIME_TARGET_MS, MIG_RF_AUTO_CONVERGE,
	MIG_RF_THROTTLE_PCT, MIG_RF_BANDWIDTH_MBPS, MIG_RF_SETTINGS_CHANGED, MIG_RF_NR
};
#define mig_result__reported(r, f)	(!((r)->unreported & 1ULL << (f)))

typedef void (*mig_progress_fn)(const struct mig_progress *p, void *arg);

/* Half the CPUs this process may run on, at least 2 (1 on one CPU), at
 * most MIG_MAX_CHANNELS; sealed: one per CPU. */
u32 mig__default_channels(bool sealed);
void mig_params__defaults(struct mig_params *p);
/*
 * Migrate the running VM.  Returns 0 once the destination said RUNNING
 * (the caller then stops the VM with status 0: the guest lives on the
 * destination); on a failure before GO the vCPUs have been resumed, the
 * guest runs on here, and res->reason says why; with res->unknown (GO out,
 * no RUNNING) it stays paused for `lkvm resume` or `lkvm stop` to settle.
 */
/*
 * lkvm migrate --cancel: ask the running migration to give up.  0 (msg says
 * what), -ENOENT when none runs, -EBUSY once GO went out (the destination
 * has been told to run the guest).  The engine stops at its next record, sends
 * ABORT, resumes the guest and fails with -ECANCELED.
 */
int migration__cancel(char *msg, size_t n);

/*
 * lkvm migrate --set: change the running migration's settings.  Only while
 * it pre-copies; a change applies from the next round (the cap at once).
 */
#define MIG_SET_DOWNTIME	(1u << 0)
#define MIG_SET_BANDWIDTH	(1u << 1)
#define MIG_SET_MAX_ROUNDS	(1u << 2)
#define MIG_SET_AUTO_CONVERGE	(1u << 3)
#define MIG_SET_ALL		0xfu

/* IPC_MSG_MIGRATE_SET, as read: it travels as named fields (mig_ipc__encode_set). */
struct mig_ipc_set {
	u32 which;			/* MIG_SET_*: the fields that count */
	u32 downtime_ms;		/* 1-600000 */
	u64 bandwidth_mbps;		/* 0 = no cap, at most MIG_MAX_BANDWIDTH_MBPS */
	u32 max_rounds;			/* 1-10000; at or below the round under way: it is the last */
	bool auto_converge;
};

/* 0 (msg says the settings now), -EINVAL, -ENOENT (none runs), -EBUSY (past pre-copy). */
int migration__set(const struct mig_ipc_set *s, char *msg, size_t n);
/*
 * The VMM is stopping: cancel a migration under way (the destination hears
 * "the source VMM is stopping").  One that already sent END is left to end
 * by itself, ACK or not.  The caller waits for migration__send() to return
 * before guest memory goes: at most the ms returned (the engine's own
 * timeouts bound it), then it may give up on a stuck engine.
 */
#define MIG_STOP_WAIT_MS	40000	/* a cancel, or anything before END */
u32 migration__stop(void);
int migration__send(struct kvm *kvm, const struct mig_params *p, mig_progress_fn fn,
		    void *arg, struct mig_result *res);
int mig_result__json(const struct mig_result *r, char *buf, size_t n);
/* "destination", "source", "stopped", "paused-here-unknown" or
 * "destination-or-nowhere" (unknown, and this VMM is stopping). */
const char *mig_result__where(const struct mig_result *r);
void mig_json_str(const char *s, char *out, size_t n);
int mig_result__text(const struct mig_result *r, char *buf, size_t n);
int mig_progress__text(const struct mig_progress *p, char *buf, size_t n);
int mig_progress__json(const struct mig_progress *p, char *buf, size_t n);

/* The machine shape of a VM (both sides build it the same way). */
int mig_shape__from_kvm(struct kvm *kvm, struct mig_shape *s);
/* mig_incoming's adopt on a real VM (migration/shape.c). */
int mig_shape__adopt(struct kvm *kvm, const struct mig_shape *peer, const struct mig_shape *local,
		     char *why, size_t n);
/* Devices add "name[=identity]" to the shape (e.g. a disk's size + name). */
int migration__register_device(const char *desc);

/* crc32 over every page of the banks in page order (the --verify checksum). */
u32 mig_mem_crc(const struct mig_mem_bank *banks, int nr_banks);

/*
 * `lkvm migrate` asks the running VMM over the control socket
 * (IPC_MSG_MIGRATE): the VMM answers with PROGRESS messages carrying a
 * struct mig_progress, one DATA message with a struct mig_result, and the
 * REPLY; `lkvm migrate --set` sends a struct mig_ipc_set.  All four
 * travel as named fields (include/lkvm/ipc-fields.h,
 * migration/control-fields.c, the tables in docs/ipc.md), never as these
 * structs: the VMM may be another lkvm build than its client (one started
 * before a package upgrade), and both must read what they know of each other.
 */
/* IPC_MSG_MIGRATE_STATUS flags: the answer as JSON. */
#define MIG_STATUS_JSON		(1u << 0)

/* The request, as read (absent fields: 0 / false, the defaults). */
struct mig_ipc_req {
	char to[256];			/* HOST:PORT, required */
	u32 downtime_ms;		/* 1-600000 */
	u32 channels;			/* 1-MIG_MAX_CHANNELS */
	u32 max_rounds;			/* 1-10000 */
	u64 bandwidth_mbps;		/* 0 (no cap)-MIG_MAX_BANDWIDTH_MBPS */
	u32 wait_ready_s;		/* SEV: --wait-ready, 1-3600 */
	u32 compress;			/* --compress: zlib level 0 (off)-9 */
	bool verify, auto_converge;
	bool keyed;			/* key holds --key's master key */
	u8 key[MIG_KEY_SIZE];		/* mig_key__load()'s result */
};

/*
 * The codecs (migration/control-fields.c).  encode: bytes written into buf,
 * or -EMSGSIZE.  decode_req: 0, -EINVAL (malformed; why says which field
 * and how) or -ENOPROTOOPT (a field this build does not know; its name in
 * unknown, IPCF_NAME_MAX + 1 bytes).  decode_progress / decode_result: 0
 * or -EINVAL; fields they do not know are skipped, absent ones read 0.
 */
int mig_ipc__encode_req(const struct mig_ipc_req *r, u8 *buf, size_t n);
int mig_ipc__decode_req(const void *p, size_t len, struct mig_ipc_req *r, char *why, size_t n,
			char *unknown);
int mig_ipc__encode_progress(const struct mig_progress *pr, u8 *buf, size_t n);
int mig_ipc__decode_progress(const void *p, size_t len, struct mig_progress *pr, char *why,
			     size_t n);
int mig_ipc__encode_result(const struct mig_result *r, u8 *buf, size_t n);
int mig_ipc__decode_result(const void *p, size_t len, struct mig_result *r, char *why, size_t n);
/*
 * lkvm migrate --set (IPC_MSG_MIGRATE_SET): the fields of s->which, named
 * as the options.  decode_set: 0, -EINVAL (malformed, or no field at all)
 * or -ENOPROTOOPT (as decode_req); s->which says which fields came.
 */
int mig_ipc__encode_set(const struct mig_ipc_set *s, u8 *buf, size_t n);
int mig_ipc__decode_set(const void *p, size_t len, struct mig_ipc_set *s, char *why, size_t n,
			char *unknown);
/* Enough for any of the three (a result's reason is the largest field). */
#define MIG_IPC_MSG_MAX		(MIG_REASON_SIZE + 2048)

/* Test hook: LKVM_MIG_FAULT=KEY:MS sleeps MS ms here (logged, saying where). */
void mig__test_hold(const char *key, const char *where);

/* Page is all zeroes (cheap: stops at the first non-zero word). */
bool mig_page_is_zero(const void *p);

#endif
