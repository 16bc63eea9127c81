/*
 * lkvm sev: the platform and guest-owner side of SEV.
 *
 *   status       platform state, API version, build, guest count
 *   export       PDH certificate and certificate chain to files
 *   measure      offline launch digest (and expected measurement) for the
 *                same kernel/initrd/params/mem options as `lkvm run`
 *   session | verify | wrap-secret
 *                guest-owner helpers (sev/owner.c of sev-crypto)
 *
 * Platform commands take the back end like `lkvm run`: --sev (default,
 * /dev/sev) or --sev=emulated (the software model, with --sev-state).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lkvm/cmd.h"
#include "lkvm/out-files.h"
#include "lkvm/kvm.h"
#include "lkvm/parse-options.h"
#include "lkvm/sev.h"
#include "lkvm/sev-crypto.h"
#include "lkvm/sev-model.h"
#include "lkvm/x86-pvh.h"

static enum kvm_sev_mode mode = SEV_MODE_HARDWARE;

#define BACKEND_OPTIONS							\
	OPT_CALLBACK_(0, "sev", &mode, "emulated",			\
		"back end: /dev/sev (default) or =emulated (software model)", \
		sev__opt_mode, PARSE_OPT_OPTARG),			\
	OPT_STR(0, "sev-state", &sev_options.state_dir, "<dir>",	\
		"model: platform state directory"),			\
	OPT_STR(0, "sev-root", &sev_options.root_dir, "<dir>",		\
		"model: shared test AMD root directory")

static int open_fw(struct sev_fw **fw)
{
	struct sev_model_paths paths = { .state_dir = sev_options.state_dir,
					 .root_dir = sev_options.root_dir };

	return sev_fw__open(fw, mode, &paths) ? 1 : 0;
}

static void print_hex(const char *label, const u8 *b, size_t n)
{
	size_t i;

	printf("%s: ", label);
	for (i = 0; i < n; i++)
		printf("%02x", b[i]);
	printf("\n");
}

static int platform_fail(const char *what, int ret, u32 error)
{
	char buf[80];

	pr_err("SEV: %s failed: %s", what, sev_fw__strerror(ret, error, buf, sizeof(buf)));
	return 1;
}

/*
 * parse_options() says what was wrong with an option itself; a word left
 * over (nr > 0) it leaves to us, and it must not exit 1 in silence.
 */
static int unexpected_arg(int nr, const char **argv)
{
	if (nr > 0)
		fprintf(stderr, "lkvm %s: error: unexpected argument '%s'\n", parse_options_cmd,
			argv[0]);
	return 1;
}

/* ---- status ---- */

static int sev_status(int argc, const char **argv)
{
	const struct option opts[] = { BACKEND_OPTIONS, OPT_END() };
	struct sev_user_data_status st;
	struct sev_user_data_get_id2 id = { 0 };
	u8 idbuf[2 * SEV_FW_ID_LEN];
	struct sev_fw *fw;
	u32 error;
	int nr, ret;

	nr = parse_options(argc, argv, opts, "lkvm sev status [--sev[=emulated]]");
	if (nr == PARSE_HELP)
		return 0;
	if (nr != 0)
		return unexpected_arg(nr, argv);
	if (open_fw(&fw))
		return 1;
	ret = sev_fw__platform(fw, SEV_PLATFORM_STATUS, &st, &error);
	if (ret) {
		ret = platform_fail("PLATFORM_STATUS", ret, error);
		goto out;
	}
	printf("backend: %s\n", fw->ops->name);
	printf("state: %s\n", sev_fw__pstate_name(st.state));
	printf("api: %u.%u\n", st.api_major, st.api_minor);
	printf("build: %u\n", st.build);
	printf("guests: %u\n", st.guest_count);
	printf("flags: 0x%x%s%s\n", st.flags, st.flags & 1 ? " (externally owned)" : "",
	       st.flags & SEV_STATUS_FLAGS_CONFIG_ES ? " (SEV-ES)" : "");
	id.address = (u64)(unsigned long)idbuf;
	id.length = sizeof(idbuf);
	if (!sev_fw__platform(fw, SEV_GET_ID2, &id, &error) && id.length <= sizeof(idbuf))
		print_hex("id", idbuf, id.length);
	ret = 0;
out:
	sev_fw__close(fw);
	return ret;
}

/* ---- export ---- */

