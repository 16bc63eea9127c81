/*
 * The migrate request, its progress reports and its result as named fields
 * (include/lkvm/ipc-fields.h): the tables both `lkvm migrate` and the VMM
 * read them with.  docs/ipc.md lists the same fields; a field once shipped
 * keeps its name, type and meaning.  A new one is added at the end of its
 * table: an older build refuses it in a request (it cannot do what was
 * asked) and skips it in an answer.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lkvm/ipc-fields.h"
#include "lkvm/migration.h"

/* Spelt as lkvm migrate's options, so a refusal names what the user typed. */
enum { REQ_TO, REQ_DOWNTIME, REQ_BANDWIDTH, REQ_CHANNELS, REQ_MAX_ROUNDS, REQ_AUTO_CONVERGE,
       REQ_COMPRESS, REQ_VERIFY, REQ_WAIT_READY, REQ_KEY };

#define R struct mig_ipc_req
static const struct ipcf req_fields[] = {
	[REQ_TO]	    = { IPCF_STR_ROW(R, to, "to"), .required = true, .min = 1 },
	[REQ_DOWNTIME]	    = { IPCF_U32_ROW(R, downtime_ms, "downtime"), .min = 1, .max = 600000 },
	[REQ_BANDWIDTH]	    = { IPCF_U64_ROW(R, bandwidth_mbps, "bandwidth"),
				.max = MIG_MAX_BANDWIDTH_MBPS },
	[REQ_CHANNELS]	    = { IPCF_U32_ROW(R, channels, "channels"), .min = 1,
				.max = MIG_MAX_CHANNELS },
	[REQ_MAX_ROUNDS]    = { IPCF_U32_ROW(R, max_rounds, "max-rounds"), .min = 1, .max = 10000 },
	[REQ_AUTO_CONVERGE] = { IPCF_BOOL_ROW(R, auto_converge, "auto-converge") },
	[REQ_COMPRESS]	    = { IPCF_U32_ROW(R, compress, "compress"), .max = 9 },
	[REQ_VERIFY]	    = { IPCF_BOOL_ROW(R, verify, "verify") },
	[REQ_WAIT_READY]    = { IPCF_U32_ROW(R, wait_ready_s, "wait-ready"), .min = 1, .max = 3600 },
	[REQ_KEY]	    = { IPCF_BYTES_ROW(R, key, "key") },
};
#undef R

/*
 * The names of `lkvm migrate --json`'s progress lines.  Indexed by enum
 * mig_progress_field: its bits are mig_progress.unreported's.
 */
#define P struct mig_progress
static const struct ipcf progress_fields[] = {
	[MIG_PF_ROUND] = { IPCF_U32_ROW(P, round, "round") },
	[MIG_PF_FINAL] = { IPCF_BOOL_ROW(P, final, "final") },
	[MIG_PF_PERCENT] = { IPCF_F64_ROW(P, percent, "percent") },
	[MIG_PF_MBPS] = { IPCF_F64_ROW(P, mbps, "mbps") },
	[MIG_PF_DIRTY_PAGES_PER_S] = { IPCF_U64_ROW(P, dirty_pages_per_s, "dirty_pages_per_s") },
	[MIG_PF_REMAINING_PAGES] = { IPCF_U64_ROW(P, remaining_pages, "remaining_pages") },
	[MIG_PF_EXPECTED_DOWNTIME_MS] = { IPCF_F64_ROW(P, expected_downtime_ms,
						       "expected_downtime_ms") },
	[MIG_PF_BYTES] = { IPCF_U64_ROW(P, bytes, "bytes") },
	[MIG_PF_RATE_KNOWN] = { IPCF_BOOL_ROW(P, rate_known, "rate_known") },
	[MIG_PF_THROTTLE_PCT] = { IPCF_U32_ROW(P, throttle_pct, "throttle_pct") },
};
#undef P
_Static_assert(ARRAY_SIZE(progress_fields) == MIG_PF_NR, "enum mig_progress_field and the table");

/*
 * A result that does not say how it ended is not one: status is required.
 * Indexed by enum mig_result_field: its bits are mig_result.unreported's.
 */
