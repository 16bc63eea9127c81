/*
 * The software SEV firmware model: guest commands.
 *
 * Each command is handled in two layers, in the order the real stack
 * applies them, so errors come back the way they would on hardware:
 *   1. what KVM's svm/sev.c checks before calling the PSP (argument
 *      presence, blob sizes, the one-page rule for SEND/RECEIVE, length
 *      queries) -> a negative errno with ->error left 0;
 *   2. what the firmware checks (platform state, handle, lengths, guest
 *      state, policy, certificates, MACs) -> -EIO with the firmware status.
 * Firmware order follows sev-facts 2.7 (e.g. SEND_START checks the
 * session length before the guest state, SEND_UPDATE_DATA the header
 * length before the handle).
 *
 * User pointers are host addresses; guest memory (guest_uaddr, and the
 * LAUNCH_UPDATE_DATA range) must lie in a range registered with
 * KVM_MEMORY_ENCRYPT_REG_REGION, which stands in for KVM's page pinning.
 * Guest memory is never encrypted: LAUNCH_UPDATE_DATA only measures it,
 * DBG_* copy it, RECEIVE_UPDATE_DATA writes the decrypted plaintext.
 *
 * Model choices where real firmware/KVM would do something we cannot or
 * need not imitate (documented in docs/sev.md):
 *   - one guest context per VM: LAUNCH_START/RECEIVE_START on a VM whose
 *     guest is alive returns INVALID_GUEST_STATE;
 *   - DBG_* is refused with INVALID_GUEST_STATE for a SENT guest;
 *   - the ES policy bit is refused (POLICY_FAILURE): no SEV-ES here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lkvm/sev-model.h"

#define FAIL(code)	sev_model__fail(&cmd->error, (code))

static void *uptr(u64 addr)
{
	return (void *)(unsigned long)addr;
}

void sev_model__guest_free(struct sev_model_guest *g)
{
	sev_tks__wipe(&g->tks);
	if (g->digest_live)
		sev_digest__free(&g->digest);
	memset(g, 0, sizeof(*g));
}

static void close_channel(struct sev_model_guest *g)
{
	sev_tks__wipe(&g->tks);
	g->have_tks = false;
}

/* psp_copy_user_blob(): present, non-empty and at most 16 KiB. */
static bool blob_ok(u64 addr, u32 len)
{
	return addr && len && len <= SEV_FW_BLOB_MAX;
}

static struct sev_model_guest *lookup(struct sev_model *m, u32 handle)
{
	if (!handle || handle > SEV_FW_MAX_GUESTS || !m->guests[handle].used)
		return NULL;
	return &m->guests[handle];
}

/* Common prologue of commands on an existing guest: WORKING + handle. */
static int fw_guest(struct sev_fw *fw, struct kvm_sev_cmd *cmd, struct sev_model_guest **gp)
{
	struct sev_model *m = fw->model;

	if (m->pstate != SEV_PSTATE_WORKING)
		return FAIL(SEV_RET_INVALID_PLATFORM_STATE);
	*gp = lookup(m, fw->handle);
	if (!*gp)
		return FAIL(SEV_RET_INVALID_GUEST);
	return 0;
}

/* Guest policy as LAUNCH_START / RECEIVE_START check it (sev-facts 2.3). */
static int check_policy(struct sev_model *m, struct kvm_sev_cmd *cmd, u32 handle, u32 policy)
{
	u32 major = SEV_POLICY_API_MAJOR(policy), minor = SEV_POLICY_API_MINOR(policy);
	struct sev_model_guest *other;

	if (policy & SEV_POLICY_RESERVED)
		return FAIL(SEV_RET_POLICY_FAILURE);
	if (policy & SEV_POLICY_ES)
		return FAIL(SEV_RET_POLICY_FAILURE);
	if (major > SEV_MODEL_API_MAJOR ||
	    (major == SEV_MODEL_API_MAJOR && minor > SEV_MODEL_API_MINOR))
		return FAIL(SEV_RET_POLICY_FAILURE);
	if (handle) {
		/* Key sharing with an existing guest. */
		other = lookup(m, handle);
		if (!other)
			return FAIL(SEV_RET_INVALID_GUEST);
		if ((other->policy & SEV_POLICY_NOKS) || other->policy != policy)
			return FAIL(SEV_RET_POLICY_FAILURE);
	}
	return 0;
}

