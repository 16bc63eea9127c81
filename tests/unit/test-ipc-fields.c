/*
 * Named fields (ipc-fields.c) and the migrate request, progress, result
 * and --set tables (migration/control-fields.c): round trips, the exact
 * bytes of a request (the format other builds read), every malformed input
 * a client or a VMM of another build could send, and a result's figures
 * that a VMM of another build did not report (unknown, not 0).
 */
#include <math.h>

#include "test.h"
#include "lkvm/ipc-fields.h"
#include "lkvm/migration.h"

static u8 buf[MIG_IPC_MSG_MAX + 4096];
static char why[256], unknown[IPCF_NAME_MAX + 1];

/* One field, by hand. */
static size_t fld(u8 *p, const char *name, const void *v, size_t vlen)
{
	size_t nl = strlen(name);

	p[0] = nl;
	memcpy(p + 1, name, nl);
	p[1 + nl] = vlen & 0xff;
	p[2 + nl] = vlen >> 8;
	memcpy(p + 3 + nl, v, vlen);
	return 3 + nl + vlen;
}

static size_t to_field(u8 *p)
{
	return fld(p, "to", "h:1", 3);
}

static int req(size_t len, struct mig_ipc_req *r)
{
	why[0] = unknown[0] = 0;
	return mig_ipc__decode_req(buf, len, r, why, sizeof(why), unknown);
}

static void test_request_roundtrip(void)
{
	struct mig_ipc_req a, b;
	int n, i;

	memset(&a, 0, sizeof(a));	/* padding too: compared whole */
	strcpy(a.to, "[fe80::1]:4444");
	a.downtime_ms = 600000;
	a.channels = MIG_MAX_CHANNELS;
	a.max_rounds = 10000;
	a.bandwidth_mbps = MIG_MAX_BANDWIDTH_MBPS;
	a.wait_ready_s = 3600;
	a.compress = 9;
	a.verify = a.auto_converge = a.keyed = true;
	for (i = 0; i < MIG_KEY_SIZE; i++)
		a.key[i] = i * 7 + 1;
	n = mig_ipc__encode_req(&a, buf, sizeof(buf));
	REQUIRE(n > 0);
	CHECK_EQ(mig_ipc__decode_req(buf, n, &b, why, sizeof(why), unknown), 0);
	CHECK(!memcmp(&a, &b, sizeof(a)));

	/* Defaults are not sent: an older VMM never sees an option not asked for. */
	memset(&a, 0, sizeof(a));
	strcpy(a.to, "h:1");
	n = mig_ipc__encode_req(&a, buf, sizeof(buf));
	CHECK_EQ(n, 8);
	CHECK_EQ(req(n, &b), 0);
	CHECK(!strcmp(b.to, "h:1") && !b.keyed && !b.downtime_ms);

	/* Too small a buffer. */
	CHECK_EQ(mig_ipc__encode_req(&a, buf, 7), -EMSGSIZE);
}

/* The bytes other lkvm builds read: pinned here, as docs/ipc.md shows them. */
static void test_request_bytes(void)
{
	static const u8 want[] = "\x02" "to" "\x03\x00" "h:1"
				 "\x08" "downtime" "\x04\x00" "\x2c\x01\x00\x00"
				 "\x09" "bandwidth" "\x08\x00" "\x00\x01\x00\x00\x00\x00\x00\x00"
				 "\x06" "verify" "\x01\x00" "\x01";
	struct mig_ipc_req a = { .downtime_ms = 300, .bandwidth_mbps = 256, .verify = true };
	int n;

	strcpy(a.to, "h:1");
	n = mig_ipc__encode_req(&a, buf, sizeof(buf));
	CHECK_EQ(n, sizeof(want) - 1);
	CHECK_MEM(buf, want, sizeof(want) - 1);
}

