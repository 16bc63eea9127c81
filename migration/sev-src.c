/*
 * SEV live migration, the source (docs/sev-migration.md):
 *
 *   begin      the guest must be MIGRATION_READY (or become so within
 *              --wait-ready); the page map's changed set is cleared
 *   handshake  the destination's PDH + chain, checked as the guest policy
 *              demands; PDH_CERT_EXPORT of our own PDH; SEND_START (length
 *              query first); SEV_START out; RECEIVE_START's answer in
 *   pages      private pages through SEND_UPDATE_DATA, one packet per page;
 *              shared pages stay plain (ram.c asks the page map)
 *   rounds     readiness re-checked and page-map flips merged each round
 *   end        SEND_FINISH on commit (state SENT: never runs here again),
 *              SEND_CANCEL on any failure before it (the guest runs on)
 *
 * The VMM never reads a page it believes private: those go to the firmware
 * by address only.  One VM per process, so the state is a static.
 */
#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lkvm/kvm.h"
#include "lkvm/page-map.h"
#include "lkvm/sev.h"
#include "lkvm/sev-migration.h"
#include "lkvm/sev-model.h"

struct sev_mig_options sev_mig_options;

static struct {
	struct kvm *kvm;
	struct sev_fw *fw;
	bool started;			/* SEND_START done: SUPDATE until FINISH/CANCEL */
	u64 nr_withdrawn0;		/* readiness withdrawals seen at begin */
	u64 *changed;			/* harvest buffer for page-map flips */
	struct sev_mig_pages pages;
	struct sev_mig_fault fault;
	_Atomic u64 sealed;
} src;

static bool is_sev(struct kvm *kvm)
{
	return kvm->cfg.sev_mode != SEV_MODE_NONE && kvm->sev && kvm->sev->fw;
}

int sev_mig__src_begin(struct kvm *kvm, u32 wait_ms, const atomic_bool *stop, char *why,
		       size_t n)
{
	struct page_map_readiness rd;

	if (!is_sev(kvm))
		return 0;
	if (!kvm->sev->launched) {
		snprintf(why, n, "the SEV guest is not running (launch not finished)");
		return -EINVAL;
	}
	if (!kvm->page_map) {
		snprintf(why, n, "SEV guest without a page map: private and shared pages "
			 "cannot be told apart");
		return -EOPNOTSUPP;
	}
	page_map__readiness(kvm->page_map, &rd);
	if (!rd.ready && wait_ms) {
		pr_info("SEV: waiting up to %u ms for the guest to declare itself migration-ready",
			wait_ms);
		if (page_map__wait_ready(kvm->page_map, wait_ms, stop) == -ECANCELED) {
			snprintf(why, n, "cancelled while waiting for the SEV guest to be "
				 "migration-ready");
			return -ECANCELED;
		}
		page_map__readiness(kvm->page_map, &rd);
	}
	if (!rd.ready) {
		if (rd.withdrawn)
			snprintf(why, n, "the SEV guest was migration-ready but withdrew "
				 "(MSR_KVM_MIGRATION_CONTROL = 0, rebooting?); retry once it is "
				 "ready again (--wait-ready waits)");
		else
			snprintf(why, n, "the SEV guest never declared itself migration-ready "
				 "(MSR_KVM_MIGRATION_CONTROL bit 0), so its shared pages are not "
				 "known; refused%s", wait_ms ? " after waiting" : " (--wait-ready waits)");
		return -EAGAIN;
	}
	free(src.changed);
	memset(&src, 0, sizeof(src));
	src.kvm = kvm;
	src.fw = kvm->sev->fw;
	src.nr_withdrawn0 = rd.nr_withdrawn;
	src.changed = calloc(page_map__nr_words(kvm->page_map), sizeof(u64));
	if (!src.changed)
		return -ENOMEM;
	/* Round 0 sends every page in its state at that time. */
	page_map__harvest_changed(kvm->page_map, src.changed);
	sev_mig__fault_from_env(&src.fault);
	return 0;
}

