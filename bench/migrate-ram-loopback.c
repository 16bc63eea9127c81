/*
 * RAM transfer throughput without a VM: N MiB of random (or zero) memory
 * sent by the migration RAM sender over C loopback TCP connections and
 * received by the destination's record loop into a second buffer, beside
 * raw single-stream TCP with 1 MiB writes in the same run (and raw TCP
 * over C streams, where C > 1).
 *
 *   migrate-ram-loopback [MiB] [channels|auto] [zero|random] [lazy|rawonly|key|nokey]...
 *
 * auto (the default): as many channels as lkvm migrate uses by default.
 *
 * key: the stream sealed as with lkvm migrate --key (migration/crypt.c,
 * a random key), to measure the crypt layer alone; nokey is the clear
 * stream, a no-op word so that scripts can pass either.
 *
 * rawonly: the raw TCP figures alone (bench/migrate.sh measures them
 * right before each VM migration, so both see the same host load).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lkvm/migration.h"

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* This thread's CPU time: which side of a channel is the busy one. */
static double thread_cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct rx {
	struct mig_incoming *in;
	struct mig_chan c;
	struct mig_chan_end counted;
	int ret;
	double cpu;
	pthread_t t;
};

struct tx {
	struct mig_ram_src *rs;
	struct mig_chan c;
	struct mig_ram_stats st;
	u32 idx;
	int ret;
	double cpu;
	pthread_t t;
};

static void *rx_fn(void *a)
{
	struct rx *r = a;

	pthread_setname_np(pthread_self(), "bench-rx");	/* for perf --sort comm */
	r->ret = mig_incoming__recv(r->in, &r->c, false, &r->counted);
	r->cpu = thread_cpu_s();
	return NULL;
}

static void *tx_fn(void *a)
{
	struct tx *t = a;

	pthread_setname_np(pthread_self(), "bench-tx");
	t->ret = mig_ram__send(t->rs, &t->c, NULL, t->idx, NULL, 0, &t->st);
	if (!t->ret)
		t->ret = mig_ram__send_chan_end(&t->c, &t->st);
	t->cpu = thread_cpu_s();
	return NULL;
}

static int listen_any(char *addr, size_t n)
{
	for (int i = 0; i < 50; i++) {
		int fd;

		snprintf(addr, n, "127.0.0.1:%d", 20000 + (getpid() * 7 + i * 131) % 40000);
		fd = mig_tcp__listen(addr);
		if (fd >= 0)
			return fd;
	}
	return -1;
}

/*
 * Raw TCP: bytes from src (or one hot 1 MiB buffer) into dst, over one
 * stream or over several side by side, each moving its own slice (as
 * lkvm's channels each move their own stripes).
 */
struct raw {
	int fd;
	u8 *buf;		/* the sender's slice, or the receiver's */
	u64 len;
	bool hot;
	pthread_t t;
};

static void *raw_rx(void *a)
{
	struct raw *r = a;
	u64 off = 0;
	ssize_t n;

	for (;;) {
		size_t want = 1 << 20;

		if (!r->hot && r->len - off < want)
			want = r->len - off;
		if (!want)
			break;
		n = read(r->fd, r->buf + (r->hot ? 0 : off), want);
		if (n <= 0)
			break;
		off += n;
	}
	return NULL;
}

static void *raw_tx(void *a)
{
	struct raw *r = a;
	u64 sent = 0;

	while (sent < r->len) {
		size_t n = r->len - sent < (1 << 20) ? r->len - sent : (1 << 20);

		if (write_full(r->fd, r->buf + (r->hot ? 0 : sent), n))
			break;
		sent += n;
	}
	close(r->fd);
	return NULL;
}

