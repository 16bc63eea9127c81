/*
 * The guest-owner commands end to end against the firmware-side primitives:
 * `session` for a platform's PDH -> the platform opens it; a measurement the
 * platform computes -> `verify` accepts it and refuses a wrong digest or
 * policy; `wrap-secret` -> the platform decrypts the secret.  Plus the
 * commands' refusals of bad input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "lkvm/parse-options.h"
#include "lkvm/sev-crypto.h"

#define OK(expr) do { int __ret = (expr); REQUIRE(__ret == 0); } while (0)

static char dir[] = "/tmp/lkvm-sev-owner-XXXXXX";
static struct sev_amd_root root;
static struct sev_platform_keys plat;

static const char *P(const char *name)
{
	static char bufs[8][256];
	static int i;
	char *b = bufs[i++ % 8];

	snprintf(b, 256, "%s/%s", dir, name);
	return b;
}

static int put(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(P(name), "wb");
	int ok = f && fwrite(data, 1, len, f) == len;

	if (f)
		fclose(f);
	return ok ? 0 : -1;
}

static size_t get(const char *name, void *buf, size_t max)
{
	FILE *f = fopen(P(name), "rb");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, max, f);
		fclose(f);
	}
	return n;
}

/*
 * Run a command with its stderr captured: a failure must print exactly one
 * line "lkvm <cmd>: error: ...", a success nothing at all, or, when
 * want_warning is set, exactly one warning line holding it.
 */
static bool one_line_errors;
static const char *want_warning;

static int run_cmd(int (*fn)(int, const char **), int argc, const char **argv)
{
	char line[1024], path[300];
	const char *name = argv[0];	/* parse_options() compacts argv */
	int saved, fd, ret, lines = 0, bad = 0, warned = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/stderr.txt", dir);
	fflush(stderr);
	saved = dup(2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (saved < 0 || fd < 0)
		abort();
	dup2(fd, 2);
	close(fd);
	ret = fn(argc, argv);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		lines++;
		if (!strstr(line, ": error: ") || strncmp(line, "lkvm ", 5))
			bad = 1;
		if (want_warning && strstr(line, ": warning: ") && strstr(line, want_warning))
			warned = 1;
	}
	if (f)
		fclose(f);
	one_line_errors = ret ? lines == 1 && !bad :
			  want_warning ? lines == 1 && warned : lines == 0;
	if (!one_line_errors)
		fprintf(stderr, "%s: %d stderr line(s) for exit %d\n", name, lines, ret);
	return ret;
}

/* Run a command with a NULL-terminated list (parse_options compacts argv). */
#define CMD(fn, ...) ({							\
	const char *__a[] = { __VA_ARGS__, NULL };			\
	int __r = run_cmd(fn, (int)ARRAY_SIZE(__a) - 1, __a);		\
	CHECK(one_line_errors);						\
	__r;								\
})

static void setup(void)
{
	u8 pdh[SEV_CERT_SIZE], chain[SEV_CHAIN_SIZE], amd[2 * SEV_AMD_CERT_MAX_SIZE];
	size_t amd_len = sizeof(amd), ark_len;
	u8 ark[SEV_AMD_CERT_MAX_SIZE];

	if (!mkdtemp(dir) || sev_amd_root__test(&root) ||
	    sev_platform_keys__generate(&plat, &root, 0, 24) ||
	    sev_amd_root__write_chain(&root, amd, &amd_len) ||
	    sev_amd_cert__write(&root.ark_cert, ark, sizeof(ark), &ark_len)) {
		printf("FAIL: test-sev-owner/setup: cannot make platform\n");
		exit(1);
	}
	sev_platform_keys__export(&plat, pdh, chain);
	if (put("pdh.cert", pdh, sizeof(pdh)) || put("chain.cert", chain, sizeof(chain)) ||
	    put("amd.cert", amd, amd_len) || put("ark.cert", ark, ark_len)) {
		printf("FAIL: test-sev-owner/setup: cannot write files\n");
		exit(1);
	}
}

