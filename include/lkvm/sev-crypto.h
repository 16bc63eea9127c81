/*
 * SEV cryptography and formats, byte-compatible with AMD SEV API 55766 as
 * described in docs/sev-attestation.md and the reference notes (sev-facts.md
 * sections 2.3-2.8): the KDF, ECDH P-384, the 0x824-byte SEV certificate, the
 * AMD ARK/ASK RSA certificate, chain validation, the session blob (TEK/TIK
 * wrapping), transport packets, the launch measurement and the guest-owner
 * helper commands.  Used by the software firmware model (sev/) and by
 * `lkvm sev session|verify|wrap-secret`.
 *
 * Return convention for every int function below unless it says otherwise:
 *     0   SEV_RET_SUCCESS
 *   > 0   an SEV firmware status (SEV_RET_* from <linux/psp-sev.h>) that the
 *         firmware model passes through unchanged: INVALID_LEN,
 *         INVALID_CERTIFICATE, BAD_SIGNATURE, BAD_MEASUREMENT (any MAC
 *         mismatch, as the firmware does), UNSUPPORTED, POLICY_FAILURE
 *   < 0   -errno for a local failure (allocation, OpenSSL internal error,
 *         file I/O); the model should report it as SEV_RET_HWSEV_RET_PLATFORM.
 * Verification failures also print nothing: callers decide what to say, and
 * sev_ret__str() names the code.
 *
 * All multi-byte fields are little-endian; lkvm is x86-64 only, so the packed
 * structs below are read and written directly.  Key material in structs that
 * this module fills is wiped by the matching __free or __wipe function.
 */
#ifndef LKVM__SEV_CRYPTO_H
#define LKVM__SEV_CRYPTO_H

#include <stddef.h>
#include <linux/psp-sev.h>
#include <openssl/evp.h>

#include "lkvm/util.h"

/* ---- sizes (sev-facts 2.8) ---------------------------------------------- */
#define SEV_CERT_SIZE		0x824	/* one SEV certificate */
#define SEV_CERT_BODY_SIZE	0x414	/* signed part: bytes 0x000-0x413 */
#define SEV_CHAIN_SIZE		0x186C	/* PDH_CERT_EXPORT chain: PEK || OCA || CEK */
#define SEV_SESSION_SIZE	0x80
#define SEV_PKT_HDR_SIZE	0x34	/* transport packet header */
#define SEV_MEASURE_BLOB_SIZE	0x30	/* LAUNCH_MEASURE output: measure || mnonce */
#define SEV_KEY_SIZE		16	/* TEK, TIK, KEK, KIK, master */
#define SEV_NONCE_SIZE		16	/* session nonce, wrap IV, packet IV, mnonce */
#define SEV_MAC_SIZE		32	/* HMAC-SHA256 */
#define SEV_DIGEST_SIZE		32	/* launch digest (SHA-256) */
#define SEV_ECDH_SECRET_SIZE	48	/* P-384 shared x-coordinate */
#define SEV_PKT_MAX_LEN		0x5000	/* firmware scratch buffer per packet */
/* KVM_SEV_LAUNCH_SECRET pins one contiguous piece: a launch secret fits a page. */
#define SEV_SECRET_PAGE		0x1000

/* ---- guest policy bits (sev-facts 2.3) ---------------------------------- */
#define SEV_POLICY_NODBG	(1u << 0)
#define SEV_POLICY_NOKS		(1u << 1)
#define SEV_POLICY_ES		(1u << 2)
#define SEV_POLICY_NOSEND	(1u << 3)
#define SEV_POLICY_DOMAIN	(1u << 4)
#define SEV_POLICY_SEV		(1u << 5)
#define SEV_POLICY_RESERVED	0x0000ffc0u	/* bits 6-15 must be zero */
#define SEV_POLICY_API_MAJOR(p)	(((p) >> 16) & 0xff)
#define SEV_POLICY_API_MINOR(p)	(((p) >> 24) & 0xff)

