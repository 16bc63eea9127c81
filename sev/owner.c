/*
 * The guest owner's side of SEV attestation, as `lkvm sev` subcommands:
 *   session      DH key + DH certificate + session blob for a platform's PDH
 *   verify       check the LAUNCH_MEASURE blob against the expected digest
 *   wrap-secret  LAUNCH_SECRET header + ciphertext for a secret
 * The owner runs these on a machine it trusts, never on the host.  Keys (TEK,
 * TIK, the owner's ECDH key) go to one 0600 file.  Flow: docs/sev-attestation.md.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "lkvm/parse-options.h"
#include "crypto-internal.h"
#include "lkvm/out-files.h"

#define FILE_MAX	(1 << 20)
#define KEYS_MAGIC	"lkvm-sev-owner-keys 1\n"

/* One line, "lkvm sev <sub>: error: ...", like the option parser's. */
static void cmd_err(const char *fmt, ...) __printf(1, 2);
static void cmd_err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "lkvm %s: error: ", parse_options_cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- small parsers -------------------------------------------------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly 2 * n hex digits in s[0..len). */
static int parse_hex(const char *s, size_t len, u8 *out, size_t n)
{
	size_t i;

	if (len != 2 * n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (u8)(hi << 4 | lo);
	}
	return 0;
}

static void to_hex(const u8 *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = 0;
}

/* "MAJOR.MINOR", each 0..255. */
static int parse_api(const char *s, u8 *major, u8 *minor)
{
	unsigned int a, b;
	int n = 0;

	if (sscanf(s, "%3u.%3u%n", &a, &b, &n) != 2 || s[n] || a > 255 || b > 255 ||
	    !isdigit((unsigned char)s[0]))
		return -EINVAL;
	*major = a;
	*minor = b;
	return 0;
}

/* read_file()'s errors in words: its -EINVAL means "not a regular file". */
static const char *file_err(int ret)
{
	return ret == -EINVAL ? "not a regular file" : strerror(-ret);
}

/* Read a file that must be exactly @len bytes. */
static int read_exact(const char *what, const char *path, void *out, size_t len)
{
	void *buf;
	size_t n;
	int ret = read_file(path, &buf, &n, FILE_MAX);

	if (ret) {
		cmd_err("%s %s: %s", what, path, file_err(ret));
		return ret;
	}
	if (n != len) {
		cmd_err("%s %s: %zu bytes, expected %zu", what, path, n, len);
		free(buf);
		return -EINVAL;
	}
	memcpy(out, buf, len);
	free(buf);
	return 0;
}

/* ---- the keys file ----------------------------------------------------- */

/* The keys file's text in a fresh buffer (*len bytes), to be cleansed and freed. */
static int format_keys(const struct sev_tks *tks, u32 policy, EVP_PKEY *key,
		       char **out, size_t *len)
{
	char tek[33], tik[33], *pem = NULL, *buf;
	size_t pem_len = 0, cap;
	int ret = 0, n;

	if (key && (ret = sev_key__to_pem(key, &pem, &pem_len)))
		return ret;
	cap = 256 + pem_len;
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	to_hex(tks->tek, 16, tek);
	to_hex(tks->tik, 16, tik);
	n = snprintf(buf, cap, KEYS_MAGIC "policy 0x%08x\ntek %s\ntik %s\n%s", policy, tek, tik,
		     pem ? pem : "");
	OPENSSL_cleanse(tek, sizeof(tek));
	OPENSSL_cleanse(tik, sizeof(tik));
	if (n < 0 || (size_t)n >= cap) {
		OPENSSL_cleanse(buf, cap);
		free(buf);
		ret = -EOVERFLOW;
		goto out;
	}
	*out = buf;
	*len = n;
out:
	if (pem) {
		OPENSSL_cleanse(pem, pem_len);
		free(pem);
	}
	return ret;
}

