/*
 * libFuzzer target for the SEV half of the destination's stream: what a
 * source sends on the control connection of an SEV migration (preamble,
 * HELLO, SEV_START, RAM with ENCRYPTED pages, END), through the code
 * `lkvm run --sev=emulated --incoming` runs: mig_incoming__hello(), the real
 * sev_mig__dst_prepare() / sev_mig__dst_handshake() (SEV_PLATFORM out,
 * SEV_START in, RECEIVE_START), mig_incoming__recv() with the real
 * recv_encrypted() (RECEIVE_UPDATE_DATA into guest memory),
 * check_complete(), and sev_mig__dst_finish() (pages vs. the page map,
 * RECEIVE_FINISH), all on the software firmware model.
 *
 * fuzz-migration-stream.c stubs the ENCRYPTED receiver and never reads
 * SEV_START; this one does both for real.  Anything sent back (HELLO_REPLY,
 * SEV_PLATFORM, SEV_STARTED) goes to a sink.
 *
 * Input: flag byte (bit 0: skip crc checks), two bytes of page-map mask
 * (bit p set: page p is shared), then the stream.
 *
 * The destination platform lives in a fixed state directory
 * ($LKVM_FUZZ_SEV_STATE, default /tmp/lkvm-fuzz-sev-platform), kept from run
 * to run: the seeds carry sessions made for its PDH, and stay valid only as
 * long as it does.  With LKVM_FUZZ_SEED=DIR the seeds are (re)written for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lkvm/kvm.h"
#include "lkvm/migration.h"
#include "lkvm/sev-migration.h"
#include "lkvm/sev-model.h"
#include "fuzz-mig-dest.h"

static struct kvm kvm;
static struct sev_guest sg;
static u16 shared_mask;

/* ---- what sev-src.c / sev-dst.c need that this target does not reach ---- */

bool page_map__is_shared(const struct page_map *pm, u64 page)
{
	return page < 16 && (shared_mask >> page) & 1;
}
u64 page_map__nr_words(const struct page_map *pm) { return 0; }
int page_map__harvest_changed(struct page_map *pm, unsigned long *bm, u64 words) { return 0; }
int page_map__readiness(struct page_map *pm) { return 0; }
int page_map__wait_ready(struct page_map *pm, u32 ms, const atomic_bool *stop) { return 0; }
void kvm__refuse_run(struct kvm *kvm, const char *why) { kvm->run_refused = why; }

/* ---- the destination ---- */

static void setup(void)
{
	const char *dir = getenv("LKVM_FUZZ_SEV_STATE");
	struct sev_model_paths p = { .state_dir = dir && *dir ? dir : "/tmp/lkvm-fuzz-sev-platform" };

	unsetenv("LKVM_SEV_ROOT");
	unsetenv("LKVM_SEVMIG_FAULT");
	unsetenv("LKVM_SEVMIG_PDH");
	if (sev_fw__open(&sg.fw, SEV_MODE_EMULATED, &p) || sev_fw__vm_init(sg.fw, -1) ||
	    sev_fw__reg_region(sg.fw, (u64)(unsigned long)guest, sizeof(guest)))
		abort();
	kvm.cfg.sev_mode = SEV_MODE_EMULATED;
	kvm.sev = &sg;
	kvm.page_map = (struct page_map *)&shared_mask;	/* only tested for NULL */
}

static int run_one(const u8 *data, size_t size)
{
	struct mig_incoming in;
	struct mig_chan c;
	struct mig_chan_end counted = { 0 };
	u32 err;
	int ret;

	if (size < 3)
		return -EINVAL;
	mig_fuzz_ignore_crc = data[0] & 1;
	shared_mask = data[1] | data[2] << 8;
	if (fuzz_dest__init(&in))
		return -ENOMEM;
	in.kvm = &kvm;
	ret = sev_mig__dst_prepare(&kvm, &in);
	if (ret)
		abort();
	mig_chan__init_buf(&c, data + 3, size - 3);
	ret = fuzz_dest__hello(&in, &c);
	if (!ret)
		ret = sev_mig__dst_handshake(&kvm, &in, &c);
	if (!ret)
		ret = mig_incoming__recv(&in, &c, true, &counted);
	if (!ret)
		ret = mig_incoming__check_complete(&in, &counted, 1);
	if (!ret)
		ret = sev_mig__dst_finish(&kvm, &in);
	/* The VM goes away: KVM decommissions its guest. */
	if (sg.fw->handle)
		sev_model__decommission(sg.fw, &err);
	sg.handle = 0;
	sg.launched = false;
	mig_incoming__free(&in);
	return ret;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	run_one(data, size);
	return 0;
}

/* ---- seed corpus: a source with keys the seed writer knows ---- */

static void put_pages(struct mig_chan *c, const struct sev_tks *tks, u32 first, u32 end,
		      struct mig_chan_end *sent)
{
	static u8 pkt[NPAGES][4 + SEV_PKT_HDR_SIZE + PAGE_SIZE];
	static const u8 iv[16] = "seed-packet-iv-0";
	struct mig_page_ent e;
	u8 tab[NPAGES * MIG_ENT_SIZE], plain[PAGE_SIZE];
	struct iovec iov[NPAGES + 2];
	struct mig_hdr h = { .type = MIG_REC_RAM };
	u32 p, n = 0, nio = 2;