int sev_mig__src_check(struct kvm *kvm, char *why, size_t n)
{
	struct page_map_readiness rd;

	if (!is_sev(kvm) || !src.kvm)
		return 0;
	page_map__readiness(kvm->page_map, &rd);
	if (src.fault.await_withdraw) {
		/*
		 * Test hook: a guest that blinks its readiness does so at its
		 * own pace, which on a slow host can miss a whole round.  Hold
		 * here (the guest still runs: this is the first check, after
		 * round 0) so the test sees the real detection, deterministically.
		 */
		u64 until = now_ns() + 30ull * 1000000000ull;

		src.fault.await_withdraw = false;
		pr_warn("SEV: test hook: holding the migration until the guest withdraws readiness");
		while (rd.ready && rd.nr_withdrawn == src.nr_withdrawn0 && now_ns() < until) {
			usleep(1000);
			page_map__readiness(kvm->page_map, &rd);
		}
	}
	if (rd.ready && rd.nr_withdrawn == src.nr_withdrawn0)
		return 0;
	/* Even a brief 1 -> 0 -> 1 is a reboot: the page map was reset meanwhile. */
	snprintf(why, n, "the SEV guest was ready but withdrew migration readiness during the "
		 "migration (MSR_KVM_MIGRATION_CONTROL = 0%s, rebooting?); aborted",
		 rd.ready ? ", then 1 again" : "");
	return -ECANCELED;
}

void sev_mig__src_merge_changed(struct kvm *kvm, unsigned long *bm)
{
	u64 i, words;

	if (!is_sev(kvm) || !src.changed)
		return;
	if (!page_map__harvest_changed(kvm->page_map, src.changed))
		return;
	words = page_map__nr_words(kvm->page_map);
	for (i = 0; i < words; i++)
		bm[i] |= src.changed[i];
}

/* SEND_UPDATE_DATA of one page into out: le32 hdr_len, header, ciphertext. */
static int seal(const struct sev_mig_pages *s, void *host, u8 *out, u32 *len)
{
	struct kvm_sev_send_update_data u = {
		.hdr_uaddr = (u64)(unsigned long)(out + 4),
		.hdr_len = s->hdr_len,
		.guest_uaddr = (u64)(unsigned long)host,
		.guest_len = PAGE_SIZE,
		.trans_uaddr = (u64)(unsigned long)(out + 4 + s->hdr_len),
		.trans_len = PAGE_SIZE,
	};
	char buf[96];
	u32 error;
	u64 nr;
	int ret;

	ret = sev_fw__guest(src.fw, KVM_SEV_SEND_UPDATE_DATA, &u, &error);
	if (ret) {
		pr_err("SEV: SEND_UPDATE_DATA failed: %s", sev_fw__strerror(ret, error, buf,
									      sizeof(buf)));
		return ret;
	}
	put_le32(out, s->hdr_len);
	nr = ++src.sealed;
	if (src.fault.flip_packet && nr == src.fault.flip_packet) {
		/* Test hook: tamper after the firmware sealed it, before any crc. */
		out[4 + s->hdr_len + 100] ^= 0x10;
		pr_warn("SEV: test hook: flipped a ciphertext bit in packet %llu",
			(unsigned long long)nr);
	}
	*len = sev_mig_pkt__len(s->hdr_len);
	return 0;
}

const struct sev_mig_pages *sev_mig__src_pages(struct kvm *kvm)
{
	return is_sev(kvm) && src.started ? &src.pages : NULL;
}

/* Read a whole small file (certificates) into a malloc'd buffer. */
int sev_mig__read_file(const char *path, size_t max, u8 **buf, size_t *len)
{
	/* O_NONBLOCK: a FIFO is refused below, not waited on. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	ssize_t r;

	*buf = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;		/* not a regular file */
	}
	*buf = malloc(max + 1);
	if (!*buf) {
		close(fd);
		return -ENOMEM;
	}
	r = read(fd, *buf, max + 1);
	close(fd);
	if (r < 0 || (size_t)r > max) {
		free(*buf);
		*buf = NULL;
		return r < 0 ? -errno : -EFBIG;
	}
	*len = r;
	return 0;
}

const char *sev_mig__file_error(int err)
{
	/* strerror() would say "Invalid argument" of a directory. */
	if (err == -EINVAL)
		return "not a regular file";
	if (err == -EFBIG)
		return "too large for a certificate file";
	return strerror(-err);
}