int sev_owner__save_keys(const char *path, const struct sev_tks *tks, u32 policy, EVP_PKEY *key)
{
	char *buf;
	size_t len;
	int ret = format_keys(tks, policy, key, &buf, &len);

	if (ret)
		return ret;
	ret = sev__write_secret_file(path, buf, len);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return ret;
}

/*
 * All of a command's outputs, or none of them: a new keys file beside an
 * old session blob would only fail later, at launch.  The files it read
 * are in @f too (OUT_FILE_INPUT): none of them is replaced.
 */
static int write_outs(const struct out_file *f, int n)
{
	int bad, clash, written, ret = out_files__write(f, n, &bad, &clash, &written);

	if (ret == -ENOTUNIQ)
		cmd_err("%s", out_files__clash_msg(f, bad, clash));
	else if (ret && bad >= 0)
		cmd_err("cannot write %s %s: %s %s", f[bad].opt, f[bad].path, strerror(-ret),
			out_files__what_written(written));
	else if (ret)
		cmd_err("cannot write the outputs: %s", strerror(-ret));
	return ret;
}

/* Take the line starting at *p (must begin with @tag " "), advance past it. */
static int take_line(const char **p, const char *end, const char *tag, const char **val,
		     size_t *len)
{
	const char *nl = memchr(*p, '\n', end - *p);
	size_t tl = strlen(tag);

	if (!nl || (size_t)(nl - *p) < tl + 1 || memcmp(*p, tag, tl) || (*p)[tl] != ' ')
		return -EINVAL;
	*val = *p + tl + 1;
	*len = nl - *val;
	*p = nl + 1;
	return 0;
}

static int parse_keys(const char *buf, size_t len, struct sev_tks *tks, u32 *policy,
		      bool *have_policy, EVP_PKEY **key)
{
	const char *p = buf, *end = buf + len, *v;
	char num[16];
	size_t vl;
	u64 pol;

	if (len < strlen(KEYS_MAGIC) || memcmp(buf, KEYS_MAGIC, strlen(KEYS_MAGIC)))
		return -EINVAL;
	p += strlen(KEYS_MAGIC);
	if (take_line(&p, end, "policy", &v, &vl) || vl >= sizeof(num))
		return -EINVAL;
	memcpy(num, v, vl);
	num[vl] = 0;
	if (parse_u64(num, &pol) || pol > UINT32_MAX)
		return -EINVAL;
	if (take_line(&p, end, "tek", &v, &vl) || parse_hex(v, vl, tks->tek, 16) ||
	    take_line(&p, end, "tik", &v, &vl) || parse_hex(v, vl, tks->tik, 16))
		return -EINVAL;
	if (policy)
		*policy = (u32)pol;
	if (have_policy)
		*have_policy = true;
	/* Whatever follows must be the owner key, even if the caller skips it. */
	if (p < end) {
		EVP_PKEY *k;

		if (sev_key__from_pem(p, end - p, &k))
			return -EINVAL;
		if (key)
			*key = k;
		else
			EVP_PKEY_free(k);
	}
	return 0;
}

int sev_owner__load_keys(const char *path, struct sev_tks *tks, u32 *policy, bool *have_policy,
			 EVP_PKEY **key)
{
	void *buf;
	size_t len;
	int ret = read_file(path, &buf, &len, 64 * 1024);

	if (have_policy)
		*have_policy = false;
	if (key)
		*key = NULL;
	if (ret)
		return ret;
	if (len == 2 * SEV_KEY_SIZE) {		/* raw TEK || TIK (sev-tool) */
		memcpy(tks, buf, sizeof(*tks));
		ret = 0;
	} else {
		ret = parse_keys(buf, len, tks, policy, have_policy, key);
	}
	if (ret)
		sev_tks__wipe(tks);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return ret;
}

