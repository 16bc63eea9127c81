/*
 * SEV live migration, the destination (docs/sev-migration.md):
 *
 *   prepare    announce SEV_PAGES, install the ENCRYPTED page receiver
 *   handshake  PDH_CERT_EXPORT -> SEV_PLATFORM (plus the AMD chain: the
 *              model's root, or --sev-amd-chain on hardware); SEV_START in;
 *              RECEIVE_START with the source's PDH, session and policy;
 *              SEV_STARTED with the result
 *   pages      RECEIVE_UPDATE_DATA straight into the guest page; a MAC
 *              failure (BAD_MEASUREMENT) fails the whole stream
 *   finish     once the page map is installed (section load): every page's
 *              latest copy came the way the map says, then RECEIVE_FINISH
 *              before the first instruction
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lkvm/kvm.h"
#include "lkvm/page-map.h"
#include "lkvm/sev.h"
#include "lkvm/sev-migration.h"
#include "lkvm/sev-model.h"

#define BITS_PER_LONG	(8 * sizeof(long))

static bool is_sev(struct kvm *kvm)
{
	return kvm->cfg.sev_mode != SEV_MODE_NONE && kvm->sev && kvm->sev->fw;
}


/* One ENCRYPTED entry (its crc already checked): RECEIVE_UPDATE_DATA into place. */
static int recv_encrypted(struct mig_incoming *in, u64 page, const u8 *data, u32 len)
{
	struct kvm_sev_receive_update_data r;
	const u8 *hdr, *trans;
	u8 *host = mig_incoming__page_host(in, page);
	char buf[96];
	u32 hdr_len, error;
	int ret;

	if (!host)
		return -ERANGE;
	ret = sev_mig_pkt__decode(data, len, &hdr, &hdr_len, &trans);
	if (ret) {
		mig_incoming__fail(in, ret, "malformed SEV packet for page %llu",
				   (unsigned long long)page);
		return ret;
	}
	r = (struct kvm_sev_receive_update_data){
		.hdr_uaddr = (u64)(unsigned long)hdr, .hdr_len = hdr_len,
		.guest_uaddr = (u64)(unsigned long)host, .guest_len = PAGE_SIZE,
		.trans_uaddr = (u64)(unsigned long)trans, .trans_len = PAGE_SIZE,
	};
	ret = sev_fw__guest(in->kvm->sev->fw, KVM_SEV_RECEIVE_UPDATE_DATA, &r, &error);
	if (ret) {
		mig_incoming__fail(in, -EBADMSG, "RECEIVE_UPDATE_DATA refused page %llu: %s%s",
				   (unsigned long long)page,
				   sev_fw__strerror(ret, error, buf, sizeof(buf)),
				   error == SEV_RET_BAD_MEASUREMENT ?
				   " (packet MAC mismatch: tampered or corrupted in flight)" : "");
		return -EBADMSG;
	}
	return 0;
}

int sev_mig__dst_prepare(struct kvm *kvm, struct mig_incoming *in)
{
	if (!is_sev(kvm))
		return 0;
	if (!kvm->page_map) {
		pr_err("SEV: incoming migration needs the page map");
		return -EOPNOTSUPP;
	}
	in->local.features |= MIG_F_SEV_PAGES;
	in->recv_encrypted = recv_encrypted;
	in->encrypted = calloc(DIV_ROUND_UP(in->nr_pages, BITS_PER_LONG) + 1, sizeof(long));
	return in->encrypted ? 0 : -ENOMEM;
}

static int send_status(struct mig_chan *c, int err, const char *reason)
{
	struct mig_buf b = { 0 };
	int ret;

	mig_status__encode(err < 0 ? -err : err, 0, reason, &b);
	ret = b.err ? b.err : mig_chan__send_rec(c, MIG_REC_SEV_STARTED, 0, 0, b.data, b.len);
	mig_buf__free(&b);
	return ret;
}

/* Our PDH + chain (+ the AMD chain where we have one) as SEV_PLATFORM. */
static int send_platform(struct kvm *kvm, struct mig_incoming *in, struct mig_chan *ctrl)
{
	struct sev_fw *fw = kvm->sev->fw;
	struct sev_user_data_pdh_cert_export ex;
	struct sev_mig_platform p = { 0 };
	struct sev_mig_fault fault;
	struct mig_buf b = { 0 };
	u8 *own, *amd = NULL, *file = NULL;
	size_t amd_len = 0, len;
	char buf[96];
	u32 error;
	int ret;

	own = malloc(SEV_CERT_SIZE + SEV_CHAIN_SIZE);
	if (!own)
		return -ENOMEM;
	ex = (struct sev_user_data_pdh_cert_export){
		.pdh_cert_address = (u64)(unsigned long)own, .pdh_cert_len = SEV_CERT_SIZE,
		.cert_chain_address = (u64)(unsigned long)(own + SEV_CERT_SIZE),
		.cert_chain_len = SEV_CHAIN_SIZE,
	};
	ret = sev_fw__platform(fw, SEV_PDH_CERT_EXPORT, &ex, &error);
	if (ret) {
		mig_incoming__fail(in, ret, "SEV: PDH_CERT_EXPORT failed: %s",
				   sev_fw__strerror(ret, error, buf, sizeof(buf)));
		goto out;
	}
	p.pdh = own;
	p.chain = own + SEV_CERT_SIZE;
	if (fw->model) {
		amd_len = SEV_MIG_AMD_MAX;
		amd = malloc(amd_len);
		if (!amd || sev_amd_root__write_chain(&fw->model->root, amd, &amd_len)) {
			ret = -ENOMEM;
			goto out;
		}
	} else if (sev_mig_options.amd_chain) {
		ret = sev_mig__read_file(sev_mig_options.amd_chain, SEV_MIG_AMD_MAX, &amd, &amd_len);
		if (ret) {
			mig_incoming__fail(in, ret, "SEV: cannot read --sev-amd-chain %s: %s",
					   sev_mig_options.amd_chain, sev_mig__file_error(ret));
			goto out;
		}
	}
	p.amd = amd;
	p.amd_len = amd_len;
	sev_mig__fault_from_env(&fault);
	if (fault.pdh_file) {
		/* Test hook: advertise another platform's PDH. */
		ret = sev_mig__read_file(fault.pdh_file, SEV_CERT_SIZE, &file, &len);
		if (ret || len != SEV_CERT_SIZE) {
			mig_incoming__fail(in, -EINVAL, "SEV: test hook PDH %s unusable",
					   fault.pdh_file);
			ret = -EINVAL;
			goto out;
		}
		pr_warn("SEV: test hook: advertising the PDH in %s", fault.pdh_file);
		p.pdh = file;
	}
	ret = sev_mig_platform__encode(&p, &b);
	if (!ret)
		ret = mig_chan__send_rec(ctrl, MIG_REC_SEV_PLATFORM, 0, 0, b.data, b.len);
out:
	mig_buf__free(&b);
	free(file);
	free(amd);
	free(own);
	return ret;
}