/* The control channel's next record must be `type`; an ACK/ABORT means refusal. */
int sev_mig__recv_rec(struct mig_chan *c, u32 type, u8 *buf, size_t cap, size_t *len,
		      char *why, size_t n)
{
	struct mig_hdr h;
	u32 st, f;
	int ret;

	ret = mig_chan__recv_hdr(c, &h);
	if (ret) {
		snprintf(why, n, "%s during the SEV handshake: %s",
			 ret == -EPIPE || ret == -ECONNRESET || ret == -ETIMEDOUT ?
			 "connection lost" : "bad record from the destination", mig_strerror(ret));
		return ret;
	}
	if (h.type == MIG_REC_ACK || h.type == MIG_REC_ABORT || h.type == MIG_REC_SEV_STARTED) {
		char reason[MIG_MAX_REASON + 1] = "";
		u8 small[MIG_MAX_SMALL];

		ret = mig_chan__recv_payload(c, &h, small, sizeof(small));
		if (!ret)
			ret = mig_status__decode(small, h.len, &st, &f, reason, sizeof(reason));
		if (ret) {
			snprintf(why, n, "malformed status record in the SEV handshake");
			return ret;
		}
		if (h.type == type && !st)
			return 0;
		snprintf_cut(why, n, "%s: %s", h.type == MIG_REC_ABORT ? "source aborted" :
			 "destination refused", reason[0] ? reason : "no reason given");
		return st && st < 4096 ? -(int)st : -ECANCELED;
	}
	if (h.type != type) {
		snprintf(why, n, "unexpected record %u in the SEV handshake", h.type);
		return -EPROTO;
	}
	if (h.len > cap) {
		snprintf(why, n, "SEV record %u too long (%llu bytes)", h.type,
			 (unsigned long long)h.len);
		return -EPROTO;
	}
	ret = mig_chan__recv_payload(c, &h, buf, cap);
	if (ret) {
		snprintf(why, n, "SEV record %u: %s", h.type, mig_strerror(ret));
		return ret;
	}
	*len = h.len;
	return 0;
}

static int check_chain(const struct sev_mig_platform *p, u32 policy, const u8 *own_chain,
		       char *why, size_t n)
{
	unsigned int flags = (policy & SEV_POLICY_DOMAIN ? SEV_CHAIN_DOMAIN : 0) |
			     (policy & SEV_POLICY_SEV ? SEV_CHAIN_SEV : 0);
	struct sev_amd_cert *ark = NULL;
	struct sev_chain *chain;
	int ret;

	if (!flags) {
		/* The firmware only sanity-checks the PDH then; so do we. */
		ret = sev_cert__parse_pdh(p->pdh, SEV_CERT_SIZE, NULL);
		if (ret)
			snprintf(why, n, "the destination's PDH certificate is malformed (%s)",
				 sev_ret__str(ret));
		return ret ? -EBADMSG : 0;
	}
	if ((flags & SEV_CHAIN_SEV) && !p->amd_len) {
		snprintf(why, n, "guest policy 0x%x (SEV bit) needs the destination's AMD chain: "
			 "start the destination with --sev-amd-chain ASK_ARK_FILE", policy);
		return -ENOKEY;
	}
	chain = calloc(1, sizeof(*chain));
	ark = calloc(1, sizeof(*ark));
	if (!chain || !ark) {
		ret = -ENOMEM;
		goto out;
	}
	/* The ARK we trust: the model's root, or --sev-ark on hardware. */
	if (src.fw->model) {
		*ark = src.fw->model->root.ark_cert;
	} else if (sev_mig_options.ark) {
		u8 *buf;
		size_t len;

		ret = sev_mig__read_file(sev_mig_options.ark, SEV_AMD_CERT_MAX_SIZE, &buf, &len);
		if (ret) {
			snprintf(why, n, "cannot use --sev-ark %s: %s", sev_mig_options.ark,
				 sev_mig__file_error(ret));
			goto out;
		}
		ret = sev_amd_cert__parse(buf, len, ark, NULL) ? -EINVAL : 0;
		free(buf);
		if (ret) {
			snprintf(why, n, "cannot use --sev-ark %s: not an AMD ARK certificate",
				 sev_mig_options.ark);
			goto out;
		}
	} else {
		free(ark);
		ark = NULL;	/* the firmware pins AMD's ARK itself */
	}
	ret = sev_chain__validate(p->pdh, SEV_CERT_SIZE, p->chain, SEV_CHAIN_SIZE, p->amd,
				  p->amd_len, flags, ark, chain);
	if (ret) {
		snprintf(why, n, "the destination's certificate chain fails the check guest policy "
			 "0x%x demands (%s): not a platform this guest may move to", policy,
			 sev_ret__str(ret));
		ret = -EACCES;
		goto out;
	}
	if ((flags & SEV_CHAIN_DOMAIN) &&
	    memcmp(&chain->oca, own_chain + SEV_CERT_SIZE, SEV_CERT_SIZE)) {
		snprintf(why, n, "guest policy 0x%x (DOMAIN bit): the destination is owned by "
			 "another OCA", policy);
		ret = -EACCES;
		goto out;
	}
	if ((flags & SEV_CHAIN_SEV) &&
	    (chain->pek.api_major < SEV_POLICY_API_MAJOR(policy) ||
	     (chain->pek.api_major == SEV_POLICY_API_MAJOR(policy) &&
	      chain->pek.api_minor < SEV_POLICY_API_MINOR(policy)))) {
		snprintf(why, n, "guest policy 0x%x needs firmware API %u.%u, the destination has "
			 "%u.%u", policy, SEV_POLICY_API_MAJOR(policy), SEV_POLICY_API_MINOR(policy),
			 chain->pek.api_major, chain->pek.api_minor);
		ret = -EACCES;
	}
out:
	free(chain);
	free(ark);
	return ret;
}

