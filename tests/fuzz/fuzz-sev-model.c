/*
 * libFuzzer target for the software SEV firmware model (sev/model.c,
 * sev/model-guest.c): sequences of guest commands (struct kvm_sev_cmd with
 * the kvm_sev_* structs, as KVM_MEMORY_ENCRYPT_OP takes them) and platform
 * commands (sev_user_data_*, as SEV_ISSUE_CMD takes them) whose every field
 * comes from the input, on three VMs: two on platform A, one on platform B.
 *
 * Each VM owns 16 pages of host memory of which only pages 6..9 are
 * readable and writable and registered (KVM_MEMORY_ENCRYPT_REG_REGION);
 * the rest is PROT_NONE, so a guest address the model should have refused
 * faults.  User pointers (blobs: certificates, sessions, packet headers,
 * output buffers) are malloc'd exactly as long as the length the command
 * declares (capped at BLOB_CAP), so ASan sees any access beyond it.
 *
 * A blob is raw input bytes, or one of a few valid blobs the harness builds
 * (a guest owner's / source's PDH, a session wrapped for this platform with
 * the command's policy and keys the harness knows, packets sealed with those
 * keys, the platforms' certificates, the outputs of the last SEND_START /
 * SEND_UPDATE_DATA / LAUNCH_MEASURE), with some bytes flipped: that gets
 * mutations past the MACs and signatures.
 *
 * PEK_GEN, PDH_GEN and FACTORY_RESET are not issued: they take no input and
 * would rewrite the state directory with fsync on every run.
 *
 * With LKVM_FUZZ_SEED=DIR it writes a few valid command sequences into DIR
 * first (the seed corpus) and exits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lkvm/sev-model.h"
#include "fuzz-input.h"

#define NSLOTS		3
#define MEM_PAGES	16
#define REG_FIRST	6
#define REG_PAGES	4
#define BLOB_CAP	0x6000
#define MAX_OPS		24

/* ---- the platforms and VMs ---- */

static char dir_root[64], dir_a[96], dir_b[96];
static struct sev_fw *anchor[2];	/* keep both models alive */
static struct sev_fw *vm[NSLOTS];
static u8 *mem[NSLOTS];

/* The guest owner / source: one DH key and its PDH certificate. */
static EVP_PKEY *peer_key;
static struct sev_cert peer_cert;
static u8 z[2][SEV_ECDH_SECRET_SIZE];	/* ECDH(peer, platform A/B PDH) */
static const struct sev_tks known_tks = {
	.tek = "0123456789abcde", .tik = "fedcba987654321",
};

/* Platform certificates, exported once. */
static u8 pdh[2][SEV_CERT_SIZE], chain[2][SEV_CHAIN_SIZE];
static u8 amd[2 * SEV_AMD_CERT_MAX_SIZE];
static size_t amd_len;

/* Outputs kept from the previous commands of this input. */
static u8 last_session[SEV_SESSION_SIZE], last_hdr[SEV_PKT_HDR_SIZE];
static u8 last_trans[PAGE_SIZE], last_measure[SEV_MAC_SIZE];
static u32 last_trans_len;

static int plat_of(int slot)
{
	return slot == 2;
}

static u64 up(const void *p)
{
	return (u64)(unsigned long)p;
}

static void reset_vm(int slot)
{
	struct sev_fw *fw = vm[slot];

	fw->handle = 0;
	fw->sev_enabled = false;
	fw->active = false;
	fw->nr_regions = 0;
	if (sev_fw__vm_init(fw, -1) ||
	    sev_fw__reg_region(fw, up(mem[slot] + REG_FIRST * PAGE_SIZE), REG_PAGES * PAGE_SIZE))
		abort();
	memset(mem[slot] + REG_FIRST * PAGE_SIZE, 0x5a, REG_PAGES * PAGE_SIZE);
}

static void cleanup(void)
{
	char cmd[128];

	if (dir_root[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir_root);
		if (system(cmd))
			;
	}
}