#define S struct mig_result
static const struct ipcf result_fields[] = {
	[MIG_RF_STATUS] = { IPCF_S32_ROW(S, status, "status"), .required = true },
	[MIG_RF_REASON] = { IPCF_STR_ROW(S, reason, "reason") },
	[MIG_RF_TOTAL_NS] = { IPCF_U64_ROW(S, total_ns, "total_ns") },
	[MIG_RF_DOWNTIME_NS] = { IPCF_U64_ROW(S, downtime_ns, "downtime_ns") },
	[MIG_RF_BYTES] = { IPCF_U64_ROW(S, bytes, "bytes") },
	[MIG_RF_ROUNDS] = { IPCF_U64_ROW(S, rounds, "rounds") },
	[MIG_RF_PAGES_NORMAL] = { IPCF_U64_ROW(S, pages_normal, "pages_normal") },
	[MIG_RF_PAGES_ZERO] = { IPCF_U64_ROW(S, pages_zero, "pages_zero") },
	[MIG_RF_PAGES_TOTAL] = { IPCF_U64_ROW(S, pages_total, "pages_total") },
	[MIG_RF_PAGES_ENCRYPTED] = { IPCF_U64_ROW(S, pages_encrypted, "pages_encrypted") },
	[MIG_RF_PAGES_DEFLATED] = { IPCF_U64_ROW(S, pages_deflated, "pages_deflated") },
	[MIG_RF_DEFLATE_IN] = { IPCF_U64_ROW(S, deflate_in, "deflate_in") },
	[MIG_RF_DEFLATE_OUT] = { IPCF_U64_ROW(S, deflate_out, "deflate_out") },
	[MIG_RF_COMPRESS] = { IPCF_U32_ROW(S, compress, "compress") },
	[MIG_RF_SEALED] = { IPCF_BOOL_ROW(S, sealed, "sealed") },
	[MIG_RF_CHANNELS] = { IPCF_U32_ROW(S, channels, "channels") },
	[MIG_RF_MEM_CRC] = { IPCF_U32_ROW(S, mem_crc, "mem_crc") },
	[MIG_RF_VERIFIED] = { IPCF_BOOL_ROW(S, verified, "verified") },
	[MIG_RF_SOURCE_STOPPING] = { IPCF_BOOL_ROW(S, source_stopping, "source_stopping") },
	[MIG_RF_PAUSED] = { IPCF_BOOL_ROW(S, paused, "paused") },
	[MIG_RF_PAUSED_HERE] = { IPCF_BOOL_ROW(S, paused_here, "paused_here") },
	[MIG_RF_UNKNOWN] = { IPCF_BOOL_ROW(S, unknown, "unknown") },
	[MIG_RF_ROUND_LIMIT] = { IPCF_BOOL_ROW(S, round_limit, "round_limit") },
	[MIG_RF_MAX_ROUNDS] = { IPCF_U32_ROW(S, max_rounds, "max_rounds") },
	[MIG_RF_DOWNTIME_TARGET_MS] = { IPCF_U32_ROW(S, downtime_target_ms, "downtime_target_ms") },
	[MIG_RF_AUTO_CONVERGE] = { IPCF_BOOL_ROW(S, auto_converge, "auto_converge") },
	[MIG_RF_THROTTLE_PCT] = { IPCF_U32_ROW(S, throttle_pct, "throttle_pct") },
	[MIG_RF_BANDWIDTH_MBPS] = { IPCF_U64_ROW(S, bandwidth_mbps, "bandwidth_mbps") },
	[MIG_RF_SETTINGS_CHANGED] = { IPCF_U32_ROW(S, settings_changed, "settings_changed") },
};
#undef S
_Static_assert(ARRAY_SIZE(result_fields) == MIG_RF_NR, "enum mig_result_field and the table");

/*
 * lkvm migrate --set: spelt as its options, as the request's are.  In the
 * order of the MIG_SET_* bits, so that which is the mask of fields.
 */
#define T struct mig_ipc_set
static const struct ipcf set_fields[] = {
	{ IPCF_U32_ROW(T, downtime_ms, "downtime"), .min = 1, .max = 600000 },
	{ IPCF_U64_ROW(T, bandwidth_mbps, "bandwidth"), .max = MIG_MAX_BANDWIDTH_MBPS },
	{ IPCF_U32_ROW(T, max_rounds, "max-rounds"), .min = 1, .max = 10000 },
	{ IPCF_BOOL_ROW(T, auto_converge, "auto-converge") },
};
#undef T
_Static_assert(MIG_SET_ALL == (1u << ARRAY_SIZE(set_fields)) - 1, "MIG_SET_* and the table");

