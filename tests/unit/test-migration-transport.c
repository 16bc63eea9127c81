/*
 * The transport over real loopback TCP: address parsing, IPv4/IPv6
 * listen/connect, and RAM striped over several data connections for two
 * pre-copy rounds, received straight into a second memory image; and the
 * default channel count.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lkvm/migration.h"
#include "test.h"

/* One channel per two CPUs the process may run on but at least 2 where it
 * may run on 2 (sealed: one per CPU), never 0: checked for each count of
 * CPUs this machine has, by narrowing the affinity. */
static void test_default_channels(void)
{
	cpu_set_t all, some;
	int cpu, k = 0;

	REQUIRE(!sched_getaffinity(0, sizeof(all), &all));
	CPU_ZERO(&some);
	for (cpu = 0; cpu < CPU_SETSIZE && k < 2 * MIG_MAX_CHANNELS + 2; cpu++) {
		if (!CPU_ISSET(cpu, &all))
			continue;
		CPU_SET(cpu, &some);
		k++;
		REQUIRE(!sched_setaffinity(0, sizeof(some), &some));
		CHECK_EQ(mig__default_channels(false),
			 (u32)(k == 1 ? 1 : k < 4 ? 2 : min(k / 2, MIG_MAX_CHANNELS)));
		CHECK_EQ(mig__default_channels(true), (u32)min(k, MIG_MAX_CHANNELS));
	}
	CHECK(!sched_setaffinity(0, sizeof(all), &all));
}

static void test_addr_parse(void)
{
	char h[64], p[16];

	CHECK_EQ(mig_addr__parse("1234", true, h, sizeof(h), p, sizeof(p)), 0);
	CHECK(!strcmp(h, "") && !strcmp(p, "1234"));
	CHECK(mig_addr__parse("1234", false, h, sizeof(h), p, sizeof(p)) < 0);	/* no host */
	CHECK_EQ(mig_addr__parse("127.0.0.1:80", false, h, sizeof(h), p, sizeof(p)), 0);
	CHECK(!strcmp(h, "127.0.0.1") && !strcmp(p, "80"));
	CHECK_EQ(mig_addr__parse("[::1]:9000", false, h, sizeof(h), p, sizeof(p)), 0);
	CHECK(!strcmp(h, "::1") && !strcmp(p, "9000"));
	CHECK_EQ(mig_addr__parse("host.example:65535", false, h, sizeof(h), p, sizeof(p)), 0);
	CHECK(mig_addr__parse("::1:9000", false, h, sizeof(h), p, sizeof(p)) < 0);
	CHECK(mig_addr__parse("host:0", false, h, sizeof(h), p, sizeof(p)) < 0);
	CHECK(mig_addr__parse("host:65536", false, h, sizeof(h), p, sizeof(p)) < 0);
	/* 2^32 + 32700 and 2^32 + 1: atoi() wrapped these to 32700 and 1. */
	CHECK(mig_addr__parse("host:4294999996", false, h, sizeof(h), p, sizeof(p)) < 0);
	CHECK(mig_addr__parse("4294967297", true, h, sizeof(h), p, sizeof(p)) < 0);
	CHECK(mig_addr__parse("host:000080", false, h, sizeof(h), p, sizeof(p)) < 0);
	CHECK_EQ(mig_addr__parse("host:08080", false, h, sizeof(h), p, sizeof(p)), 0);
	CHECK(mig_addr__parse("host:", false, h, sizeof(h), p, sizeof(p)) < 0);
	CHECK(mig_addr__parse("host:12a", false, h, sizeof(h), p, sizeof(p)) < 0);
	CHECK(mig_addr__parse("[::1]9000", false, h, sizeof(h), p, sizeof(p)) < 0);
	CHECK(mig_addr__parse("", true, h, sizeof(h), p, sizeof(p)) < 0);
	CHECK(mig_addr__parse(NULL, true, h, sizeof(h), p, sizeof(p)) < 0);
	CHECK(mig_addr__parse("averyveryveryveryveryveryveryveryveryveryveryveryveryverylonghostname:1",
			      false, h, sizeof(h), p, sizeof(p)) < 0);
}

