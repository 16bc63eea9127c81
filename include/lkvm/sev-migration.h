/*
 * SEV live migration (issue 6, docs/sev-migration.md): the SEV parts of
 * the migration stream, driven by the engine in migration/ through a few
 * calls at fixed points.
 *
 *   migration/sev-stream.c  encode/decode of the SEV records and of one
 *                           encrypted page entry (pure, unit-tested)
 *   migration/sev-src.c     source: readiness, handshake + SEND_START,
 *                           SEND_UPDATE_DATA per private page, page-map
 *                           changes, SEND_FINISH / SEND_CANCEL
 *   migration/sev-dst.c     destination: PDH_CERT_EXPORT, RECEIVE_START,
 *                           RECEIVE_UPDATE_DATA, the private/shared
 *                           arrival check, RECEIVE_FINISH
 *
 * Every call is a no-op returning 0 for a guest without SEV.  Functions
 * that can fail write one human-readable line into why[n].
 */
#ifndef LKVM__SEV_MIGRATION_H
#define LKVM__SEV_MIGRATION_H

#include "lkvm/migration.h"
#include "lkvm/sev-crypto.h"

struct kvm;
struct page_map;

/* ---- the SEV records (sev-stream.c) ---- */

/* Largest AMD chain (ASK || ARK) we accept from a peer. */
#define SEV_MIG_AMD_MAX		(2 * SEV_AMD_CERT_MAX_SIZE)
/* SEV_PLATFORM payload: 3 length words + PDH + PEK||OCA||CEK + AMD chain. */
#define SEV_MIG_PLATFORM_MAX	(12 + SEV_CERT_SIZE + SEV_CHAIN_SIZE + SEV_MIG_AMD_MAX)
/* SEV_START payload: policy, PDH (len + cert), session (len + blob). */
#define SEV_MIG_START_SIZE	(4 + 4 + SEV_CERT_SIZE + 4 + SEV_SESSION_SIZE)

struct sev_mig_platform {
	const u8 *pdh;			/* SEV_CERT_SIZE bytes */
	const u8 *chain;		/* SEV_CHAIN_SIZE bytes: PEK || OCA || CEK */
	const u8 *amd;			/* ASK || ARK, or NULL */
	u32 amd_len;
};

struct sev_mig_start {
	u32 policy;
	const u8 *pdh;			/* the source platform's PDH */
	const u8 *session;		/* SEV_SESSION_SIZE bytes */
};

int sev_mig_platform__encode(const struct sev_mig_platform *p, struct mig_buf *out);
/* Pointers in *p point into buf.  -EPROTO for any malformed length. */
int sev_mig_platform__decode(const u8 *buf, size_t len, struct sev_mig_platform *p);
int sev_mig_start__encode(const struct sev_mig_start *s, struct mig_buf *out);
int sev_mig_start__decode(const u8 *buf, size_t len, struct sev_mig_start *s);

/*
 * One ENCRYPTED page entry's data: le32 hdr_len, the packet header
 * (MIG_ENC_HDR_MIN..MIG_ENC_HDR_MAX bytes), then PAGE_SIZE bytes of
 * transport ciphertext.  Decode checks that len is exactly that.
 */
int sev_mig_pkt__decode(const u8 *data, size_t len, const u8 **hdr, u32 *hdr_len,
			const u8 **trans);
static inline u32 sev_mig_pkt__len(u32 hdr_len)
{
	return 4 + hdr_len + PAGE_SIZE;
}

/* ---- source (sev-src.c) ---- */

/*
 * Before connecting: an SEV guest must have declared MIGRATION_READY.
 * wait_ms 0 refuses at once; otherwise waits that long, or until *stop is
 * set (may be NULL; then -ECANCELED).  The refusal says "never ready" or
 * "was ready, withdrew (rebooting?)".  Also clears the page map's changed
 * set: round 0 sends every page in its current state.
 */
int sev_mig__src_begin(struct kvm *kvm, u32 wait_ms, const atomic_bool *stop, char *why,
		       size_t n);
