/*
 * The software SEV firmware model, driven exactly as lkvm drives it:
 * through struct sev_fw with the kvm_sev_* / sev_user_data_* structs.
 *
 * Platforms are temporary state directories; two directories are two
 * hosts sharing the built-in test AMD root.  The guest owner's side is
 * played with the sev-crypto primitives directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lkvm/sev-model.h"
#include "test.h"

/* REQUIRE evaluates its condition twice: never give it side effects. */
#define OK(expr) do { int __ok = (expr); REQUIRE(__ok == 0); } while (0)

#define MEM_SIZE	(64 * 1024)

static char tmp_root[64];
static char dir_a[128], dir_b[128];

struct vm {
	struct sev_fw *fw;
	u8 *mem;
};

static int vm_open(struct vm *v, const char *dir)
{
	struct sev_model_paths p = { .state_dir = dir };
	int ret;

	memset(v, 0, sizeof(*v));
	ret = sev_fw__open(&v->fw, SEV_MODE_EMULATED, &p);
	if (ret)
		return ret;
	v->mem = aligned_alloc(PAGE_SIZE, MEM_SIZE);
	if (!v->mem)
		return -ENOMEM;
	memset(v->mem, 0, MEM_SIZE);
	ret = sev_fw__vm_init(v->fw, -1);
	if (!ret)
		ret = sev_fw__reg_region(v->fw, (u64)(unsigned long)v->mem, MEM_SIZE);
	return ret;
}

static void vm_close(struct vm *v)
{
	sev_fw__close(v->fw);
	free(v->mem);
	memset(v, 0, sizeof(*v));
}

static u64 up(const void *p)
{
	return (u64)(unsigned long)p;
}

static int g(struct vm *v, u32 id, void *data, u32 *err)
{
	return sev_fw__guest(v->fw, id, data, err);
}

static u32 gstate(struct vm *v)
{
	struct kvm_sev_guest_status st;
	u32 err;

	if (g(v, KVM_SEV_GUEST_STATUS, &st, &err))
		return 0xff;
	return st.state;
}

/* Export a platform's PDH and PEK||OCA||CEK, and the AMD ASK||ARK. */
struct certs {
	u8 pdh[SEV_CERT_SIZE];
	u8 chain[SEV_CHAIN_SIZE];
	u8 amd[2 * SEV_AMD_CERT_MAX_SIZE];
	size_t amd_len;
};

static int export_certs(struct vm *v, struct certs *c)
{
	struct sev_user_data_pdh_cert_export e = {
		.pdh_cert_address = up(c->pdh), .pdh_cert_len = sizeof(c->pdh),
		.cert_chain_address = up(c->chain), .cert_chain_len = sizeof(c->chain),
	};
	u32 err;
	int ret = sev_fw__platform(v->fw, SEV_PDH_CERT_EXPORT, &e, &err);

	if (ret)
		return ret;
	c->amd_len = sizeof(c->amd);
	return sev_amd_root__write_chain(&v->fw->model->root, c->amd, &c->amd_len);
}

/* The guest owner (or a source platform): a DH key, its cert, a session. */
struct owner {
	EVP_PKEY *key;
	struct sev_cert cert;
	struct sev_tks tks;
	struct sev_session session;
};

static int owner_make(struct owner *o, const u8 *peer_pdh, u32 policy)
{
	int ret;

	memset(o, 0, sizeof(*o));
	o->key = sev_key__gen_ec();
	if (!o->key)
		return -ENOMEM;
	ret = sev_cert__init(&o->cert, SEV_USAGE_PDH, SEV_ALGO_ECDH_SHA256, o->key, 0, 0);
	if (!ret)
		ret = sev_session__create(o->key, peer_pdh, SEV_CERT_SIZE, policy, &o->tks,
					  &o->session);
	return ret;
}

static void owner_free(struct owner *o)
{
	EVP_PKEY_free(o->key);
	o->key = NULL;
}

static int launch_start(struct vm *v, u32 policy, struct owner *o, u32 *err)
{
	struct kvm_sev_launch_start s = { .policy = policy };

	if (o) {
		s.dh_uaddr = up(&o->cert);
		s.dh_len = sizeof(o->cert);
		s.session_uaddr = up(&o->session);
		s.session_len = sizeof(o->session);
	}
	return g(v, KVM_SEV_LAUNCH_START, &s, err);
}

static int update(struct vm *v, u64 off, u32 len, u32 *err)
{
	struct kvm_sev_launch_update_data u = { .uaddr = up(v->mem + off), .len = len };

	return g(v, KVM_SEV_LAUNCH_UPDATE_DATA, &u, err);
}

static int measure(struct vm *v, struct sev_measure_blob *b, u32 *err)
{
	struct kvm_sev_launch_measure m = { .uaddr = up(b), .len = sizeof(*b) };

	return g(v, KVM_SEV_LAUNCH_MEASURE, &m, err);
}

/* Drive a fresh VM to LUPDATE, LSECRET or RUNNING (no owner channel). */
static int launch_to(struct vm *v, u32 policy, u32 state)
{
	struct sev_measure_blob b;
	u32 err;
	int ret;

	ret = launch_start(v, policy, NULL, &err);
	if (ret || state == SEV_GSTATE_LUPDATE)
		return ret;
	ret = update(v, 0, PAGE_SIZE, &err) ?: measure(v, &b, &err);
	if (ret || state == SEV_GSTATE_LSECRET)
		return ret;
	return g(v, KVM_SEV_LAUNCH_FINISH, NULL, &err);
}

static int send_start(struct vm *v, struct certs *target, struct sev_session *s, u32 *err)
{
	struct kvm_sev_send_start p = {
		.pdh_cert_uaddr = up(target->pdh), .pdh_cert_len = SEV_CERT_SIZE,
		.plat_certs_uaddr = up(target->chain), .plat_certs_len = SEV_CHAIN_SIZE,
		.amd_certs_uaddr = up(target->amd), .amd_certs_len = (u32)target->amd_len,
		.session_uaddr = up(s), .session_len = sizeof(*s),
	};

	return g(v, KVM_SEV_SEND_START, &p, err);
}

static int receive_start(struct vm *v, u32 policy, const void *pdh, u32 pdh_len,
			 const void *session, u32 session_len, u32 *err)
{
	struct kvm_sev_receive_start p = {
		.policy = policy, .pdh_uaddr = up(pdh), .pdh_len = pdh_len,
		.session_uaddr = up(session), .session_len = session_len,
	};

	return g(v, KVM_SEV_RECEIVE_START, &p, err);
}

/* ---------------------------------------------------------------- */