/* Listen on a free loopback port; returns the fd and the address in addr. */
static int listen_any(const char *host, char *addr, size_t n)
{
	int i, fd;

	for (i = 0; i < 50; i++) {
		int port = 20000 + (getpid() * 7 + i * 131) % 40000;

		snprintf(addr, n, "%s:%d", host, port);
		fd = mig_tcp__listen(addr);
		if (fd >= 0)
			return fd;
		if (fd != -EADDRINUSE)
			return fd;
	}
	return -EADDRINUSE;
}

static void test_ipv6_loopback(void)
{
	char addr[64];
	int lfd, cfd, afd;
	char b = 0;

	lfd = listen_any("[::1]", addr, sizeof(addr));
	if (lfd < 0)
		SKIP("no IPv6 loopback here");
	cfd = mig_tcp__connect(addr, 2000);
	CHECK(cfd >= 0);
	afd = mig_tcp__accept(lfd, 2000);
	CHECK(afd >= 0);
	if (cfd >= 0 && afd >= 0) {
		CHECK_EQ(write(cfd, "x", 1), 1);
		CHECK_EQ(read(afd, &b, 1), 1);
		CHECK_EQ(b, 'x');
	}
	close(cfd);
	close(afd);
	close(lfd);
}

static void test_connect_refused(void)
{
	char addr[64];
	int lfd = listen_any("127.0.0.1", addr, sizeof(addr));

	REQUIRE(lfd >= 0);
	close(lfd);		/* nobody listens there now */
	CHECK_EQ(mig_tcp__connect(addr, 2000), -ECONNREFUSED);
	CHECK_EQ(mig_tcp__accept(-1, 10) < 0, 1);
}

#define NCH	3
#define B0	3000
#define B1	100

struct rx {
	struct mig_incoming *in;
	struct mig_chan c;
	struct mig_chan_end counted;
	int ret;
	pthread_t t;
};

static void *rx_fn(void *arg)
{
	struct rx *r = arg;

	r->ret = mig_incoming__recv(r->in, &r->c, false, &r->counted);
	return NULL;
}