static void setup(void)
{
	struct sev_model_paths pa = { .state_dir = dir_a }, pb = { .state_dir = dir_b };
	struct sev_user_data_pdh_cert_export ex;
	u32 err;
	int i;

	strcpy(dir_root, "/tmp/lkvm-fuzz-sev.XXXXXX");
	if (!mkdtemp(dir_root))
		abort();
	atexit(cleanup);
	snprintf(dir_a, sizeof(dir_a), "%s/a", dir_root);
	snprintf(dir_b, sizeof(dir_b), "%s/b", dir_root);
	unsetenv("LKVM_SEV_ROOT");
	if (sev_fw__open(&anchor[0], SEV_MODE_EMULATED, &pa) ||
	    sev_fw__open(&anchor[1], SEV_MODE_EMULATED, &pb))
		abort();
	for (i = 0; i < NSLOTS; i++) {
		if (sev_fw__open(&vm[i], SEV_MODE_EMULATED, plat_of(i) ? &pb : &pa))
			abort();
		mem[i] = mmap(NULL, MEM_PAGES * PAGE_SIZE, PROT_NONE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem[i] == MAP_FAILED ||
		    mprotect(mem[i] + REG_FIRST * PAGE_SIZE, REG_PAGES * PAGE_SIZE,
			     PROT_READ | PROT_WRITE))
			abort();
	}
	peer_key = sev_key__gen_ec();
	if (!peer_key)
		abort();
	for (i = 0; i < 2; i++) {
		ex = (struct sev_user_data_pdh_cert_export){
			.pdh_cert_address = up(pdh[i]), .pdh_cert_len = SEV_CERT_SIZE,
			.cert_chain_address = up(chain[i]), .cert_chain_len = SEV_CHAIN_SIZE,
		};
		if (sev_fw__platform(anchor[i], SEV_PDH_CERT_EXPORT, &ex, &err) ||
		    sev_ecdh(anchor[i]->model->keys.pdh, peer_key, z[i]))
			abort();
	}
	if (sev_cert__init(&peer_cert, SEV_USAGE_PDH, SEV_ALGO_ECDH_SHA256, peer_key, 0, 0))
		abort();
	amd_len = sizeof(amd);
	if (sev_amd_root__write_chain(&anchor[0]->model->root, amd, &amd_len))
		abort();
}

/* ---- field generators ---- */

static u64 gaddr(struct rd *r, int slot)
{
	u8 m = take_u8(r);

	switch (m & 3) {
	case 0:			/* anywhere in the 16 pages, guards included */
		return up(mem[slot]) + take_u16(r) % (MEM_PAGES * PAGE_SIZE);
	case 1:			/* in the registered pages */
		return up(mem[slot] + REG_FIRST * PAGE_SIZE) +
		       take_u16(r) % (REG_PAGES * PAGE_SIZE);
	case 2:
		return 0;
	default:
		return take_u64(r);
	}
}

static u32 len32(struct rd *r)
{
	static const u32 nice[] = { 0, 1, 15, 16, 32, 0x30, 0x34, 0x40, 0x80, 0x824, 0x186c,
		0xff0, 0x1000, 0x1010, 0x4000, 0x4001, 0x5000, 0x5010, 0x7fffffff, 0xfffffff0,
		0xffffffff };
	u8 m = take_u8(r);

	switch (m & 3) {
	case 0:
		return take_u8(r);
	case 1:
		return take_u16(r);
	case 2:
		return take_u32(r);
	default:
		return nice[(m >> 2) % ARRAY_SIZE(nice)];
	}
}

static u32 policy(struct rd *r)
{
	u8 m = take_u8(r);

	if (m & 0x80)
		return take_u32(r);
	/* low bits, and sometimes an API version in bits 16..31 */
	return (m & 0x3f) | (m & 0x40 ? (u32)take_u16(r) << 16 : 0);
}

/* A host buffer for a user pointer; freed after the command. */
struct blob {
	u8 *p;
	u32 len;		/* what the command is told */
};

static struct blob blobs[8];
static int nblobs;

enum tmpl {
	T_PEER_PDH,		/* the guest owner's / source's DH certificate */
	T_SESSION,		/* session for this VM's platform, command's policy */
	T_PKT_HDR,		/* a packet for this command (sealed with known_tks) */
	T_PKT_TRANS,
	T_PDH_A, T_CHAIN_A, T_PDH_B, T_CHAIN_B, T_AMD,
	T_LAST_SESSION, T_LAST_HDR, T_LAST_TRANS,
	NR_TMPL
};