static double raw_tcp(u8 *src, u8 *dst, u64 bytes, bool hot, u32 streams, double *cpu_per_gb)
{
	struct raw rx[MIG_MAX_CHANNELS], tx[MIG_MAX_CHANNELS];
	u64 slice = bytes / streams, t0;
	char addr[64];
	int lfd = listen_any(addr, sizeof(addr));
	double c0 = cpu_s(), s;
	u32 i;

	for (i = 0; i < streams; i++) {
		u64 off = hot ? 0 : i * slice, len = i + 1 < streams ? slice : bytes - i * slice;

		tx[i] = (struct raw){ .fd = mig_tcp__connect(addr, 2000), .buf = src + off,
				      .len = len, .hot = hot };
		rx[i] = (struct raw){ .fd = mig_tcp__accept(lfd, 2000), .buf = dst + off,
				      .len = len, .hot = hot };
		/* A figure from a stream that never connected would be a lie. */
		if (lfd < 0 || tx[i].fd < 0 || rx[i].fd < 0) {
			fprintf(stderr, "raw TCP: stream %u of %u did not connect\n", i + 1, streams);
			exit(1);
		}
	}
	t0 = now_ns();
	for (i = 0; i < streams; i++) {
		pthread_create(&rx[i].t, NULL, raw_rx, &rx[i]);
		pthread_create(&tx[i].t, NULL, raw_tx, &tx[i]);
	}
	for (i = 0; i < streams; i++) {
		pthread_join(tx[i].t, NULL);
		pthread_join(rx[i].t, NULL);
	}
	s = (now_ns() - t0) / 1e9;
	for (i = 0; i < streams; i++)
		close(rx[i].fd);
	close(lfd);
	*cpu_per_gb = (cpu_s() - c0) / (bytes / 1e9);
	return bytes / s / 1e6;
}

