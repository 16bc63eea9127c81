/*
 * SEV live migration (migration/sev-*.c): the SEV records against
 * malformed input, and the whole firmware flow between two model
 * platforms in one process (two state directories = two hosts): readiness
 * refusals, the handshake over a socketpair, pages through
 * SEND/RECEIVE_UPDATE_DATA, a tampered packet, page-map flips, the
 * arrival check, RECEIVE_FINISH, SEND_FINISH (SENT, never runs again) and
 * SEND_CANCEL (runs on).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lkvm/kvm.h"
#include "lkvm/page-map.h"
#include "lkvm/sev-migration.h"
#include "lkvm/sev-model.h"
#include "test.h"

#define NPAGES	4

static char tmp_root[64], dir_a[128], dir_b[128];

static void put32(u8 *p, u32 v)
{
	memcpy(p, &v, 4);	/* x86-64: little-endian */
}

/* ---- record parsing ---- */

static void platform_record_round_trips_and_refuses_malformed(void)
{
	static u8 pdh[SEV_CERT_SIZE], chain[SEV_CHAIN_SIZE], amd[100];
	struct sev_mig_platform p = { pdh, chain, amd, sizeof(amd) }, d;
	struct mig_buf b = { 0 };
	size_t l;
	u8 *m;

	memset(pdh, 1, sizeof(pdh));
	memset(chain, 2, sizeof(chain));
	memset(amd, 3, sizeof(amd));
	REQUIRE(sev_mig_platform__encode(&p, &b) == 0);
	CHECK_EQ(b.len, 12 + SEV_CERT_SIZE + SEV_CHAIN_SIZE + sizeof(amd));
	CHECK_EQ(sev_mig_platform__decode(b.data, b.len, &d), 0);
	CHECK(d.pdh == b.data + 4 && d.chain == b.data + 8 + SEV_CERT_SIZE);
	CHECK_EQ(d.amd_len, sizeof(amd));
	CHECK_MEM(d.amd, amd, sizeof(amd));
	/* Every truncation, and one byte too many. */
	for (l = 0; l < b.len; l++)
		if (sev_mig_platform__decode(b.data, l, &d) != -EPROTO)
			break;
	CHECK_EQ(l, b.len);
	CHECK(d.pdh == NULL);
	m = malloc(b.len + 1);
	REQUIRE(m);
	memcpy(m, b.data, b.len);
	m[b.len] = 0;
	CHECK_EQ(sev_mig_platform__decode(m, b.len + 1, &d), -EPROTO);
	/* Each length word: off by one, huge. */
	put32(m, SEV_CERT_SIZE - 1);
	CHECK_EQ(sev_mig_platform__decode(m, b.len, &d), -EPROTO);
	put32(m, 0xffffffff);
	CHECK_EQ(sev_mig_platform__decode(m, b.len, &d), -EPROTO);
	put32(m, SEV_CERT_SIZE);
	put32(m + 4 + SEV_CERT_SIZE, SEV_CHAIN_SIZE + 1);
	CHECK_EQ(sev_mig_platform__decode(m, b.len, &d), -EPROTO);
	put32(m + 4 + SEV_CERT_SIZE, SEV_CHAIN_SIZE);
	put32(m + 8 + SEV_CERT_SIZE + SEV_CHAIN_SIZE, sizeof(amd) + 1);
	CHECK_EQ(sev_mig_platform__decode(m, b.len, &d), -EPROTO);
	put32(m + 8 + SEV_CERT_SIZE + SEV_CHAIN_SIZE, 0xfffffffc);
	CHECK_EQ(sev_mig_platform__decode(m, b.len, &d), -EPROTO);
	/* No AMD chain at all is fine; an AMD chain over the cap is not encoded. */
	put32(m + 8 + SEV_CERT_SIZE + SEV_CHAIN_SIZE, 0);
	CHECK_EQ(sev_mig_platform__decode(m, 12 + SEV_CERT_SIZE + SEV_CHAIN_SIZE, &d), 0);
	CHECK(d.amd == NULL && d.amd_len == 0);
	p.amd_len = SEV_MIG_AMD_MAX + 1;
	CHECK_EQ(sev_mig_platform__encode(&p, &b), -EINVAL);
	free(m);
	mig_buf__free(&b);
}