static int new_guest(struct sev_model *m, struct kvm_sev_cmd *cmd, u32 policy, u8 state,
		     struct sev_model_guest **gp)
{
	u32 h;

	for (h = 1; h <= SEV_FW_MAX_GUESTS; h++)
		if (!m->guests[h].used)
			break;
	if (h > SEV_FW_MAX_GUESTS)
		return FAIL(SEV_RET_RESOURCE_LIMIT);
	memset(&m->guests[h], 0, sizeof(m->guests[h]));
	m->guests[h].used = true;
	m->guests[h].handle = h;
	m->guests[h].policy = policy;
	m->guests[h].state = state;
	m->guests[h].active = true;	/* KVM ACTIVATEs right after */
	m->guest_count++;
	m->pstate = SEV_PSTATE_WORKING;
	*gp = &m->guests[h];
	return 0;
}

/* The VM already has a live guest context: the model binds one per VM. */
static bool vm_bound(struct sev_fw *fw)
{
	return lookup(fw->model, fw->handle) != NULL;
}

/* ---------------------------------------------------------------- */

static int launch_start(struct sev_fw *fw, struct kvm_sev_cmd *cmd, void *data)
{
	struct kvm_sev_launch_start *p = data;
	struct sev_model *m = fw->model;
	struct sev_model_guest *g;
	struct sev_tks tks;
	int ret;

	if ((p->dh_uaddr && !blob_ok(p->dh_uaddr, p->dh_len)) ||
	    (p->session_uaddr && !blob_ok(p->session_uaddr, p->session_len)))
		return -EINVAL;
	if (vm_bound(fw))
		return FAIL(SEV_RET_INVALID_GUEST_STATE);

	if (m->pstate == SEV_PSTATE_UNINIT)
		return FAIL(SEV_RET_INVALID_PLATFORM_STATE);
	ret = check_policy(m, cmd, p->handle, p->policy);
	if (ret)
		return ret;
	if (p->dh_uaddr) {
		ret = sev_session__open(m->keys.pdh, uptr(p->dh_uaddr), p->dh_len,
					p->session_uaddr ? uptr(p->session_uaddr) : NULL,
					p->session_uaddr ? p->session_len : 0, p->policy, &tks);
		if (ret)
			return FAIL(ret > 0 ? (u32)ret : SEV_RET_HWSEV_RET_PLATFORM);
	} else {
		/* No owner channel: keys nobody else knows. */
		if (sev_random(&tks, sizeof(tks)))
			return FAIL(SEV_RET_HWSEV_RET_PLATFORM);
	}
	ret = new_guest(m, cmd, p->policy, SEV_GSTATE_LUPDATE, &g);
	if (ret) {
		sev_tks__wipe(&tks);
		return ret;
	}
	g->tks = tks;
	g->have_tks = true;
	sev_tks__wipe(&tks);
	if (sev_digest__init(&g->digest)) {
		sev_model__guest_free(g);
		m->guest_count--;
		return FAIL(SEV_RET_HWSEV_RET_PLATFORM);
	}
	g->digest_live = true;
	p->handle = g->handle;
	fw->handle = g->handle;
	fw->active = true;
	return 0;
}

static int launch_update_data(struct sev_fw *fw, struct kvm_sev_cmd *cmd, void *data)
{
	struct kvm_sev_launch_update_data *p = data;
	struct sev_model_guest *g;
	int ret;

	if (!p->uaddr || !p->len)
		return -EINVAL;
	if (!sev_model__in_region(fw, p->uaddr, p->len))
		return -EFAULT;		/* KVM could not pin it */
	ret = fw_guest(fw, cmd, &g);
	if (ret)
		return ret;
	if (g->state != SEV_GSTATE_LUPDATE)
		return FAIL(SEV_RET_INVALID_GUEST_STATE);
	if (!IS_ALIGNED(p->uaddr, 16))
		return FAIL(SEV_RET_INVALID_ADDRESS);
	if (!IS_ALIGNED(p->len, 16))
		return FAIL(SEV_RET_INVALID_LEN);
	/* Measured, then "encrypted in place": the model leaves it plaintext. */
	if (sev_digest__update(&g->digest, uptr(p->uaddr), p->len))
		return FAIL(SEV_RET_HWSEV_RET_PLATFORM);
	return 0;
}