int sev_mig__dst_handshake(struct kvm *kvm, struct mig_incoming *in, struct mig_chan *ctrl)
{
	struct sev_guest *sg = kvm->sev;
	struct kvm_sev_receive_start rs;
	struct sev_mig_start s;
	u8 buf[SEV_MIG_START_SIZE];
	char why[MIG_REASON_SIZE] = "", fwerr[96];
	size_t len;
	u32 error;
	int ret;

	if (!is_sev(kvm))
		return 0;
	ret = send_platform(kvm, in, ctrl);
	if (ret)
		return ret;
	ret = sev_mig__recv_rec(ctrl, MIG_REC_SEV_START, buf, sizeof(buf), &len, why, sizeof(why));
	if (ret) {
		mig_incoming__fail(in, ret, "SEV handshake: %s", why);
		return ret;
	}
	ret = sev_mig_start__decode(buf, len, &s);
	if (ret) {
		mig_incoming__fail(in, ret, "SEV handshake: malformed SEV_START record");
		send_status(ctrl, ret, in->reason);
		return ret;
	}
	/* The firmware reads these buffers; they are ours (buf), not the peer's memory. */
	rs = (struct kvm_sev_receive_start){
		.handle = 0, .policy = s.policy,
		.pdh_uaddr = (u64)(unsigned long)s.pdh, .pdh_len = SEV_CERT_SIZE,
		.session_uaddr = (u64)(unsigned long)s.session, .session_len = SEV_SESSION_SIZE,
	};
	ret = sev_fw__guest(sg->fw, KVM_SEV_RECEIVE_START, &rs, &error);
	if (ret) {
		mig_incoming__fail(in, ret, "RECEIVE_START refused by this platform: %s%s",
				   sev_fw__strerror(ret, error, fwerr, sizeof(fwerr)),
				   error == SEV_RET_BAD_MEASUREMENT ?
				   " (the session was not made for this platform's PDH)" :
				   error == SEV_RET_POLICY_FAILURE ? " (guest policy)" : "");
		send_status(ctrl, -EACCES, in->reason);
		return ret;
	}
	sg->handle = rs.handle;
	sg->policy = s.policy;
	pr_info("SEV: RECEIVE_START done (policy 0x%x, handle %u, %s firmware)", s.policy,
		rs.handle, sg->fw->ops->name);
	ret = send_status(ctrl, 0, "");
	if (ret)
		mig_incoming__fail(in, ret, "SEV handshake: %s", mig_strerror(ret));
	return ret;
}

int sev_mig__dst_finish(struct kvm *kvm, struct mig_incoming *in)
{
	struct kvm_sev_guest_status st = { 0 };
	char buf[96];
	u64 p, shared = 0;
	u32 error;
	int ret;

	if (!is_sev(kvm))
		return 0;
	/* The installed map must agree with how each page's latest copy came. */
	for (p = 0; p < in->nr_pages; p++) {
		bool enc = atomic_load_explicit(&in->encrypted[p / BITS_PER_LONG],
						memory_order_relaxed) & (1UL << (p % BITS_PER_LONG));
		bool sh = page_map__is_shared(kvm->page_map, p);

		shared += sh;
		if (enc == sh) {
			mig_incoming__fail(in, -EPROTO, "page %llu came %s but the page map says %s",
					   (unsigned long long)p, enc ? "encrypted" : "in plain text",
					   sh ? "shared" : "private");
			return -EPROTO;
		}
	}
	ret = sev_fw__guest(kvm->sev->fw, KVM_SEV_RECEIVE_FINISH, NULL, &error);
	if (!ret)
		ret = sev_fw__guest(kvm->sev->fw, KVM_SEV_GUEST_STATUS, &st, &error);
	if (ret || st.state != SEV_GSTATE_RUNNING) {
		mig_incoming__fail(in, ret ? ret : -EPROTO, "RECEIVE_FINISH failed: %s (state %s)",
				   ret ? sev_fw__strerror(ret, error, buf, sizeof(buf)) : "no error",
				   sev_fw__gstate_name(ret ? -1 : (int)st.state));
		return ret ? ret : -EPROTO;
	}
	kvm->sev->launched = true;
	pr_info("SEV: RECEIVE_FINISH: guest state %s; %llu private pages through the firmware, "
		"%llu shared pages in plain text", sev_fw__gstate_name(st.state),
		(unsigned long long)(in->nr_pages - shared), (unsigned long long)shared);
	return 0;
}