static void test_channels_two_rounds(void)
{
	u8 *src = aligned_alloc(4096, (B0 + B1) * 4096);
	u8 *dst = aligned_alloc(4096, (B0 + B1) * 4096);
	struct mig_ram_src rs = { 0 };
	struct mig_ram_stats st[NCH] = { 0 };
	struct mig_chan tx[NCH];
	struct mig_ram_tx *keep[NCH] = { 0 };	/* each channel's, over both rounds */
	struct rx rx[NCH];
	struct mig_incoming in;
	struct mig_chan_end all[NCH];
	unsigned long *bm = calloc((B0 + B1) / 64 + 1, sizeof(long));
	char addr[64];
	u64 i, zero = 0;
	int lfd, r;

	REQUIRE(src && dst && bm);
	srandom(7);
	for (i = 0; i < (B0 + B1) * 4096 / 4; i++)
		((u32 *)src)[i] = random();
	for (i = 0; i < B0 + B1; i += 5) {	/* every fifth page zero */
		memset(src + i * 4096, 0, 4096);
		zero++;
	}
	memset(dst, 0, (B0 + B1) * 4096);
	rs.banks[0] = (struct mig_mem_bank){ src, 0, B0 };
	rs.banks[1] = (struct mig_mem_bank){ src + B0 * 4096, B0, B1 };
	rs.nr_banks = 2;
	rs.nr_pages = B0 + B1;
	rs.nr_channels = NCH;

	r = mig_incoming__init(&in, B0 + B1);
	REQUIRE(r == 0);
	in.banks[0] = (struct mig_mem_bank){ dst, 0, B0 };
	in.banks[1] = (struct mig_mem_bank){ dst + B0 * 4096, B0, B1 };
	in.nr_banks = 2;
	in.got_hello = true;
	in.accepted_features = MIG_F_ZERO_PAGES;

	lfd = listen_any("127.0.0.1", addr, sizeof(addr));
	REQUIRE(lfd >= 0);
	for (i = 0; i < NCH; i++) {
		int cfd = mig_tcp__connect(addr, 2000), afd = mig_tcp__accept(lfd, 2000);

		REQUIRE(cfd >= 0 && afd >= 0);
		mig_tcp__tune(afd, 5000);
		mig_chan__init_fd(&tx[i], cfd);
		memset(&rx[i], 0, sizeof(rx[i]));
		rx[i].in = &in;
		mig_chan__init_fd(&rx[i].c, afd);
		pthread_create(&rx[i].t, NULL, rx_fn, &rx[i]);
	}
	/* Round 0: everything.  Then the "guest" dirties pages, round 1. */
	for (i = 0; i < NCH; i++) {
		CHECK_EQ(mig_ram__send(&rs, &tx[i], &keep[i], i, NULL, 0, &st[i]), 0);
		CHECK(keep[i] != NULL);		/* kept for round 1 */
	}
	for (i = 0; i < B0 + B1; i += 37) {
		src[i * 4096 + 11] ^= 0x5a;
		bm[i / 64] |= 1UL << (i % 64);
	}
	memset(src + 10 * 4096, 0, 4096);		/* a page that became zero */
	bm[0] |= 1UL << 10;
	for (i = 0; i < NCH; i++) {
		CHECK_EQ(mig_ram__send(&rs, &tx[i], &keep[i], i, bm, 1, &st[i]), 0);
		CHECK_EQ(mig_ram__send_chan_end(&tx[i], &st[i]), 0);
		mig_ram_tx__free(&keep[i]);
		CHECK(keep[i] == NULL);
	}
	in.got_end = true;
	in.end.pages = 0;
	for (i = 0; i < NCH; i++) {
		pthread_join(rx[i].t, NULL);
		CHECK_EQ(rx[i].ret, 0);
		all[i] = rx[i].counted;
		in.end.pages += st[i].sent.pages;
		CHECK(st[i].sent.pages > 0);		/* every channel carried a share */
		mig_chan__close(&tx[i]);
		mig_chan__close(&rx[i].c);
	}
	CHECK_EQ(mig_incoming__check_complete(&in, all, NCH), 0);
	CHECK_MEM(dst, src, (B0 + B1) * 4096);
	CHECK_EQ(st[0].zero + st[1].zero + st[2].zero >= zero, 1);
	close(lfd);
	mig_incoming__free(&in);
	free(src);
	free(dst);
	free(bm);
}

/* The LKVM_MIG_FAULT hook flips a byte of page data: the receiver notices. */
static void test_fault_flip_detected(void)
{
	u8 *src = aligned_alloc(4096, 64 * 4096), *dst = aligned_alloc(4096, 64 * 4096);
	struct mig_ram_src rs = { .nr_banks = 1, .nr_pages = 64, .nr_channels = 1 };
	struct mig_ram_stats st = { 0 };
	struct mig_incoming in;
	struct mig_chan tx;
	struct rx rx = { 0 };
	char addr[64], why[256];
	int lfd, cfd, afd, r;

	REQUIRE(src && dst);
	memset(src, 0x33, 64 * 4096);
	memset(dst, 0, 64 * 4096);
	rs.banks[0] = (struct mig_mem_bank){ src, 0, 64 };
	r = mig_incoming__init(&in, 64);
	REQUIRE(r == 0);
	in.banks[0] = (struct mig_mem_bank){ dst, 0, 64 };
	in.nr_banks = 1;
	in.got_hello = true;
	in.accepted_features = MIG_F_ZERO_PAGES;
	lfd = listen_any("127.0.0.1", addr, sizeof(addr));
	REQUIRE(lfd >= 0);
	cfd = mig_tcp__connect(addr, 2000);
	afd = mig_tcp__accept(lfd, 2000);
	REQUIRE(cfd >= 0 && afd >= 0);
	mig_chan__init_fd(&tx, cfd);
	setenv("LKVM_MIG_FAULT", "flip:100000", 1);
	mig_chan__apply_fault_env(&tx, 1);
	unsetenv("LKVM_MIG_FAULT");
	CHECK(tx.fault_flip_at == 100000);
	rx.in = &in;
	mig_chan__init_fd(&rx.c, afd);
	pthread_create(&rx.t, NULL, rx_fn, &rx);
	CHECK_EQ(mig_ram__send(&rs, &tx, NULL, 0, NULL, 0, &st), 0);
	CHECK_EQ(mig_ram__send_chan_end(&tx, &st), 0);
	pthread_join(rx.t, NULL);
	CHECK_EQ(rx.ret, 0);
	in.got_end = true;
	in.end.pages = st.sent.pages;
	CHECK_EQ(mig_incoming__check_complete(&in, &rx.counted, 1), -EBADMSG);
	snprintf_cut(why, sizeof(why), "%s", in.reason);
	CHECK(strstr(why, "checksum mismatch") != NULL);
	mig_chan__close(&tx);
	mig_chan__close(&rx.c);
	close(lfd);
	mig_incoming__free(&in);
	free(src);
	free(dst);
}