static void start_record_round_trips_and_refuses_malformed(void)
{
	static u8 pdh[SEV_CERT_SIZE], session[SEV_SESSION_SIZE];
	struct sev_mig_start s = { 0x21, pdh, session }, d;
	struct mig_buf b = { 0 };
	size_t l;

	memset(pdh, 5, sizeof(pdh));
	memset(session, 6, sizeof(session));
	REQUIRE(sev_mig_start__encode(&s, &b) == 0);
	REQUIRE(b.len == SEV_MIG_START_SIZE);
	CHECK_EQ(sev_mig_start__decode(b.data, b.len, &d), 0);
	CHECK_EQ(d.policy, 0x21);
	CHECK_MEM(d.pdh, pdh, sizeof(pdh));
	CHECK_MEM(d.session, session, sizeof(session));
	for (l = 0; l < b.len; l++)
		if (sev_mig_start__decode(b.data, l, &d) != -EPROTO)
			break;
	CHECK_EQ(l, b.len);
	put32(b.data + 4, SEV_CERT_SIZE + 4);	/* eats into the session */
	CHECK_EQ(sev_mig_start__decode(b.data, b.len, &d), -EPROTO);
	put32(b.data + 4, SEV_CERT_SIZE);
	put32(b.data + 8 + SEV_CERT_SIZE, SEV_SESSION_SIZE - 16);
	CHECK_EQ(sev_mig_start__decode(b.data, b.len, &d), -EPROTO);
	CHECK(d.pdh == NULL && d.session == NULL);
	mig_buf__free(&b);
}

static void encrypted_page_data_is_length_checked(void)
{
	static u8 pkt[4 + MIG_ENC_HDR_MAX + PAGE_SIZE + 1];
	const u8 *hdr, *trans;
	u32 hl;
	size_t l;

	put32(pkt, 52);
	CHECK_EQ(sev_mig_pkt__decode(pkt, 4 + 52 + PAGE_SIZE, &hdr, &hl, &trans), 0);
	CHECK(hl == 52 && hdr == pkt + 4 && trans == pkt + 56);
	CHECK_EQ(sev_mig_pkt__len(52), 4 + 52 + PAGE_SIZE);
	for (l = 0; l < 4; l++)
		CHECK_EQ(sev_mig_pkt__decode(pkt, l, &hdr, &hl, &trans), -EPROTO);
	CHECK_EQ(sev_mig_pkt__decode(pkt, 4 + 52 + PAGE_SIZE - 1, &hdr, &hl, &trans), -EPROTO);
	CHECK_EQ(sev_mig_pkt__decode(pkt, 4 + 52 + PAGE_SIZE + 1, &hdr, &hl, &trans), -EPROTO);
	put32(pkt, 51);
	CHECK_EQ(sev_mig_pkt__decode(pkt, 4 + 51 + PAGE_SIZE, &hdr, &hl, &trans), -EPROTO);
	put32(pkt, MIG_ENC_HDR_MAX);
	CHECK_EQ(sev_mig_pkt__decode(pkt, sizeof(pkt) - 1, &hdr, &hl, &trans), 0);
	put32(pkt, MIG_ENC_HDR_MAX + 1);
	CHECK_EQ(sev_mig_pkt__decode(pkt, sizeof(pkt), &hdr, &hl, &trans), -EPROTO);
	put32(pkt, 0xfffffffc);		/* 4 + hdr_len + 4096 would wrap in 32 bits */
	CHECK_EQ(sev_mig_pkt__decode(pkt, 4096, &hdr, &hl, &trans), -EPROTO);
}

/* ---- two model platforms ---- */

struct host {
	struct kvm *kvm;
	struct sev_guest sg;
	struct kvm_mem_bank bank;
	u8 *mem;
};