/* ---- certificate usage and algorithm codes (sev-facts 2.4) -------------- */
#define SEV_USAGE_ARK		0x0000
#define SEV_USAGE_ASK		0x0013
#define SEV_USAGE_INVALID	0x1000
#define SEV_USAGE_OCA		0x1001
#define SEV_USAGE_PEK		0x1002
#define SEV_USAGE_PDH		0x1003
#define SEV_USAGE_CEK		0x1004

#define SEV_ALGO_INVALID	0x000
#define SEV_ALGO_RSA_SHA256	0x001
#define SEV_ALGO_ECDSA_SHA256	0x002
#define SEV_ALGO_ECDH_SHA256	0x003
#define SEV_ALGO_RSA_SHA384	0x101
#define SEV_ALGO_ECDSA_SHA384	0x102
#define SEV_ALGO_ECDH_SHA384	0x103

#define SEV_EC_CURVE_P256	1
#define SEV_EC_CURVE_P384	2

/* Channel context byte: the first byte of every transport MAC input. */
#define SEV_CTX_SECRET		0x01
#define SEV_CTX_DATA		0x02
#define SEV_CTX_VMSA		0x03
#define SEV_CTX_MEASURE		0x04

#define SEV_PKT_FLAG_COMPRESSED	(1u << 0)

/* Name of an SEV_RET_* code ("BAD_MEASUREMENT"), or "UNKNOWN". */
const char *sev_ret__str(int ret);

/* ---- the SEV certificate (0x824 bytes) ---------------------------------- */
struct sev_cert_ec {
	u32 curve;			/* SEV_EC_CURVE_P384 */
	u8 qx[72];			/* little-endian, 48 bytes used */
	u8 qy[72];
	u8 reserved[0x404 - 4 - 144];
} __packed;

struct sev_cert_rsa {
	u32 modulus_size;		/* bits */
	u8 pub_exp[512];		/* little-endian */
	u8 modulus[512];		/* little-endian */
} __packed;

struct sev_cert_sig {
	u32 usage;			/* signer's usage, or SEV_USAGE_INVALID */
	u32 algo;
	u8 sig[0x200];			/* ECDSA: r[72] || s[72] LE; RSA: s LE */
} __packed;

struct sev_cert {
	u32 version;			/* 1 */
	u8 api_major;
	u8 api_minor;
	u16 reserved;
	u32 pub_usage;
	u32 pub_algo;
	union {
		struct sev_cert_ec ec;
		struct sev_cert_rsa rsa;
		u8 raw[0x404];
	} pubkey;
	struct sev_cert_sig sig[2];
} __packed;

/*
 * Fill a certificate body for public key @pub (EC P-384 or RSA) with both
 * signature slots unused (usage INVALID, algo 0).
 */
int sev_cert__init(struct sev_cert *cert, u32 usage, u32 algo, EVP_PKEY *pub,
		   u8 api_major, u8 api_minor);
/*
 * Sign the body into slot 0 or 1 with @priv (EC -> ECDSA, RSA -> RSA-PSS),
 * recording the signer's usage and algo.  The digest follows the algo
 * (SHA-256 for *_SHA256, SHA-384 for *_SHA384).
 */
int sev_cert__sign(struct sev_cert *cert, int slot, u32 signer_usage, u32 signer_algo,
		   EVP_PKEY *priv);
/*
 * Parse @len bytes into @out checking every field: length == 0x824
 * (INVALID_LEN otherwise), version 1, reserved 0, a known usage with an algo
 * that fits it, curve P-384, coordinates < 2^384 and a point on the curve
 * (or a sane RSA key), signature slots either unused or a known signer usage
 * with a signing algo (INVALID_CERTIFICATE otherwise).  Signatures are NOT
 * checked here.  @out may be NULL to only check.
 */
int sev_cert__parse(const void *buf, size_t len, struct sev_cert *out);
/* sev_cert__parse() plus: usage PDH and algo ECDH_SHA256 (what the firmware
 * demands of a guest owner's or a peer platform's DH certificate). */