static int launch_measure(struct sev_fw *fw, struct kvm_sev_cmd *cmd, void *data)
{
	struct kvm_sev_launch_measure *p = data;
	struct sev_model_guest *g;
	struct sev_measure_blob blob;
	u8 digest[SEV_DIGEST_SIZE];
	int ret;

	if (p->len && (!p->uaddr || p->len > SEV_FW_BLOB_MAX))
		return -EINVAL;
	ret = fw_guest(fw, cmd, &g);
	if (ret)
		return ret;
	if (!p->len || p->len < SEV_MEASURE_BLOB_SIZE) {
		p->len = SEV_MEASURE_BLOB_SIZE;	/* length query */
		return FAIL(SEV_RET_INVALID_LEN);
	}
	if (g->state != SEV_GSTATE_LUPDATE)
		return FAIL(SEV_RET_INVALID_GUEST_STATE);
	if (sev_digest__final(&g->digest, digest) ||
	    sev_random(blob.mnonce, sizeof(blob.mnonce)) ||
	    sev_measure__compute(g->tks.tik, SEV_MODEL_API_MAJOR, SEV_MODEL_API_MINOR,
				 SEV_MODEL_BUILD, g->policy, digest, blob.mnonce, blob.measure))
		return FAIL(SEV_RET_HWSEV_RET_PLATFORM);
	memcpy(g->measure, blob.measure, sizeof(g->measure));
	memcpy(uptr(p->uaddr), &blob, sizeof(blob));
	p->len = SEV_MEASURE_BLOB_SIZE;
	sev_digest__free(&g->digest);
	g->digest_live = false;
	g->state = SEV_GSTATE_LSECRET;
	return 0;
}

/* The length/alignment rules shared by LAUNCH_SECRET and RECEIVE_UPDATE_DATA. */
static int packet_lengths(struct kvm_sev_cmd *cmd, u32 guest_len, u32 trans_len, u64 guest)
{
	if (trans_len != guest_len || !guest_len || guest_len > SEV_PKT_MAX_LEN ||
	    !IS_ALIGNED(guest_len, 16))
		return FAIL(SEV_RET_INVALID_LEN);
	if (!IS_ALIGNED(guest, 16))
		return FAIL(SEV_RET_INVALID_ADDRESS);
	return 0;
}

static int launch_secret(struct sev_fw *fw, struct kvm_sev_cmd *cmd, void *data)
{
	struct kvm_sev_launch_secret *p = data;
	struct sev_model_guest *g;
	int ret;

	if (!blob_ok(p->hdr_uaddr, p->hdr_len) || !blob_ok(p->trans_uaddr, p->trans_len) ||
	    !p->guest_uaddr || !p->guest_len)
		return -EINVAL;
	/* KVM needs the pinned secret pages physically contiguous: one page. */
	if ((p->guest_uaddr & (PAGE_SIZE - 1)) + p->guest_len > PAGE_SIZE)
		return -EINVAL;
	if (!sev_model__in_region(fw, p->guest_uaddr, p->guest_len))
		return -EFAULT;
	ret = fw_guest(fw, cmd, &g);
	if (ret)
		return ret;
	if (g->state != SEV_GSTATE_LSECRET)
		return FAIL(SEV_RET_INVALID_GUEST_STATE);
	if (p->hdr_len != SEV_PKT_HDR_SIZE)
		return FAIL(SEV_RET_INVALID_LEN);
	ret = packet_lengths(cmd, p->guest_len, p->trans_len, p->guest_uaddr);
	if (ret)
		return ret;
	ret = sev_packet__open(&g->tks, SEV_CTX_SECRET,
			       SEV_MODEL_API_MAJOR > 0 || SEV_MODEL_API_MINOR >= 17 ? g->measure : NULL,
			       uptr(p->hdr_uaddr), p->hdr_len, uptr(p->trans_uaddr), p->trans_len,
			       uptr(p->guest_uaddr));
	if (ret)
		return FAIL(ret > 0 ? (u32)ret : SEV_RET_HWSEV_RET_PLATFORM);
	return 0;
}