static int sev_export(int argc, const char **argv)
{
	const char *pdh_out = NULL, *chain_out = NULL, *amd_out = NULL, *ark_out = NULL;
	const struct option opts[] = {
		BACKEND_OPTIONS,
		OPT_STR(0, "pdh", &pdh_out, "<file>", "write the PDH certificate (0x824 bytes)"),
		OPT_STR(0, "chain", &chain_out, "<file>", "write PEK || OCA || CEK (0x186c bytes)"),
		OPT_STR(0, "amd-chain", &amd_out, "<file>", "model: write ASK || ARK"),
		OPT_STR(0, "ark", &ark_out, "<file>", "model: write the ARK alone (to pin)"),
		OPT_END(),
	};
	struct sev_user_data_pdh_cert_export e = { 0 };
	void *pdh = NULL, *chain = NULL;
	u8 amd[2 * SEV_AMD_CERT_MAX_SIZE], ark[2 * SEV_AMD_CERT_MAX_SIZE];
	size_t amd_len = sizeof(amd), ark_len = 0;
	struct sev_fw *fw;
	u32 error;
	int nr, ret = 1;

	nr = parse_options(argc, argv, opts,
			   "lkvm sev export --pdh FILE [--chain FILE] [--amd-chain FILE] [--ark FILE]");
	if (nr == PARSE_HELP)
		return 0;
	if (nr != 0)
		return unexpected_arg(nr, argv);
	if (!pdh_out && !chain_out && !amd_out && !ark_out) {
		fprintf(stderr, "lkvm sev export: error: nothing to export (give --pdh, --chain ...)\n");
		return 1;
	}
	if ((amd_out || ark_out) && mode != SEV_MODE_EMULATED) {
		fprintf(stderr, "lkvm sev export: error: on hardware the ASK/ARK come from AMD "
			"(https://kdsintf.amd.com/cek/id/<id from `lkvm sev status`>)\n");
		return 1;
	}
	if (open_fw(&fw))
		return 1;

	/* Length query, then the real export, as the driver expects. */
	ret = sev_fw__platform(fw, SEV_PDH_CERT_EXPORT, &e, &error);
	if (!(ret == -EIO && error == SEV_RET_INVALID_LEN) ||
	    e.pdh_cert_len > SEV_FW_BLOB_MAX || e.cert_chain_len > SEV_FW_BLOB_MAX) {
		ret = platform_fail("PDH_CERT_EXPORT length query", ret ? ret : -EPROTO, error);
		goto out;
	}
	pdh = malloc(e.pdh_cert_len);
	chain = malloc(e.cert_chain_len);
	if (!pdh || !chain) {
		ret = 1;
		goto out;
	}
	e.pdh_cert_address = (u64)(unsigned long)pdh;
	e.cert_chain_address = (u64)(unsigned long)chain;
	ret = sev_fw__platform(fw, SEV_PDH_CERT_EXPORT, &e, &error);
	if (ret) {
		ret = platform_fail("PDH_CERT_EXPORT", ret, error);
		goto out;
	}
	ret = 1;
	if ((amd_out && sev_amd_root__write_chain(&fw->model->root, amd, &amd_len)) ||
	    (ark_out && sev_amd_cert__write(&fw->model->root.ark_cert, ark, sizeof(ark),
					    &ark_len))) {
		pr_err("cannot encode the model's AMD certificates");
		goto out;
	}
	{
		/* All of them or none: a new PDH beside an old chain fails later. */
		const struct out_file outs[] = {
			{ "--pdh", pdh_out, pdh, e.pdh_cert_len, 0644 },
			{ "--chain", chain_out, chain, e.cert_chain_len, 0644 },
			{ "--amd-chain", amd_out, amd, amd_len, 0644 },
			{ "--ark", ark_out, ark, ark_len, 0644 },
		};
		int bad, clash, written;
		int err = out_files__write(outs, ARRAY_SIZE(outs), &bad, &clash, &written);

		if (err == -ENOTUNIQ)
			pr_err("%s", out_files__clash_msg(outs, bad, clash));
		else if (err && bad >= 0)
			pr_err("cannot write %s %s: %s %s", outs[bad].opt, outs[bad].path,
			       strerror(-err), out_files__what_written(written));
		else if (err)
			pr_err("cannot write the outputs: %s", strerror(-err));
		if (err)
			goto out;
	}
	ret = 0;
out:
	free(pdh);
	free(chain);
	sev_fw__close(fw);
	return ret;
}

/* ---- measure ---- */

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 2 * n hex digits: sscanf("%2x") also takes "-1", " f" and "+f". */
static int parse_hex(const char *s, u8 *out, size_t n)
{
	size_t i;

	if (strlen(s) != 2 * n)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (u8)(hi << 4 | lo);
	}
	return 0;
}

static int parse_api(const char *s, u8 *major, u8 *minor)
{
	unsigned int a, b;
	char c;

	if (sscanf(s, "%u.%u%c", &a, &b, &c) != 2 || a > 255 || b > 255)
		return -EINVAL;
	*major = (u8)a;
	*minor = (u8)b;
	return 0;
}