static const u32 policy = SEV_POLICY_NODBG | SEV_POLICY_NOKS;
static struct sev_tks fw_tks;		/* what the "firmware" unwrapped */
static bool launched;

static void test_session_opens_on_platform(void)
{
	u8 dh[SEV_CERT_SIZE + 1], session[SEV_SESSION_SIZE + 1];
	struct sev_tks owner_tks;
	struct stat st;
	EVP_PKEY *key;
	u32 pol;
	bool have;

	/* This platform's chain ends at the model's test root: one warning says so. */
	want_warning = "ends at lkvm's built-in TEST AMD root";
	CHECK_EQ(CMD(sev_owner__cmd_session, "session", "--pdh", P("pdh.cert"), "--chain",
		     P("chain.cert"), "--amd-chain", P("amd.cert"), "--ark", P("ark.cert"),
		     "--policy", "0x3", "--dh-cert", P("dh.cert"), "--session", P("session.bin"),
		     "--keys", P("owner.keys")), 0);
	want_warning = NULL;
	REQUIRE(get("dh.cert", dh, sizeof(dh)) == SEV_CERT_SIZE);
	REQUIRE(get("session.bin", session, sizeof(session)) == SEV_SESSION_SIZE);
	REQUIRE(!stat(P("owner.keys"), &st));
	CHECK_EQ(st.st_mode & 0777, 0600);
	/* LAUNCH_START on the platform */
	CHECK_EQ(sev_session__open(plat.pdh, dh, SEV_CERT_SIZE, session, SEV_SESSION_SIZE,
				   policy, &fw_tks), 0);
	CHECK_EQ(sev_session__open(plat.pdh, dh, SEV_CERT_SIZE, session, SEV_SESSION_SIZE,
				   policy | SEV_POLICY_NOSEND, &owner_tks), SEV_RET_BAD_MEASUREMENT);
	/* the keys file holds the same TEK/TIK, the policy and the owner key */
	OK(sev_owner__load_keys(P("owner.keys"), &owner_tks, &pol, &have, &key));
	CHECK_MEM(&owner_tks, &fw_tks, sizeof(fw_tks));
	CHECK(have);
	CHECK_EQ(pol, policy);
	CHECK(key != NULL);
	{
		struct sev_cert c;
		EVP_PKEY *pub;

		OK(sev_cert__parse_pdh(dh, SEV_CERT_SIZE, &c));
		OK(sev_cert__pubkey(&c, &pub));
		CHECK(EVP_PKEY_eq(pub, key) == 1);
		EVP_PKEY_free(pub);
	}
	EVP_PKEY_free(key);
	launched = true;
	/* without the chain options the PDH is only sanity-checked, and a warning says so */
	want_warning = "was not checked against a certificate chain (no --chain)";
	CHECK_EQ(CMD(sev_owner__cmd_session, "session", "--pdh", P("pdh.cert"), "--dh-cert",
		     P("dh2.cert"), "--session", P("session2.bin"), "--keys", P("owner2.keys")), 0);
	want_warning = NULL;
	/* ... and without --policy it is lkvm run's default, NODBG (it was 0) */
	{
		u8 dh2[SEV_CERT_SIZE], session2[SEV_SESSION_SIZE];
		struct sev_tks tks2;

		OK(sev_owner__load_keys(P("owner2.keys"), &owner_tks, &pol, &have, NULL));
		CHECK(have);
		CHECK_EQ(pol, SEV_POLICY_NODBG);
		REQUIRE(get("dh2.cert", dh2, sizeof(dh2)) == SEV_CERT_SIZE);
		REQUIRE(get("session2.bin", session2, sizeof(session2)) == SEV_SESSION_SIZE);
		CHECK_EQ(sev_session__open(plat.pdh, dh2, SEV_CERT_SIZE, session2,
					   SEV_SESSION_SIZE, SEV_POLICY_NODBG, &tks2), 0);
	}
}