int sev_cert__parse_pdh(const void *buf, size_t len, struct sev_cert *out);
/* The certificate's public key as a new EVP_PKEY (INVALID_CERTIFICATE if bad). */
int sev_cert__pubkey(const struct sev_cert *cert, EVP_PKEY **out);
/*
 * Verify that @signer (a parsed SEV cert) signed @cert: a slot whose usage and
 * algo match the signer (either slot; order is not fixed) must hold a valid
 * signature.  No matching slot -> INVALID_CERTIFICATE; wrong signature ->
 * BAD_SIGNATURE.
 */
int sev_cert__verify(const struct sev_cert *cert, const struct sev_cert *signer);
/* Same with the signer given as usage + public key (ASK signing a CEK...). */
int sev_cert__verify_with(const struct sev_cert *cert, u32 signer_usage, EVP_PKEY *signer_pub);

/* ---- the AMD ARK/ASK certificate (RSA, variable size) ------------------- */
struct sev_amd_cert_hdr {
	u32 version;			/* 1 */
	u64 key_id_0, key_id_1;
	u64 certifying_id_0, certifying_id_1;	/* ARK: == key_id (self) */
	u32 key_usage;			/* SEV_USAGE_ARK or SEV_USAGE_ASK */
	u64 reserved_0, reserved_1;
	u32 pub_exp_size;		/* bits */
	u32 modulus_size;		/* bits: 2048 (SHA-256) or 4096 (SHA-384) */
} __packed;

#define SEV_AMD_CERT_HDR_SIZE	0x40
#define SEV_AMD_CERT_MAX_BITS	4096
#define SEV_AMD_CERT_MAX_SIZE	(SEV_AMD_CERT_HDR_SIZE + 3 * SEV_AMD_CERT_MAX_BITS / 8)

/* Parsed form; the byte arrays are little-endian, sized by the header. */
struct sev_amd_cert {
	struct sev_amd_cert_hdr hdr;
	u8 pub_exp[SEV_AMD_CERT_MAX_BITS / 8];
	u8 modulus[SEV_AMD_CERT_MAX_BITS / 8];
	u8 sig[SEV_AMD_CERT_MAX_BITS / 8];
};

/* Serialized size: 0x40 + (pub_exp_size + 2 * modulus_size) / 8. */
size_t sev_amd_cert__size(const struct sev_amd_cert *cert);
/*
 * Parse one AMD certificate from the front of @buf; *@used (may be NULL)
 * gets its size so that ASK || ARK can be walked.  Checks version 1, usage
 * ARK/ASK, reserved 0, modulus 2048 or 4096 bits, pub_exp_size a non-zero
 * multiple of 8 <= modulus, buffer long enough (INVALID_LEN if short,
 * INVALID_CERTIFICATE otherwise).
 */
int sev_amd_cert__parse(const void *buf, size_t len, struct sev_amd_cert *out, size_t *used);
/* Write the certificate; INVALID_LEN if @len is too small. */
int sev_amd_cert__write(const struct sev_amd_cert *cert, void *buf, size_t len, size_t *used);
/* Build an unsigned certificate for RSA key @pub; key ids are 16 bytes each. */
int sev_amd_cert__init(struct sev_amd_cert *cert, u32 usage, const u8 key_id[16],
		       const u8 certifying_id[16], EVP_PKEY *pub);
/* RSA-PSS sign with @priv (salt = digest length), digest by modulus size. */
int sev_amd_cert__sign(struct sev_amd_cert *cert, EVP_PKEY *priv);
int sev_amd_cert__pubkey(const struct sev_amd_cert *cert, EVP_PKEY **out);
/* @signer signed @cert: certifying id == signer key id and a valid RSA-PSS
 * signature (BAD_SIGNATURE otherwise); INVALID_CERTIFICATE if the two key
 * sizes differ (the signature is as wide as the signer's modulus). */
int sev_amd_cert__verify(const struct sev_amd_cert *cert, const struct sev_amd_cert *signer);