static int load_keys_msg(const char *path, struct sev_tks *tks, u32 *policy, bool *have_policy)
{
	int ret = sev_owner__load_keys(path, tks, policy, have_policy, NULL);

	if (ret == -EINVAL)
		cmd_err("keys file %s: not an lkvm owner keys file or a 32-byte TEK||TIK file",
		       path);
	else if (ret)
		cmd_err("keys file %s: %s", path, strerror(-ret));
	return ret;
}

/* ---- option helpers ------------------------------------------------------ */

struct api_opt {
	u8 major, minor;
	bool set;
};

static int api_cb(const struct option *opt, const char *arg)
{
	struct api_opt *a = opt->value;

	if (!arg || parse_api(arg, &a->major, &a->minor))
		return opt_error(opt, "'%s' is not MAJOR.MINOR (e.g. 0.24)", arg ? arg : "");
	a->set = true;
	return 0;
}

struct u32_opt {
	u32 v;
	bool set;
};

static int u32_cb(const struct option *opt, const char *arg)
{
	struct u32_opt *o = opt->value;
	u64 v;

	if (!arg || parse_u64(arg, &v) || v > (u64)opt->max)
		return opt_error(opt, "'%s' is not a number in 0..%lld", arg ? arg : "",
				 (long long)opt->max);
	o->v = (u32)v;
	o->set = true;
	return 0;
}

#define OPT_U32(l, v, max_, a, h) \
	{ .type = OPT_CALLBACK, .long_name = (l), .value = (v), .argh = (a), .help = (h), \
	  .cb = u32_cb, .max = (max_) }

static int parse_or_usage(int argc, const char **argv, const struct option *opts,
			  const char *usage)
{
	int n = parse_options(argc, argv, opts, usage);

	if (n == PARSE_HELP || n == PARSE_ERROR)
		return n;
	if (n > 0) {
		cmd_err("unexpected argument '%s'",
			argv[0]);
		return PARSE_ERROR;
	}
	return 0;
}

static int need(const char *val, const char *name)
{
	if (val)
		return 0;
	cmd_err("--%s is required", name);
	return -1;
}

static int check_policy(u32 policy)
{
	if (!(policy & SEV_POLICY_RESERVED))
		return 0;
	cmd_err("policy 0x%x sets reserved bits 6-15; the firmware would refuse it", policy);
	return -1;
}

/* ---- session --------------------------------------------------------- */

/*
 * What a validated chain does not prove, said once the session is made:
 * a chain checked only up to its self-signed OCA, an AMD chain checked
 * against no pinned ARK (any self-signed root passes), or one ending at
 * lkvm's test root, the software model's, whose private key anyone can
 * read in the source and whose platforms encrypt nothing.
 */
static char trust_note[PATH_MAX + 200];

static void note_root(const char *amd_path, const char *ark_path, const struct sev_amd_cert *ark)
{
	if (sev_amd_root__is_test_ark(ark))
		snprintf_cut(trust_note, sizeof(trust_note), "platform chain %s ends at lkvm's "
			     "built-in TEST AMD root (the software firmware model: guest memory is "
			     "NOT encrypted, and the root's private key is public): fine for "
			     "testing, not for trust", amd_path);
	else if (!ark_path)
		snprintf_cut(trust_note, sizeof(trust_note), "AMD chain %s was not checked "
			     "against a pinned ARK (no --ark): any self-signed root passes; fine "
			     "for testing, not for trust", amd_path);
}