static const char *send_start_hint(u32 error, u32 policy)
{
	if (error == SEV_RET_POLICY_FAILURE && (policy & SEV_POLICY_NOSEND))
		return " (guest policy has NOSEND: this guest may never leave its platform)";
	if (error == SEV_RET_POLICY_FAILURE)
		return " (the destination does not meet the guest policy)";
	if (error == SEV_RET_INVALID_CERTIFICATE || error == SEV_RET_BAD_SIGNATURE)
		return " (the destination's certificates)";
	if (error == SEV_RET_INVALID_GUEST_STATE)
		return " (the guest is not RUNNING)";
	return "";
}

int sev_mig__src_handshake(struct kvm *kvm, struct mig_chan *ctrl, char *why, size_t n)
{
	struct sev_guest *sg = kvm->sev;
	struct sev_user_data_pdh_cert_export ex;
	struct kvm_sev_send_start ss;
	struct kvm_sev_send_update_data q;
	struct sev_mig_platform plat;
	struct mig_buf b = { 0 };
	u8 *buf = NULL, *own = NULL, *session = NULL, dummy_amd[64] = { 0 };
	size_t len;
	char fwerr[96];
	u32 error;
	int ret;

	if (!is_sev(kvm))
		return 0;
	buf = malloc(SEV_MIG_PLATFORM_MAX);
	own = malloc(SEV_CERT_SIZE + SEV_CHAIN_SIZE);
	if (!buf || !own) {
		ret = -ENOMEM;
		goto out;
	}
	ret = sev_mig__recv_rec(ctrl, MIG_REC_SEV_PLATFORM, buf, SEV_MIG_PLATFORM_MAX, &len,
				why, n);
	if (ret)
		goto out;
	ret = sev_mig_platform__decode(buf, len, &plat);
	if (ret) {
		snprintf(why, n, "malformed SEV_PLATFORM record from the destination");
		goto out;
	}

	/* Our own PDH and chain: the destination's RECEIVE_START needs our PDH. */
	ex = (struct sev_user_data_pdh_cert_export){
		.pdh_cert_address = (u64)(unsigned long)own, .pdh_cert_len = SEV_CERT_SIZE,
		.cert_chain_address = (u64)(unsigned long)(own + SEV_CERT_SIZE),
		.cert_chain_len = SEV_CHAIN_SIZE,
	};
	ret = sev_fw__platform(src.fw, SEV_PDH_CERT_EXPORT, &ex, &error);
	if (ret) {
		snprintf(why, n, "PDH_CERT_EXPORT failed: %s",
			 sev_fw__strerror(ret, error, fwerr, sizeof(fwerr)));
		goto out;
	}
	ret = check_chain(&plat, sg->policy, own + SEV_CERT_SIZE, why, n);
	if (ret)
		goto out;

	/* Length query first (sev-facts 1.4): EIO + INVALID_LEN with the length. */
	memset(&ss, 0, sizeof(ss));
	ret = sev_fw__guest(src.fw, KVM_SEV_SEND_START, &ss, &error);
	if (ret != -EIO || error != SEV_RET_INVALID_LEN || ss.session_len != SEV_SESSION_SIZE) {
		snprintf(why, n, "SEND_START length query: %s, session length %u%s",
			 ret ? sev_fw__strerror(ret, error, fwerr, sizeof(fwerr)) : "no error",
			 ss.session_len, send_start_hint(error, sg->policy));
		ret = ret ? ret : -EPROTO;
		goto out;
	}
	session = calloc(1, ss.session_len);
	if (!session) {
		ret = -ENOMEM;
		goto out;
	}
	ss = (struct kvm_sev_send_start){
		.pdh_cert_uaddr = (u64)(unsigned long)plat.pdh, .pdh_cert_len = SEV_CERT_SIZE,
		.plat_certs_uaddr = (u64)(unsigned long)plat.chain, .plat_certs_len = SEV_CHAIN_SIZE,
		/* KVM wants all three blobs even when the policy checks none. */
		.amd_certs_uaddr = (u64)(unsigned long)(plat.amd_len ? plat.amd : dummy_amd),
		.amd_certs_len = plat.amd_len ? plat.amd_len : sizeof(dummy_amd),
		.session_uaddr = (u64)(unsigned long)session, .session_len = SEV_SESSION_SIZE,
	};
	ret = sev_fw__guest(src.fw, KVM_SEV_SEND_START, &ss, &error);
	if (ret) {
		snprintf(why, n, "SEND_START refused: %s%s",
			 sev_fw__strerror(ret, error, fwerr, sizeof(fwerr)),
			 send_start_hint(error, sg->policy));
		goto out;
	}
	src.started = true;

	/* The packet header length, queried once (52 on every known firmware). */
	memset(&q, 0, sizeof(q));
	ret = sev_fw__guest(src.fw, KVM_SEV_SEND_UPDATE_DATA, &q, &error);
	if (ret != -EIO || error != SEV_RET_INVALID_LEN || q.hdr_len < MIG_ENC_HDR_MIN ||
	    q.hdr_len > MIG_ENC_HDR_MAX) {
		snprintf(why, n, "SEND_UPDATE_DATA length query gave header length %u", q.hdr_len);
		ret = ret ? ret : -EPROTO;
		goto out;
	}
	src.pages = (struct sev_mig_pages){ .pm = kvm->page_map, .hdr_len = q.hdr_len,
					    .seal = seal };

	ret = sev_mig_start__encode(&(struct sev_mig_start){ .policy = ss.policy, .pdh = own,
							     .session = session }, &b);
	if (!ret)
		ret = mig_chan__send_rec(ctrl, MIG_REC_SEV_START, 0, 0, b.data, b.len);
	if (ret) {
		snprintf(why, n, "sending SEV_START failed: %s", mig_strerror(ret));
		goto out;
	}
	ret = sev_mig__recv_rec(ctrl, MIG_REC_SEV_STARTED, NULL, 0, &len, why, n);
	if (ret)
		goto out;
	pr_info("SEV: SEND_START done (policy 0x%x, %s firmware); the destination accepted "
		"the session", ss.policy, src.fw->ops->name);
out:
	mig_buf__free(&b);
	if (session)
		memset(session, 0, SEV_SESSION_SIZE);
	free(session);
	free(own);
	free(buf);
	return ret;
}