static void test_progress_roundtrip(void)
{
	struct mig_progress a, b;
	int n;

	memset(&a, 0, sizeof(a));
	a.round = 7, a.percent = 42.5, a.mbps = 1234.25, a.dirty_pages_per_s = 1ULL << 40;
	a.remaining_pages = 99, a.expected_downtime_ms = 3.5, a.bytes = 1ULL << 50;
	a.final = a.rate_known = true, a.throttle_pct = 60;
	n = mig_ipc__encode_progress(&a, buf, sizeof(buf));

	REQUIRE(n > 0);
	CHECK_EQ(mig_ipc__decode_progress(buf, n, &b, why, sizeof(why)), 0);
	CHECK(!memcmp(&a, &b, sizeof(a)));
	/* Nothing reported: all zero, and fine. */
	memset(&b, 0xff, sizeof(b));
	CHECK_EQ(mig_ipc__decode_progress(buf, 0, &b, why, sizeof(why)), 0);
	CHECK(b.round == 0 && !b.final && b.percent == 0);
}

static void test_result_roundtrip(void)
{
	struct mig_result a, b;
	int n;

	memset(&a, 0, sizeof(a));
	a.status = -ECONNREFUSED;
	memset(a.reason, 'r', sizeof(a.reason) - 1);	/* the longest reason */
	a.total_ns = 1, a.downtime_ns = 2, a.bytes = 3, a.rounds = 4, a.pages_normal = 5;
	a.pages_zero = 6, a.pages_total = 7, a.pages_encrypted = 8, a.pages_deflated = 9;
	a.deflate_in = 10, a.deflate_out = 11, a.compress = 1, a.sealed = true, a.channels = 3;
	a.mem_crc = 0xdeadbeef, a.verified = a.source_stopping = a.paused = true;
	a.paused_here = a.unknown = a.round_limit = a.auto_converge = true;
	a.max_rounds = 12, a.downtime_target_ms = 13, a.throttle_pct = 14;
	a.bandwidth_mbps = 15, a.settings_changed = 16;
	n = mig_ipc__encode_result(&a, buf, sizeof(buf));
	REQUIRE(n > 0 && n <= MIG_IPC_MSG_MAX);
	CHECK_EQ(mig_ipc__decode_result(buf, n, &b, why, sizeof(why)), 0);
	CHECK(!memcmp(&a, &b, sizeof(a)));
}

static int set(size_t len, struct mig_ipc_set *s)
{
	why[0] = unknown[0] = 0;
	return mig_ipc__decode_set(buf, len, s, why, sizeof(why), unknown);
}

/* lkvm migrate --set: only the fields of which, spelt as the options; pinned bytes. */
static void test_set_roundtrip(void)
{
	static const u8 want[] = "\x09" "bandwidth" "\x08\x00" "\x05\0\0\0\0\0\0\0"
				 "\x0d" "auto-converge" "\x01\x00" "\x00";
	struct mig_ipc_set a, b;
	int n;

	memset(&a, 0, sizeof(a));
	a.which = MIG_SET_ALL;
	a.downtime_ms = 600000, a.bandwidth_mbps = MIG_MAX_BANDWIDTH_MBPS, a.max_rounds = 10000;
	a.auto_converge = true;
	n = mig_ipc__encode_set(&a, buf, sizeof(buf));
	REQUIRE(n > 0);
	CHECK_EQ(set(n, &b), 0);
	CHECK(!memcmp(&a, &b, sizeof(a)));

	/* --set --bandwidth 5 --no-auto-converge: a 0 and a false are sent when asked for. */
	memset(&a, 0, sizeof(a));
	a.which = MIG_SET_BANDWIDTH | MIG_SET_AUTO_CONVERGE;
	a.bandwidth_mbps = 5;
	a.downtime_ms = 7;		/* not in which: not sent */
	n = mig_ipc__encode_set(&a, buf, sizeof(buf));
	CHECK_EQ(n, sizeof(want) - 1);
	CHECK_MEM(buf, want, sizeof(want) - 1);
	CHECK_EQ(set(n, &b), 0);
	CHECK(b.which == (MIG_SET_BANDWIDTH | MIG_SET_AUTO_CONVERGE) && b.bandwidth_mbps == 5 &&
	      !b.auto_converge && !b.downtime_ms);
	/* --bandwidth 0 lifts the cap. */
	a.which = MIG_SET_BANDWIDTH;
	a.bandwidth_mbps = 0;
	n = mig_ipc__encode_set(&a, buf, sizeof(buf));
	CHECK_EQ(set(n, &b), 0);
	CHECK(b.which == MIG_SET_BANDWIDTH && !b.bandwidth_mbps);
	CHECK_EQ(mig_ipc__encode_set(&a, buf, 10), -EMSGSIZE);
}