/*
 * After HELLO_REPLY on the control connection: receive the destination's
 * SEV_PLATFORM, check its chain as the policy demands, SEND_START (length
 * query first), send SEV_START, wait for SEV_STARTED (RECEIVE_START's
 * result).  From success on, a failure must end in sev_mig__src_cancel().
 */
int sev_mig__src_handshake(struct kvm *kvm, struct mig_chan *ctrl, char *why, size_t n);
/* Readiness still held since begin (no withdrawal, even a brief one). */
int sev_mig__src_check(struct kvm *kvm, char *why, size_t n);
/* OR the pages whose shared/private state changed since the last call into bm. */
void sev_mig__src_merge_changed(struct kvm *kvm, unsigned long *bm);
/* Commit (destination acknowledged): SEND_FINISH; the guest is SENT and may never run here. */
int sev_mig__src_commit(struct kvm *kvm);
/* Failure before commit: SEND_CANCEL if SEND_START was done; the guest runs on. */
void sev_mig__src_cancel(struct kvm *kvm);

/*
 * RAM sender hook (ram.c): the state of the page map for this migration,
 * NULL for a guest without SEV.  seal() runs SEND_UPDATE_DATA on one guest
 * page into out (sev_mig_pkt__len(hdr_len) bytes); *len gets the length.
 */
struct sev_mig_pages {
	struct page_map *pm;
	u32 hdr_len;			/* SEND_UPDATE_DATA's header length (52) */
	int (*seal)(const struct sev_mig_pages *s, void *host, u8 *out, u32 *len);
	void *priv;
};
const struct sev_mig_pages *sev_mig__src_pages(struct kvm *kvm);

/* ---- destination (sev-dst.c) ---- */

/* Before HELLO: announce SEV_PAGES and install the ENCRYPTED page receiver. */
int sev_mig__dst_prepare(struct kvm *kvm, struct mig_incoming *in);
/* After HELLO_REPLY: SEV_PLATFORM out, SEV_START in, RECEIVE_START, SEV_STARTED out. */
int sev_mig__dst_handshake(struct kvm *kvm, struct mig_incoming *in, struct mig_chan *ctrl);
/*
 * After the sections are loaded, before the ACK: every page arrived the way
 * the installed page map says (private encrypted, shared plain), then
 * RECEIVE_FINISH.  Any failure: the guest never runs.
 */
int sev_mig__dst_finish(struct kvm *kvm, struct mig_incoming *in);

/*
 * Shared by both sides: a whole small file (-EINVAL: not a regular file,
 * -EFBIG: larger than max; sev_mig__file_error() words them); a control
 * record or a refusal.
 */
int sev_mig__read_file(const char *path, size_t max, u8 **buf, size_t *len);
const char *sev_mig__file_error(int err);
int sev_mig__recv_rec(struct mig_chan *c, u32 type, u8 *buf, size_t cap, size_t *len,
		      char *why, size_t n);

/* Options of `lkvm run` for SEV migration on hardware (the model needs none). */
struct sev_mig_options {
	const char *amd_chain;		/* destination: this platform's ASK || ARK */
	const char *ark;		/* source: the ARK to pin the destination's chain to */
};
extern struct sev_mig_options sev_mig_options;

#define SEV_MIG_RUN_OPTIONS						\
	OPT_STR(0, "sev-amd-chain", &sev_mig_options.amd_chain, "<file>", \
		"SEV migration target: this platform's ASK || ARK (from AMD KDS)"), \
	OPT_STR(0, "sev-ark", &sev_mig_options.ark, "<file>",		\
		"SEV migration source: pin the target's chain to this ARK")

/* Test hooks (LKVM_SEVMIG_FAULT, docs/sev-migration.md). */
struct sev_mig_fault {
	u64 flip_packet;		/* flip a ciphertext bit of the Nth sealed packet */
	bool await_withdraw;		/* source: hold after round 0 until the guest
					 * withdraws readiness once (up to 30 s) */
	const char *pdh_file;		/* destination: advertise this PDH instead */
};
void sev_mig__fault_from_env(struct sev_mig_fault *f);

#endif