static int guest_status(struct sev_fw *fw, struct kvm_sev_cmd *cmd, void *data)
{
	struct kvm_sev_guest_status *p = data;
	struct sev_model_guest *g = lookup(fw->model, fw->handle);

	/* An unknown handle is not an error: state 0. */
	p->handle = fw->handle;
	p->policy = g ? g->policy : 0;
	p->state = g ? g->state : SEV_GSTATE_UNINIT;
	return 0;
}

static int dbg(struct sev_fw *fw, struct kvm_sev_cmd *cmd, struct kvm_sev_dbg *p, bool enc)
{
	struct sev_model_guest *g;
	int ret;

	if (!p->len || !p->src_uaddr || !p->dst_uaddr ||
	    p->src_uaddr + p->len < p->src_uaddr || p->dst_uaddr + p->len < p->dst_uaddr)
		return -EINVAL;
	if (!sev_model__in_region(fw, enc ? p->dst_uaddr : p->src_uaddr, p->len))
		return -EFAULT;
	ret = fw_guest(fw, cmd, &g);
	if (ret)
		return ret;
	if (g->state == SEV_GSTATE_SENT)
		return FAIL(SEV_RET_INVALID_GUEST_STATE);
	if (g->policy & SEV_POLICY_NODBG)
		return FAIL(SEV_RET_POLICY_FAILURE);
	/* KVM bounces unaligned ranges through 16-byte blocks; plain copy here. */
	memmove(uptr(p->dst_uaddr), uptr(p->src_uaddr), p->len);
	return 0;
}

static int dbg_decrypt(struct sev_fw *fw, struct kvm_sev_cmd *cmd, void *data)
{
	return dbg(fw, cmd, data, false);
}

static int dbg_encrypt(struct sev_fw *fw, struct kvm_sev_cmd *cmd, void *data)
{
	return dbg(fw, cmd, data, true);
}

static int send_start(struct sev_fw *fw, struct kvm_sev_cmd *cmd, void *data)
{
	struct kvm_sev_send_start *p = data;
	struct sev_model *m = fw->model;
	struct sev_model_guest *g;
	struct sev_session session;
	struct sev_chain *chain = NULL;
	unsigned int flags;
	int ret;

	if (p->session_len == 0) {
		/* KVM's length query: the firmware sees a zeroed buffer. */
		ret = fw_guest(fw, cmd, &g);
		if (ret)
			return ret;
		p->session_len = SEV_SESSION_SIZE;
		return FAIL(SEV_RET_INVALID_LEN);
	}
	if (!p->pdh_cert_uaddr || !p->pdh_cert_len || !p->session_uaddr ||
	    p->session_len > SEV_FW_BLOB_MAX)
		return -EINVAL;
	if (!blob_ok(p->pdh_cert_uaddr, p->pdh_cert_len) ||
	    !blob_ok(p->plat_certs_uaddr, p->plat_certs_len) ||
	    !blob_ok(p->amd_certs_uaddr, p->amd_certs_len))
		return -EINVAL;

	ret = fw_guest(fw, cmd, &g);
	if (ret)
		return ret;
	if (p->session_len != SEV_SESSION_SIZE) {
		p->session_len = SEV_SESSION_SIZE;
		return FAIL(SEV_RET_INVALID_LEN);
	}
	if (g->state != SEV_GSTATE_RUNNING)
		return FAIL(SEV_RET_INVALID_GUEST_STATE);
	if (g->policy & SEV_POLICY_NOSEND)
		return FAIL(SEV_RET_POLICY_FAILURE);
	if (p->pdh_cert_len != SEV_CERT_SIZE)
		return FAIL(SEV_RET_INVALID_LEN);

	flags = (g->policy & SEV_POLICY_DOMAIN ? SEV_CHAIN_DOMAIN : 0) |
		(g->policy & SEV_POLICY_SEV ? SEV_CHAIN_SEV : 0);
	if (flags) {
		chain = malloc(sizeof(*chain));
		if (!chain)
			return -ENOMEM;
		ret = sev_chain__validate(uptr(p->pdh_cert_uaddr), p->pdh_cert_len,
					  uptr(p->plat_certs_uaddr), p->plat_certs_len,
					  uptr(p->amd_certs_uaddr), p->amd_certs_len, flags,
					  &m->root.ark_cert, chain);
		if (ret) {
			ret = FAIL(ret > 0 ? (u32)ret : SEV_RET_HWSEV_RET_PLATFORM);
			goto out;
		}
		/* DOMAIN: the target must be owned by the same OCA as we are. */
		if ((flags & SEV_CHAIN_DOMAIN) &&
		    memcmp(&chain->oca, &m->keys.oca_cert, sizeof(chain->oca))) {
			ret = FAIL(SEV_RET_INVALID_CERTIFICATE);
			goto out;
		}
		/* SEV: the target firmware must meet the policy's API version. */
		if ((flags & SEV_CHAIN_SEV) &&
		    (chain->pek.api_major < SEV_POLICY_API_MAJOR(g->policy) ||
		     (chain->pek.api_major == SEV_POLICY_API_MAJOR(g->policy) &&
		      chain->pek.api_minor < SEV_POLICY_API_MINOR(g->policy)))) {
			ret = FAIL(SEV_RET_POLICY_FAILURE);
			goto out;
		}
	}
	ret = sev_session__create(m->keys.pdh, uptr(p->pdh_cert_uaddr), p->pdh_cert_len,
				  g->policy, &g->tks, &session);
	if (ret) {
		ret = FAIL(ret > 0 ? (u32)ret : SEV_RET_HWSEV_RET_PLATFORM);
		goto out;
	}
	memcpy(uptr(p->session_uaddr), &session, sizeof(session));
	p->session_len = SEV_SESSION_SIZE;
	p->policy = g->policy;
	g->have_tks = true;
	g->state = SEV_GSTATE_SUPDATE;
	ret = 0;
out:
	free(chain);
	return ret;
}