/* ---- chain validation (sev-facts 2.3 / 2.4) ----------------------------- */
/* Check what is checked, both may be given. */
#define SEV_CHAIN_DOMAIN	(1u << 0)	/* PDH <- PEK <- OCA (OCA self-signed) */
#define SEV_CHAIN_SEV		(1u << 1)	/* PDH <- PEK <- CEK <- ASK <- ARK */

struct sev_chain {
	struct sev_cert pdh, pek, oca, cek;
	struct sev_amd_cert ask, ark;
};

/*
 * Parse and validate a platform's certificates as SEND_START does:
 *   pdh      0x824 bytes
 *   plat     PEK || OCA || CEK, 0x186C bytes (needed for either flag)
 *   amd      ASK || ARK (needed for SEV_CHAIN_SEV)
 * With @flags == 0 only the PDH is sanity-checked (sev_cert__parse_pdh).
 * For SEV_CHAIN_SEV the ARK must be self-signed and, if @trusted_ark is not
 * NULL, byte-for-byte the same key (modulus, exponent, key id) as it;
 * otherwise BAD_SIGNATURE.  @out (may be NULL) receives the parsed certs
 * (the caller reads the target API version from out->pek).
 */
int sev_chain__validate(const void *pdh, size_t pdh_len, const void *plat, size_t plat_len,
			const void *amd, size_t amd_len, unsigned int flags,
			const struct sev_amd_cert *trusted_ark, struct sev_chain *out);

/*
 * ASK || ARK exactly filling @amd_len: usages ASK then ARK, ARK self-signed
 * (and the same key as @trusted_ark when given), ASK signed by the ARK.
 * What lkvm checks of --sev-amd-chain at start, and part of the above.
 */
int sev_amd_chain__check(const void *amd, size_t amd_len, const struct sev_amd_cert *trusted_ark,
			 struct sev_amd_cert *ask, struct sev_amd_cert *ark);
/* One self-signed ARK filling @len (--sev-ark). */
int sev_amd_ark__check(const void *buf, size_t len, struct sev_amd_cert *ark);

/* ---- keys ---------------------------------------------------------------- */
EVP_PKEY *sev_key__gen_ec(void);		/* P-384; NULL on failure */
EVP_PKEY *sev_key__gen_rsa(unsigned int bits);
/* PKCS#8 PEM of a private key in a malloc'd buffer (NUL terminated). */
int sev_key__to_pem(EVP_PKEY *key, char **pem, size_t *len);
int sev_key__from_pem(const void *pem, size_t len, EVP_PKEY **out);
/* Write PEM to @path created 0600 (replaced atomically), / read it back. */
int sev_key__save(EVP_PKEY *key, const char *path);
int sev_key__load(const char *path, EVP_PKEY **out);
/* ECDH P-384: Z = big-endian x-coordinate of priv * peer (48 bytes). */
int sev_ecdh(EVP_PKEY *priv, EVP_PKEY *peer_pub, u8 z[SEV_ECDH_SECRET_SIZE]);

/* ---- primitives ---------------------------------------------------------- */
/* NIST SP 800-108 counter KDF, HMAC-SHA256, LE32 counter and LE32 L (bits). */
int sev_kdf(const u8 *key, size_t key_len, const char *label, const u8 *ctx, size_t ctx_len,
	    u8 *out, size_t out_len);
int sev_hmac_sha256(const u8 *key, size_t key_len, const void *data, size_t len,
		    u8 mac[SEV_MAC_SIZE]);
/* AES-128-CTR, 128-bit big-endian counter from @iv; in == out allowed. */
int sev_aes128_ctr(const u8 key[SEV_KEY_SIZE], const u8 iv[SEV_NONCE_SIZE],
		   const void *in, void *out, size_t len);
int sev_random(void *buf, size_t len);
/* Constant-time equality of two MACs (CRYPTO_memcmp). */
bool sev_mac_equal(const u8 *a, const u8 *b, size_t len);