static int sev_measure(int argc, const char **argv)
{
	static struct kvm kvm;
	struct kvm_config *cfg = &kvm.cfg;
	const char *tik_hex = NULL, *keys = NULL, *mnonce_hex = NULL, *blob_file = NULL;
	const char *api = NULL;
	int build = -1;
	const struct option opts[] = {
		OPT_GROUP_("Same as lkvm run:"),
		OPT_STR('k', "kernel", &cfg->kernel_filename, "<file>", "kernel"),
		OPT_STR('i', "initrd", &cfg->initrd_filename, "<file>", "initial ramdisk"),
		OPT_STR_EMPTY_OK('p', "params", &cfg->kernel_cmdline, "<cmdline>",
				 "kernel command line"),
		OPT_SIZE_('m', "mem", &cfg->ram_size, SZ_1M, "guest memory (default 256M)"),
		OPT_INTEGER('c', "cpus", &cfg->nr_cpus, 1, KVM_MAX_VCPUS, "number of vCPUs"),
		OPT_CALLBACK_(0, "sev-policy", &sev_options.policy, "<policy>",
			      "guest policy (default 0x1, or the keys file's)", sev__opt_policy, 0),
		OPT_GROUP_("Expected measurement:"),
		OPT_STR(0, "tik", &tik_hex, "<hex>", "the guest owner's TIK (32 hex digits)"),
		OPT_STR(0, "keys", &keys, "<file>", "owner keys file from `lkvm sev session`"),
		OPT_STR(0, "mnonce", &mnonce_hex, "<hex>", "the firmware's mnonce (32 hex digits)"),
		OPT_STR(0, "measurement", &blob_file, "<file>",
			"LAUNCH_MEASURE blob: take the mnonce from it and compare"),
		OPT_STR(0, "api", &api, "<major.minor>", "firmware API (default: the model's)"),
		OPT_INTEGER(0, "build", &build, 0, 255, "firmware build (default: the model's)"),
		OPT_END(),
	};
	u8 digest[SEV_DIGEST_SIZE], tik[SEV_KEY_SIZE], mnonce[SEV_NONCE_SIZE];
	u8 measure[SEV_MAC_SIZE], major = SEV_MODEL_API_MAJOR, minor = SEV_MODEL_API_MINOR;
	struct sev_measure_blob blob;
	bool have_tik = false, have_mnonce = false, have_blob = false;
	u32 policy;
	int nr, ret;

	cfg->ram_size = 256ULL << 20;	/* lkvm run's default */
	cfg->nr_cpus = 1;
	nr = parse_options(argc, argv, opts,
			   "lkvm sev measure -k KERNEL [run options] [--keys F|--tik HEX] "
			   "[--mnonce HEX|--measurement F]");
	if (nr == PARSE_HELP)
		return 0;
	if (nr != 0)
		return unexpected_arg(nr, argv);
	if (!cfg->kernel_filename) {
		fprintf(stderr, "lkvm sev measure: error: no kernel: give the same -k as lkvm run\n");
		return 1;
	}
	if (api && parse_api(api, &major, &minor)) {
		fprintf(stderr, "lkvm sev measure: error: --api: use MAJOR.MINOR, e.g. 0.24\n");
		return 1;
	}
	/* Two sources for one value: say so rather than drop one of them. */
	if (tik_hex && keys) {
		fprintf(stderr, "lkvm sev measure: error: give --tik or --keys, not both\n");
		return 1;
	}
	if (mnonce_hex && blob_file) {
		fprintf(stderr, "lkvm sev measure: error: give --mnonce or --measurement, not "
			"both (the blob holds the mnonce)\n");
		return 1;
	}
	/* A blob to compare and nothing to compare it with must not exit 0. */
	if (blob_file && !tik_hex && !keys) {
		fprintf(stderr, "lkvm sev measure: error: --measurement needs --keys or --tik to "
			"check it with\n");
		return 1;
	}
	policy = sev_options.policy;
	if (tik_hex) {
		if (parse_hex(tik_hex, tik, sizeof(tik))) {
			fprintf(stderr, "lkvm sev measure: error: --tik: 32 hex digits expected\n");
			return 1;
		}
		have_tik = true;
	} else if (keys) {
		struct sev_tks tks;
		bool have_policy = false;
		u32 kpol = 0;

		int err = sev_owner__load_keys(keys, &tks, &kpol, &have_policy, NULL);

		if (err) {
			fprintf(stderr, "lkvm sev measure: error: --keys: cannot load %s: %s\n", keys,
				err == -EINVAL ? "not an lkvm owner keys file or a 32-byte TEK||TIK "
				"file" : strerror(-err));
			return 1;
		}
		memcpy(tik, tks.tik, sizeof(tik));
		sev_tks__wipe(&tks);
		if (have_policy && !sev_options.policy_set)
			policy = kpol;
		have_tik = true;
	}
	if (mnonce_hex) {
		if (parse_hex(mnonce_hex, mnonce, sizeof(mnonce))) {
			fprintf(stderr, "lkvm sev measure: error: --mnonce: 32 hex digits expected\n");
			return 1;
		}
		have_mnonce = true;
	}
	if (blob_file) {
		void *b = NULL;
		size_t len = 0;

		if (read_file(blob_file, &b, &len, 4096) < 0 || len != sizeof(blob)) {
			fprintf(stderr, "lkvm sev measure: error: --measurement: %s is not a "
				"48-byte LAUNCH_MEASURE blob\n", blob_file);
			free(b);
			return 1;
		}
		memcpy(&blob, b, sizeof(blob));
		free(b);
		memcpy(mnonce, blob.mnonce, sizeof(mnonce));
		have_mnonce = have_blob = true;
	}

	/* The loaders of `lkvm run`, into plain memory, no /dev/kvm. */
	kvm.nr_cpus = cfg->nr_cpus;
	ret = kvm__init_memory(&kvm);
	if (ret) {
		pr_err("cannot allocate %llu MiB: %s", (unsigned long long)(cfg->ram_size >> 20),
		       strerror(-ret));
		return 1;
	}
	ret = kvm__load_kernel(&kvm);
	if (!ret)
		ret = sev__launch_digest(&kvm, digest);
	kvm__exit(&kvm);
	if (ret)
		return 1;
	print_hex("launch digest", digest, sizeof(digest));
	if (!have_tik || !have_mnonce)
		return 0;
	if (sev_measure__compute(tik, major, minor, build < 0 ? SEV_MODEL_BUILD : build, policy,
				 digest, mnonce, measure)) {
		pr_err("cannot compute the measurement");
		return 1;
	}
	print_hex("measurement", measure, sizeof(measure));
	if (have_blob) {
		if (memcmp(measure, blob.measure, sizeof(measure))) {
			/* Name the inputs: a default the user forgot is the likelier cause. */
			printf("measurement MISMATCH: %s does not match policy 0x%x, API %u.%u "
			       "build %u%s%s%s\n", blob_file, policy, major, minor,
			       build < 0 ? SEV_MODEL_BUILD : build,
			       !api || build < 0 ? " (the model's " : "",
			       !api && build < 0 ? "API and build" : !api ? "API" :
			       build < 0 ? "build" : "",
			       !api || build < 0 ? ": give --api and --build from `lkvm sev "
			       "status`)" : "");
			return 1;
		}
		printf("measurement matches %s\n", blob_file);
	}
	return 0;
}