static int validate_pdh(const char *pdh_path, const char *chain_path, const char *amd_path,
			const char *ark_path, u8 pdh[SEV_CERT_SIZE])
{
	u8 chain[SEV_CHAIN_SIZE];
	void *amd = NULL, *arkbuf = NULL;
	size_t amd_len = 0, ark_len;
	struct sev_amd_cert ark;
	struct sev_chain *valid = NULL;
	unsigned int flags = 0;
	int ret;

	trust_note[0] = '\0';
	ret = read_exact("PDH certificate", pdh_path, pdh, SEV_CERT_SIZE);
	if (ret)
		return ret;
	if ((amd_path || ark_path) && !chain_path) {
		cmd_err("--amd-chain and --ark need --chain (PEK||OCA||CEK) as well");
		return -EINVAL;
	}
	if (ark_path && !amd_path) {
		cmd_err("--ark needs --amd-chain");
		return -EINVAL;
	}
	if (chain_path) {
		ret = read_exact("certificate chain", chain_path, chain, sizeof(chain));
		if (ret)
			return ret;
		flags |= SEV_CHAIN_DOMAIN;
	}
	if (amd_path) {
		ret = read_file(amd_path, &amd, &amd_len, 2 * SEV_AMD_CERT_MAX_SIZE);
		if (ret) {
			cmd_err("AMD chain %s: %s", amd_path,
			       ret == -EFBIG ? "too large for ASK||ARK" : file_err(ret));
			return ret;
		}
		flags |= SEV_CHAIN_SEV;
	}
	if (ark_path) {
		ret = read_file(ark_path, &arkbuf, &ark_len, SEV_AMD_CERT_MAX_SIZE);
		if (!ret) {
			/*
			 * The root this owner pins: one self-signed ARK, as lkvm
			 * run's --sev-ark.  An ASK here used to surface as the
			 * platform's chain "not validating".
			 */
			ret = sev_amd_ark__check(arkbuf, ark_len, &ark);
			free(arkbuf);
			if (ret > 0)
				cmd_err("ARK %s: not one self-signed AMD ARK certificate (%s)",
				       ark_path, sev_ret__str(ret));
		} else {
			cmd_err("ARK %s: %s", ark_path, ret == -EFBIG ? "larger than one AMD "
				"certificate (--ark takes the ARK alone, not ASK || ARK)" :
				file_err(ret));
		}
		if (ret)
			goto out;
	}
	valid = calloc(1, sizeof(*valid));
	if (!valid) {
		ret = -ENOMEM;
		cmd_err("out of memory");
		goto out;
	}
	ret = sev_chain__validate(pdh, SEV_CERT_SIZE, chain, sizeof(chain), amd, amd_len, flags,
				  ark_path ? &ark : NULL, valid);
	if (ret)
		cmd_err("platform PDH %s: %s%s", pdh_path,
		       flags ? "certificate chain does not validate: " : "not a PDH certificate: ",
		       sev_ret__str(ret));
	else if (flags & SEV_CHAIN_SEV)
		note_root(amd_path, ark_path, &valid->ark);
	else if (flags)
		snprintf_cut(trust_note, sizeof(trust_note), "platform chain %s was checked only "
			     "up to its self-signed OCA (no --amd-chain): anyone can make one; "
			     "fine for testing, not for trust", chain_path);
out:
	free(valid);
	free(amd);
	return ret;
}