/* Bit i of a mask is row i: no table may outgrow it. */
_Static_assert(ARRAY_SIZE(req_fields) <= IPCF_MAX_FIELDS, "request fields past the mask");
_Static_assert(ARRAY_SIZE(progress_fields) <= IPCF_MAX_FIELDS, "progress fields past the mask");
_Static_assert(ARRAY_SIZE(result_fields) <= IPCF_MAX_FIELDS, "result fields past the mask");

#define ALL(t)	(~0ULL >> (64 - ARRAY_SIZE(t)))

/* Only what was asked for: an absent field is the VMM's default. */
int mig_ipc__encode_req(const struct mig_ipc_req *r, u8 *buf, size_t n)
{
	u64 mask = 1ULL << REQ_TO;

	if (r->downtime_ms)
		mask |= 1ULL << REQ_DOWNTIME;
	if (r->bandwidth_mbps)
		mask |= 1ULL << REQ_BANDWIDTH;
	if (r->channels)
		mask |= 1ULL << REQ_CHANNELS;
	if (r->max_rounds)
		mask |= 1ULL << REQ_MAX_ROUNDS;
	if (r->auto_converge)
		mask |= 1ULL << REQ_AUTO_CONVERGE;
	if (r->compress)
		mask |= 1ULL << REQ_COMPRESS;
	if (r->verify)
		mask |= 1ULL << REQ_VERIFY;
	if (r->wait_ready_s)
		mask |= 1ULL << REQ_WAIT_READY;
	if (r->keyed)
		mask |= 1ULL << REQ_KEY;
	return ipcf__encode(req_fields, ARRAY_SIZE(req_fields), mask, r, buf, n);
}

int mig_ipc__decode_req(const void *p, size_t len, struct mig_ipc_req *r, char *why, size_t n,
			char *unknown)
{
	u64 seen;
	int ret;

	memset(r, 0, sizeof(*r));
	ret = ipcf__decode(req_fields, ARRAY_SIZE(req_fields), IPCF_STRICT, p, len, r, &seen,
			   why, n, unknown);
	r->keyed = !ret && seen & 1ULL << REQ_KEY;
	return ret;
}

int mig_ipc__encode_progress(const struct mig_progress *pr, u8 *buf, size_t n)
{
	return ipcf__encode(progress_fields, ARRAY_SIZE(progress_fields), ALL(progress_fields),
			    pr, buf, n);
}

int mig_ipc__decode_progress(const void *p, size_t len, struct mig_progress *pr, char *why,
			     size_t n)
{
	u64 seen = 0;
	int ret;

	memset(pr, 0, sizeof(*pr));
	ret = ipcf__decode(progress_fields, ARRAY_SIZE(progress_fields), 0, p, len, pr, &seen,
			   why, n, NULL);
	pr->unreported = ~seen & ALL(progress_fields);
	return ret;
}

int mig_ipc__encode_result(const struct mig_result *r, u8 *buf, size_t n)
{
	return ipcf__encode(result_fields, ARRAY_SIZE(result_fields), ALL(result_fields), r,
			    buf, n);
}

/*
 * Only `lkvm migrate` reads a result, to print it: the reason (the only
 * text) comes out fit for a terminal, whatever process answered on the
 * instance's socket.
 */
int mig_ipc__decode_result(const void *p, size_t len, struct mig_result *r, char *why, size_t n)
{
	u64 seen = 0;
	int ret;

	memset(r, 0, sizeof(*r));
	ret = ipcf__decode(result_fields, ARRAY_SIZE(result_fields), 0, p, len, r, &seen, why, n,
			   NULL);
	r->unreported = ~seen & ALL(result_fields);
	if (!ret)
		str_for_terminal(r->reason, strlen(r->reason), false);
	return ret;
}

int mig_ipc__encode_set(const struct mig_ipc_set *s, u8 *buf, size_t n)
{
	return ipcf__encode(set_fields, ARRAY_SIZE(set_fields), s->which & MIG_SET_ALL, s, buf, n);
}

int mig_ipc__decode_set(const void *p, size_t len, struct mig_ipc_set *s, char *why, size_t n,
			char *unknown)
{
	u64 seen = 0;
	int ret;

	memset(s, 0, sizeof(*s));
	ret = ipcf__decode(set_fields, ARRAY_SIZE(set_fields), IPCF_STRICT, p, len, s, &seen,
			   why, n, unknown);
	if (ret)
		return ret;
	if (!seen) {
		snprintf(why, n, "no field: nothing to change");
		return -EINVAL;
	}
	s->which = seen;
	return 0;
}