static void test_set_malformed(void)
{
	const u32 zero = 0, one = 1, big = 600001, rounds = 10001;
	const u64 bw = MIG_MAX_BANDWIDTH_MBPS + 1;
	const u8 two = 2;
	struct mig_ipc_set s;
	size_t k;

	CHECK_EQ(set(0, &s), -EINVAL);
	CHECK(!strcmp(why, "no field: nothing to change"));
	/* An option of this build's migrate but not of --set, and one no build has. */
	k = fld(buf, "channels", &one, 4);
	CHECK_EQ(set(k, &s), -ENOPROTOOPT);
	CHECK(!strcmp(unknown, "channels"));
	k = fld(buf, "downtime", &one, 4);
	k += fld(buf + k, "frobnicate", &one, 4);
	CHECK_EQ(set(k, &s), -ENOPROTOOPT);
	CHECK(!strcmp(unknown, "frobnicate"));
	k = fld(buf, "max-rounds", &one, 4);
	k += fld(buf + k, "max-rounds", &one, 4);
	CHECK_EQ(set(k, &s), -EINVAL);
	CHECK(!strcmp(why, "field 'max-rounds' appears twice"));
	/* Every range as migration__set() checks it. */
	k = fld(buf, "downtime", &zero, 4);
	CHECK_EQ(set(k, &s), -EINVAL);
	CHECK(!strcmp(why, "field 'downtime' is 0: out of its range 1-600000"));
	k = fld(buf, "downtime", &big, 4);
	CHECK_EQ(set(k, &s), -EINVAL);
	k = fld(buf, "max-rounds", &zero, 4);
	CHECK_EQ(set(k, &s), -EINVAL);
	k = fld(buf, "max-rounds", &rounds, 4);
	CHECK_EQ(set(k, &s), -EINVAL);
	CHECK(!strcmp(why, "field 'max-rounds' is 10001: out of its range 1-10000"));
	k = fld(buf, "bandwidth", &bw, 8);
	CHECK_EQ(set(k, &s), -EINVAL);
	k = fld(buf, "auto-converge", &two, 1);
	CHECK_EQ(set(k, &s), -EINVAL);
	CHECK(!strcmp(why, "field 'auto-converge' is 2: a flag is 0 or 1"));
	k = fld(buf, "bandwidth", &one, 4);		/* a u64 in 4 bytes */
	CHECK_EQ(set(k, &s), -EINVAL);
	k = fld(buf, "downtime", &one, 4);
	buf[9] = 5;					/* past the end */
	CHECK_EQ(set(k, &s), -EINVAL);
}

/*
 * A result from a build that does not send some fields: those figures are
 * unknown (null in JSON, "?" in the text), the others as sent, the JSON
 * keys the same.
 */
static void test_result_unreported(void)
{
	const u64 total = 2000000000, pages = 100;
	const u32 chans = 2;
	const s32 st = 0;
	struct mig_result r;
	char out[MIG_RESULT_TEXT_SIZE];
	size_t k;

	k = fld(buf, "status", &st, 4);
	k += fld(buf + k, "total_ns", &total, 8);
	k += fld(buf + k, "pages_total", &pages, 8);
	k += fld(buf + k, "channels", &chans, 4);
	REQUIRE(mig_ipc__decode_result(buf, k, &r, why, sizeof(why)) == 0);
	CHECK(mig_result__reported(&r, MIG_RF_TOTAL_NS) && mig_result__reported(&r, MIG_RF_STATUS));
	CHECK(!mig_result__reported(&r, MIG_RF_BYTES) && !mig_result__reported(&r, MIG_RF_ROUNDS));
	CHECK(!mig_result__reported(&r, MIG_RF_SETTINGS_CHANGED));
	CHECK(!(r.unreported >> MIG_RF_NR));
	mig_result__json(&r, out, sizeof(out));
	CHECK(strstr(out, "\"total_ms\":2000.000,\"downtime_ms\":null,\"bytes\":null,"
		      "\"rounds\":null,\"pages\":100,\"pages_normal\":null,") != NULL);
	CHECK(strstr(out, "\"compress\":null,\"compression_ratio\":null,\"channels\":2,"
		      "\"sealed\":null,\"throughput_mbps\":null,\"verified\":null,"
		      "\"mem_crc32\":null,\"converged\":null,\"max_rounds\":null,") != NULL);
	CHECK(strstr(out, "\"settings_changed\":null,\"paused\":null,\"guest\":\"destination\"}"));
	mig_result__text(&r, out, sizeof(out));
	CHECK(!strcmp(out, "migration done: total 2.000 s, downtime ? ms, ? MB sent (? MB/s), "
		      "? rounds, 100 pages (? normal, ? zero, ? encrypted), 2 channels"));
	/* Every field sent (as this build's VMM does): nothing unknown, 0 is 0. */
	memset(&r, 0, sizeof(r));
	k = mig_ipc__encode_result(&r, buf, sizeof(buf));
	REQUIRE(mig_ipc__decode_result(buf, k, &r, why, sizeof(why)) == 0);
	CHECK_EQ(r.unreported, 0);
	mig_result__json(&r, out, sizeof(out));
	CHECK(!strstr(out, "null,") || strstr(out, "\"compression_ratio\":null,"));
	CHECK(strstr(out, "\"bytes\":0,\"rounds\":0,") != NULL);
	mig_result__text(&r, out, sizeof(out));
	CHECK(!strchr(out, '?'));
}