static int host_open(struct host *h, const char *dir, u32 policy, bool launch)
{
	struct sev_model_paths p = { .state_dir = dir };
	struct kvm_sev_launch_start ls = { .policy = policy };
	struct sev_measure_blob mb;
	struct kvm_sev_launch_measure lm = { .uaddr = (u64)(unsigned long)&mb, .len = sizeof(mb) };
	u32 err;
	int ret;
	size_t i;

	memset(h, 0, sizeof(*h));
	h->kvm = calloc(1, sizeof(*h->kvm));
	h->mem = aligned_alloc(PAGE_SIZE, NPAGES * PAGE_SIZE);
	if (!h->kvm || !h->mem)
		return -ENOMEM;
	for (i = 0; i < NPAGES * PAGE_SIZE; i++)
		h->mem[i] = launch ? (u8)(i * 7 + i / PAGE_SIZE) : 0;
	h->bank = (struct kvm_mem_bank){ .guest_phys_addr = 0, .size = NPAGES * PAGE_SIZE,
					 .host_addr = h->mem };
	h->kvm->cfg.sev_mode = SEV_MODE_EMULATED;
	h->kvm->nr_pages = NPAGES;
	h->kvm->sev = &h->sg;
	h->kvm->page_map = page_map__new(&h->bank, 1, true);
	if (!h->kvm->page_map)
		return -ENOMEM;
	ret = sev_fw__open(&h->sg.fw, SEV_MODE_EMULATED, &p);
	if (!ret)
		ret = sev_fw__vm_init(h->sg.fw, -1);
	if (!ret)
		ret = sev_fw__reg_region(h->sg.fw, (u64)(unsigned long)h->mem, NPAGES * PAGE_SIZE);
	if (ret || !launch)
		return ret;
	h->sg.policy = policy;
	ret = sev_fw__guest(h->sg.fw, KVM_SEV_LAUNCH_START, &ls, &err);
	if (!ret)
		ret = sev_fw__guest(h->sg.fw, KVM_SEV_LAUNCH_MEASURE, &lm, &err);
	if (!ret)
		ret = sev_fw__guest(h->sg.fw, KVM_SEV_LAUNCH_FINISH, NULL, &err);
	h->sg.launched = !ret;
	return ret;
}

static void host_close(struct host *h)
{
	if (h->kvm && h->kvm->page_map)
		page_map__free(h->kvm->page_map);
	if (h->sg.fw)
		sev_fw__close(h->sg.fw);
	free(h->kvm);
	free(h->mem);
}

static u32 gstate(struct host *h)
{
	struct kvm_sev_guest_status st = { 0 };
	u32 err;

	if (sev_fw__guest(h->sg.fw, KVM_SEV_GUEST_STATUS, &st, &err))
		return 0xff;
	return st.state;
}

struct dst_ctx {
	struct host *h;
	struct mig_incoming *in;
	struct mig_chan chan;
	int ret;
};

static void *dst_thread(void *arg)
{
	struct dst_ctx *d = arg;

	d->ret = sev_mig__dst_handshake(d->h->kvm, d->in, &d->chan);
	return NULL;
}

/* Source begin + handshake against a destination thread; 0 if both agree. */
static int handshake(struct host *a, struct host *b, struct mig_incoming *in, char *why)
{
	struct dst_ctx d = { .h = b, .in = in };
	struct mig_chan ca;
	pthread_t t;
	int sv[2], ret;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -errno;
	mig_chan__init_fd(&ca, sv[0]);
	mig_chan__init_fd(&d.chan, sv[1]);
	ret = mig_incoming__init(in, NPAGES);
	if (ret)
		return ret;
	in->kvm = b->kvm;
	in->banks[0] = (struct mig_mem_bank){ .host = b->mem, .page_base = 0, .nr_pages = NPAGES };
	in->nr_banks = 1;
	ret = sev_mig__dst_prepare(b->kvm, in);
	if (ret)
		return ret;
	pthread_create(&t, NULL, dst_thread, &d);
	ret = sev_mig__src_begin(a->kvm, 0, NULL, why, 256);
	if (!ret)
		ret = sev_mig__src_handshake(a->kvm, &ca, why, 256);
	if (ret)
		shutdown(sv[0], SHUT_RDWR);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	return ret ? ret : d.ret;
}

static void set_bit_in(_Atomic unsigned long *bm, u64 p, bool on)
{
	if (on)
		atomic_fetch_or(&bm[p / 64], 1UL << (p % 64));
	else
		atomic_fetch_and(&bm[p / 64], ~(1UL << (p % 64)));
}