/* What a packet template is made of: set by the command before its blobs. */
struct pkt_ctx {
	int slot;
	u32 policy;
	u8 ctx;			/* SEV_CTX_DATA or SEV_CTX_SECRET */
	u32 len;		/* plaintext length (the command's guest_len) */
	bool sealed;
	struct sev_pkt_hdr hdr;
	u8 trans[SEV_PKT_MAX_LEN];
	u32 trans_len;
};

static void seal(struct pkt_ctx *c)
{
	static const u8 iv[16] = "packet-iv-000000";
	static u8 plain[SEV_PKT_MAX_LEN];
	u32 len = c->len;

	if (c->sealed)
		return;
	c->sealed = true;
	if (!len || len > SEV_PKT_MAX_LEN)
		len = len ? SEV_PKT_MAX_LEN : 16;
	memset(plain, 0xc3, len);
	if (sev_packet__seal(&known_tks, c->ctx, c->ctx == SEV_CTX_SECRET ? last_measure : NULL,
			     iv, plain, len, &c->hdr, c->trans))
		abort();
	c->trans_len = len;
}

static const void *tmpl_data(int t, struct pkt_ctx *c, u32 *len)
{
	static const u8 nonce[16] = "session-nonce-00", wiv[16] = "session-wrap-iv0";
	static struct sev_session s;

	switch (t) {
	case T_PEER_PDH:
		*len = SEV_CERT_SIZE;
		return &peer_cert;
	case T_SESSION:
		if (sev_session__wrap_z(z[plat_of(c->slot)], SEV_ECDH_SECRET_SIZE, c->policy,
					&known_tks, nonce, wiv, &s))
			abort();
		*len = sizeof(s);
		return &s;
	case T_PKT_HDR:
		seal(c);
		*len = sizeof(c->hdr);
		return &c->hdr;
	case T_PKT_TRANS:
		seal(c);
		*len = c->trans_len;
		return c->trans;
	case T_PDH_A:
	case T_PDH_B:
		*len = SEV_CERT_SIZE;
		return pdh[t == T_PDH_B];
	case T_CHAIN_A:
	case T_CHAIN_B:
		*len = SEV_CHAIN_SIZE;
		return chain[t == T_CHAIN_B];
	case T_AMD:
		*len = amd_len;
		return amd;
	case T_LAST_SESSION:
		*len = sizeof(last_session);
		return last_session;
	case T_LAST_HDR:
		*len = sizeof(last_hdr);
		return last_hdr;
	default:
		*len = last_trans_len;
		return last_trans;
	}
}

/* Returns the address to put in the struct and sets *len to the declared length. */
static u64 blob(struct rd *r, struct pkt_ctx *c, u32 *len)
{
	struct blob *b = &blobs[nblobs];
	const void *src = NULL;
	u32 src_len = 0, alloc, n, i;
	u8 k = take_u8(r);

	if (nblobs == ARRAY_SIZE(blobs))
		abort();
	switch (k & 7) {
	case 0:
		*len = len32(r);
		return 0;
	case 1:			/* raw bytes */
		*len = len32(r);
		break;
	case 2:			/* a template */
	case 3:			/* a template, another declared length */
		src = tmpl_data(((k >> 3) & 15) % NR_TMPL, c, &src_len);
		*len = (k & 7) == 2 ? src_len : len32(r);
		break;
	default:		/* zeroes (output buffers) */
		*len = len32(r);
		break;
	}
	alloc = *len < BLOB_CAP ? *len : BLOB_CAP;
	b->p = malloc(alloc ? alloc : 1);
	b->len = alloc;
	if (!b->p)
		abort();
	nblobs++;
	if ((k & 7) == 1) {
		take_bytes(r, b->p, alloc);
	} else {
		memset(b->p, 0, alloc);
		if (src)
			memcpy(b->p, src, src_len < alloc ? src_len : alloc);
	}
	if (src || (k & 7) == 1) {
		/* a few flipped bytes */
		n = k & 0x80 ? take_u8(r) % 4 + 1 : 0;
		for (i = 0; i < n && alloc; i++) {
			u16 off = take_u16(r);

			b->p[off % alloc] ^= take_u8(r) | 1;
		}
	}
	return up(b->p);
}