/*
 * An AMD chain checked against no pinned ARK proves nothing (any
 * self-signed root passes): the session is made, and one warning says so,
 * as for a PDH given without --chain.  Pinned to its own ARK, no warning.
 * A root of its own here, not the built-in test root (which warns anyway).
 */
static void test_session_warns_unpinned_root(void)
{
	u8 pdh[SEV_CERT_SIZE], chain[SEV_CHAIN_SIZE], amd[2 * SEV_AMD_CERT_MAX_SIZE];
	u8 ark[SEV_AMD_CERT_MAX_SIZE];
	size_t amd_len = sizeof(amd), ark_len;
	struct sev_amd_root own;
	struct sev_platform_keys k;

	REQUIRE(sev_amd_root__generate(&own, 2048) == 0);
	REQUIRE(sev_platform_keys__generate(&k, &own, 0, 24) == 0);
	REQUIRE(sev_amd_root__write_chain(&own, amd, &amd_len) == 0);
	REQUIRE(sev_amd_cert__write(&own.ark_cert, ark, sizeof(ark), &ark_len) == 0);
	sev_platform_keys__export(&k, pdh, chain);
	OK(put("own-pdh.cert", pdh, sizeof(pdh)));
	OK(put("own-chain.cert", chain, sizeof(chain)));
	OK(put("own-amd.cert", amd, amd_len));
	OK(put("own-ark.cert", ark, ark_len));
	/* --chain alone: up to an OCA that signs itself, which anyone can make. */
	want_warning = "was checked only up to its self-signed OCA (no --amd-chain)";
	CHECK_EQ(CMD(sev_owner__cmd_session, "session", "--pdh", P("own-pdh.cert"), "--chain",
		     P("own-chain.cert"), "--dh-cert", P("o-dh.cert"), "--session",
		     P("o-session.bin"), "--keys", P("o.keys")), 0);
	want_warning = "was not checked against a pinned ARK (no --ark)";
	CHECK_EQ(CMD(sev_owner__cmd_session, "session", "--pdh", P("own-pdh.cert"), "--chain",
		     P("own-chain.cert"), "--amd-chain", P("own-amd.cert"), "--dh-cert",
		     P("u-dh.cert"), "--session", P("u-session.bin"), "--keys", P("u.keys")), 0);
	want_warning = NULL;
	CHECK(access(P("u-session.bin"), F_OK) == 0);
	CHECK_EQ(CMD(sev_owner__cmd_session, "session", "--pdh", P("own-pdh.cert"), "--chain",
		     P("own-chain.cert"), "--amd-chain", P("own-amd.cert"), "--ark",
		     P("own-ark.cert"), "--dh-cert", P("p-dh.cert"), "--session",
		     P("p-session.bin"), "--keys", P("p.keys")), 0);
	sev_platform_keys__free(&k);
	sev_amd_root__free(&own);
}