/* KVM: SEND/RECEIVE_UPDATE_DATA move at most one page that must not cross. */
static bool one_page(u64 guest_uaddr, u32 guest_len)
{
	return guest_len <= PAGE_SIZE && (guest_uaddr & (PAGE_SIZE - 1)) + guest_len <= PAGE_SIZE;
}

static int send_update_data(struct sev_fw *fw, struct kvm_sev_cmd *cmd, void *data)
{
	struct kvm_sev_send_update_data *p = data;
	struct sev_model_guest *g;
	struct sev_pkt_hdr hdr;
	/* A page at most (one_page() below).  Not thread-local: that was 20 KiB
	 * (SEV_PKT_MAX_LEN) in every thread of the VMM, zeroed as it started. */
	u8 trans[PAGE_SIZE];
	int ret;

	if (!p->hdr_len || !p->trans_len) {
		/* Length query: the firmware sees only the handle. */
		if (fw->model->pstate != SEV_PSTATE_WORKING)
			return FAIL(SEV_RET_INVALID_PLATFORM_STATE);
		p->hdr_len = SEV_PKT_HDR_SIZE;
		return FAIL(SEV_RET_INVALID_LEN);
	}
	if (!p->trans_uaddr || !p->guest_uaddr || !p->guest_len || !p->hdr_uaddr ||
	    p->hdr_len > SEV_FW_BLOB_MAX || p->trans_len > SEV_FW_BLOB_MAX)
		return -EINVAL;
	if (!one_page(p->guest_uaddr, p->guest_len))
		return -EINVAL;
	if (!sev_model__in_region(fw, p->guest_uaddr, p->guest_len))
		return -EFAULT;

	if (fw->model->pstate != SEV_PSTATE_WORKING)
		return FAIL(SEV_RET_INVALID_PLATFORM_STATE);
	if (p->hdr_len < SEV_PKT_HDR_SIZE) {
		p->hdr_len = SEV_PKT_HDR_SIZE;
		return FAIL(SEV_RET_INVALID_LEN);
	}
	ret = fw_guest(fw, cmd, &g);
	if (ret)
		return ret;
	if (g->state != SEV_GSTATE_SUPDATE)
		return FAIL(SEV_RET_INVALID_GUEST_STATE);
	if (!g->active)
		return FAIL(SEV_RET_INACTIVE);
	if (!p->guest_len || p->guest_len > SEV_PKT_MAX_LEN || !IS_ALIGNED(p->guest_len, 16) ||
	    p->trans_len < p->guest_len)
		return FAIL(SEV_RET_INVALID_LEN);
	if (!IS_ALIGNED(p->guest_uaddr, 16))
		return FAIL(SEV_RET_INVALID_ADDRESS);
	ret = sev_packet__seal(&g->tks, SEV_CTX_DATA, NULL, NULL, uptr(p->guest_uaddr),
			       p->guest_len, &hdr, trans);
	if (ret)
		return FAIL(ret > 0 ? (u32)ret : SEV_RET_HWSEV_RET_PLATFORM);
	memcpy(uptr(p->hdr_uaddr), &hdr, sizeof(hdr));
	memcpy(uptr(p->trans_uaddr), trans, p->guest_len);
	return 0;
}