static struct blob *blob_of(u64 addr)
{
	int i;

	for (i = 0; i < nblobs; i++)
		if (up(blobs[i].p) == addr)
			return &blobs[i];
	return NULL;
}

static void free_blobs(void)
{
	while (nblobs)
		free(blobs[--nblobs].p);
}

/* ---- commands ---- */

static int guest_cmd(struct rd *r, int slot, u32 id)
{
	struct pkt_ctx *c = calloc(1, sizeof(*c));
	union {
		struct kvm_sev_launch_start ls;
		struct kvm_sev_launch_update_data lu;
		struct kvm_sev_launch_measure lm;
		struct kvm_sev_launch_secret sec;
		struct kvm_sev_guest_status gs;
		struct kvm_sev_dbg dbg;
		struct kvm_sev_send_start ss;
		struct kvm_sev_send_update_data su;
		struct kvm_sev_receive_start rs;
		struct kvm_sev_receive_update_data ru;
		u8 raw[64];
	} d;
	void *data = &d;
	struct blob *b;
	u32 err;
	int ret;

	if (!c)
		abort();
	memset(&d, 0, sizeof(d));
	c->slot = slot;
	switch (id) {
	case KVM_SEV_LAUNCH_START:
		d.ls.handle = take_u8(r) & 0x80 ? take_u32(r) : take_u8(r) % 4;
		d.ls.policy = c->policy = policy(r);
		d.ls.dh_uaddr = blob(r, c, &d.ls.dh_len);
		d.ls.session_uaddr = blob(r, c, &d.ls.session_len);
		break;
	case KVM_SEV_LAUNCH_UPDATE_DATA:
		d.lu.uaddr = gaddr(r, slot);
		d.lu.len = len32(r);
		break;
	case KVM_SEV_LAUNCH_MEASURE:
		d.lm.uaddr = blob(r, c, &d.lm.len);
		break;
	case KVM_SEV_LAUNCH_SECRET:
		d.sec.guest_uaddr = gaddr(r, slot);
		d.sec.guest_len = c->len = len32(r);
		c->ctx = SEV_CTX_SECRET;
		d.sec.hdr_uaddr = blob(r, c, &d.sec.hdr_len);
		d.sec.trans_uaddr = blob(r, c, &d.sec.trans_len);
		break;
	case KVM_SEV_GUEST_STATUS:
		break;
	case KVM_SEV_DBG_DECRYPT:
	case KVM_SEV_DBG_ENCRYPT: {
		/* The guest side is an address; the host side a buffer of len. */
		u64 g = gaddr(r, slot), h;

		h = blob(r, c, &d.dbg.len);
		if (id == KVM_SEV_DBG_DECRYPT) {
			d.dbg.src_uaddr = g;
			d.dbg.dst_uaddr = h;
		} else {
			d.dbg.src_uaddr = h;
			d.dbg.dst_uaddr = g;
		}
		break;
	}
	case KVM_SEV_SEND_START:
		d.ss.policy = take_u32(r);
		d.ss.pdh_cert_uaddr = blob(r, c, &d.ss.pdh_cert_len);
		d.ss.plat_certs_uaddr = blob(r, c, &d.ss.plat_certs_len);
		d.ss.amd_certs_uaddr = blob(r, c, &d.ss.amd_certs_len);
		d.ss.session_uaddr = blob(r, c, &d.ss.session_len);
		break;
	case KVM_SEV_SEND_UPDATE_DATA:
		d.su.guest_uaddr = gaddr(r, slot);
		d.su.guest_len = len32(r);
		d.su.hdr_uaddr = blob(r, c, &d.su.hdr_len);
		d.su.trans_uaddr = blob(r, c, &d.su.trans_len);
		break;
	case KVM_SEV_RECEIVE_START:
		d.rs.handle = take_u8(r) & 0x80 ? take_u32(r) : take_u8(r) % 4;
		d.rs.policy = c->policy = policy(r);
		d.rs.pdh_uaddr = blob(r, c, &d.rs.pdh_len);
		d.rs.session_uaddr = blob(r, c, &d.rs.session_len);
		break;
	case KVM_SEV_RECEIVE_UPDATE_DATA:
		d.ru.guest_uaddr = gaddr(r, slot);
		d.ru.guest_len = c->len = len32(r);
		c->ctx = SEV_CTX_DATA;
		d.ru.hdr_uaddr = blob(r, c, &d.ru.hdr_len);
		d.ru.trans_uaddr = blob(r, c, &d.ru.trans_len);
		break;
	default:
		/* No struct (FINISH, CANCEL) or not modelled: NULL or zeroes. */
		if (take_u8(r) & 1)
			data = NULL;
		break;
	}
	ret = sev_fw__guest(vm[slot], id, data, &err);
	if (!ret) {
		switch (id) {
		case KVM_SEV_LAUNCH_MEASURE:
			b = blob_of(d.lm.uaddr);
			if (b && b->len >= SEV_MAC_SIZE)
				memcpy(last_measure, b->p, SEV_MAC_SIZE);
			break;
		case KVM_SEV_SEND_START:
			b = blob_of(d.ss.session_uaddr);
			if (b && b->len >= SEV_SESSION_SIZE)
				memcpy(last_session, b->p, SEV_SESSION_SIZE);
			break;
		case KVM_SEV_SEND_UPDATE_DATA:
			b = blob_of(d.su.hdr_uaddr);
			if (b && b->len >= SEV_PKT_HDR_SIZE)
				memcpy(last_hdr, b->p, SEV_PKT_HDR_SIZE);
			b = blob_of(d.su.trans_uaddr);
			if (b && d.su.guest_len <= sizeof(last_trans) && b->len >= d.su.guest_len) {
				memcpy(last_trans, b->p, d.su.guest_len);
				last_trans_len = d.su.guest_len;
			}
			break;
		}
	}
	free_blobs();
	free(c);
	return ret;
}