/*
 * Under --key (MIG_F_NO_PAGE_CRC) pages go without crcs: the GCM tags
 * check them.  Sealed, 64 random pages arrive whole (the decoder refuses a
 * NORMAL page whose crc field is not 0, so a sender that still computed
 * them fails here) and a byte flipped on the wire fails the tag.  Never in
 * clear: the sender refuses to start, and a receiver that negotiated the
 * feature refuses pages on a clear channel.
 */
enum nocrc_case { NOCRC_SEALED, NOCRC_SEALED_FLIP, NOCRC_CLEAR_RX };

/* REQUIRE for a helper that returns a value. */
#define SETUP(c) do {							\
	if (!(c)) {							\
		CHECK(!"set-up failed: " #c);				\
		return -EFAULT;						\
	}								\
} while (0)

static int nocrc_run(enum nocrc_case k, u8 *src, u8 *dst, char *why, size_t n)
{
	struct mig_ram_src rs = { .nr_banks = 1, .nr_pages = 64, .nr_channels = 1 };
	u8 key[MIG_KEY_SIZE], nc[MIG_NONCE_SIZE], ns[MIG_NONCE_SIZE], pre[MIG_PREAMBLE_SIZE];
	struct mig_ram_stats st = { 0 };
	struct mig_incoming in;
	struct mig_chan tx;
	struct rx rx = { 0 };
	char addr[64];
	int lfd, cfd, afd, ret;

	mig_key__from_bytes("a key of more than sixteen bytes", 32, key);
	memset(nc, 0x11, sizeof(nc));
	memset(ns, 0x22, sizeof(ns));
	mig_preamble__encode(pre, 1 | MIG_PRE_AUTH, 0x1234);
	memset(dst, 0, 64 * 4096);
	rs.banks[0] = (struct mig_mem_bank){ src, 0, 64 };
	rs.no_page_crc = k != NOCRC_CLEAR_RX;
	SETUP(mig_incoming__init(&in, 64) == 0);
	in.banks[0] = (struct mig_mem_bank){ dst, 0, 64 };
	in.nr_banks = 1;
	in.got_hello = true;
	in.accepted_features = MIG_F_ZERO_PAGES | MIG_F_NO_PAGE_CRC;
	lfd = listen_any("127.0.0.1", addr, sizeof(addr));
	SETUP(lfd >= 0);
	cfd = mig_tcp__connect(addr, 2000);
	afd = mig_tcp__accept(lfd, 2000);
	SETUP(cfd >= 0 && afd >= 0);
	mig_tcp__tune(afd, 5000);
	mig_chan__init_fd(&tx, cfd);
	mig_chan__init_fd(&rx.c, afd);
	if (k != NOCRC_CLEAR_RX) {
		SETUP(!mig_crypt__attach(&tx, key, nc, ns, pre, true));
		SETUP(!mig_crypt__attach(&rx.c, key, nc, ns, pre, false));
	}
	if (k == NOCRC_SEALED_FLIP)
		tx.fault_flip_at = 100000;	/* inside page data, after sealing */
	rx.in = &in;
	pthread_create(&rx.t, NULL, rx_fn, &rx);
	ret = mig_ram__send(&rs, &tx, NULL, 0, NULL, 0, &st);
	if (!ret)
		ret = mig_ram__send_chan_end(&tx, &st);
	CHECK_EQ(ret, 0);
	shutdown(cfd, SHUT_WR);		/* a receiver still reading ends */
	pthread_join(rx.t, NULL);
	ret = rx.ret;
	if (!ret) {
		in.got_end = true;
		in.end.pages = st.sent.pages;
		ret = mig_incoming__check_complete(&in, &rx.counted, 1);
	}
	snprintf_cut(why, n, "%s", in.reason);
	mig_chan__close(&tx);
	mig_chan__close(&rx.c);
	close(lfd);
	mig_incoming__free(&in);
	return ret;
}