static void test_session_refuses_bad_input(void)
{
	u8 pdh[SEV_CERT_SIZE];

	/* missing options, positional junk, reserved policy bits */
	CHECK_EQ(CMD(sev_owner__cmd_session, "session", "--pdh", P("pdh.cert")), 1);
	CHECK_EQ(CMD(sev_owner__cmd_session, "session", "--pdh", P("pdh.cert"), "--dh-cert",
		     P("x"), "--session", P("y"), "--keys", P("z"), "junk"), 1);
	CHECK_EQ(CMD(sev_owner__cmd_session, "session", "--pdh", P("pdh.cert"), "--dh-cert",
		     P("x"), "--session", P("y"), "--keys", P("z"), "--policy", "0x40"), 1);
	CHECK_EQ(CMD(sev_owner__cmd_session, "session", "--pdh", P("pdh.cert"), "--dh-cert",
		     P("x"), "--session", P("y"), "--keys", P("z"), "--policy", "0x100000000"), 1);
	/* a truncated PDH, a PEK given as PDH, a chain that does not match */
	REQUIRE(get("pdh.cert", pdh, sizeof(pdh)) == sizeof(pdh));
	OK(put("short.cert", pdh, sizeof(pdh) - 1));
	CHECK_EQ(CMD(sev_owner__cmd_session, "session", "--pdh", P("short.cert"), "--dh-cert",
		     P("x"), "--session", P("y"), "--keys", P("z")), 1);
	OK(put("pek.cert", &plat.pek_cert, SEV_CERT_SIZE));
	CHECK_EQ(CMD(sev_owner__cmd_session, "session", "--pdh", P("pek.cert"), "--dh-cert",
		     P("x"), "--session", P("y"), "--keys", P("z")), 1);
	pdh[0x41C] ^= 1;		/* PDH signature */
	OK(put("badsig.cert", pdh, sizeof(pdh)));
	CHECK_EQ(CMD(sev_owner__cmd_session, "session", "--pdh", P("badsig.cert"), "--chain",
		     P("chain.cert"), "--dh-cert", P("x"), "--session", P("y"), "--keys", P("z")),
		 1);
	CHECK_EQ(CMD(sev_owner__cmd_session, "session", "--pdh", P("pdh.cert"), "--amd-chain",
		     P("amd.cert"), "--dh-cert", P("x"), "--session", P("y"), "--keys", P("z")), 1);
	CHECK(access(P("x"), F_OK) != 0);	/* nothing written on failure */
	CHECK(access(P("z"), F_OK) != 0);
}

static u8 digest[32];
static struct sev_measure_blob blob;

static void make_measurement(void)
{
	struct sev_digest d;
	static const char image[] = "kernel bytes, initrd bytes, boot params";

	if (put("image.bin", image, sizeof(image)) || sev_digest__init(&d) ||
	    sev_digest__update(&d, image, sizeof(image)) || sev_digest__final(&d, digest))
		abort();
	sev_digest__free(&d);
	if (sev_random(blob.mnonce, 16) ||
	    sev_measure__compute(fw_tks.tik, 0, 24, 7, policy, digest, blob.mnonce, blob.measure) ||
	    put("measure.bin", &blob, sizeof(blob)))
		abort();
}