static int platform_cmd(struct rd *r, int slot, u32 id)
{
	struct pkt_ctx c = { .slot = slot };
	union {
		struct sev_user_data_status st;
		struct sev_user_data_pdh_cert_export ex;
		struct sev_user_data_get_id2 id2;
		struct sev_user_data_get_id id;
		u8 raw[256];
	} d;
	void *data = &d;
	u32 err, l1, l2;
	int ret;

	if (id == SEV_FACTORY_RESET || id == SEV_PEK_GEN || id == SEV_PDH_GEN)
		return 0;
	memset(&d, 0, sizeof(d));
	switch (id) {
	case SEV_PDH_CERT_EXPORT:
		d.ex.pdh_cert_address = blob(r, &c, &l1);
		d.ex.cert_chain_address = blob(r, &c, &l2);
		d.ex.pdh_cert_len = l1;
		d.ex.cert_chain_len = l2;
		break;
	case SEV_GET_ID2:
		d.id2.address = blob(r, &c, &l1);
		d.id2.length = l1;
		break;
	default:
		if (take_u8(r) & 1)
			data = NULL;
	}
	ret = sev_fw__platform(vm[slot], id, data, &err);
	free_blobs();
	return ret;
}

enum {
	OP_PLATFORM = 0x20,	/* 0x20 + SEV_* id */
	OP_DECOMMISSION = 0x30,
	OP_FW_STATUS,
	OP_REG_REGION,
	OP_VM_INIT,
	NR_OPS
};