static void test_sealed_no_page_crc(void)
{
	u8 *src = aligned_alloc(4096, 64 * 4096), *dst = aligned_alloc(4096, 64 * 4096);
	struct mig_ram_src rs = { .nr_banks = 1, .nr_pages = 64, .nr_channels = 1,
				  .no_page_crc = true };
	struct mig_ram_stats st = { 0 };
	struct mig_chan sink;
	char why[256];
	int i;

	REQUIRE(src && dst);
	srandom(11);
	for (i = 0; i < 64 * 4096 / 4; i++)
		((u32 *)src)[i] = random();
	CHECK_EQ(nocrc_run(NOCRC_SEALED, src, dst, why, sizeof(why)), 0);
	CHECK_MEM(dst, src, 64 * 4096);
	CHECK_EQ(nocrc_run(NOCRC_SEALED_FLIP, src, dst, why, sizeof(why)), -EKEYREJECTED);
	CHECK_EQ(nocrc_run(NOCRC_CLEAR_RX, src, dst, why, sizeof(why)), -EPROTO);
	CHECK(strstr(why, "pages without crcs on a channel without --key") != NULL);
	/* The sender never sends unchecked pages in clear. */
	rs.banks[0] = (struct mig_mem_bank){ src, 0, 64 };
	mig_chan__init_fd(&sink, -1);
	CHECK_EQ(mig_ram__send(&rs, &sink, NULL, 0, NULL, 0, &st), -EINVAL);
	CHECK_EQ(sink.bytes_out, 0);
	free(src);
	free(dst);
}

struct drain {
	int fd;
	size_t got;
	pthread_t t;
};

static void *drain_fn(void *arg)
{
	struct drain *d = arg;
	static char buf[1 << 16];
	ssize_t n;

	while ((n = read(d->fd, buf, sizeof(buf))) > 0)
		d->got += n;
	return NULL;
}

struct capped_write {
	struct mig_chan *c;
	const void *p;
	size_t len;
	u64 ns;
	int ret;
};

static void *capped_write_fn(void *arg)
{
	struct capped_write *w = arg;
	u64 t0 = now_ns();

	w->ret = mig_chan__writev(w->c, &(struct iovec){ (void *)w->p, w->len }, 1);
	w->ns = now_ns() - t0;
	return NULL;
}

/*
 * The shared send cap (--bandwidth) holds, and a new cap from `lkvm migrate
 * --set` applies at once: a sender waiting out 3 s of a 1 MB/s cap goes as
 * soon as the cap is lifted, and one under a raised cap does not keep the
 * old cap's wait.
 */