int sev_owner__cmd_session(int argc, const char **argv)
{
	const char *pdh_path = NULL, *chain_path = NULL, *amd_path = NULL, *ark_path = NULL;
	const char *dh_out = NULL, *session_out = NULL, *keys_out = NULL;
	/* The same default as `lkvm run --sev-policy`: a session made with both
	 * defaults must launch. */
	struct u32_opt policy = { SEV_POLICY_NODBG, false };
	const struct option opts[] = {
		OPT_STR(0, "pdh", &pdh_path, "<file>", "platform PDH certificate (0x824 bytes)"),
		OPT_STR(0, "chain", &chain_path, "<file>", "PEK||OCA||CEK to validate the PDH"),
		OPT_STR(0, "amd-chain", &amd_path, "<file>", "ASK||ARK to validate the CEK"),
		OPT_STR(0, "ark", &ark_path, "<file>", "trusted ARK certificate to pin"),
		OPT_U32("policy", &policy, UINT32_MAX, "<n>", "guest policy (default 0x1 = NODBG, "
			"as lkvm run's)"),
		OPT_STR(0, "dh-cert", &dh_out, "<out>", "write the owner DH certificate"),
		OPT_STR(0, "session", &session_out, "<out>", "write the session blob"),
		OPT_STR(0, "keys", &keys_out, "<out>", "write TEK, TIK and the owner key (0600)"),
		OPT_END(),
	};
	u8 pdh[SEV_CERT_SIZE];
	struct sev_cert dh_cert;
	struct sev_session session;
	struct sev_tks tks;
	EVP_PKEY *key = NULL;
	char *keys = NULL;
	size_t keys_len = 0;
	int ret;

	ret = parse_or_usage(argc, argv, opts,
			     "lkvm sev session --pdh <file> [--chain <file> --amd-chain <file> "
			     "[--ark <file>]] [--policy <n>] --dh-cert <out> --session <out> "
			     "--keys <out>");
	if (ret)
		return ret == PARSE_HELP ? 0 : 1;
	if (need(pdh_path, "pdh") || need(dh_out, "dh-cert") || need(session_out, "session") ||
	    need(keys_out, "keys") || check_policy(policy.v))
		return 1;
	if (validate_pdh(pdh_path, chain_path, amd_path, ark_path, pdh))
		return 1;
	key = sev_key__gen_ec();
	if (!key) {
		cmd_err("cannot generate an ECDH P-384 key");
		return 1;
	}
	ret = sev_cert__init(&dh_cert, SEV_USAGE_PDH, SEV_ALGO_ECDH_SHA256, key, 0, 0) ?:
	      sev_session__create(key, pdh, sizeof(pdh), policy.v, &tks, &session);
	if (ret) {
		cmd_err("cannot make the session: %s", sev_ret__str(ret));
		goto out;
	}
	ret = format_keys(&tks, policy.v, key, &keys, &keys_len);
	if (ret) {
		cmd_err("cannot make the keys file: %s", strerror(-ret));
		goto out;
	}
	{
		const struct out_file outs[] = {
			{ "--keys", keys_out, keys, keys_len, 0600 },
			{ "--dh-cert", dh_out, &dh_cert, sizeof(dh_cert), 0644 },
			{ "--session", session_out, &session, sizeof(session), 0644 },
			OUT_FILE_INPUT("--pdh", pdh_path),
			OUT_FILE_INPUT("--chain", chain_path),
			OUT_FILE_INPUT("--amd-chain", amd_path),
			OUT_FILE_INPUT("--ark", ark_path),
		};

		ret = write_outs(outs, ARRAY_SIZE(outs));
	}
	/*
	 * Accepted for testing (docs/sev-attestation.md), but the session is
	 * then for whoever holds that PDH's key: say so, once it is made.
	 */
	if (!ret && !chain_path)
		pr_warn("platform PDH %s was not checked against a certificate chain (no --chain): "
			"fine for testing, not for trust", pdh_path);
	else if (!ret && trust_note[0])
		pr_warn("%s", trust_note);
	OPENSSL_cleanse(keys, keys_len);
	free(keys);
out:
	sev_tks__wipe(&tks);
	EVP_PKEY_free(key);
	return ret ? 1 : 0;
}

/* ---- verify ---------------------------------------------------------- */

#define MAX_DATA_FILES	64

struct data_files {
	const char *path[MAX_DATA_FILES];
	int n;
};

static int data_cb(const struct option *opt, const char *arg)
{
	struct data_files *d = opt->value;

	if (d->n >= MAX_DATA_FILES)
		return opt_error(opt, "at most %d files", MAX_DATA_FILES);
	d->path[d->n++] = arg;
	return 0;
}