/* ---- session: key agreement and TEK/TIK wrapping (sev-facts 2.5) -------- */
struct sev_tks {
	u8 tek[SEV_KEY_SIZE];
	u8 tik[SEV_KEY_SIZE];
};

struct sev_session {
	u8 nonce[16];
	u8 wrap_tk[32];
	u8 wrap_iv[16];
	u8 wrap_mac[32];
	u8 policy_mac[32];
} __packed;

/* master = KDF(Z, "sev-master-secret", nonce); KEK/KIK = KDF(master, "sev-kek"/"sev-kik"). */
int sev_session__derive(const u8 *z, size_t z_len, const u8 nonce[16],
			u8 kek[SEV_KEY_SIZE], u8 kik[SEV_KEY_SIZE]);
/*
 * Wrap @tks under a shared secret @z into @out ("client" side).  @nonce and
 * @iv may be NULL (fresh random); given, they make the result reproducible
 * (test vectors).
 */
int sev_session__wrap_z(const u8 *z, size_t z_len, u32 policy, const struct sev_tks *tks,
			const u8 *nonce, const u8 *iv, struct sev_session *out);
/* Unwrap ("server" side): wrap_mac, then policy_mac -> BAD_MEASUREMENT. */
int sev_session__unwrap_z(const u8 *z, size_t z_len, u32 policy, const struct sev_session *s,
			  struct sev_tks *out);
/*
 * SEND_START ("client"): fresh random TEK/TIK (returned in @tks), nonce and
 * IV; Z from our PDH private key and the peer's PDH certificate (0x824 bytes,
 * sanity-checked as sev_cert__parse_pdh).  Also what a guest owner does with
 * its own DH key and the platform's PDH.
 */
int sev_session__create(EVP_PKEY *own_priv, const void *peer_cert, size_t peer_cert_len,
			u32 policy, struct sev_tks *tks, struct sev_session *out);
/*
 * LAUNCH_START / RECEIVE_START ("server"): @peer_cert is the guest owner's
 * DH cert or the source platform's PDH cert; lengths must be exactly 0x824
 * and 0x80 (INVALID_LEN), the cert must pass sev_cert__parse_pdh
 * (INVALID_CERTIFICATE), the MACs must match (BAD_MEASUREMENT).
 */
int sev_session__open(EVP_PKEY *own_priv, const void *peer_cert, size_t peer_cert_len,
		      const void *session, size_t session_len, u32 policy, struct sev_tks *out);
void sev_tks__wipe(struct sev_tks *tks);

/* ---- transport packets (sev-facts 2.6) ---------------------------------- */
struct sev_pkt_hdr {
	u32 flags;
	u8 iv[16];
	u8 mac[32];
} __packed;

/*
 * Encrypt @len (> 0, else INVALID_LEN) bytes with TEK under a fresh IV (or @iv when not NULL) and
 * MAC with TIK:  HMAC(TIK, ctx || LE32(flags=0) || IV || LE32(len) ||
 * LE32(len) || ciphertext [|| measure[32] when @measure != NULL]).
 * SEND_UPDATE_DATA: ctx DATA, measure NULL.  LAUNCH_SECRET (owner side):
 * ctx SECRET, measure = the LAUNCH_MEASURE measure (API >= 0.17).
 */
int sev_packet__seal(const struct sev_tks *tks, u8 ctx, const u8 *measure, const u8 *iv,
		     const void *plain, size_t len, struct sev_pkt_hdr *hdr, void *trans);
/*
 * Verify and decrypt (RECEIVE_UPDATE_DATA, LAUNCH_SECRET firmware side).
 * @hdr_len < 52 -> INVALID_LEN; COMPRESSED flag -> UNSUPPORTED (nothing
 * decrypted); len 0 -> INVALID_LEN; MAC mismatch -> BAD_MEASUREMENT (nothing
 * written to @plain).  The caller applies the command's own length and
 * alignment rules (multiple of 16, <= 0x5000, hdr_len == 52 for SECRET).
 * For seal and open the output may be the input buffer (in place) but must
 * not otherwise overlap it.
 */