/* A progress report without some figures (another build): ?/null, as in the result. */
static void test_progress_unreported(void)
{
	const u64 left = 1234;
	const double pct = 50;
	const u32 round = 2;
	struct mig_progress pr;
	char out[512];
	size_t k;

	k = fld(buf, "round", &round, 4);
	k += fld(buf + k, "percent", &pct, 8);
	k += fld(buf + k, "remaining_pages", &left, 8);
	REQUIRE(mig_ipc__decode_progress(buf, k, &pr, why, sizeof(why)) == 0);
	mig_progress__text(&pr, out, sizeof(out));
	CHECK(!strcmp(out, "migrate: round 2:  50.0%  ? MB/s  ? dirty pages/s  1234 pages left  "
		      "expected downtime not known yet"));
	mig_progress__json(&pr, out, sizeof(out));
	CHECK(!strcmp(out, "{\"event\":\"progress\",\"round\":2,\"final\":null,"
		      "\"percent\":50.0,\"mbps\":null,\"dirty_pages_per_s\":null,"
		      "\"remaining_pages\":1234,\"expected_downtime_ms\":null,\"bytes\":null,"
		      "\"throttle_pct\":null}"));
	/* Nothing at all: no figure made up, not even the round. */
	REQUIRE(mig_ipc__decode_progress(buf, 0, &pr, why, sizeof(why)) == 0);
	mig_progress__text(&pr, out, sizeof(out));
	CHECK(!strcmp(out, "migrate: round ?:     ?%  ? MB/s  ? dirty pages/s  ? pages left  "
		      "expected downtime not known yet"));
	/* Every field sent (as this build's VMM does): 0 is 0. */
	memset(&pr, 0, sizeof(pr));
	k = mig_ipc__encode_progress(&pr, buf, sizeof(buf));
	REQUIRE(mig_ipc__decode_progress(buf, k, &pr, why, sizeof(why)) == 0);
	mig_progress__json(&pr, out, sizeof(out));
	CHECK(strstr(out, "\"final\":false,") && strstr(out, "\"bytes\":0,\"throttle_pct\":0}"));
	mig_progress__text(&pr, out, sizeof(out));
	CHECK(strstr(out, " 0 dirty pages/s  0 pages left") != NULL);
}

static void test_short_header(void)
{
	struct mig_ipc_req r;
	size_t k = to_field(buf);

	CHECK_EQ(req(0, &r), -EINVAL);			/* no 'to' */
	CHECK(strstr(why, "'to' is missing"));
	buf[k] = 8;					/* a name length, no name */
	CHECK_EQ(req(k + 1, &r), -EINVAL);
	CHECK(strstr(why, "cut short"));
	memcpy(buf + k + 1, "downtime", 8);		/* name, no value length */
	CHECK_EQ(req(k + 9, &r), -EINVAL);
	CHECK(strstr(why, "cut short"));
	CHECK_EQ(req(k + 10, &r), -EINVAL);		/* half of it */
	buf[k] = 0;					/* empty name */
	CHECK_EQ(req(k + 10, &r), -EINVAL);
	CHECK(strstr(why, "name length 0"));
	buf[k] = IPCF_NAME_MAX + 1;
	CHECK_EQ(req(k + 10, &r), -EINVAL);
}