/* LAUNCH_FINISH, SEND_FINISH/CANCEL, RECEIVE_FINISH: close the transport channel. */
static int channel_end(struct sev_fw *fw, struct kvm_sev_cmd *cmd, u8 from, u8 to)
{
	struct sev_model_guest *g;
	int ret = fw_guest(fw, cmd, &g);

	if (ret)
		return ret;
	if (g->state != from)
		return FAIL(SEV_RET_INVALID_GUEST_STATE);
	close_channel(g);
	g->state = to;
	return 0;
}

static int receive_start(struct sev_fw *fw, struct kvm_sev_cmd *cmd, void *data)
{
	struct kvm_sev_receive_start *p = data;
	struct sev_model *m = fw->model;
	struct sev_model_guest *g;
	struct sev_tks tks;
	int ret;

	if (!blob_ok(p->pdh_uaddr, p->pdh_len) || !blob_ok(p->session_uaddr, p->session_len))
		return -EINVAL;
	if (vm_bound(fw))
		return FAIL(SEV_RET_INVALID_GUEST_STATE);

	if (m->pstate == SEV_PSTATE_UNINIT)
		return FAIL(SEV_RET_INVALID_PLATFORM_STATE);
	ret = check_policy(m, cmd, p->handle, p->policy);
	if (ret)
		return ret;
	if (p->session_len != SEV_SESSION_SIZE || p->pdh_len != SEV_CERT_SIZE)
		return FAIL(SEV_RET_INVALID_LEN);
	ret = sev_session__open(m->keys.pdh, uptr(p->pdh_uaddr), p->pdh_len,
				uptr(p->session_uaddr), p->session_len, p->policy, &tks);
	if (ret)
		return FAIL(ret > 0 ? (u32)ret : SEV_RET_HWSEV_RET_PLATFORM);
	ret = new_guest(m, cmd, p->policy, SEV_GSTATE_RUPDATE, &g);
	if (ret) {
		sev_tks__wipe(&tks);
		return ret;
	}
	g->tks = tks;
	g->have_tks = true;
	sev_tks__wipe(&tks);
	p->handle = g->handle;
	fw->handle = g->handle;
	fw->active = true;
	return 0;
}

static int receive_update_data(struct sev_fw *fw, struct kvm_sev_cmd *cmd, void *data)
{
	struct kvm_sev_receive_update_data *p = data;
	struct sev_model_guest *g;
	int ret;

	if (!blob_ok(p->hdr_uaddr, p->hdr_len) || !blob_ok(p->trans_uaddr, p->trans_len) ||
	    !p->guest_uaddr || !p->guest_len)
		return -EINVAL;
	if (!one_page(p->guest_uaddr, p->guest_len))
		return -EINVAL;
	if (!sev_model__in_region(fw, p->guest_uaddr, p->guest_len))
		return -EFAULT;

	if (fw->model->pstate != SEV_PSTATE_WORKING)
		return FAIL(SEV_RET_INVALID_PLATFORM_STATE);
	if (p->hdr_len < SEV_PKT_HDR_SIZE)
		return FAIL(SEV_RET_INVALID_LEN);
	ret = fw_guest(fw, cmd, &g);
	if (ret)
		return ret;
	if (g->state != SEV_GSTATE_RUPDATE)
		return FAIL(SEV_RET_INVALID_GUEST_STATE);
	if (!g->active)
		return FAIL(SEV_RET_INACTIVE);
	ret = packet_lengths(cmd, p->guest_len, p->trans_len, p->guest_uaddr);
	if (ret)
		return ret;
	ret = sev_packet__open(&g->tks, SEV_CTX_DATA, NULL, uptr(p->hdr_uaddr), p->hdr_len,
			       uptr(p->trans_uaddr), p->trans_len, uptr(p->guest_uaddr));
	if (ret)
		return FAIL(ret > 0 ? (u32)ret : SEV_RET_HWSEV_RET_PLATFORM);
	return 0;
}