int sev_packet__open(const struct sev_tks *tks, u8 ctx, const u8 *measure,
		     const void *hdr, size_t hdr_len, const void *trans, size_t len, void *plain);

/* ---- launch digest and measurement -------------------------------------- */
struct sev_digest {
	EVP_MD_CTX *md;
};
int sev_digest__init(struct sev_digest *d);
int sev_digest__update(struct sev_digest *d, const void *data, size_t len);
/* Final value; the digest may be finalised more than once (copy). */
int sev_digest__final(struct sev_digest *d, u8 out[SEV_DIGEST_SIZE]);
void sev_digest__free(struct sev_digest *d);

struct sev_measure_blob {
	u8 measure[SEV_MAC_SIZE];
	u8 mnonce[SEV_NONCE_SIZE];
} __packed;

/*
 * measure = HMAC(TIK, 0x04 || api_major || api_minor || build || LE32(policy)
 *                || digest[32] || mnonce[16]); API < 0.17 omits the first 4 bytes.
 */
int sev_measure__compute(const u8 tik[SEV_KEY_SIZE], u8 api_major, u8 api_minor, u8 build,
			 u32 policy, const u8 digest[SEV_DIGEST_SIZE],
			 const u8 mnonce[SEV_NONCE_SIZE], u8 measure[SEV_MAC_SIZE]);
/* Check a LAUNCH_MEASURE blob (len must be 0x30): BAD_MEASUREMENT / INVALID_LEN. */
int sev_measure__verify(const u8 tik[SEV_KEY_SIZE], u8 api_major, u8 api_minor, u8 build,
			u32 policy, const u8 digest[SEV_DIGEST_SIZE], const void *blob,
			size_t len);

/* ---- a platform's key set (for the firmware model) ---------------------- */
/*
 * The AMD root: ARK (self-signed) and ASK (signed by ARK), RSA.  The model is
 * configured to trust one ARK; sev_amd_root__test() gives every lkvm the same
 * built-in test root so that two model instances trust each other's chains.
 */
struct sev_amd_root {
	EVP_PKEY *ark, *ask;			/* private keys */
	struct sev_amd_cert ark_cert, ask_cert;
};
int sev_amd_root__test(struct sev_amd_root *root);
/* Is this ARK the built-in test root's (whose private key is in the source)? */
bool sev_amd_root__is_test_ark(const struct sev_amd_cert *ark);
int sev_amd_root__generate(struct sev_amd_root *root, unsigned int rsa_bits);
/* ASK || ARK as SEND_START's amd_certs; *len in: buffer size, out: used. */
int sev_amd_root__write_chain(const struct sev_amd_root *root, void *buf, size_t *len);
void sev_amd_root__free(struct sev_amd_root *root);

struct sev_platform_keys {
	EVP_PKEY *cek, *oca, *pek, *pdh;	/* private keys, EC P-384 */
	struct sev_cert cek_cert;	/* ECDSA_SHA256 key, signed by ASK (RSA) */
	struct sev_cert oca_cert;	/* self-signed, slot 0 */
	struct sev_cert pek_cert;	/* slot 0 by OCA, slot 1 by CEK */
	struct sev_cert pdh_cert;	/* ECDH_SHA256, signed by PEK */
};
/* CEK + OCA + PEK + PDH, certificates carrying api_major.api_minor. */
int sev_platform_keys__generate(struct sev_platform_keys *k, const struct sev_amd_root *root,
				u8 api_major, u8 api_minor);
/* PEK_GEN (platform becomes self-owned): new OCA, new PEK signed by OCA
 * and CEK, new PDH signed by the PEK. */
int sev_platform_keys__regen_pek(struct sev_platform_keys *k, u8 api_major, u8 api_minor);
/* PDH_GEN: new PDH signed by the current PEK. */
int sev_platform_keys__regen_pdh(struct sev_platform_keys *k, u8 api_major, u8 api_minor);
/* PDH_CERT_EXPORT: pdh = PDH cert, chain = PEK || OCA || CEK. */
void sev_platform_keys__export(const struct sev_platform_keys *k, u8 pdh[SEV_CERT_SIZE],
			       u8 chain[SEV_CHAIN_SIZE]);