static void test_verify(void)
{
	char hex[65], bad[65];
	int i;

	if (!launched)
		SKIP("session test failed");
	make_measurement();
	for (i = 0; i < 32; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	CHECK_EQ(CMD(sev_owner__cmd_verify, "verify", "--measurement", P("measure.bin"), "--keys",
		     P("owner.keys"), "--digest", hex, "--api", "0.24", "--build", "7"), 0);
	CHECK_EQ(CMD(sev_owner__cmd_verify, "verify", "--measurement", P("measure.bin"), "--keys",
		     P("owner.keys"), "--data", P("image.bin"), "--api", "0.24", "--build", "7"), 0);
	/* wrong digest, build, API, policy */
	memcpy(bad, hex, sizeof(bad));
	bad[10] = bad[10] == '0' ? '1' : '0';
	CHECK_EQ(CMD(sev_owner__cmd_verify, "verify", "--measurement", P("measure.bin"), "--keys",
		     P("owner.keys"), "--digest", bad, "--api", "0.24", "--build", "7"), 1);
	CHECK_EQ(CMD(sev_owner__cmd_verify, "verify", "--measurement", P("measure.bin"), "--keys",
		     P("owner.keys"), "--digest", hex, "--api", "0.24", "--build", "8"), 1);
	CHECK_EQ(CMD(sev_owner__cmd_verify, "verify", "--measurement", P("measure.bin"), "--keys",
		     P("owner.keys"), "--digest", hex, "--api", "1.24", "--build", "7"), 1);
	CHECK_EQ(CMD(sev_owner__cmd_verify, "verify", "--measurement", P("measure.bin"), "--keys",
		     P("owner.keys"), "--digest", hex, "--api", "0.24", "--build", "7",
		     "--policy", "0"), 1);
	/* another owner's keys */
	CHECK_EQ(CMD(sev_owner__cmd_verify, "verify", "--measurement", P("measure.bin"), "--keys",
		     P("owner2.keys"), "--digest", hex, "--api", "0.24", "--build", "7"), 1);
	/* malformed arguments and files */
	CHECK_EQ(CMD(sev_owner__cmd_verify, "verify", "--measurement", P("measure.bin"), "--keys",
		     P("owner.keys"), "--digest", "abcd", "--api", "0.24", "--build", "7"), 1);
	CHECK_EQ(CMD(sev_owner__cmd_verify, "verify", "--measurement", P("measure.bin"), "--keys",
		     P("owner.keys"), "--digest", hex, "--api", "0.24"), 1);
	CHECK_EQ(CMD(sev_owner__cmd_verify, "verify", "--measurement", P("measure.bin"), "--keys",
		     P("owner.keys"), "--digest", hex, "--api", "0x18", "--build", "7"), 1);
	CHECK_EQ(CMD(sev_owner__cmd_verify, "verify", "--measurement", P("measure.bin"), "--keys",
		     P("owner.keys"), "--digest", hex, "--data", P("image.bin"), "--api", "0.24",
		     "--build", "7"), 1);
	CHECK_EQ(CMD(sev_owner__cmd_verify, "verify", "--measurement", P("image.bin"), "--keys",
		     P("owner.keys"), "--digest", hex, "--api", "0.24", "--build", "7"), 1);
	CHECK_EQ(CMD(sev_owner__cmd_verify, "verify", "--measurement", P("measure.bin"), "--keys",
		     P("image.bin"), "--digest", hex, "--api", "0.24", "--build", "7"), 1);
}

static void test_wrap_secret(void)
{
	u8 secret[48], hdr[64], trans[64], back[48];
	size_t hl, tl;

	if (!launched)
		SKIP("session test failed");
	memset(secret, 0, sizeof(secret));
	memcpy(secret, "the disk key is hunter2", 23);
	OK(put("secret.bin", secret, sizeof(secret)));
	CHECK_EQ(CMD(sev_owner__cmd_wrap_secret, "wrap-secret", "--keys", P("owner.keys"),
		     "--measurement", P("measure.bin"), "--secret", P("secret.bin"), "--header",
		     P("secret.hdr"), "--out", P("secret.enc")), 0);
	hl = get("secret.hdr", hdr, sizeof(hdr));
	tl = get("secret.enc", trans, sizeof(trans));
	CHECK_EQ(hl, SEV_PKT_HDR_SIZE);
	CHECK_EQ(tl, sizeof(secret));
	/* LAUNCH_SECRET on the platform: bound to the measure it produced */
	CHECK_EQ(sev_packet__open(&fw_tks, SEV_CTX_SECRET, blob.measure, hdr, hl, trans, tl, back),
		 0);
	CHECK_MEM(back, secret, sizeof(secret));
	{
		u8 other[32];

		memcpy(other, blob.measure, 32);
		other[0] ^= 1;
		CHECK_EQ(sev_packet__open(&fw_tks, SEV_CTX_SECRET, other, hdr, hl, trans, tl, back),
			 SEV_RET_BAD_MEASUREMENT);
	}
	/* a raw TEK||TIK file works too; old API leaves the measure out */
	OK(put("tk.bin", &fw_tks, sizeof(fw_tks)));
	CHECK_EQ(CMD(sev_owner__cmd_wrap_secret, "wrap-secret", "--keys", P("tk.bin"),
		     "--measurement", P("measure.bin"), "--secret", P("secret.bin"), "--header",
		     P("old.hdr"), "--out", P("old.enc"), "--api", "0.16"), 0);
	hl = get("old.hdr", hdr, sizeof(hdr));
	tl = get("old.enc", trans, sizeof(trans));
	CHECK_EQ(sev_packet__open(&fw_tks, SEV_CTX_SECRET, NULL, hdr, hl, trans, tl, back), 0);
	CHECK_MEM(back, secret, sizeof(secret));
	/* a secret that is not a multiple of 16 bytes, or empty */
	OK(put("odd.bin", secret, 23));
	CHECK_EQ(CMD(sev_owner__cmd_wrap_secret, "wrap-secret", "--keys", P("owner.keys"),
		     "--measurement", P("measure.bin"), "--secret", P("odd.bin"), "--header",
		     P("x.hdr"), "--out", P("x.enc")), 1);
	OK(put("empty.bin", secret, 0));
	CHECK_EQ(CMD(sev_owner__cmd_wrap_secret, "wrap-secret", "--keys", P("owner.keys"),
		     "--measurement", P("measure.bin"), "--secret", P("empty.bin"), "--header",
		     P("x.hdr"), "--out", P("x.enc")), 1);
	CHECK_EQ(CMD(sev_owner__cmd_wrap_secret, "wrap-secret", "--keys", P("owner.keys"),
		     "--secret", P("secret.bin"), "--header", P("x.hdr"), "--out", P("x.enc")), 1);
	CHECK(access(P("x.hdr"), F_OK) != 0);
}

static void test_keys_file_strict(void)
{
	struct sev_tks t;
	static const char *bad[] = {
		"lkvm-sev-owner-keys 2\npolicy 0x1\ntek 00000000000000000000000000000000\n"
		"tik 00000000000000000000000000000000\n",
		"lkvm-sev-owner-keys 1\npolicy 0x1\ntek 0000000000000000000000000000000\n"
		"tik 00000000000000000000000000000000\n",
		"lkvm-sev-owner-keys 1\npolicy 0x1\ntek 0000000000000000000000000000000g\n"
		"tik 00000000000000000000000000000000\n",
		"lkvm-sev-owner-keys 1\npolicy 0x100000000\ntek 00000000000000000000000000000000\n"
		"tik 00000000000000000000000000000000\n",
		"lkvm-sev-owner-keys 1\npolicy 0x1\ntek 00000000000000000000000000000000\n",
		"lkvm-sev-owner-keys 1\npolicy 0x1\ntek 00000000000000000000000000000000\n"
		"tik 00000000000000000000000000000000\nnot a pem",
	};
	static const char good[] = "lkvm-sev-owner-keys 1\npolicy 0x5\n"
		"tek 000102030405060708090a0b0c0d0e0f\ntik f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff\n";
	size_t i;
	u32 pol;
	bool have;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		OK(put("bad.keys", bad[i], strlen(bad[i])));
		CHECK_EQ(sev_owner__load_keys(P("bad.keys"), &t, &pol, &have, NULL), -EINVAL);
	}
	OK(put("good.keys", good, strlen(good)));
	CHECK_EQ(sev_owner__load_keys(P("good.keys"), &t, &pol, &have, NULL), 0);
	CHECK_EQ(pol, 5);
	CHECK_EQ(t.tek[15], 0x0f);
	CHECK_EQ(t.tik[0], 0xf0);
}

TEST_MAIN_BEGIN("test-sev-owner")
	parse_options_cmd = "sev test";
	setup();
	RUN(test_session_opens_on_platform);
	RUN(test_session_warns_unpinned_root);
	RUN(test_session_refuses_bad_input);
	RUN(test_verify);
	RUN(test_wrap_secret);
	RUN(test_keys_file_strict);
	sev_platform_keys__free(&plat);
	sev_amd_root__free(&root);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			return 1;
	}
TEST_MAIN_END()