static int run_one(const u8 *data, size_t size, int *nok)
{
	struct rd r = { data, size };
	struct kvm_sev_guest_status st;
	int i, slot, ops = 0, ret = 0;
	u32 err;

	for (i = 0; i < 2; i++)
		sev_model__shutdown(anchor[i]->model, NULL);
	for (i = 0; i < NSLOTS; i++)
		reset_vm(i);
	memset(last_session, 0, sizeof(last_session));
	memset(last_hdr, 0, sizeof(last_hdr));
	memset(last_measure, 0, sizeof(last_measure));
	last_trans_len = 0;
	*nok = 0;
	while (r.n && ops++ < MAX_OPS) {
		u8 op = take_u8(&r) % NR_OPS;

		slot = take_u8(&r) % NSLOTS;
		if (op < OP_PLATFORM) {
			ret = guest_cmd(&r, slot, op);
		} else if (op < OP_DECOMMISSION) {
			ret = platform_cmd(&r, slot, op - OP_PLATFORM);
		} else if (op == OP_DECOMMISSION) {
			ret = vm[slot]->handle ? sev_model__decommission(vm[slot], &err) : -ENOENT;
		} else if (op == OP_FW_STATUS) {
			ret = sev_model__guest_status(vm[slot]->model, take_u16(&r), &st, &err);
		} else if (op == OP_REG_REGION) {
			/* Only memory that exists: KVM could not pin anything else. */
			u32 off = take_u16(&r) % (REG_PAGES * PAGE_SIZE);
			u32 len = take_u16(&r) % (REG_PAGES * PAGE_SIZE - off + 1);

			ret = sev_fw__reg_region(vm[slot],
						 up(mem[slot] + REG_FIRST * PAGE_SIZE + off), len);
		} else {
			ret = sev_fw__vm_init(vm[slot], -1);
		}
		*nok += !ret;
	}
	/* What KVM does when the VMs go away. */
	for (i = 0; i < NSLOTS; i++)
		if (vm[i]->handle)
			sev_model__decommission(vm[i], &err);
	return ret;
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	int nok;

	run_one(data, size, &nok);
	return 0;
}

/* ---- seed corpus ---- */

struct em {
	u8 buf[4096];
	size_t n;
};

static void e8(struct em *e, u8 v)
{
	e->buf[e->n++] = v;
}

static void e16(struct em *e, u16 v)
{
	e8(e, v);
	e8(e, v >> 8);
}

static void e32(struct em *e, u32 v)
{
	e16(e, v);
	e16(e, v >> 16);
}

static void e_op(struct em *e, u8 op, u8 slot)
{
	e8(e, op);
	e8(e, slot);
}

static void e_len(struct em *e, u32 v)
{
	e8(e, 2);
	e32(e, v);
}

static void e_reg(struct em *e, u16 off)	/* an address in the registered pages */
{
	e8(e, 1);
	e16(e, off);
}

static void e_tmpl(struct em *e, int t)
{
	e8(e, 2 | t << 3);
}

static void e_out(struct em *e, u32 len)
{
	e8(e, 4);
	e_len(e, len);
}

static void e_null(struct em *e)
{
	e8(e, 0);
	e_len(e, 0);
}

static void e_policy(struct em *e, u32 p)
{
	e8(e, 0x80);
	e32(e, p);
}

static void e_launch(struct em *e, int slot, u32 pol, bool owner)
{
	e_op(e, KVM_SEV_LAUNCH_START, slot);
	e8(e, 0);
	e8(e, 0);
	e_policy(e, pol);
	if (owner) {
		e_tmpl(e, T_PEER_PDH);
		e_tmpl(e, T_SESSION);
	} else {
		e_null(e);
		e_null(e);
	}
	e_op(e, KVM_SEV_LAUNCH_UPDATE_DATA, slot);
	e_reg(e, 0);
	e_len(e, 2 * PAGE_SIZE);
	e_op(e, KVM_SEV_LAUNCH_MEASURE, slot);
	e_out(e, SEV_MEASURE_BLOB_SIZE);
}

static void e_finish(struct em *e, u8 op, int slot)
{
	e_op(e, op, slot);
	e8(e, 1);
}

static void write_seed(const char *dir, const char *name, struct em *e, int want)
{
	char path[512];
	FILE *f;
	int nok;

	run_one(e->buf, e->n, &nok);
	if (nok < want) {
		fprintf(stderr, "seed %s: %d of %d commands succeeded\n", name, nok, want);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(e->buf, 1, e->n, f) != e->n)
		exit(1);
	fclose(f);
}