/* Stream the files through the launch digest, in the order given. */
static int digest_files(const struct data_files *d, u8 digest[SEV_DIGEST_SIZE])
{
	static u8 buf[1 << 20];
	struct sev_digest dg;
	int i, ret = sev_digest__init(&dg);

	for (i = 0; i < d->n && !ret; i++) {
		/* O_NONBLOCK: a FIFO must not hang the open; it is refused below. */
		int fd = open(d->path[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		struct stat st;
		ssize_t n;

		if (fd < 0) {
			ret = -errno;
			cmd_err("data file %s: %s", d->path[i], strerror(errno));
			break;
		}
		/* What lkvm run measured were files: /dev/zero would hash forever. */
		if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
		    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
			ret = -EINVAL;
			cmd_err("data file %s: not a regular file", d->path[i]);
			close(fd);
			break;
		}
		while ((n = read(fd, buf, sizeof(buf))) > 0 && !ret)
			ret = sev_digest__update(&dg, buf, n);
		if (n < 0) {
			ret = -errno;
			cmd_err("data file %s: %s", d->path[i], strerror(errno));
		}
		close(fd);
	}
	if (!ret)
		ret = sev_digest__final(&dg, digest);
	sev_digest__free(&dg);
	return ret;
}

int sev_owner__cmd_verify(int argc, const char **argv)
{
	const char *meas_path = NULL, *keys_path = NULL, *digest_hex = NULL;
	struct data_files data = { .n = 0 };
	struct api_opt api = { 0, 0, false };
	struct u32_opt build = { 0, false }, policy = { 0, false };
	const struct option opts[] = {
		OPT_STR(0, "measurement", &meas_path, "<file>", "LAUNCH_MEASURE blob (48 bytes)"),
		OPT_STR(0, "keys", &keys_path, "<file>", "keys file from `lkvm sev session`"),
		OPT_STR(0, "digest", &digest_hex, "<hex>", "expected launch digest (64 hex digits)"),
		OPT_CALLBACK_(0, "data", &data, "<file>", "hash these files in order instead",
			      data_cb, PARSE_OPT_MULTI),
		OPT_CALLBACK_(0, "api", &api, "<maj.min>", "firmware API version", api_cb, 0),
		OPT_U32("build", &build, 255, "<n>", "firmware build id"),
		OPT_U32("policy", &policy, UINT32_MAX, "<n>", "guest policy (default: keys file)"),
		OPT_END(),
	};
	u8 blob[SEV_MEASURE_BLOB_SIZE], digest[SEV_DIGEST_SIZE];
	struct sev_tks tks;
	bool have_policy = false;
	u32 pol = 0;
	int ret;

	ret = parse_or_usage(argc, argv, opts,
			     "lkvm sev verify --measurement <file> --keys <file> "
			     "(--digest <hex> | --data <file>...) --api <maj.min> --build <n> "
			     "[--policy <n>]");
	if (ret)
		return ret == PARSE_HELP ? 0 : 1;
	if (need(meas_path, "measurement") || need(keys_path, "keys"))
		return 1;
	if (!api.set || !build.set) {
		cmd_err("--api and --build are required (see `lkvm sev status` on the host)");
		return 1;
	}
	if (!!digest_hex == !!data.n) {
		cmd_err("give exactly one of --digest or --data");
		return 1;
	}
	if (digest_hex && parse_hex(digest_hex, strlen(digest_hex), digest, sizeof(digest))) {
		cmd_err("--digest: '%s' is not 64 hex digits", digest_hex);
		return 1;
	}
	if (data.n && digest_files(&data, digest))
		return 1;
	if (read_exact("measurement", meas_path, blob, sizeof(blob)))
		return 1;
	if (load_keys_msg(keys_path, &tks, &pol, &have_policy))
		return 1;
	if (policy.set)
		pol = policy.v;
	else if (!have_policy) {
		cmd_err("keys file %s holds no policy; give --policy", keys_path);
		sev_tks__wipe(&tks);
		return 1;
	}
	ret = sev_measure__verify(tks.tik, api.major, api.minor, (u8)build.v, pol, digest, blob,
				  sizeof(blob));
	sev_tks__wipe(&tks);
	if (ret) {
		cmd_err("measurement does not match (%s): the launched image, policy 0x%x, "
		       "API %u.%u build %u or TIK differ from what the guest owner expects",
		       sev_ret__str(ret), pol, api.major, api.minor, build.v);
		return 1;
	}
	printf("measurement OK\n");
	return 0;
}

/* ---- wrap-secret ------------------------------------------------------- */

int sev_owner__cmd_wrap_secret(int argc, const char **argv)
{
	const char *keys_path = NULL, *meas_path = NULL, *secret_path = NULL;
	const char *hdr_out = NULL, *trans_out = NULL;
	struct api_opt api = { 0, 0, false };
	const struct option opts[] = {
		OPT_STR(0, "keys", &keys_path, "<file>", "keys file, or a 32-byte TEK||TIK file"),
		OPT_STR(0, "measurement", &meas_path, "<file>", "LAUNCH_MEASURE blob (48 bytes)"),
		OPT_STR(0, "secret", &secret_path, "<file>", "plaintext (multiple of 16 bytes)"),
		OPT_STR(0, "header", &hdr_out, "<out>", "write the 52-byte packet header"),
		OPT_STR(0, "out", &trans_out, "<out>", "write the encrypted secret"),
		OPT_CALLBACK_(0, "api", &api, "<maj.min>",
			      "firmware API; below 0.17 the MAC omits the measure", api_cb, 0),
		OPT_END(),
	};
	struct sev_measure_blob blob;
	struct sev_pkt_hdr hdr;
	struct sev_tks tks;
	void *secret = NULL, *trans = NULL;
	size_t len = 0;
	bool old_api;
	int ret;

	ret = parse_or_usage(argc, argv, opts,
			     "lkvm sev wrap-secret --keys <file> --measurement <file> "
			     "--secret <file> --header <out> --out <out> [--api <maj.min>]");
	if (ret)
		return ret == PARSE_HELP ? 0 : 1;
	if (need(keys_path, "keys") || need(meas_path, "measurement") ||
	    need(secret_path, "secret") || need(hdr_out, "header") || need(trans_out, "out"))
		return 1;
	old_api = api.set && api.major == 0 && api.minor < 17;
	if (read_exact("measurement", meas_path, &blob, sizeof(blob)))
		return 1;
	ret = read_file(secret_path, &secret, &len, SEV_SECRET_PAGE);
	if (ret) {
		cmd_err("secret %s: %s", secret_path,
			ret == -EFBIG ? "larger than 4096 bytes (KVM injects a launch secret "
			"into one guest page)" : file_err(ret));
		return 1;
	}
	if (!len || len % 16) {
		cmd_err("secret %s: %zu bytes; the firmware needs a non-zero multiple of 16 "
		       "(pad it)", secret_path, len);
		ret = -EINVAL;
		goto out;
	}
	if ((ret = load_keys_msg(keys_path, &tks, NULL, NULL)))
		goto out;
	trans = malloc(len);
	ret = trans ? sev_packet__seal(&tks, SEV_CTX_SECRET, old_api ? NULL : blob.measure, NULL,
				       secret, len, &hdr, trans) : -ENOMEM;
	sev_tks__wipe(&tks);
	if (ret) {
		cmd_err("cannot encrypt the secret: %s", sev_ret__str(ret));
		goto out;
	}
	{
		const struct out_file outs[] = {
			{ "--header", hdr_out, &hdr, sizeof(hdr), 0644 },
			{ "--out", trans_out, trans, len, 0644 },
			OUT_FILE_INPUT("--keys", keys_path),
			OUT_FILE_INPUT("--measurement", meas_path),
			OUT_FILE_INPUT("--secret", secret_path),
		};

		ret = write_outs(outs, ARRAY_SIZE(outs));
	}
out:
	OPENSSL_cleanse(secret, len);
	free(secret);
	free(trans);
	return ret ? 1 : 0;
}