static void test_len_past_end(void)
{
	struct mig_ipc_req r;
	size_t k = to_field(buf);

	buf[3] = 4;			/* 'to' says 4 bytes, 3 follow */
	CHECK_EQ(req(k, &r), -EINVAL);
	CHECK(strstr(why, "only 3 left"));
	buf[3] = 3;
	buf[4] = 0xff;			/* 65283 */
	CHECK_EQ(req(k, &r), -EINVAL);
	buf[4] = 0;
	CHECK_EQ(req(k, &r), 0);
}

static void test_duplicate(void)
{
	struct mig_ipc_req r;
	struct mig_result res;
	const u32 v = 5;
	const s32 st = 0;
	size_t k = to_field(buf);

	k += fld(buf + k, "downtime", &v, 4);
	k += fld(buf + k, "downtime", &v, 4);
	CHECK_EQ(req(k, &r), -EINVAL);
	CHECK(strstr(why, "'downtime' appears twice"));
	k = fld(buf, "status", &st, 4);
	k += fld(buf + k, "status", &st, 4);
	CHECK_EQ(mig_ipc__decode_result(buf, k, &res, why, sizeof(why)), -EINVAL);
}

static void test_unknown_request_refused(void)
{
	struct mig_ipc_req r;
	const u32 v = 1;
	size_t k = to_field(buf);

	k += fld(buf + k, "compress-lz4", &v, 4);
	CHECK_EQ(req(k, &r), -ENOPROTOOPT);
	CHECK(!strcmp(unknown, "compress-lz4"));
	/* Even before a known field, and even when 'to' is missing. */
	k = fld(buf, "frob", &v, 4);
	k += to_field(buf + k);
	CHECK_EQ(req(k, &r), -ENOPROTOOPT);
	CHECK(!strcmp(unknown, "frob"));
	/* A name that is not [a-z0-9_-] is malformed, never echoed. */
	k = to_field(buf);
	k += fld(buf + k, "Frob", &v, 4);
	CHECK_EQ(req(k, &r), -EINVAL);
	CHECK(strstr(why, "not [a-z0-9_-]"));
	k = to_field(buf);
	k += fld(buf + k, "a\nb", &v, 4);
	CHECK_EQ(req(k, &r), -EINVAL);
}

static void test_unknown_answer_ignored(void)
{
	struct mig_result res;
	struct mig_progress pr;
	const s32 st = -EIO;
	const u64 big = 1ULL << 60, rounds = 9;
	size_t k;

	k = fld(buf, "from_a_newer_lkvm", &big, 8);
	k += fld(buf + k, "status", &st, 4);
	k += fld(buf + k, "something", "", 0);
	k += fld(buf + k, "rounds", &rounds, 8);
	k += fld(buf + k, "something", "twice is fine", 13);
	CHECK_EQ(mig_ipc__decode_result(buf, k, &res, why, sizeof(why)), 0);
	CHECK_EQ(res.status, -EIO);
	CHECK_EQ(res.rounds, 9);
	CHECK_EQ(res.bytes, 0);
	/* But it must say how it ended. */
	k = fld(buf, "rounds", &rounds, 8);
	CHECK_EQ(mig_ipc__decode_result(buf, k, &res, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "'status' is missing"));

	k = fld(buf, "new_figure", &big, 8);
	k += fld(buf + k, "remaining_pages", &rounds, 8);
	CHECK_EQ(mig_ipc__decode_progress(buf, k, &pr, why, sizeof(why)), 0);
	CHECK_EQ(pr.remaining_pages, 9);
	/* Skipped, but its length still checked. */
	buf[1 + 10 + 1] = 0x10;
	CHECK_EQ(mig_ipc__decode_progress(buf, k, &pr, why, sizeof(why)), -EINVAL);
}