int main(int argc, char **argv)
{
	u64 mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 512;
	u32 nch = argc > 2 && strcmp(argv[2], "auto") ? (u32)atoi(argv[2]) : 0, i;
	bool zero = argc > 3 && !strcmp(argv[3], "zero");
	bool lazy = false, rawonly = false, keyed = false;
	u64 pages = mib << 8, t0;
	u8 *src = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	u8 *dst = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct mig_ram_src rs = { .nr_banks = 1, .nr_pages = pages, .nr_channels = nch };
	struct mig_incoming in;
	struct rx rx[MIG_MAX_CHANNELS];
	struct tx tx[MIG_MAX_CHANNELS];
	u8 key[MIG_KEY_SIZE], nc[MIG_NONCE_SIZE], ns[MIG_NONCE_SIZE], pre[MIG_PREAMBLE_SIZE] = { 0 };
	char addr[64];
	int lfd;
	double s, mbs, cpu;

	for (int a = 4; a < argc; a++) {
		lazy |= !strcmp(argv[a], "lazy");
		rawonly |= !strcmp(argv[a], "rawonly");
		keyed |= !strcmp(argv[a], "key");
	}
	if (!nch)	/* "auto" or none: what lkvm migrate would use */
		rs.nr_channels = nch = mig__default_channels(keyed);
	if (src == MAP_FAILED || dst == MAP_FAILED || !nch || nch > MIG_MAX_CHANNELS)
		return 1;
	if (!zero) {
		u64 x = 0x9e3779b97f4a7c15ULL ^ now_ns(), *w = (u64 *)src;

		/* xorshift: incompressible enough, and fast to make. */
		for (u64 k = 0; k < (mib << 20) / 8; k++) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			w[k] = x;
		}
	}
	/*
	 * Two references: TCP alone (one hot 1 MiB buffer sent over and over:
	 * no memory traffic), and TCP moving these very bytes from one buffer
	 * into another, as any migration must.  Both destinations are faulted
	 * in first, as lkvm --incoming does while it waits.
	 */
	memset(dst, 0, mib << 20);
	mbs = raw_tcp(src, dst, mib << 20, true, 1, &cpu);
	printf("raw single-stream loopback TCP, 1 MiB buffer reused:  %5.0f MB/s  (%.2f CPU s/GB)\n",
	       mbs, cpu);
	mbs = raw_tcp(src, dst, mib << 20, false, 1, &cpu);
	printf("raw single-stream loopback TCP, %llu MiB memory to memory: %5.0f MB/s  (%.2f CPU s/GB)\n",
	       (unsigned long long)mib, mbs, cpu);
	/* What TCP itself does over as many streams as lkvm opens channels. */
	if (nch > 1) {
		mbs = raw_tcp(src, dst, mib << 20, false, nch, &cpu);
		printf("raw loopback TCP, %llu MiB memory to memory over %u streams: %5.0f MB/s  (%.2f CPU s/GB)\n",
		       (unsigned long long)mib, nch, mbs, cpu);
	}
	if (rawonly)
		return 0;
	if (keyed && (mig_nonce__new(key) || mig_nonce__new(nc) || mig_nonce__new(ns)))
		return 1;
	if (lazy)	/* the destination as with --no-prefault */
		madvise(dst, mib << 20, MADV_DONTNEED);
	else
		memset(dst, 0, mib << 20);
	rs.banks[0] = (struct mig_mem_bank){ src, 0, pages };
	mig_incoming__init(&in, pages);
	in.banks[0] = (struct mig_mem_bank){ dst, 0, pages };
	in.nr_banks = 1;
	in.got_hello = true;
	in.accepted_features = MIG_F_ZERO_PAGES;
	if (keyed) {		/* as lkvm migrate --key negotiates */
		in.accepted_features |= MIG_F_NO_PAGE_CRC;
		rs.no_page_crc = true;
	}
	lfd = listen_any(addr, sizeof(addr));
	for (i = 0; i < nch; i++) {
		int cfd = mig_tcp__connect(addr, 2000), afd = mig_tcp__accept(lfd, 2000);

		mig_tcp__tune(afd, 10000);
		memset(&tx[i], 0, sizeof(tx[i]));
		memset(&rx[i], 0, sizeof(rx[i]));
		tx[i].rs = &rs;
		tx[i].idx = i;
		mig_chan__init_fd(&tx[i].c, cfd);
		rx[i].in = &in;
		mig_chan__init_fd(&rx[i].c, afd);
		pre[0] = i + 1;		/* each connection its own keys, as lkvm's */
		if (keyed && (mig_crypt__attach(&tx[i].c, key, nc, ns, pre, true) ||
			      mig_crypt__attach(&rx[i].c, key, nc, ns, pre, false)))
			return 1;
	}
	double c0 = cpu_s(), tx_cpu = 0, rx_cpu = 0;

	t0 = now_ns();
	for (i = 0; i < nch; i++) {
		pthread_create(&rx[i].t, NULL, rx_fn, &rx[i]);
		pthread_create(&tx[i].t, NULL, tx_fn, &tx[i]);
	}
	for (i = 0; i < nch; i++) {
		pthread_join(tx[i].t, NULL);
		pthread_join(rx[i].t, NULL);
		if (tx[i].ret || rx[i].ret)
			printf("channel %u: tx %d rx %d\n", i, tx[i].ret, rx[i].ret);
		tx_cpu += tx[i].cpu;
		rx_cpu += rx[i].cpu;
	}
	s = (now_ns() - t0) / 1e9;
	printf("lkvm RAM stream%s, %llu MiB %s, %u channel(s)%s: %.3f s, %5.0f MB/s  (%.2f CPU s/GB), %s\n",
	       keyed ? " sealed" : "", (unsigned long long)mib, zero ? "zero" : "random", nch,
	       lazy ? ", destination not faulted in" : "", s, (mib << 20) / s / 1e6,
	       (cpu_s() - c0) / ((mib << 20) / 1e9),
	       memcmp(src, dst, mib << 20) ? "MISMATCH" : "identical");
	/* Loopback's receive work runs in the sender's softirq: it counts as tx. */
	printf("  CPU s: senders %.3f, receivers %.3f\n", tx_cpu, rx_cpu);
	return 0;
}
