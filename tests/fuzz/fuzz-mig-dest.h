/*
 * The destination both stream fuzzers feed (fuzz-migration-stream.c and
 * fuzz-migration-sev.c): 16 pages of guest memory in two banks, a 2-vCPU
 * shape with a serial port, the preamble and HELLO read as `lkvm run
 * --incoming` reads them, and the seed files written the same way.
 * Included by one file per fuzzer, so its definitions are static.
 */
#ifndef LKVM_FUZZ_MIG_DEST_H
#define LKVM_FUZZ_MIG_DEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lkvm/migration.h"

#define NPAGES	16

extern bool mig_fuzz_ignore_crc;
static u8 guest[NPAGES * 4096] __attribute__((aligned(4096)));

static void local_shape(struct mig_shape *s)
{
	memset(s, 0, sizeof(*s));
	s->features = MIG_F_ZERO_PAGES | MIG_F_PAGE_MAP | MIG_F_DEFLATE;
	s->nr_channels = 1;
	s->nr_cpus = 2;
	s->nr_banks = 2;
	s->nr_pages = NPAGES;
	s->banks[0].size = 12 * 4096;
	s->banks[1].gpa = 1ULL << 32;
	s->banks[1].size = 4 * 4096;
	strcpy(s->devices, "serial");
	s->devices_len = 6;
}

static int sec_ok(struct mig_incoming *in, u32 id, u32 instance)
{
	if (id == MIG_SEC_CPU)
		return instance < 2 ? 0 : -ERANGE;
	return id == MIG_SEC_CLOCK && instance == 0 ? 0 : -ENOENT;
}

/* A receiver over `guest` with the local shape; -ENOMEM if it cannot be set up. */
static int fuzz_dest__init(struct mig_incoming *in)
{
	if (mig_incoming__init(in, NPAGES))
		return -ENOMEM;
	local_shape(&in->local);
	in->banks[0] = (struct mig_mem_bank){ guest, 0, 12 };
	in->banks[1] = (struct mig_mem_bank){ guest + 12 * 4096, 12, 4 };
	in->nr_banks = 2;
	in->section_ok = sec_ok;
	return 0;
}

/* The control preamble, then HELLO, from the input on c. */
static int fuzz_dest__hello(struct mig_incoming *in, struct mig_chan *c)
{
	u8 pre[MIG_PREAMBLE_SIZE];
	u32 version, ch;
	u64 session;
	int ret;

	ret = mig_chan__read(c, pre, sizeof(pre));
	if (!ret)
		ret = mig_preamble__decode(pre, &version, &ch, &session);
	if (ret)
		return ret;
	in->session = session;
	return version == MIG_VERSION ? mig_incoming__hello(in, c) : -EPROTO;
}

/*
 * A seed's RAM record: n entries encoded in tab, their data in iov[2..nio),
 * h->len counting both.  Fills in the rest of the header and sends it all.
 */
static void fuzz_seed__ram_rec(struct mig_chan *c, struct mig_hdr *h, u8 *tab, u32 n,
			       struct iovec *iov, int nio)
{
	u8 hb[MIG_HDR_SIZE];

	h->count = n;
	h->seq = c->seq_out++;
	h->crc = mig_crc32(0, tab, n * MIG_ENT_SIZE);
	mig_hdr__encode(h, hb);
	iov[0] = (struct iovec){ hb, sizeof(hb) };
	iov[1] = (struct iovec){ tab, n * MIG_ENT_SIZE };
	mig_chan__writev(c, iov, nio);
}

/*
 * What was written to fd (a temporary file) becomes DIR/NAME, and goes
 * through run_one(): a seed that does not end as `want` would mislead the
 * fuzzer, so that is fatal.
 */
static void fuzz_seed__save(int fd, const char *dir, const char *name,
			    int (*run_one)(const u8 *data, size_t size), int want)
{
	char path[512];
	long n = lseek(fd, 0, SEEK_END);
	u8 *buf = n > 0 ? malloc(n) : NULL;
	FILE *f;
	int ret;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || !buf || pread(fd, buf, n, 0) != n || fwrite(buf, 1, n, f) != (size_t)n) {
		fprintf(stderr, "seed %s: cannot write %s\n", name, path);
		exit(1);
	}
	fclose(f);
	ret = run_one(buf, n);
	if (ret != want) {
		fprintf(stderr, "seed %s: %d, wanted %d\n", name, ret, want);
		exit(1);
	}
	free(buf);
}

#endif