static void test_wrong_width(void)
{
	struct mig_ipc_req r;
	struct mig_result res;
	struct mig_progress pr;
	const u64 v64 = 0, one = 1;
	const u8 two = 2;
	size_t k = to_field(buf);

	CHECK_EQ(req(k + fld(buf + k, "downtime", &v64, 2), &r), -EINVAL);
	CHECK(strstr(why, "'downtime' is 2 bytes"));
	CHECK_EQ(req(k + fld(buf + k, "downtime", &v64, 8), &r), -EINVAL);
	CHECK_EQ(req(k + fld(buf + k, "bandwidth", &v64, 4), &r), -EINVAL);
	CHECK_EQ(req(k + fld(buf + k, "verify", &one, 4), &r), -EINVAL);
	CHECK_EQ(req(k + fld(buf + k, "verify", &two, 1), &r), -EINVAL);
	CHECK(strstr(why, "0 or 1"));
	CHECK_EQ(req(k + fld(buf + k, "key", &v64, 8), &r), -EINVAL);
	k = fld(buf, "status", &v64, 8);
	CHECK_EQ(mig_ipc__decode_result(buf, k, &res, why, sizeof(why)), -EINVAL);
	k = fld(buf, "percent", &one, 4);
	CHECK_EQ(mig_ipc__decode_progress(buf, k, &pr, why, sizeof(why)), -EINVAL);
}

static void test_range(void)
{
	struct mig_ipc_req r;
	const u32 zero = 0, ch = MIG_MAX_CHANNELS + 1, wr = 3601, ten = 10;
	const u64 bw = MIG_MAX_BANDWIDTH_MBPS + 1ULL, zero64 = 0;
	size_t k = to_field(buf);

	CHECK_EQ(req(k + fld(buf + k, "downtime", &zero, 4), &r), -EINVAL);
	CHECK(strstr(why, "out of its range 1-600000"));
	CHECK_EQ(req(k + fld(buf + k, "channels", &ch, 4), &r), -EINVAL);
	CHECK_EQ(req(k + fld(buf + k, "wait-ready", &wr, 4), &r), -EINVAL);
	CHECK_EQ(req(k + fld(buf + k, "compress", &ten, 4), &r), -EINVAL);
	CHECK_EQ(req(k + fld(buf + k, "bandwidth", &bw, 8), &r), -EINVAL);
	CHECK_EQ(req(k + fld(buf + k, "max-rounds", &zero, 4), &r), -EINVAL);
	/* 0 is "no cap" and "off". */
	CHECK_EQ(req(k + fld(buf + k, "bandwidth", &zero64, 8), &r), 0);
	CHECK_EQ(req(k + fld(buf + k, "compress", &zero, 4), &r), 0);
}

static void test_strings(void)
{
	struct mig_ipc_req r;
	struct mig_result res;
	static char big[2048];
	const s32 st = 0;
	size_t k;

	CHECK_EQ(req(fld(buf, "to", "h\0:1", 4), &r), -EINVAL);
	CHECK(strstr(why, "NUL"));
	CHECK_EQ(req(fld(buf, "to", "", 0), &r), -EINVAL);	/* empty */
	memset(big, 'a', sizeof(big));
	CHECK_EQ(req(fld(buf, "to", big, 256), &r), -EINVAL);	/* no room for the NUL */
	CHECK(strstr(why, "256 bytes long"));
	CHECK_EQ(req(fld(buf, "to", big, 255), &r), 0);
	CHECK_EQ(strlen(r.to), 255);
	k = fld(buf, "status", &st, 4);
	CHECK_EQ(mig_ipc__decode_result(buf, k + fld(buf + k, "reason", big, MIG_REASON_SIZE),
					&res, why, sizeof(why)), -EINVAL);
	CHECK_EQ(mig_ipc__decode_result(buf, k + fld(buf + k, "reason", big, MIG_REASON_SIZE - 1),
					&res, why, sizeof(why)), 0);
	CHECK_EQ(strlen(res.reason), MIG_REASON_SIZE - 1);
}

static void test_not_finite(void)
{
	struct mig_progress pr;
	const double bad[] = { NAN, INFINITY, -INFINITY };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_EQ(mig_ipc__decode_progress(buf, fld(buf, "mbps", &bad[i], 8), &pr, why,
						  sizeof(why)), -EINVAL);
		CHECK(strstr(why, "finite"));
	}
}

/*
 * A result's reason is printed to the user's terminal, and any process of
 * the user can answer on an instance's socket: no escape sequence gets
 * through (an OSC retitling the window, a CSI clearing the screen), UTF-8
 * does.
 */