static void readiness_is_required_and_withdrawal_named(void)
{
	struct host a;
	char why[256] = "";

	REQUIRE(host_open(&a, dir_a, SEV_POLICY_NODBG, true) == 0);
	CHECK_EQ(sev_mig__src_begin(a.kvm, 0, NULL, why, sizeof(why)), -EAGAIN);
	CHECK(strstr(why, "never declared itself migration-ready"));
	CHECK_EQ(sev_mig__src_begin(a.kvm, 50, NULL, why, sizeof(why)), -EAGAIN);
	CHECK(strstr(why, "after waiting"));
	page_map__msr_write(a.kvm->page_map, 1);
	page_map__msr_write(a.kvm->page_map, 0);
	CHECK_EQ(sev_mig__src_begin(a.kvm, 0, NULL, why, sizeof(why)), -EAGAIN);
	CHECK(strstr(why, "was migration-ready but withdrew"));
	page_map__msr_write(a.kvm->page_map, 1);
	CHECK_EQ(sev_mig__src_begin(a.kvm, 0, NULL, why, sizeof(why)), 0);
	CHECK_EQ(sev_mig__src_check(a.kvm, why, sizeof(why)), 0);
	/* A blink 1 -> 0 -> 1 mid-migration is a reboot too. */
	page_map__msr_write(a.kvm->page_map, 0);
	page_map__msr_write(a.kvm->page_map, 1);
	CHECK_EQ(sev_mig__src_check(a.kvm, why, sizeof(why)), -ECANCELED);
	CHECK(strstr(why, "withdrew migration readiness during the migration"));
	host_close(&a);
}