static void platform_state_follows_init_and_guests(void)
{
	struct sev_user_data_status st;
	struct vm v;
	u32 err;

	OK(vm_open(&v, dir_a));
	CHECK_EQ(sev_fw__platform(v.fw, SEV_PLATFORM_STATUS, &st, &err), 0);
	CHECK_EQ(st.state, SEV_PSTATE_INIT);	/* KVM_SEV_INIT initialised it */
	CHECK_EQ(st.api_major, SEV_MODEL_API_MAJOR);
	CHECK_EQ(st.api_minor, SEV_MODEL_API_MINOR);
	CHECK_EQ(st.guest_count, 0);
	CHECK_EQ(launch_to(&v, 0, SEV_GSTATE_LUPDATE), 0);
	CHECK_EQ(sev_fw__platform(v.fw, SEV_PLATFORM_STATUS, &st, &err), 0);
	CHECK_EQ(st.state, SEV_PSTATE_WORKING);
	CHECK_EQ(st.guest_count, 1);
	/* PEK_GEN is an INIT-only command. */
	CHECK_EQ(sev_fw__platform(v.fw, SEV_PEK_GEN, NULL, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_PLATFORM_STATE);
	/* FACTORY_RESET is refused by the driver while guests run. */
	CHECK_EQ(sev_fw__platform(v.fw, SEV_FACTORY_RESET, NULL, &err), -EBUSY);
	CHECK_EQ(sev_model__decommission(v.fw, &err), 0);
	CHECK_EQ(sev_fw__platform(v.fw, SEV_PLATFORM_STATUS, &st, &err), 0);
	CHECK_EQ(st.state, SEV_PSTATE_INIT);
	CHECK_EQ(st.guest_count, 0);
	/* Shut down: guest data commands need WORKING. */
	sev_model__shutdown(v.fw->model, &err);
	CHECK_EQ(launch_start(&v, 0, NULL, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_PLATFORM_STATE);
	vm_close(&v);
}

static void state_directory_is_private_and_persistent(void)
{
	u8 pdh1[SEV_CERT_SIZE];
	struct certs c;
	struct stat st;
	char path[256], bad[160];
	struct vm v;
	u32 err;

	OK(vm_open(&v, dir_a));
	OK(export_certs(&v, &c));
	memcpy(pdh1, c.pdh, sizeof(pdh1));
	CHECK_EQ(stat(dir_a, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/pdh.pem", dir_a);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/pdh.cert", dir_a);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	vm_close(&v);

	/* A new process (here: a new open) sees the same identity. */
	OK(vm_open(&v, dir_a));
	OK(export_certs(&v, &c));
	CHECK_MEM(c.pdh, pdh1, sizeof(pdh1));
	/* PDH_GEN makes a new PDH, and it persists. */
	CHECK_EQ(sev_fw__platform(v.fw, SEV_PDH_GEN, NULL, &err), 0);
	OK(export_certs(&v, &c));
	CHECK(memcmp(c.pdh, pdh1, sizeof(pdh1)) != 0);
	memcpy(pdh1, c.pdh, sizeof(pdh1));
	vm_close(&v);
	OK(vm_open(&v, dir_a));
	OK(export_certs(&v, &c));
	CHECK_MEM(c.pdh, pdh1, sizeof(pdh1));
	vm_close(&v);

	/* A directory others can read is refused. */
	snprintf(bad, sizeof(bad), "%s/open", tmp_root);
	CHECK_EQ(mkdir(bad, 0755), 0);
	chmod(bad, 0755);
	CHECK_EQ(vm_open(&v, bad), -EPERM);
}

static void pdh_cert_export_answers_length_queries_and_chains_validate(void)
{
	struct sev_user_data_pdh_cert_export e = { 0 };
	struct sev_chain *chain = malloc(sizeof(*chain));
	u8 small[16];
	struct certs c;
	struct vm v;
	u32 err;

	REQUIRE(chain);
	OK(vm_open(&v, dir_a));
	CHECK_EQ(sev_fw__platform(v.fw, SEV_PDH_CERT_EXPORT, &e, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_LEN);
	CHECK_EQ(e.pdh_cert_len, 0x824);
	CHECK_EQ(e.cert_chain_len, 0x186c);
	e.pdh_cert_address = up(small);
	e.pdh_cert_len = sizeof(small);
	e.cert_chain_address = up(small);
	e.cert_chain_len = sizeof(small);
	CHECK_EQ(sev_fw__platform(v.fw, SEV_PDH_CERT_EXPORT, &e, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_LEN);
	CHECK_EQ(e.pdh_cert_len, 0x824);

	OK(export_certs(&v, &c));
	CHECK_EQ(sev_cert__parse_pdh(c.pdh, sizeof(c.pdh), NULL), 0);
	CHECK_EQ(sev_chain__validate(c.pdh, sizeof(c.pdh), c.chain, sizeof(c.chain), c.amd,
				     c.amd_len, SEV_CHAIN_SEV | SEV_CHAIN_DOMAIN,
				     &v.fw->model->root.ark_cert, chain), 0);
	CHECK_EQ(chain->pek.api_minor, SEV_MODEL_API_MINOR);
	free(chain);
	vm_close(&v);
}

static void get_id2_is_stable_and_answers_length_queries(void)
{
	struct sev_user_data_get_id2 id = { 0 };
	u8 a[64], b[64];
	struct vm v;
	u32 err;

	OK(vm_open(&v, dir_a));
	CHECK_EQ(sev_fw__platform(v.fw, SEV_GET_ID2, &id, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_LEN);
	CHECK_EQ(id.length, 64);
	id.address = up(a);
	CHECK_EQ(sev_fw__platform(v.fw, SEV_GET_ID2, &id, &err), 0);
	id.address = up(b);
	CHECK_EQ(sev_fw__platform(v.fw, SEV_GET_ID2, &id, &err), 0);
	CHECK_MEM(a, b, sizeof(a));
	vm_close(&v);
}

/* The whole attestation flow with the owner's session: measure, secret, run. */
static void launch_with_owner_session_measures_and_injects_a_secret(void)
{
	struct sev_measure_blob blob;
	struct kvm_sev_launch_measure q = { 0 };
	struct kvm_sev_launch_secret ls;
	struct sev_pkt_hdr hdr;
	u8 digest[32], secret[64], trans[64];
	struct certs c;
	struct owner o;
	struct vm v;
	u32 err, policy = SEV_POLICY_NODBG;
	int i;

	OK(vm_open(&v, dir_a));
	OK(export_certs(&v, &c));
	OK(owner_make(&o, c.pdh, policy));
	for (i = 0; i < MEM_SIZE; i++)
		v.mem[i] = (u8)(i * 7 + 3);
	CHECK_EQ(launch_start(&v, policy, &o, &err), 0);
	CHECK_EQ(gstate(&v), SEV_GSTATE_LUPDATE);
	CHECK_EQ(update(&v, 0, 0x1000, &err), 0);
	CHECK_EQ(update(&v, 0x3000, 0x2010, &err), 0);
	/* Measurement length query. */
	CHECK_EQ(g(&v, KVM_SEV_LAUNCH_MEASURE, &q, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_LEN);
	CHECK_EQ(q.len, 48);
	CHECK_EQ(measure(&v, &blob, &err), 0);
	CHECK_EQ(gstate(&v), SEV_GSTATE_LSECRET);

	/* The owner recomputes the digest over the same bytes, in order. */
	{
		static u8 cat[0x1000 + 0x2010];

		memcpy(cat, v.mem, 0x1000);
		memcpy(cat + 0x1000, v.mem + 0x3000, 0x2010);
		SHA256(cat, sizeof(cat), digest);
	}
	CHECK_EQ(sev_measure__verify(o.tks.tik, SEV_MODEL_API_MAJOR, SEV_MODEL_API_MINOR,
				     SEV_MODEL_BUILD, policy, digest, &blob, sizeof(blob)), 0);
	digest[0] ^= 1;
	CHECK_EQ(sev_measure__verify(o.tks.tik, SEV_MODEL_API_MAJOR, SEV_MODEL_API_MINOR,
				     SEV_MODEL_BUILD, policy, digest, &blob, sizeof(blob)),
		 SEV_RET_BAD_MEASUREMENT);

	for (i = 0; i < (int)sizeof(secret); i++)
		secret[i] = (u8)(0xa0 + i);
	OK(sev_packet__seal(&o.tks, SEV_CTX_SECRET, blob.measure, NULL, secret,
			    sizeof(secret), &hdr, trans));
	ls = (struct kvm_sev_launch_secret){
		.hdr_uaddr = up(&hdr), .hdr_len = sizeof(hdr),
		.guest_uaddr = up(v.mem + 0x8000), .guest_len = sizeof(secret),
		.trans_uaddr = up(trans), .trans_len = sizeof(trans),
	};
	/* Wrong header lengths and a flipped ciphertext bit are refused first. */
	ls.hdr_len = 51;
	CHECK_EQ(g(&v, KVM_SEV_LAUNCH_SECRET, &ls, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_LEN);
	ls.hdr_len = 53;
	CHECK_EQ(g(&v, KVM_SEV_LAUNCH_SECRET, &ls, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_LEN);
	ls.hdr_len = sizeof(hdr);
	ls.guest_len = ls.trans_len = 40;	/* not a multiple of 16 */
	CHECK_EQ(g(&v, KVM_SEV_LAUNCH_SECRET, &ls, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_LEN);
	ls.guest_len = ls.trans_len = sizeof(secret);
	ls.guest_uaddr = up(v.mem + 0x8008);
	CHECK_EQ(g(&v, KVM_SEV_LAUNCH_SECRET, &ls, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_ADDRESS);
	ls.guest_uaddr = up(v.mem + 0x8000);
	trans[5] ^= 0x10;
	CHECK_EQ(g(&v, KVM_SEV_LAUNCH_SECRET, &ls, &err), -EIO);
	CHECK_EQ(err, SEV_RET_BAD_MEASUREMENT);
	CHECK(memcmp(v.mem + 0x8000, secret, sizeof(secret)) != 0);
	trans[5] ^= 0x10;
	CHECK_EQ(g(&v, KVM_SEV_LAUNCH_SECRET, &ls, &err), 0);
	CHECK_MEM(v.mem + 0x8000, secret, sizeof(secret));
	CHECK_EQ(gstate(&v), SEV_GSTATE_LSECRET);
	CHECK_EQ(g(&v, KVM_SEV_LAUNCH_FINISH, NULL, &err), 0);
	CHECK_EQ(gstate(&v), SEV_GSTATE_RUNNING);
	owner_free(&o);
	vm_close(&v);
}

static void launch_start_rejects_bad_certificates_and_sessions(void)
{
	struct certs c, cb;
	struct owner o, ob;
	struct vm v, vb;
	u32 err, policy = 0;

	OK(vm_open(&v, dir_a));
	OK(vm_open(&vb, dir_b));
	OK(export_certs(&v, &c));
	OK(export_certs(&vb, &cb));
	OK(owner_make(&o, c.pdh, policy));
	OK(owner_make(&ob, cb.pdh, policy));
	{
		struct kvm_sev_launch_start s = {
			.policy = policy, .dh_uaddr = up(&o.cert), .dh_len = SEV_CERT_SIZE - 1,
			.session_uaddr = up(&o.session), .session_len = SEV_SESSION_SIZE,
		};

		/* truncated certificate */
		CHECK_EQ(g(&v, KVM_SEV_LAUNCH_START, &s, &err), -EIO);
		CHECK_EQ(err, SEV_RET_INVALID_LEN);
		/* truncated session */
		s.dh_len = SEV_CERT_SIZE;
		s.session_len = SEV_SESSION_SIZE - 1;
		CHECK_EQ(g(&v, KVM_SEV_LAUNCH_START, &s, &err), -EIO);
		CHECK_EQ(err, SEV_RET_INVALID_LEN);
		/* larger than KVM copies: refused before the firmware */
		s.session_len = SEV_FW_BLOB_MAX + 1;
		CHECK_EQ(g(&v, KVM_SEV_LAUNCH_START, &s, &err), -EINVAL);
		CHECK_EQ(err, 0);
		s.session_len = SEV_SESSION_SIZE;
	}
	/* corrupted certificate: bad version, then usage not PDH */
	o.cert.version = 2;
	CHECK_EQ(launch_start(&v, policy, &o, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_CERTIFICATE);
	o.cert.version = 1;
	o.cert.pub_usage = SEV_USAGE_PEK;
	CHECK_EQ(launch_start(&v, policy, &o, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_CERTIFICATE);
	o.cert.pub_usage = SEV_USAGE_PDH;
	/* a flipped bit in the wrapped keys or in the MAC */
	o.session.wrap_tk[3] ^= 1;
	CHECK_EQ(launch_start(&v, policy, &o, &err), -EIO);
	CHECK_EQ(err, SEV_RET_BAD_MEASUREMENT);
	o.session.wrap_tk[3] ^= 1;
	o.session.policy_mac[0] ^= 1;
	CHECK_EQ(launch_start(&v, policy, &o, &err), -EIO);
	CHECK_EQ(err, SEV_RET_BAD_MEASUREMENT);
	o.session.policy_mac[0] ^= 1;
	/* the session is bound to the policy it was made for */
	CHECK_EQ(launch_start(&v, SEV_POLICY_NODBG, &o, &err), -EIO);
	CHECK_EQ(err, SEV_RET_BAD_MEASUREMENT);
	/* a session made for another platform's PDH */
	CHECK_EQ(launch_start(&v, policy, &ob, &err), -EIO);
	CHECK_EQ(err, SEV_RET_BAD_MEASUREMENT);
	CHECK_EQ(gstate(&v), SEV_GSTATE_UNINIT);
	/* and the good one works */
	CHECK_EQ(launch_start(&v, policy, &o, &err), 0);
	CHECK_EQ(gstate(&v), SEV_GSTATE_LUPDATE);
	owner_free(&o);
	owner_free(&ob);
	vm_close(&v);
	vm_close(&vb);
}

static void policy_reserved_bits_es_and_api_version_are_refused(void)
{
	static const u32 bad[] = {
		1u << 6, 1u << 15, SEV_POLICY_ES,
		(SEV_MODEL_API_MAJOR + 1) << 16,
		(SEV_MODEL_API_MAJOR << 16) | ((SEV_MODEL_API_MINOR + 1) << 24),
	};
	struct certs c;
	struct owner o;
	struct vm v;
	u32 err;
	size_t i;

	OK(vm_open(&v, dir_a));
	OK(export_certs(&v, &c));
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_EQ(launch_start(&v, bad[i], NULL, &err), -EIO);
		CHECK_EQ(err, SEV_RET_POLICY_FAILURE);
		OK(owner_make(&o, c.pdh, bad[i]));
		CHECK_EQ(receive_start(&v, bad[i], &o.cert, SEV_CERT_SIZE, &o.session,
				       SEV_SESSION_SIZE, &err), -EIO);
		CHECK_EQ(err, SEV_RET_POLICY_FAILURE);
		owner_free(&o);
	}
	/* The firmware's own API version is acceptable. */
	CHECK_EQ(launch_start(&v, (SEV_MODEL_API_MAJOR << 16) | (SEV_MODEL_API_MINOR << 24),
			      NULL, &err), 0);
	vm_close(&v);
}

/*
 * Every guest command, issued with arguments that pass all earlier checks,
 * in every state where the firmware does not allow it.
 */
enum { C_LSTART, C_LUPDATE, C_LMEASURE, C_LSECRET, C_LFINISH, C_SSTART, C_SUPDATE,
       C_SFINISH, C_SCANCEL, C_RSTART, C_RUPDATE, C_RFINISH, C_DBGD, C_DBGE, C_NR };

static const char *const cname[C_NR] = { "LAUNCH_START", "LAUNCH_UPDATE_DATA",
	"LAUNCH_MEASURE", "LAUNCH_SECRET", "LAUNCH_FINISH", "SEND_START", "SEND_UPDATE_DATA",
	"SEND_FINISH", "SEND_CANCEL", "RECEIVE_START", "RECEIVE_UPDATE_DATA",
	"RECEIVE_FINISH", "DBG_DECRYPT", "DBG_ENCRYPT" };

static bool allowed(u32 state, int c)
{
	if (c == C_DBGD || c == C_DBGE)
		return state != SEV_GSTATE_SENT;
	switch (state) {
	case SEV_GSTATE_LUPDATE:
		return c == C_LUPDATE || c == C_LMEASURE;
	case SEV_GSTATE_LSECRET:
		return c == C_LSECRET || c == C_LFINISH;
	case SEV_GSTATE_RUNNING:
		return c == C_SSTART;
	case SEV_GSTATE_SUPDATE:
		return c == C_SUPDATE || c == C_SFINISH || c == C_SCANCEL;
	case SEV_GSTATE_RUPDATE:
		return c == C_RUPDATE || c == C_RFINISH;
	}
	return false;		/* SENT */
}

static int issue(struct vm *v, int c, struct certs *target, struct owner *o, u32 *err)
{
	static u8 hdr[SEV_PKT_HDR_SIZE], trans[PAGE_SIZE], buf[PAGE_SIZE];
	static struct sev_session sess;
	static struct sev_measure_blob blob;

	switch (c) {
	case C_LSTART:
		return launch_start(v, 0, NULL, err);
	case C_LUPDATE:
		return update(v, 0, PAGE_SIZE, err);
	case C_LMEASURE:
		return measure(v, &blob, err);
	case C_LSECRET: {
		struct kvm_sev_launch_secret p = {
			.hdr_uaddr = up(hdr), .hdr_len = sizeof(hdr), .guest_uaddr = up(v->mem),
			.guest_len = 16, .trans_uaddr = up(trans), .trans_len = 16 };
		return g(v, KVM_SEV_LAUNCH_SECRET, &p, err);
	}
	case C_LFINISH:
		return g(v, KVM_SEV_LAUNCH_FINISH, NULL, err);
	case C_SSTART:
		return send_start(v, target, &sess, err);
	case C_SUPDATE: {
		struct kvm_sev_send_update_data p = {
			.hdr_uaddr = up(hdr), .hdr_len = sizeof(hdr), .guest_uaddr = up(v->mem),
			.guest_len = PAGE_SIZE, .trans_uaddr = up(trans), .trans_len = PAGE_SIZE };
		return g(v, KVM_SEV_SEND_UPDATE_DATA, &p, err);
	}
	case C_SFINISH:
		return g(v, KVM_SEV_SEND_FINISH, NULL, err);
	case C_SCANCEL:
		return g(v, KVM_SEV_SEND_CANCEL, NULL, err);
	case C_RSTART:
		return receive_start(v, 0, &o->cert, SEV_CERT_SIZE, &o->session,
				     SEV_SESSION_SIZE, err);
	case C_RUPDATE: {
		struct kvm_sev_receive_update_data p = {
			.hdr_uaddr = up(hdr), .hdr_len = sizeof(hdr), .guest_uaddr = up(v->mem),
			.guest_len = 16, .trans_uaddr = up(trans), .trans_len = 16 };
		return g(v, KVM_SEV_RECEIVE_UPDATE_DATA, &p, err);
	}
	case C_RFINISH:
		return g(v, KVM_SEV_RECEIVE_FINISH, NULL, err);
	case C_DBGD: {
		struct kvm_sev_dbg p = { .src_uaddr = up(v->mem), .dst_uaddr = up(buf), .len = 16 };
		return g(v, KVM_SEV_DBG_DECRYPT, &p, err);
	}
	case C_DBGE: {
		struct kvm_sev_dbg p = { .src_uaddr = up(buf), .dst_uaddr = up(v->mem), .len = 16 };
		return g(v, KVM_SEV_DBG_ENCRYPT, &p, err);
	}
	}
	return -EINVAL;
}

/* Bring a fresh VM on platform A (or B for RUPDATE) to @state. */
static int reach(struct vm *v, u32 state, struct certs *cb, struct owner *ob)
{
	struct sev_session s;
	u32 err;
	int ret;

	if (state == SEV_GSTATE_RUPDATE)
		return receive_start(v, 0, &ob->cert, SEV_CERT_SIZE, &ob->session,
				     SEV_SESSION_SIZE, &err);
	ret = launch_to(v, 0, state <= SEV_GSTATE_RUNNING ? state : SEV_GSTATE_RUNNING);
	if (ret || state <= SEV_GSTATE_RUNNING)
		return ret;
	ret = send_start(v, cb, &s, &err);
	if (ret || state == SEV_GSTATE_SUPDATE)
		return ret;
	return g(v, KVM_SEV_SEND_FINISH, NULL, &err);
}

static void every_command_in_every_wrong_state_is_invalid_guest_state(void)
{
	static const u32 states[] = { SEV_GSTATE_LUPDATE, SEV_GSTATE_LSECRET,
		SEV_GSTATE_RUNNING, SEV_GSTATE_SUPDATE, SEV_GSTATE_RUPDATE, SEV_GSTATE_SENT };
	struct certs ca, cb;
	struct owner oa, ob;
	struct vm v, vb;
	size_t s;
	int c, tried = 0;

	OK(vm_open(&v, dir_a));
	OK(vm_open(&vb, dir_b));
	OK(export_certs(&v, &ca));
	OK(export_certs(&vb, &cb));
	OK(owner_make(&oa, ca.pdh, 0));	/* a session for platform A */
	OK(owner_make(&ob, cb.pdh, 0));	/* ... and for platform B */
	vm_close(&v);
	vm_close(&vb);

	for (s = 0; s < ARRAY_SIZE(states); s++) {
		for (c = 0; c < C_NR; c++) {
			const char *dir = states[s] == SEV_GSTATE_RUPDATE ? dir_b : dir_a;
			struct owner *own = states[s] == SEV_GSTATE_RUPDATE ? &ob : &oa;
			u32 err = 0;
			int ret;

			if (allowed(states[s], c))
				continue;
			OK(vm_open(&v, dir));
			if (reach(&v, states[s], &cb, &ob) || gstate(&v) != states[s]) {
				printf("# could not reach %s\n", sev_fw__gstate_name(states[s]));
				CHECK(0);
				vm_close(&v);
				continue;
			}
			ret = issue(&v, c, &cb, own, &err);
			if (ret != -EIO || err != SEV_RET_INVALID_GUEST_STATE) {
				printf("# %s in %s: ret %d, %s\n", cname[c],
				       sev_fw__gstate_name(states[s]), ret, sev_fw__error_name(err));
				CHECK(0);
			}
			/* ... and the guest stays where it was. */
			CHECK_EQ(gstate(&v), states[s]);
			tried++;
			vm_close(&v);
		}
	}
	CHECK(tried >= 60);
	owner_free(&oa);
	owner_free(&ob);
}

static void commands_without_a_guest_are_invalid_guest(void)
{
	struct kvm_sev_guest_status st;
	struct vm v, other;
	u32 err;
	int c;

	OK(vm_open(&other, dir_a));
	OK(launch_to(&other, 0, SEV_GSTATE_LUPDATE));	/* platform WORKING */
	OK(vm_open(&v, dir_a));
	for (c = C_LUPDATE; c <= C_DBGE; c++) {
		if (c == C_SSTART || c == C_RSTART)
			continue;
		err = 0;
		CHECK_EQ(issue(&v, c, NULL, NULL, &err), -EIO);
		if (err != SEV_RET_INVALID_GUEST)
			printf("# %s: %s\n", cname[c], sev_fw__error_name(err));
		CHECK_EQ(err, SEV_RET_INVALID_GUEST);
	}
	/* GUEST_STATUS of no guest: success, state 0 */
	CHECK_EQ(g(&v, KVM_SEV_GUEST_STATUS, &st, &err), 0);
	CHECK_EQ(st.state, SEV_GSTATE_UNINIT);
	/* after DECOMMISSION the handle is gone */
	CHECK_EQ(sev_model__decommission(&other.fw[0], &err), 0);
	CHECK_EQ(gstate(&other), SEV_GSTATE_UNINIT);
	CHECK_EQ(sev_model__decommission(other.fw, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_GUEST);
	vm_close(&v);
	vm_close(&other);
}

static void launch_update_data_checks_alignment_and_range(void)
{
	struct vm v;
	u32 err;
	u8 outside[32];

	OK(vm_open(&v, dir_a));
	OK(launch_to(&v, 0, SEV_GSTATE_LUPDATE));
	CHECK_EQ(update(&v, 8, 32, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_ADDRESS);
	CHECK_EQ(update(&v, 0, 15, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_LEN);
	{
		struct kvm_sev_launch_update_data u = { .uaddr = up(outside), .len = 16 };

		CHECK_EQ(g(&v, KVM_SEV_LAUNCH_UPDATE_DATA, &u, &err), -EFAULT);
	}
	CHECK_EQ(update(&v, MEM_SIZE - 16, 32, &err), -EFAULT);
	CHECK_EQ(gstate(&v), SEV_GSTATE_LUPDATE);
	vm_close(&v);
}

static void nosend_and_nodbg_policies_are_enforced(void)
{
	struct sev_session s;
	struct certs cb;
	struct vm v, vb;
	u8 buf[32];
	u32 err;

	OK(vm_open(&vb, dir_b));
	OK(export_certs(&vb, &cb));
	vm_close(&vb);

	OK(vm_open(&v, dir_a));
	OK(launch_to(&v, SEV_POLICY_NOSEND | SEV_POLICY_NODBG, SEV_GSTATE_RUNNING));
	CHECK_EQ(send_start(&v, &cb, &s, &err), -EIO);
	CHECK_EQ(err, SEV_RET_POLICY_FAILURE);
	CHECK_EQ(gstate(&v), SEV_GSTATE_RUNNING);
	{
		struct kvm_sev_dbg d = { .src_uaddr = up(v.mem), .dst_uaddr = up(buf), .len = 32 };

		CHECK_EQ(g(&v, KVM_SEV_DBG_DECRYPT, &d, &err), -EIO);
		CHECK_EQ(err, SEV_RET_POLICY_FAILURE);
		d.src_uaddr = up(buf);
		d.dst_uaddr = up(v.mem);
		CHECK_EQ(g(&v, KVM_SEV_DBG_ENCRYPT, &d, &err), -EIO);
		CHECK_EQ(err, SEV_RET_POLICY_FAILURE);
	}
	vm_close(&v);

	/* Without NODBG, debug access works (plain copy: nothing is encrypted). */
	OK(vm_open(&v, dir_a));
	OK(launch_to(&v, 0, SEV_GSTATE_RUNNING));
	memset(v.mem, 0x5a, 32);
	{
		struct kvm_sev_dbg d = { .src_uaddr = up(v.mem), .dst_uaddr = up(buf), .len = 32 };

		CHECK_EQ(g(&v, KVM_SEV_DBG_DECRYPT, &d, &err), 0);
		CHECK_EQ(buf[31], 0x5a);
	}
	vm_close(&v);
}

static void send_start_answers_the_session_length_query(void)
{
	struct kvm_sev_send_start q = { 0 };
	struct vm v;
	u32 err;

	OK(vm_open(&v, dir_a));
	OK(launch_to(&v, 0, SEV_GSTATE_RUNNING));
	CHECK_EQ(g(&v, KVM_SEV_SEND_START, &q, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_LEN);
	CHECK_EQ(q.session_len, 128);
	CHECK_EQ(gstate(&v), SEV_GSTATE_RUNNING);
	vm_close(&v);

	/* The firmware checks the length before the state. */
	OK(vm_open(&v, dir_a));
	OK(launch_to(&v, 0, SEV_GSTATE_LUPDATE));
	memset(&q, 0, sizeof(q));
	CHECK_EQ(g(&v, KVM_SEV_SEND_START, &q, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_LEN);
	CHECK_EQ(q.session_len, 128);
	vm_close(&v);
}

static void send_start_checks_the_target_certificates(void)
{
	struct sev_session s;
	struct certs cb, bad;
	struct vm v, vb;
	u32 err;

	OK(vm_open(&vb, dir_b));
	OK(export_certs(&vb, &cb));
	vm_close(&vb);

	/* No chain policy: only the PDH is sanity-checked. */
	OK(vm_open(&v, dir_a));
	OK(launch_to(&v, 0, SEV_GSTATE_RUNNING));
	bad = cb;
	((struct sev_cert *)bad.pdh)->pub_usage = SEV_USAGE_PEK;
	CHECK_EQ(send_start(&v, &bad, &s, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_CERTIFICATE);
	{
		struct kvm_sev_send_start p = {
			.pdh_cert_uaddr = up(cb.pdh), .pdh_cert_len = SEV_CERT_SIZE - 4,
			.plat_certs_uaddr = up(cb.chain), .plat_certs_len = SEV_CHAIN_SIZE,
			.amd_certs_uaddr = up(cb.amd), .amd_certs_len = (u32)cb.amd_len,
			.session_uaddr = up(&s), .session_len = sizeof(s) };

		CHECK_EQ(g(&v, KVM_SEV_SEND_START, &p, &err), -EIO);
		CHECK_EQ(err, SEV_RET_INVALID_LEN);
		/* KVM needs all three cert buffers even when they are not checked */
		p.pdh_cert_len = SEV_CERT_SIZE;
		p.amd_certs_len = 0;
		CHECK_EQ(g(&v, KVM_SEV_SEND_START, &p, &err), -EINVAL);
	}
	CHECK_EQ(gstate(&v), SEV_GSTATE_RUNNING);
	vm_close(&v);

	/* SEV policy bit: the chain up to the trusted ARK must verify. */
	OK(vm_open(&v, dir_a));
	OK(launch_to(&v, SEV_POLICY_SEV, SEV_GSTATE_RUNNING));
	bad = cb;
	bad.chain[SEV_CERT_SIZE + 0x100] ^= 1;	/* OCA public key */
	CHECK_EQ(send_start(&v, &bad, &s, &err), -EIO);
	CHECK(err == SEV_RET_INVALID_CERTIFICATE || err == SEV_RET_BAD_SIGNATURE);
	bad = cb;
	bad.amd[bad.amd_len - 1] ^= 1;		/* ARK signature */
	CHECK_EQ(send_start(&v, &bad, &s, &err), -EIO);
	CHECK(err == SEV_RET_INVALID_CERTIFICATE || err == SEV_RET_BAD_SIGNATURE);
	bad = cb;
	bad.pdh[0x41c + 10] ^= 1;		/* PDH signature (slot 0) by the PEK */
	CHECK_EQ(send_start(&v, &bad, &s, &err), -EIO);
	CHECK(err == SEV_RET_INVALID_CERTIFICATE || err == SEV_RET_BAD_SIGNATURE);
	CHECK_EQ(send_start(&v, &cb, &s, &err), 0);
	CHECK_EQ(gstate(&v), SEV_GSTATE_SUPDATE);
	CHECK_EQ(g(&v, KVM_SEV_SEND_CANCEL, NULL, &err), 0);
	CHECK_EQ(gstate(&v), SEV_GSTATE_RUNNING);
	vm_close(&v);

	/* DOMAIN: another owner's platform (a different OCA) is refused. */
	OK(vm_open(&v, dir_a));
	OK(launch_to(&v, SEV_POLICY_DOMAIN, SEV_GSTATE_RUNNING));
	CHECK_EQ(send_start(&v, &cb, &s, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_CERTIFICATE);
	CHECK_EQ(gstate(&v), SEV_GSTATE_RUNNING);
	vm_close(&v);
}

/* Migrate guest pages from platform A to platform B through the firmware. */
static void send_receive_moves_pages_between_two_platforms(void)
{
	struct kvm_sev_send_update_data q = { 0 };
	struct certs ca, cb;
	struct sev_session s;
	struct sev_pkt_hdr hdr;
	static u8 trans[PAGE_SIZE];
	struct vm a, b;
	u32 err, policy = SEV_POLICY_SEV | SEV_POLICY_NODBG;
	int pg, i;

	OK(vm_open(&a, dir_a));
	OK(vm_open(&b, dir_b));
	OK(export_certs(&a, &ca));
	OK(export_certs(&b, &cb));
	for (i = 0; i < MEM_SIZE; i++)
		a.mem[i] = (u8)(i ^ (i >> 8) ^ 0x3c);
	OK(launch_to(&a, policy, SEV_GSTATE_RUNNING));

	CHECK_EQ(send_start(&a, &cb, &s, &err), 0);
	CHECK_EQ(gstate(&a), SEV_GSTATE_SUPDATE);
	/* header length query */
	CHECK_EQ(g(&a, KVM_SEV_SEND_UPDATE_DATA, &q, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_LEN);
	CHECK_EQ(q.hdr_len, 52);

	/* B receives with A's PDH and the session A made for B. */
	CHECK_EQ(receive_start(&b, policy, ca.pdh, SEV_CERT_SIZE, &s, sizeof(s), &err), 0);
	CHECK_EQ(gstate(&b), SEV_GSTATE_RUPDATE);

	for (pg = 0; pg < MEM_SIZE / (int)PAGE_SIZE; pg++) {
		struct kvm_sev_send_update_data sp = {
			.hdr_uaddr = up(&hdr), .hdr_len = sizeof(hdr),
			.guest_uaddr = up(a.mem + pg * PAGE_SIZE), .guest_len = PAGE_SIZE,
			.trans_uaddr = up(trans), .trans_len = PAGE_SIZE };
		struct kvm_sev_receive_update_data rp = {
			.hdr_uaddr = up(&hdr), .hdr_len = sizeof(hdr),
			.guest_uaddr = up(b.mem + pg * PAGE_SIZE), .guest_len = PAGE_SIZE,
			.trans_uaddr = up(trans), .trans_len = PAGE_SIZE };

		CHECK_EQ(g(&a, KVM_SEV_SEND_UPDATE_DATA, &sp, &err), 0);
		/* the transport form is not the plaintext */
		CHECK(memcmp(trans, a.mem + pg * PAGE_SIZE, 64) != 0);
		if (pg == 1) {
			/* a flipped bit fails the MAC and writes nothing */
			trans[100] ^= 4;
			CHECK_EQ(g(&b, KVM_SEV_RECEIVE_UPDATE_DATA, &rp, &err), -EIO);
			CHECK_EQ(err, SEV_RET_BAD_MEASUREMENT);
			CHECK_EQ(b.mem[pg * PAGE_SIZE + 100], 0);
			trans[100] ^= 4;
			/* truncated header, length mismatch, compressed, misaligned */
			rp.hdr_len = 51;
			CHECK_EQ(g(&b, KVM_SEV_RECEIVE_UPDATE_DATA, &rp, &err), -EIO);
			CHECK_EQ(err, SEV_RET_INVALID_LEN);
			rp.hdr_len = sizeof(hdr);
			rp.trans_len = PAGE_SIZE - 16;
			CHECK_EQ(g(&b, KVM_SEV_RECEIVE_UPDATE_DATA, &rp, &err), -EIO);
			CHECK_EQ(err, SEV_RET_INVALID_LEN);
			rp.trans_len = PAGE_SIZE;
			hdr.flags |= SEV_PKT_FLAG_COMPRESSED;
			CHECK_EQ(g(&b, KVM_SEV_RECEIVE_UPDATE_DATA, &rp, &err), -EIO);
			CHECK_EQ(err, SEV_RET_UNSUPPORTED);
			hdr.flags &= ~SEV_PKT_FLAG_COMPRESSED;
			rp.guest_uaddr += 8;
			rp.guest_len = rp.trans_len = 64;
			CHECK_EQ(g(&b, KVM_SEV_RECEIVE_UPDATE_DATA, &rp, &err), -EIO);
			CHECK_EQ(err, SEV_RET_INVALID_ADDRESS);
			rp.guest_uaddr -= 8;
			rp.guest_len = rp.trans_len = PAGE_SIZE;
			/* a page crossing a page boundary: KVM refuses */
			rp.guest_uaddr += 16;
			CHECK_EQ(g(&b, KVM_SEV_RECEIVE_UPDATE_DATA, &rp, &err), -EINVAL);
			rp.guest_uaddr -= 16;
		}
		CHECK_EQ(g(&b, KVM_SEV_RECEIVE_UPDATE_DATA, &rp, &err), 0);
	}
	CHECK_MEM(a.mem, b.mem, MEM_SIZE);
	CHECK_EQ(g(&a, KVM_SEV_SEND_FINISH, NULL, &err), 0);
	CHECK_EQ(gstate(&a), SEV_GSTATE_SENT);
	CHECK_EQ(g(&b, KVM_SEV_RECEIVE_FINISH, NULL, &err), 0);
	CHECK_EQ(gstate(&b), SEV_GSTATE_RUNNING);
	/* a SENT guest can only be decommissioned */
	CHECK_EQ(send_start(&a, &cb, &s, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_GUEST_STATE);
	CHECK_EQ(sev_model__decommission(a.fw, &err), 0);
	vm_close(&a);
	vm_close(&b);
}

static void receive_start_rejects_bad_inputs(void)
{
	struct certs cb;
	struct owner o;
	struct vm b;
	u32 err;

	OK(vm_open(&b, dir_b));
	OK(export_certs(&b, &cb));
	OK(owner_make(&o, cb.pdh, 0));
	CHECK_EQ(receive_start(&b, 0, &o.cert, SEV_CERT_SIZE - 1, &o.session, SEV_SESSION_SIZE,
			       &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_LEN);
	CHECK_EQ(receive_start(&b, 0, &o.cert, SEV_CERT_SIZE, &o.session, 0x7f, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_LEN);
	CHECK_EQ(receive_start(&b, 0, &o.cert, SEV_CERT_SIZE, &o.session, 0, &err), -EINVAL);
	o.session.wrap_mac[31] ^= 0x80;
	CHECK_EQ(receive_start(&b, 0, &o.cert, SEV_CERT_SIZE, &o.session, SEV_SESSION_SIZE,
			       &err), -EIO);
	CHECK_EQ(err, SEV_RET_BAD_MEASUREMENT);
	o.session.wrap_mac[31] ^= 0x80;
	o.cert.pubkey.ec.curve = SEV_EC_CURVE_P256;
	CHECK_EQ(receive_start(&b, 0, &o.cert, SEV_CERT_SIZE, &o.session, SEV_SESSION_SIZE,
			       &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_CERTIFICATE);
	o.cert.pubkey.ec.curve = SEV_EC_CURVE_P384;
	CHECK_EQ(receive_start(&b, 0, &o.cert, SEV_CERT_SIZE, &o.session, SEV_SESSION_SIZE,
			       &err), 0);
	owner_free(&o);
	vm_close(&b);
}

static void key_sharing_honours_noks(void)
{
	struct kvm_sev_launch_start s;
	struct vm a, b;
	u32 err;

	OK(vm_open(&a, dir_a));
	OK(vm_open(&b, dir_a));
	OK(launch_to(&a, SEV_POLICY_NOKS, SEV_GSTATE_LUPDATE));
	s = (struct kvm_sev_launch_start){ .handle = a.fw->handle, .policy = SEV_POLICY_NOKS };
	CHECK_EQ(g(&b, KVM_SEV_LAUNCH_START, &s, &err), -EIO);
	CHECK_EQ(err, SEV_RET_POLICY_FAILURE);
	vm_close(&a);

	OK(vm_open(&a, dir_a));
	OK(launch_to(&a, 0, SEV_GSTATE_LUPDATE));
	s = (struct kvm_sev_launch_start){ .handle = a.fw->handle, .policy = SEV_POLICY_NODBG };
	CHECK_EQ(g(&b, KVM_SEV_LAUNCH_START, &s, &err), -EIO);	/* policies differ */
	CHECK_EQ(err, SEV_RET_POLICY_FAILURE);
	s = (struct kvm_sev_launch_start){ .handle = 1000, .policy = 0 };
	CHECK_EQ(g(&b, KVM_SEV_LAUNCH_START, &s, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_GUEST);
	s = (struct kvm_sev_launch_start){ .handle = a.fw->handle, .policy = 0 };
	CHECK_EQ(g(&b, KVM_SEV_LAUNCH_START, &s, &err), 0);
	CHECK(s.handle != a.fw->handle);
	vm_close(&a);
	vm_close(&b);
}

static void at_most_1024_guests_with_handles_1_to_1024(void)
{
	static struct vm vms[SEV_FW_MAX_GUESTS + 1];
	struct sev_model_paths p = { .state_dir = dir_a };
	u32 err, seen_max = 0;
	int i, n = 0;

	for (i = 0; i <= SEV_FW_MAX_GUESTS; i++) {
		if (sev_fw__open(&vms[i].fw, SEV_MODE_EMULATED, &p) ||
		    sev_fw__vm_init(vms[i].fw, -1))
			break;
		n++;
		if (i < SEV_FW_MAX_GUESTS) {
			if (launch_start(&vms[i], 0, NULL, &err))
				printf("# guest %d: %s\n", i, sev_fw__error_name(err));
			CHECK_EQ(err, 0);
			if (vms[i].fw->handle > seen_max)
				seen_max = vms[i].fw->handle;
			CHECK(vms[i].fw->handle >= 1);
		} else {
			CHECK_EQ(launch_start(&vms[i], 0, NULL, &err), -EIO);
			CHECK_EQ(err, SEV_RET_RESOURCE_LIMIT);
		}
	}
	CHECK_EQ(n, SEV_FW_MAX_GUESTS + 1);
	CHECK_EQ(seen_max, SEV_FW_MAX_GUESTS);
	for (i = 0; i < n; i++)
		sev_fw__close(vms[i].fw);
}

static void guest_commands_need_kvm_sev_init(void)
{
	struct sev_model_paths p = { .state_dir = dir_a };
	struct kvm_sev_guest_status st;
	struct sev_fw *fw;
	u32 err;

	OK(sev_fw__open(&fw, SEV_MODE_EMULATED, &p));
	CHECK_EQ(sev_fw__guest(fw, KVM_SEV_GUEST_STATUS, &st, &err), -ENOTTY);
	CHECK_EQ(sev_fw__reg_region(fw, 4096, 4096), -ENOTTY);
	CHECK_EQ(sev_fw__vm_init(fw, -1), 0);
	CHECK_EQ(sev_fw__vm_init(fw, -1), -EINVAL);
	CHECK_EQ(sev_fw__guest(fw, KVM_SEV_LAUNCH_UPDATE_VMSA, &st, &err), -ENOTTY);
	/* As KVM: SEV-ES only, refused before the struct is read. */
	CHECK_EQ(sev_fw__guest(fw, KVM_SEV_LAUNCH_UPDATE_VMSA, NULL, &err), -ENOTTY);
	/* An id KVM does not know (or lkvm does not model) is -EINVAL, data or not. */
	CHECK_EQ(sev_fw__guest(fw, KVM_SEV_LAUNCH_FINISH + 100, &st, &err), -EINVAL);
	CHECK_EQ(sev_fw__guest(fw, KVM_SEV_LAUNCH_FINISH + 100, NULL, &err), -EINVAL);
	CHECK_EQ(sev_fw__guest(fw, KVM_SEV_INIT, &st, &err), -EINVAL);
	/* A command with a struct needs one; a channel close has none. */
	CHECK_EQ(sev_fw__guest(fw, KVM_SEV_GUEST_STATUS, NULL, &err), -EFAULT);
	CHECK_EQ(sev_fw__guest(fw, KVM_SEV_LAUNCH_FINISH, NULL, &err), -EIO);
	CHECK_EQ(err, SEV_RET_INVALID_PLATFORM_STATE);	/* no guest launched */
	sev_fw__close(fw);
}

TEST_MAIN_BEGIN("test-sev-model")
	unsetenv("LKVM_SEV_ROOT");
	strcpy(tmp_root, "/tmp/lkvm-sev-model.XXXXXX");
	if (!mkdtemp(tmp_root)) {
		printf("FAIL: test-sev-model/setup: mkdtemp\n");
		return 1;
	}
	snprintf(dir_a, sizeof(dir_a), "%s/a", tmp_root);
	snprintf(dir_b, sizeof(dir_b), "%s/b", tmp_root);
	RUN(platform_state_follows_init_and_guests);
	RUN(state_directory_is_private_and_persistent);
	RUN(pdh_cert_export_answers_length_queries_and_chains_validate);
	RUN(get_id2_is_stable_and_answers_length_queries);
	RUN(launch_with_owner_session_measures_and_injects_a_secret);
	RUN(launch_start_rejects_bad_certificates_and_sessions);
	RUN(policy_reserved_bits_es_and_api_version_are_refused);
	RUN(every_command_in_every_wrong_state_is_invalid_guest_state);
	RUN(commands_without_a_guest_are_invalid_guest);
	RUN(launch_update_data_checks_alignment_and_range);
	RUN(nosend_and_nodbg_policies_are_enforced);
	RUN(send_start_answers_the_session_length_query);
	RUN(send_start_checks_the_target_certificates);
	RUN(send_receive_moves_pages_between_two_platforms);
	RUN(receive_start_rejects_bad_inputs);
	RUN(key_sharing_honours_noks);
	RUN(at_most_1024_guests_with_handles_1_to_1024);
	RUN(guest_commands_need_kvm_sev_init);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_root);
		if (system(cmd))
			printf("# could not remove %s\n", tmp_root);
	}
TEST_MAIN_END()