/* ---- dispatch ---- */

struct sev_sub {
	const char *name;
	int (*fn)(int argc, const char **argv);
	const char *help;
};

static const struct sev_sub subs[] = {
	{ "status", sev_status, "platform state, API version, build, guest count" },
	{ "export", sev_export, "write the PDH certificate and certificate chain" },
	{ "measure", sev_measure, "predict the launch digest/measurement offline" },
	{ "session", sev_owner__cmd_session, "owner: DH certificate + session for a PDH" },
	{ "verify", sev_owner__cmd_verify, "owner: check a launch measurement" },
	{ "wrap-secret", sev_owner__cmd_wrap_secret, "owner: wrap a launch secret" },
};

static void sev_usage(void)
{
	size_t i;

	printf("usage: lkvm sev <command> [options]   (lkvm sev <command> -h for options)\n\n");
	for (i = 0; i < ARRAY_SIZE(subs); i++)
		printf("   %-12s %s\n", subs[i].name, subs[i].help);
	printf("\nExit status: 0 done (measure, verify: the measurement matches), 1 an error\n"
	       "or a mismatch (one line on stderr, or measure's MISMATCH on stdout).\n");
}

static int cmd_sev(int argc, const char **argv)
{
	static char name[32], prefix[40];
	size_t i;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		sev_usage();
		if (argc >= 2)
			return 0;
		fprintf(stderr, "lkvm sev: error: no sev command given (see the list above)\n");
		return 1;
	}
	for (i = 0; i < ARRAY_SIZE(subs); i++) {
		if (strcmp(argv[1], subs[i].name))
			continue;
		snprintf(name, sizeof(name), "sev %s", subs[i].name);
		parse_options_cmd = name;
		/* "lkvm sev export: error: ...", like the option parser's errors. */
		snprintf(prefix, sizeof(prefix), "lkvm %s", name);
		lkvm__set_msg_prefix(prefix);
		return subs[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "lkvm sev: error: unknown command '%s' (see 'lkvm sev --help')\n", argv[1]);
	return 1;
}

LKVM_COMMAND_SUBS("sev", cmd_sev, "AMD SEV platform status, export, measure, owner tools");