/* SEV-ES only: KVM refuses it for a plain SEV guest before reading data. */
static int no_vmsa(struct sev_fw *fw, struct kvm_sev_cmd *cmd, void *data)
{
	return -ENOTTY;
}

/*
 * The guest commands by KVM_SEV_* id: a handler taking the command's struct,
 * or (no struct) a transport channel closing from one guest state to
 * another.  INIT goes through vm_init; VMSA transport, CERT_EXPORT and
 * attestation reports are not modelled: KVM's -EINVAL for an unknown id.
 */
#define CLOSES(a, b)	{ .from = SEV_GSTATE_##a, .to = SEV_GSTATE_##b }

static const struct guest_op {
	int (*fn)(struct sev_fw *fw, struct kvm_sev_cmd *cmd, void *data);
	bool data;			/* KVM copies a struct in: -EFAULT without one */
	u8 from, to;			/* without fn: channel_end(from, to) */
} guest_ops[] = {
	[KVM_SEV_LAUNCH_START]		= { .fn = launch_start, .data = true },
	[KVM_SEV_LAUNCH_UPDATE_DATA]	= { .fn = launch_update_data, .data = true },
	[KVM_SEV_LAUNCH_UPDATE_VMSA]	= { .fn = no_vmsa },
	[KVM_SEV_LAUNCH_MEASURE]	= { .fn = launch_measure, .data = true },
	[KVM_SEV_LAUNCH_SECRET]		= { .fn = launch_secret, .data = true },
	[KVM_SEV_LAUNCH_FINISH]		= CLOSES(LSECRET, RUNNING),
	[KVM_SEV_GUEST_STATUS]		= { .fn = guest_status, .data = true },
	[KVM_SEV_DBG_DECRYPT]		= { .fn = dbg_decrypt, .data = true },
	[KVM_SEV_DBG_ENCRYPT]		= { .fn = dbg_encrypt, .data = true },
	[KVM_SEV_SEND_START]		= { .fn = send_start, .data = true },
	[KVM_SEV_SEND_UPDATE_DATA]	= { .fn = send_update_data, .data = true },
	[KVM_SEV_SEND_FINISH]		= CLOSES(SUPDATE, SENT),
	[KVM_SEV_SEND_CANCEL]		= CLOSES(SUPDATE, RUNNING),
	[KVM_SEV_RECEIVE_START]		= { .fn = receive_start, .data = true },
	[KVM_SEV_RECEIVE_UPDATE_DATA]	= { .fn = receive_update_data, .data = true },
	[KVM_SEV_RECEIVE_FINISH]	= CLOSES(RUPDATE, RUNNING),
};

int sev_model__guest_cmd(struct sev_fw *fw, struct kvm_sev_cmd *cmd)
{
	struct sev_model *m = fw->model;
	const struct guest_op *op;
	void *data = uptr(cmd->data);
	int ret;

	cmd->error = 0;
	if (!fw->sev_enabled)
		return -ENOTTY;		/* KVM: not an SEV guest */
	if (cmd->id >= ARRAY_SIZE(guest_ops) || (!guest_ops[cmd->id].fn && !guest_ops[cmd->id].to))
		return -EINVAL;
	op = &guest_ops[cmd->id];
	if (op->data && !data)
		return -EFAULT;

	pthread_mutex_lock(&m->lock);
	ret = op->fn ? op->fn(fw, cmd, data) : channel_end(fw, cmd, op->from, op->to);
	pthread_mutex_unlock(&m->lock);
	return ret;
}