static void test_rate_change(void)
{
	static struct mig_rate cap = MIG_RATE_INIT;
	size_t len = 3 << 20;
	char *buf = calloc(1, len);
	struct capped_write w = { 0 };
	struct drain d = { 0 };
	struct mig_chan tx;
	pthread_t t;
	int sv[2];

	REQUIRE(buf);
	REQUIRE(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	mig_chan__init_fd(&tx, sv[0]);
	tx.rate = &cap;
	d.fd = sv[1];
	pthread_create(&d.t, NULL, drain_fn, &d);

	/* Uncapped (0): no wait. */
	mig_rate__set(&cap, 0);
	w = (struct capped_write){ &tx, buf, len };
	capped_write_fn(&w);
	CHECK_EQ(w.ret, 0);
	CHECK(w.ns < 1000000000ULL);

	/* 1 MB/s: 3 MiB would take 3 s; lifted after 0.2 s, it goes at once. */
	mig_rate__set(&cap, 1000000);
	w = (struct capped_write){ &tx, buf, len };
	pthread_create(&t, NULL, capped_write_fn, &w);
	usleep(200000);
	mig_rate__set(&cap, 0);
	pthread_join(t, NULL);
	CHECK_EQ(w.ret, 0);
	CHECK(w.ns >= 150000000ULL && w.ns < 1500000000ULL);

	/* 1 MB/s raised to 100 MB/s: 3 MiB then takes well under a second. */
	mig_rate__set(&cap, 1000000);
	w = (struct capped_write){ &tx, buf, len };
	pthread_create(&t, NULL, capped_write_fn, &w);
	usleep(200000);
	mig_rate__set(&cap, 100000000);
	pthread_join(t, NULL);
	CHECK_EQ(w.ret, 0);
	CHECK(w.ns < 1500000000ULL);

	/* And a cap holds: 1 MiB at 4 MB/s takes about 0.26 s, not less. */
	mig_rate__set(&cap, 4000000);
	w = (struct capped_write){ &tx, buf, 1 << 20 };
	capped_write_fn(&w);
	CHECK_EQ(w.ret, 0);
	CHECK(w.ns >= 200000000ULL);

	shutdown(sv[0], SHUT_WR);
	pthread_join(d.t, NULL);
	CHECK_EQ(d.got, 3 * len + (1 << 20));
	mig_chan__close(&tx);
	close(sv[1]);
	free(buf);
}

/*
 * Round 0 over private anonymous memory skips never-touched pages by
 * /proc/self/pagemap: they still arrive as zero pages, touched pages
 * (including one written with zeroes, and one only read) arrive intact,
 * and the skipped pages were never faulted in on the sender.
 */
/*
 * The client's machine-readable lines: the summary and the progress objects
 * scripts parse.  Progress figures come from the VMM over IPC: one that is
 * not finite, negative or absurd must still give one valid JSON line.
 */
static void test_json_lines(void)
{
	struct mig_progress p = { .round = 3, .percent = 42.25, .mbps = 1234.5,
				  .dirty_pages_per_s = 77, .remaining_pages = 9,
				  .expected_downtime_ms = 0.75, .bytes = 1 << 20, .final = true,
				  .rate_known = true };
	struct mig_result r = { .status = -ECONNRESET, .total_ns = 2000000, .bytes = 10 };
	char buf[512];

	mig_progress__json(&p, buf, sizeof(buf));
	CHECK(!strcmp(buf, "{\"event\":\"progress\",\"round\":3,\"final\":true,"
		       "\"percent\":42.2,\"mbps\":1234.5,\"dirty_pages_per_s\":77,"
		       "\"remaining_pages\":9,\"expected_downtime_ms\":0.8,\"bytes\":1048576,"
		       "\"throttle_pct\":0}") ||
	      !strcmp(buf, "{\"event\":\"progress\",\"round\":3,\"final\":true,"
		       "\"percent\":42.3,\"mbps\":1234.5,\"dirty_pages_per_s\":77,"
		       "\"remaining_pages\":9,\"expected_downtime_ms\":0.8,\"bytes\":1048576,"
		       "\"throttle_pct\":0}"));
	p.percent = NAN;
	p.mbps = INFINITY;
	p.expected_downtime_ms = 1e300;
	p.final = false;
	mig_progress__json(&p, buf, sizeof(buf));
	CHECK(strstr(buf, "\"final\":false,\"percent\":0.0,\"mbps\":0.0,") != NULL);
	CHECK(strstr(buf, "\"expected_downtime_ms\":0.0,") != NULL);
	CHECK(strlen(buf) < 200 && buf[strlen(buf) - 1] == '}');
	/* Nothing measured yet: null, and no made-up 0 ms in the text. */
	p.rate_known = false;
	mig_progress__json(&p, buf, sizeof(buf));
	CHECK(strstr(buf, "\"mbps\":null,") != NULL);
	CHECK(strstr(buf, "\"expected_downtime_ms\":null,") != NULL);
	mig_progress__text(&p, buf, sizeof(buf));
	CHECK(strstr(buf, "? MB/s") && strstr(buf, "expected downtime not known yet"));
	CHECK(!strstr(buf, "throttled"));
	/* Auto-converge at work: the text says so; a VMM's absurd figure stays in range. */
	p.throttle_pct = 40;
	mig_progress__text(&p, buf, sizeof(buf));
	CHECK(strstr(buf, "  vCPUs throttled 40%") != NULL);
	p.throttle_pct = 1000;
	mig_progress__json(&p, buf, sizeof(buf));
	CHECK(strstr(buf, ",\"throttle_pct\":99}") != NULL);

	/* The reason quotes the peer: quotes and control characters escaped. */
	snprintf(r.reason, sizeof(r.reason), "destination refused: say \"no\"\n\\");
	mig_result__json(&r, buf, sizeof(buf));
	CHECK(!strncmp(buf, "{\"status\":\"failed\",\"reason\":\"destination refused: "
			"say \\\"no\\\"\\n\\\\\",\"total_ms\":2.000,", 82));
	CHECK(!strchr(buf, '\n'));
	CHECK(strstr(buf, "\"auto_converge\":false,\"throttle_pct\":0,") != NULL);
	r.status = 0;
	r.auto_converge = true;
	r.throttle_pct = 90;
	mig_result__json(&r, buf, sizeof(buf));
	CHECK(strstr(buf, "\"converged\":true,") && strstr(buf, "\"auto_converge\":true,\"throttle_pct\":90,"));
	mig_result__text(&r, buf, sizeof(buf));
	CHECK(strstr(buf, "; auto-converge throttled the vCPUs up to 90%") != NULL);
	{
		/* Settings changed on the way (--set), and the longest summary fits
		 * the MIG_RESULT_TEXT_SIZE the client and --status give it, whole. */
		char big[MIG_RESULT_TEXT_SIZE];
		int n;

		r.bandwidth_mbps = 250;
		r.settings_changed = 2;
		mig_result__json(&r, big, sizeof(big));
		CHECK(strstr(big, ",\"bandwidth_cap_mbps\":250,\"settings_changed\":2,") != NULL);
		r.total_ns = r.downtime_ns = r.bytes = r.rounds = r.pages_normal = ~0ULL;
		r.pages_zero = r.pages_total = r.pages_encrypted = r.pages_deflated = ~0ULL;
		r.deflate_in = ~0ULL;
		r.deflate_out = 1;
		r.compress = r.channels = r.mem_crc = r.max_rounds = ~0U;
		r.downtime_target_ms = r.settings_changed = ~0U;
		r.bandwidth_mbps = ~0ULL;
		r.verified = r.round_limit = true;
		memset(r.reason, 1, sizeof(r.reason) - 1);
		r.reason[sizeof(r.reason) - 1] = 0;
		n = mig_result__json(&r, big, sizeof(big));
		CHECK(n > 0 && n < (int)sizeof(big) - 1);
		CHECK(big[n - 1] == '}');
		CHECK(strstr(big, STR_CUT_MARK "\",") != NULL);	/* 6 bytes each: cut, marked */
		/* A reason as long as it gets, in words (disk paths): whole. */
		memset(r.reason, 'x', sizeof(r.reason) - 1);
		memcpy(r.reason + sizeof(r.reason) - 5, ".img", 5);
		n = mig_result__json(&r, big, sizeof(big));
		CHECK(n > 0 && n < (int)sizeof(big) - 1);
		CHECK(strstr(big, "xxx.img\",\"total_ms\":") != NULL);
		CHECK(!strstr(big, STR_CUT_MARK));
		r.status = -EPIPE;
		mig_result__text(&r, big, sizeof(big));
		CHECK(strstr(big, "xxx.img; the guest runs on here") != NULL);
	}
}

static void test_untouched_pages_skipped(void)
{
	const u64 n = 2048;
	u8 *src = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	u8 *dst = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct mig_ram_src rs = { .nr_banks = 1, .nr_pages = n, .nr_channels = 1 };
	struct mig_ram_stats st = { 0 };
	struct mig_incoming in;
	struct mig_chan tx;
	struct rx rx = { 0 };
	int sv[2], r, memfd;
	unsigned char vec[1];
	volatile u8 sink;
	void *shared;
	u64 i;

	REQUIRE(src != MAP_FAILED && dst != MAP_FAILED);
	CHECK(mig_mem__anon_private(src, n * 4096));
	CHECK(!mig_mem__anon_private(src, n * 4096 + (1ULL << 40)));
	memfd = memfd_create("t", 0);
	REQUIRE(ftruncate(memfd, 4096) == 0);
	shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	CHECK(!mig_mem__anon_private(shared, 4096));	/* shared memfd: not skippable */
	munmap(shared, 4096);
	close(memfd);

	for (i = 0; i < n; i += 7)
		memset(src + i * 4096, (int)(i | 1), 4096);
	memset(src + 3 * 4096, 0, 4096);		/* touched, but zero */
	sink = src[5 * 4096];				/* only read */
	(void)sink;
	rs.banks[0] = (struct mig_mem_bank){ src, 0, n, true };
	r = mig_incoming__init(&in, n);
	REQUIRE(r == 0);
	in.banks[0] = (struct mig_mem_bank){ dst, 0, n };
	in.nr_banks = 1;
	in.got_hello = true;
	in.accepted_features = MIG_F_ZERO_PAGES;
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	mig_chan__init_fd(&tx, sv[0]);
	rx.in = &in;
	mig_chan__init_fd(&rx.c, sv[1]);
	pthread_create(&rx.t, NULL, rx_fn, &rx);
	CHECK_EQ(mig_ram__send(&rs, &tx, NULL, 0, NULL, 0, &st), 0);
	CHECK_EQ(mig_ram__send_chan_end(&tx, &st), 0);
	pthread_join(rx.t, NULL);
	CHECK_EQ(rx.ret, 0);
	CHECK_EQ(st.normal, DIV_ROUND_UP(n, 7));	/* pages 0, 7, 14 ... */
	CHECK_EQ(st.zero + st.normal, n);
	/* A page neither written nor read is still not resident on the sender
	 * (checked before the memcmp below reads everything). */
	CHECK_EQ(mincore(src + 9 * 4096, 4096, vec), 0);
	CHECK_EQ(vec[0] & 1, 0);
	CHECK_MEM(dst, src, n * 4096);
	mig_chan__close(&tx);
	mig_chan__close(&rx.c);
	mig_incoming__free(&in);
	munmap(src, n * 4096);
	munmap(dst, n * 4096);
}

/*
 * LKVM_MIG_FAULT holds several hooks, comma-separated: frame:N on every
 * channel, flip/cut on the one named.  Others' words are left alone.
 */
static void test_fault_env_list(void)
{
	struct mig_chan c0, c1, c2;

	setenv("LKVM_MIG_FAULT", "frame:64,flip:150c,hold:10,cut:7", 1);
	mig_chan__init_fd(&c0, -1);
	mig_chan__init_fd(&c1, -1);
	mig_chan__init_fd(&c2, -1);
	mig_chan__apply_fault_env(&c0, 0);
	mig_chan__apply_fault_env(&c1, 1);
	mig_chan__apply_fault_env(&c2, 2);
	CHECK_EQ(c0.fault_frame_max, 64);
	CHECK_EQ(c0.fault_flip_at, 150);
	CHECK_EQ(c0.fault_cut_at, 0);
	CHECK_EQ(c1.fault_frame_max, 64);
	CHECK_EQ(c1.fault_flip_at, 0);
	CHECK_EQ(c1.fault_cut_at, 7);
	CHECK_EQ(c2.fault_frame_max, 64);
	CHECK_EQ(c2.fault_flip_at + c2.fault_cut_at, 0);
	setenv("LKVM_MIG_FAULT", "frame:99999999", 1);	/* no more than a frame holds */
	mig_chan__apply_fault_env(&c2, 2);
	CHECK_EQ(c2.fault_frame_max, MIG_FRAME_MAX);
	unsetenv("LKVM_MIG_FAULT");
}

TEST_MAIN_BEGIN("test-migration-transport")
	RUN(test_fault_env_list);
	RUN(test_untouched_pages_skipped);
	RUN(test_json_lines);
	RUN(test_default_channels);
	RUN(test_addr_parse);
	RUN(test_ipv6_loopback);
	RUN(test_connect_refused);
	RUN(test_channels_two_rounds);
	RUN(test_fault_flip_detected);
	RUN(test_sealed_no_page_crc);
	RUN(test_rate_change);
TEST_MAIN_END()