/*
 * State directory (created 0700 by the caller): cek.pem oca.pem pek.pem
 * pdh.pem (0600) and cek.cert oca.cert pek.cert pdh.cert.  Load re-parses
 * every certificate and checks each matches its private key.
 */
int sev_platform_keys__save(const struct sev_platform_keys *k, const char *dir);
int sev_platform_keys__load(struct sev_platform_keys *k, const char *dir);
void sev_platform_keys__free(struct sev_platform_keys *k);

/* ---- guest-owner helper commands (wired as `lkvm sev <sub>`) ------------ */
/*
 * All take argv[0] = the subcommand name, print one-line errors, and return
 * 0 on success or 1 (the process exit status).  Files written with secrets
 * are created 0600.
 *
 * session: make the owner's DH key, DH certificate and session blob.
 *   session --pdh FILE [--chain FILE --amd-chain FILE] --policy N
 *           --dh-cert OUT --session OUT --keys OUT
 *   --pdh        platform PDH certificate (0x824 bytes, from `lkvm sev export`)
 *   --chain      PEK||OCA||CEK (0x186C), --amd-chain ASK||ARK: when given the
 *                PDH is validated up to the ARK (and OCA) before use
 *   --ark        trusted ARK certificate file to pin (optional, with --amd-chain)
 *   --policy     guest policy (decimal or 0x...), default 0
 *   --dh-cert    out: owner DH certificate (0x824) for LAUNCH_START
 *   --session    out: session blob (0x80) for LAUNCH_START
 *   --keys       out (0600): keys file (TEK, TIK, policy, owner private key)
 *
 * verify: check the LAUNCH_MEASURE blob against the expected launch digest.
 *   verify --measurement FILE --keys FILE (--digest HEX | --data FILE...)
 *          [--api MAJOR.MINOR] [--build N] [--policy N]
 *   --measurement  the 48-byte blob lkvm wrote (measure || mnonce)
 *   --digest     expected launch digest, 64 hex digits (`lkvm sev measure`)
 *   --data       instead of --digest: files hashed in order (repeatable)
 *   --api/--build  firmware API version and build id (`lkvm sev status`),
 *                both required
 *   --policy     default: the policy stored in the keys file
 *   Prints "measurement OK" and exits 0, else one line and exit 1.
 *
 * wrap-secret: make LAUNCH_SECRET's header and encrypted secret.
 *   wrap-secret --keys FILE --measurement FILE --secret FILE
 *               --header OUT --out OUT [--api MAJOR.MINOR]
 *   --keys       keys file from `session`, or a 32-byte TEK||TIK file
 *   --secret     plaintext, length a non-zero multiple of 16, <= 0x5000
 *   --header     out: 52-byte packet header; --out: ciphertext (same length)
 *   --api        firmware API; < 0.17 leaves the measure out of the MAC
 */
int sev_owner__cmd_session(int argc, const char **argv);
int sev_owner__cmd_verify(int argc, const char **argv);
int sev_owner__cmd_wrap_secret(int argc, const char **argv);

/*
 * The guest owner's keys file (text, 0600):
 *   lkvm-sev-owner-keys 1
 *   policy 0x...
 *   tek <32 hex>
 *   tik <32 hex>
 *   -----BEGIN PRIVATE KEY----- ... (owner ECDH key)
 * Loading also accepts a raw 32-byte TEK || TIK file (sev-tool's tmp_tk.bin);
 * then *policy is untouched and *key is NULL.  @key may be NULL.
 */
int sev_owner__save_keys(const char *path, const struct sev_tks *tks, u32 policy, EVP_PKEY *key);
int sev_owner__load_keys(const char *path, struct sev_tks *tks, u32 *policy, bool *have_policy,
			 EVP_PKEY **key);

#endif