static void test_reason_for_terminal(void)
{
	static const char evil[] = "\x1b]0;pwned\x07\x1b[2J\r\b\x7f" "caf\xc3\xa9 \xc2\x9b" "31m\x9b";
	struct mig_result res;
	const s32 st = -EIO;
	size_t k = fld(buf, "status", &st, 4);

	k += fld(buf + k, "reason", evil, sizeof(evil) - 1);
	CHECK_EQ(mig_ipc__decode_result(buf, k, &res, why, sizeof(why)), 0);
	CHECK_EQ(strlen(res.reason), sizeof(evil) - 1);
	CHECK(!strcmp(res.reason, "?]0;pwned??[2J???caf\xc3\xa9 ??31m?"));
}

static void test_str_for_terminal(void)
{
	char s[64];

	/* Lines: newline and tab stay, the rest of C0 does not. */
	memcpy(s, "a\nb\tc\rd\x1b", 9);
	str_for_terminal(s, 8, true);
	CHECK(!strcmp(s, "a\nb\tc?d?"));
	memcpy(s, "a\nb\tc", 6);
	str_for_terminal(s, 5, false);
	CHECK(!strcmp(s, "a?b?c"));
	/* A NUL inside len, bad and overlong UTF-8, a character cut by the NUL at len. */
	memcpy(s, "x\0y\xff\xc0\xaf\xe2\x82", 9);
	str_for_terminal(s, 8, false);
	CHECK(!memcmp(s, "x?y?????", 9));
	/* Three- and four-byte characters and U+00A0 stay. */
	memcpy(s, "\xe2\x82\xac\xf0\x9f\x98\x80\xc2\xa0", 10);
	str_for_terminal(s, 9, false);
	CHECK(!strcmp(s, "\xe2\x82\xac\xf0\x9f\x98\x80\xc2\xa0"));
}

/*
 * What a table could get wrong: a BYTES member of no bytes takes no value
 * (its width is checked like every other type's, not skipped), and a table
 * past the 64-bit seen mask is refused with a reason, not half-read.
 */
struct tiny {
	u8 before[4];
	u32 n;
};

static void test_table_limits(void)
{
	static struct ipcf t[IPCF_MAX_FIELDS + 1];
	struct tiny obj = { { 0 }, 0x11223344 };
	u64 seen = 0;
	int k;

	t[0] = (struct ipcf){ .name = "blob", .type = IPCF_BYTES, .off = offsetof(struct tiny, before) + 4,
			      .size = 0 };
	k = fld(buf, "blob", "xyzw", 4);
	why[0] = 0;
	CHECK_EQ(ipcf__decode(t, 1, 0, buf, k, &obj, &seen, why, sizeof(why), NULL), -EINVAL);
	CHECK(strstr(why, "'blob' is 4 bytes"));
	CHECK_EQ(obj.n, 0x11223344);		/* the member after it untouched */
	CHECK_EQ(ipcf__decode(t, 1, 0, buf, fld(buf, "blob", "", 0), &obj, &seen, why,
			      sizeof(why), NULL), 0);
	CHECK_EQ(seen, 1);

	why[0] = 0;
	CHECK_EQ(ipcf__decode(t, IPCF_MAX_FIELDS + 1, 0, buf, 0, &obj, NULL, why, sizeof(why),
			      NULL), -EINVAL);
	CHECK(strstr(why, "65 fields"));
	CHECK_EQ(ipcf__encode(t, IPCF_MAX_FIELDS + 1, ~0ULL, &obj, buf, sizeof(buf)), -EINVAL);
}

TEST_MAIN_BEGIN("test-ipc-fields")
	RUN(test_request_roundtrip);
	RUN(test_request_bytes);
	RUN(test_progress_roundtrip);
	RUN(test_result_roundtrip);
	RUN(test_set_roundtrip);
	RUN(test_set_malformed);
	RUN(test_result_unreported);
	RUN(test_progress_unreported);
	RUN(test_short_header);
	RUN(test_len_past_end);
	RUN(test_duplicate);
	RUN(test_unknown_request_refused);
	RUN(test_unknown_answer_ignored);
	RUN(test_wrong_width);
	RUN(test_range);
	RUN(test_strings);
	RUN(test_not_finite);
	RUN(test_reason_for_terminal);
	RUN(test_str_for_terminal);
	RUN(test_table_limits);
TEST_MAIN_END()