static void pages_move_encrypted_and_the_source_ends_sent(void)
{
	static u8 pkt[4 + MIG_ENC_HDR_MAX + PAGE_SIZE];
	struct host a, b;
	struct mig_incoming in;
	const struct sev_mig_pages *pg;
	unsigned long bm[1] = { 0 };
	char why[256] = "";
	u32 len, err;
	u64 p;

	REQUIRE(host_open(&a, dir_a, SEV_POLICY_NODBG | SEV_POLICY_SEV, true) == 0);
	REQUIRE(host_open(&b, dir_b, 0, false) == 0);
	page_map__msr_write(a.kvm->page_map, 1);
	page_map__set_shared(a.kvm->page_map, 3, 1);
	REQUIRE(handshake(&a, &b, &in, why) == 0);
	CHECK_EQ(gstate(&a), SEV_GSTATE_SUPDATE);
	CHECK_EQ(gstate(&b), SEV_GSTATE_RUPDATE);
	pg = sev_mig__src_pages(a.kvm);
	REQUIRE(pg && pg->hdr_len == SEV_PKT_HDR_SIZE);

	for (p = 0; p < 3; p++) {
		u8 *src = a.mem + p * PAGE_SIZE;

		CHECK_EQ(pg->seal(pg, src, pkt, &len), 0);
		CHECK_EQ(len, sev_mig_pkt__len(SEV_PKT_HDR_SIZE));
		CHECK(!memmem(pkt, len, src + 64, 32));	/* no plaintext on the wire */
		CHECK_EQ(in.recv_encrypted(&in, p, pkt, len), 0);
		set_bit_in(in.encrypted, p, true);	/* what incoming.c does */
		CHECK_MEM(b.mem + p * PAGE_SIZE, src, PAGE_SIZE);
	}
	/* A flipped ciphertext bit: the packet MAC catches it, nothing lands. */
	CHECK_EQ(pg->seal(pg, a.mem, pkt, &len), 0);
	pkt[4 + SEV_PKT_HDR_SIZE + 7] ^= 1;
	memset(b.mem, 0xee, PAGE_SIZE);
	CHECK_EQ(in.recv_encrypted(&in, 0, pkt, len), -EBADMSG);
	CHECK(strstr(in.reason, "BAD_MEASUREMENT"));
	CHECK_EQ(b.mem[0], 0xee);
	pkt[4 + SEV_PKT_HDR_SIZE + 7] ^= 1;
	CHECK_EQ(in.recv_encrypted(&in, 0, pkt, len), 0);
	CHECK_MEM(b.mem, a.mem, PAGE_SIZE);
	/* Malformed entry data and a page outside memory. */
	CHECK_EQ(in.recv_encrypted(&in, 0, pkt, len - 1), -EPROTO);
	CHECK_EQ(in.recv_encrypted(&in, NPAGES, pkt, len), -ERANGE);
	memcpy(b.mem + 3 * PAGE_SIZE, a.mem + 3 * PAGE_SIZE, PAGE_SIZE);	/* the shared page */

	/* Page-map flips join the next round's set. */
	page_map__set_shared(a.kvm->page_map, 1, 1);
	sev_mig__src_merge_changed(a.kvm, bm);
	CHECK_EQ(bm[0], 1UL << 1);
	page_map__set_private(a.kvm->page_map, 1, 1);

	/* The destination's installed map must match how each page came. */
	page_map__set_shared(b.kvm->page_map, 3, 1);
	set_bit_in(in.encrypted, 2, false);
	in.reason[0] = 0;	/* the tamper test left its reason */
	CHECK_EQ(sev_mig__dst_finish(b.kvm, &in), -EPROTO);
	CHECK(strstr(in.reason, "page 2 came in plain text but the page map says private"));
	set_bit_in(in.encrypted, 2, true);
	CHECK_EQ(gstate(&b), SEV_GSTATE_RUPDATE);
	CHECK_EQ(sev_mig__dst_finish(b.kvm, &in), 0);
	CHECK_EQ(gstate(&b), SEV_GSTATE_RUNNING);
	CHECK(b.sg.launched);

	/* Commit: SENT, and nothing may run it again. */
	CHECK_EQ(sev_mig__src_commit(a.kvm), 0);
	CHECK_EQ(gstate(&a), SEV_GSTATE_SENT);
	CHECK(a.kvm->run_refused != NULL);
	a.kvm->paused = true;
	kvm__resume(a.kvm);
	CHECK(a.kvm->paused);
	CHECK(sev_mig__src_pages(a.kvm) == NULL);
	/* No way back to RUNNING: neither a late cancel nor a launch. */
	CHECK_EQ(sev_fw__guest(a.sg.fw, KVM_SEV_SEND_CANCEL, NULL, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_GUEST_STATE);
	CHECK_EQ(sev_fw__guest(a.sg.fw, KVM_SEV_LAUNCH_FINISH, NULL, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_GUEST_STATE);
	CHECK_EQ(gstate(&a), SEV_GSTATE_SENT);
	mig_incoming__free(&in);
	host_close(&a);
	host_close(&b);
}

static void failure_before_commit_cancels_and_the_guest_runs_on(void)
{
	struct host a, b;
	struct mig_incoming in;
	char why[256] = "";

	REQUIRE(host_open(&a, dir_a, SEV_POLICY_NODBG, true) == 0);
	REQUIRE(host_open(&b, dir_b, 0, false) == 0);
	page_map__msr_write(a.kvm->page_map, 1);
	REQUIRE(handshake(&a, &b, &in, why) == 0);
	CHECK_EQ(gstate(&a), SEV_GSTATE_SUPDATE);
	sev_mig__src_cancel(a.kvm);
	CHECK_EQ(gstate(&a), SEV_GSTATE_RUNNING);
	CHECK(a.kvm->run_refused == NULL);
	CHECK(sev_mig__src_pages(a.kvm) == NULL);
	sev_mig__src_cancel(a.kvm);	/* twice: a no-op */
	CHECK_EQ(gstate(&a), SEV_GSTATE_RUNNING);
	mig_incoming__free(&in);
	host_close(&b);

	/* NOSEND: SEND_START refused, nothing to cancel, still RUNNING. */
	host_close(&a);
	REQUIRE(host_open(&a, dir_a, SEV_POLICY_NODBG | SEV_POLICY_NOSEND, true) == 0);
	REQUIRE(host_open(&b, dir_b, 0, false) == 0);
	page_map__msr_write(a.kvm->page_map, 1);
	CHECK_EQ(handshake(&a, &b, &in, why), -EIO);
	CHECK(strstr(why, "NOSEND"));
	CHECK_EQ(gstate(&a), SEV_GSTATE_RUNNING);
	CHECK(strstr(in.reason, "source aborted") || in.reason[0]);
	mig_incoming__free(&in);
	host_close(&a);
	host_close(&b);
}

TEST_MAIN_BEGIN("test-sev-migration")
	unsetenv("LKVM_SEV_ROOT");
	unsetenv("LKVM_SEVMIG_FAULT");
	unsetenv("LKVM_SEVMIG_PDH");
	strcpy(tmp_root, "/tmp/lkvm-sevmig.XXXXXX");
	if (!mkdtemp(tmp_root)) {
		printf("FAIL: test-sev-migration/setup: mkdtemp\n");
		return 1;
	}
	snprintf(dir_a, sizeof(dir_a), "%s/a", tmp_root);
	snprintf(dir_b, sizeof(dir_b), "%s/b", tmp_root);
	RUN(platform_record_round_trips_and_refuses_malformed);
	RUN(start_record_round_trips_and_refuses_malformed);
	RUN(encrypted_page_data_is_length_checked);
	RUN(readiness_is_required_and_withdrawal_named);
	RUN(pages_move_encrypted_and_the_source_ends_sent);
	RUN(failure_before_commit_cancels_and_the_guest_runs_on);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_root);
		if (system(cmd))
			printf("note: could not remove %s\n", tmp_root);
	}
TEST_MAIN_END()