static int guest_state(void)
{
	struct kvm_sev_guest_status st = { 0 };
	u32 error;

	if (sev_fw__guest(src.fw, KVM_SEV_GUEST_STATUS, &st, &error))
		return -1;
	return st.state;
}

int sev_mig__src_commit(struct kvm *kvm)
{
	char buf[96];
	u32 error;
	int ret, st;

	if (!is_sev(kvm) || !src.started)
		return 0;
	ret = sev_fw__guest(src.fw, KVM_SEV_SEND_FINISH, NULL, &error);
	src.started = false;
	/* Whatever the firmware said: the guest lives on the destination now. */
	kvm__refuse_run(kvm, "SEV: the guest was migrated away (SEND_FINISH); it can never "
			"run here again");
	if (ret) {
		pr_err("SEV: SEND_FINISH failed: %s", sev_fw__strerror(ret, error, buf, sizeof(buf)));
		return ret;
	}
	st = guest_state();
	pr_info("SEV: SEND_FINISH: source guest state %s; it can never run here again",
		sev_fw__gstate_name(st));
	return st == SEV_GSTATE_SENT ? 0 : -EPROTO;
}

void sev_mig__src_cancel(struct kvm *kvm)
{
	char buf[96];
	u32 error;
	int ret;

	if (!is_sev(kvm) || !src.started)
		return;
	ret = sev_fw__guest(src.fw, KVM_SEV_SEND_CANCEL, NULL, &error);
	src.started = false;
	if (ret)
		pr_err("SEV: SEND_CANCEL failed: %s", sev_fw__strerror(ret, error, buf, sizeof(buf)));
	else
		pr_info("SEV: SEND_CANCEL: guest state %s, it runs on here",
			sev_fw__gstate_name(guest_state()));
}