	for (p = first; p < end; p++) {
		memset(plain, p % 3 ? 0x20 + p : 0, PAGE_SIZE);
		e.page = p;
		e.flags = 0;
		if ((shared_mask >> p) & 1) {
			if (p % 3) {
				e.flags = MIG_PAGE_NORMAL | MIG_PAGE_SHARED;
				e.len = PAGE_SIZE;
				memcpy(pkt[n], plain, PAGE_SIZE);
				e.crc = mig_crc32(0, plain, PAGE_SIZE);
				iov[nio].iov_base = pkt[n];
				iov[nio++].iov_len = PAGE_SIZE;
			} else {
				e.flags = MIG_PAGE_ZERO | MIG_PAGE_SHARED;
				e.len = 0;
				e.crc = 0;
			}
		} else {
			u8 *out = pkt[n];

			out[0] = SEV_PKT_HDR_SIZE;
			out[1] = out[2] = out[3] = 0;
			if (sev_packet__seal(tks, SEV_CTX_DATA, NULL, iv, plain, PAGE_SIZE,
					     (struct sev_pkt_hdr *)(out + 4), out + 4 + SEV_PKT_HDR_SIZE))
				abort();
			e.flags = MIG_PAGE_ENCRYPTED;
			e.len = sev_mig_pkt__len(SEV_PKT_HDR_SIZE);
			e.crc = mig_crc32(0, out, e.len);
			iov[nio].iov_base = out;
			iov[nio++].iov_len = e.len;
		}
		mig_ent__encode(&e, tab + n * MIG_ENT_SIZE);
		h.len += MIG_ENT_SIZE + e.len;
		n++;
	}
	fuzz_seed__ram_rec(c, &h, tab, n, iov, nio);
	sent->pages += n;
}

static void write_seed(const char *dir, const char *name, u32 policy, u16 mask, u16 map_xor,
		       int want)
{
	static const u8 nonce[16] = "seed-nonce-00000", wiv[16] = "seed-wrap-iv-000";
	static const struct sev_tks tks = { .tek = "seed-tek-0000000", .tik = "seed-tik-0000000" };
	char tmpl[] = "/tmp/lkvm-fuzz-seed.XXXXXX";
	struct sev_user_data_pdh_cert_export ex;
	u8 pdh[SEV_CERT_SIZE], chain[SEV_CHAIN_SIZE], z[SEV_ECDH_SECRET_SIZE], eb[24];
	u8 p[MIG_PREAMBLE_SIZE], head[3] = { 0, (u8)(mask ^ map_xor), (u8)((mask ^ map_xor) >> 8) };
	struct mig_chan_end st = { 0 };
	struct mig_end end = { .rounds = 1 };
	struct sev_session session;
	struct sev_cert peer_cert;
	struct sev_mig_start s;
	struct mig_shape shape;
	struct mig_buf b = { 0 };
	struct mig_chan c;
	EVP_PKEY *peer = sev_key__gen_ec();
	int fd = mkstemp(tmpl);
	u32 err;

	/* The source: its own PDH, and a session for this platform's PDH. */
	ex = (struct sev_user_data_pdh_cert_export){
		.pdh_cert_address = (u64)(unsigned long)pdh, .pdh_cert_len = sizeof(pdh),
		.cert_chain_address = (u64)(unsigned long)chain, .cert_chain_len = sizeof(chain),
	};
	if (!peer || fd < 0 || sev_fw__platform(sg.fw, SEV_PDH_CERT_EXPORT, &ex, &err) ||
	    sev_ecdh(peer, sg.fw->model->keys.pdh, z) ||
	    sev_cert__init(&peer_cert, SEV_USAGE_PDH, SEV_ALGO_ECDH_SHA256, peer, 0, 0) ||
	    sev_session__wrap_z(z, sizeof(z), policy, &tks, nonce, wiv, &session))
		abort();
	EVP_PKEY_free(peer);

	shared_mask = mask;
	mig_chan__init_fd(&c, fd);
	mig_chan__writev(&c, &(struct iovec){ head, 3 }, 1);
	mig_preamble__encode(p, 0, 99);
	mig_chan__writev(&c, &(struct iovec){ p, sizeof(p) }, 1);
	local_shape(&shape);
	shape.features = MIG_F_ZERO_PAGES | MIG_F_SEV_PAGES;
	shape.session = 99;
	mig_shape__encode(&shape, &b);
	mig_chan__send_rec(&c, MIG_REC_HELLO, 0, 0, b.data, b.len);
	mig_buf__free(&b);
	s = (struct sev_mig_start){ .policy = policy, .pdh = (u8 *)&peer_cert,
				    .session = (u8 *)&session };
	if (sev_mig_start__encode(&s, &b))
		abort();
	mig_chan__send_rec(&c, MIG_REC_SEV_START, 0, 0, b.data, b.len);
	mig_buf__free(&b);
	put_pages(&c, &tks, 0, 12, &st);
	put_pages(&c, &tks, 12, NPAGES, &st);
	end.pages = st.pages;
	mig_end__encode(&end, eb);
	mig_chan__send_rec(&c, MIG_REC_END, 0, 0, eb, sizeof(eb));
	fuzz_seed__save(fd, dir, name, run_one, want);
	close(fd);
	unlink(tmpl);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("LKVM_FUZZ_SEED");

	setup();
	if (dir) {
		mkdir(dir, 0700);
		write_seed(dir, "private", 0, 0, 0, 0);
		write_seed(dir, "mixed", SEV_POLICY_NODBG, 0x0f0f, 0, 0);
		write_seed(dir, "nosend", SEV_POLICY_NOSEND | SEV_POLICY_NOKS, 0x8001, 0, 0);
		/* A page map that disagrees with how the pages came. */
		write_seed(dir, "map-differs", 0, 0x0003, 0x0010, -EPROTO);
		exit(0);
	}
	return 0;
}