static void write_seeds(const char *dir)
{
	struct em e;

	/* Launch without an owner, debug access, status. */
	memset(&e, 0, sizeof(e));
	e_launch(&e, 0, 0, false);
	e_finish(&e, KVM_SEV_LAUNCH_FINISH, 0);
	e_op(&e, KVM_SEV_DBG_DECRYPT, 0);
	e_reg(&e, 0x100);
	e_out(&e, 64);
	e_op(&e, KVM_SEV_GUEST_STATUS, 0);
	write_seed(dir, "launch", &e, 6);

	/* Launch with an owner channel and a secret. */
	memset(&e, 0, sizeof(e));
	e_launch(&e, 1, SEV_POLICY_NODBG, true);
	e_op(&e, KVM_SEV_LAUNCH_SECRET, 1);
	e_reg(&e, 0x1000);
	e_len(&e, 64);
	e_tmpl(&e, T_PKT_HDR);
	e_tmpl(&e, T_PKT_TRANS);
	e_finish(&e, KVM_SEV_LAUNCH_FINISH, 1);
	write_seed(dir, "secret", &e, 5);

	/* RECEIVE from a source whose keys the harness knows. */
	memset(&e, 0, sizeof(e));
	e_op(&e, KVM_SEV_RECEIVE_START, 2);
	e8(&e, 0);
	e8(&e, 0);
	e_policy(&e, 0);
	e_tmpl(&e, T_PEER_PDH);
	e_tmpl(&e, T_SESSION);
	e_op(&e, KVM_SEV_RECEIVE_UPDATE_DATA, 2);
	e_reg(&e, 0x2000);
	e_len(&e, PAGE_SIZE);
	e_tmpl(&e, T_PKT_HDR);
	e_tmpl(&e, T_PKT_TRANS);
	e_finish(&e, KVM_SEV_RECEIVE_FINISH, 2);
	write_seed(dir, "receive", &e, 3);

	/* A to B: launch, SEND_* with the SEV chain checked, RECEIVE_* on B. */
	memset(&e, 0, sizeof(e));
	e_launch(&e, 0, SEV_POLICY_SEV, false);
	e_finish(&e, KVM_SEV_LAUNCH_FINISH, 0);
	e_op(&e, KVM_SEV_SEND_START, 0);
	e32(&e, 0);
	e_tmpl(&e, T_PDH_B);
	e_tmpl(&e, T_CHAIN_B);
	e_tmpl(&e, T_AMD);
	e_out(&e, SEV_SESSION_SIZE);
	e_op(&e, KVM_SEV_SEND_UPDATE_DATA, 0);
	e_reg(&e, 0x3000);
	e_len(&e, PAGE_SIZE);
	e_out(&e, SEV_PKT_HDR_SIZE);
	e_out(&e, PAGE_SIZE);
	e_finish(&e, KVM_SEV_SEND_FINISH, 0);
	e_op(&e, KVM_SEV_RECEIVE_START, 2);
	e8(&e, 0);
	e8(&e, 0);
	e_policy(&e, SEV_POLICY_SEV);
	e_tmpl(&e, T_PDH_A);
	e_tmpl(&e, T_LAST_SESSION);
	e_op(&e, KVM_SEV_RECEIVE_UPDATE_DATA, 2);
	e_reg(&e, 0x1000);
	e_len(&e, PAGE_SIZE);
	e_tmpl(&e, T_LAST_HDR);
	e_tmpl(&e, T_LAST_TRANS);
	e_finish(&e, KVM_SEV_RECEIVE_FINISH, 2);
	write_seed(dir, "migrate", &e, 10);

	/* Platform commands: status, export (query, then for real), ids. */
	memset(&e, 0, sizeof(e));
	e_op(&e, OP_PLATFORM + SEV_PLATFORM_STATUS, 0);
	e8(&e, 0);
	e_op(&e, OP_PLATFORM + SEV_PDH_CERT_EXPORT, 1);
	e_null(&e);
	e_null(&e);
	e_op(&e, OP_PLATFORM + SEV_PDH_CERT_EXPORT, 2);
	e_out(&e, SEV_CERT_SIZE);
	e_out(&e, SEV_CHAIN_SIZE);
	e_op(&e, OP_PLATFORM + SEV_GET_ID, 0);
	e8(&e, 0);
	e_op(&e, OP_PLATFORM + SEV_GET_ID2, 0);
	e_out(&e, SEV_FW_ID_LEN);
	e_op(&e, OP_FW_STATUS, 0);
	e16(&e, 1);
	write_seed(dir, "platform", &e, 5);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("LKVM_FUZZ_SEED");

	setup();
	if (dir) {
		mkdir(dir, 0700);
		write_seeds(dir);
		exit(0);
	}
	return 0;
}
