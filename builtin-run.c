/*
 * lkvm run: build a VM from the options, load the kernel, start the vCPUs
 * and wait until the guest powers off, resets, fails or is stopped.
 * Exit status (run_usage, README.md): 0 for a clean poweroff/reset/stop,
 * the guest's status for the exit port, 2 for a guest failure (triple
 * fault, internal error), 128+N for signal N, 1 for set-up errors.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lkvm/cmd.h"
#include "lkvm/cpuid.h"
#include "lkvm/init.h"
#include "lkvm/ipc.h"
#include "lkvm/kvm.h"
#include "lkvm/migration.h"
#include "lkvm/kvm-cpu.h"
#include "lkvm/parse-options.h"
#include "lkvm/run-hooks.h"
#include "lkvm/sev.h"
#include "lkvm/sev-migration.h"
#include "lkvm/term.h"
#include "lkvm/tsc.h"
#include "lkvm/virtio-devices.h"
#include "lkvm/x86-pvh.h"

#define DEFAULT_RAM_SIZE	(256ULL << 20)	/* --mem's help says it */
#define MIN_RAM_SIZE		(2ULL << 20)

static const char run_usage[] = "lkvm run -k KERNEL [options]\n"
	"   or: lkvm run --incoming [ADDR:]PORT [options]\n\n"
	"Exit status: 0 the guest powered off or reset, or was stopped; N the value\n"
	"the guest wrote to the exit port 0xf4 (255 if it does not fit in 8 bits);\n"
	"2 a guest failure (triple fault, KVM internal error, unhandled exit);\n"
	"128+N stopped by signal N (141, as SIGPIPE: stdout is a pipe whose reader\n"
	"went away); 1 a set-up error, or an incoming migration that failed (the\n"
	"guest never ran here).";

static struct kvm the_kvm;

static int opt_cpuid_mask(const struct option *opt, const char *arg)
{
	struct kvm_config *cfg = opt->value;
	char *copy = strdup(arg), *item, *rest;
	int ret = 0;

	if (!copy)
		return opt_error(opt, "out of memory");
	for (rest = copy; (item = strsep(&rest, ",")); ) {
		if (!*item) {
			opt_error(opt, "empty item in '%s'", arg);
			ret = -1;
			break;
		}
		ret = cpuid__parse_mask(item, cfg);
		if (ret == -ENOSPC) {
			opt_error(opt, "too many bits to hide (max %zu)", ARRAY_SIZE(cfg->cpuid_masks));
			break;
		}
		if (ret) {
			opt_error(opt, "'%s' is not a feature name or LEAF[.SUB].REG:BIT (known: %s)",
				  item, cpuid__feature_names());
			break;
		}
	}
	free(copy);
	return ret ? -1 : 0;
}

static int opt_console(const struct option *opt, const char *arg)
{
	if (strcmp(arg, "serial") && strcmp(arg, "virtio"))
		return opt_error(opt, "'%s' is not a console type (serial, virtio)", arg);
	*(const char **)opt->value = arg;
	return 0;
}

static int opt_name(const struct option *opt, const char *arg)
{
	/* The name becomes a socket file name: the control socket's rules. */
	if (!ipc__valid_name(arg))
		return opt_error(opt, "'%s': use 1 to 64 letters, digits, '-', '_', '.', "
				 "not starting with '.' or '-'", arg);
	*(const char **)opt->value = arg;
	return 0;
}

static void *signal_thread(void *arg)
{
	struct kvm *kvm = arg;
	sigset_t set;
	int sig;

	pthread_setname_np(pthread_self(), "lkvm-signals");
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	while (sigwait(&set, &sig) == 0) {
		/*
		 * One reason per signal, written once: kvm->exit_reason keeps
		 * pointing at the first stop's while later signals come in.
		 */
		static char reason[NSIG][40];

		if (sig < NSIG) {
			if (!reason[sig][0])
				snprintf(reason[sig], sizeof(reason[sig]), "stopped by %s",
					 strsignal(sig));
			kvm__request_stop(kvm, 128 + sig, reason[sig]);
		}
	}
	return NULL;
}

/*
 * Handle SIGINT/SIGTERM/SIGHUP in one thread: a clean stop, never a torn
 * one.  Blocked from the start (a signal waits), taken once kvm__init()
 * has made run_lock and run_cond: the thread stops the VM through them.
 */
static void block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int start_signal_thread(struct kvm *kvm)
{
	pthread_t t;

	if (pthread_create(&t, NULL, signal_thread, kvm))
		return -EAGAIN;
	pthread_detach(t);
	return 0;
}

static struct option *run_options(struct kvm_config *cfg)
{
	static const char *mem_help = "guest memory (default 256M; e.g. 512M, 2G; a bare number is MiB)";
	struct option opts[] = {
		OPT_GROUP_("Basic options:"),
		OPT_STR('k', "kernel", &cfg->kernel_filename, "<file>",
			"kernel: bzImage, or ELF with a PVH entry note"),
		OPT_STR('i', "initrd", &cfg->initrd_filename, "<file>", "initial ramdisk"),
		OPT_STR_EMPTY_OK('p', "params", &cfg->kernel_cmdline, "<cmdline>",
				 "kernel command line"),
		OPT_SIZE_('m', "mem", &cfg->ram_size, SZ_1M, mem_help),
		OPT_INTEGER('c', "cpus", &cfg->nr_cpus, 1, KVM_MAX_VCPUS, "number of vCPUs (1-64, default 1)"),
		OPT_CALLBACK_(0, "name", &cfg->name, "<name>", "instance name for the control socket (default guest-PID)",
			      opt_name, 0),
		OPT_CALLBACK_(0, "console", &cfg->console, "<serial|virtio>", "guest console (default serial)",
			      opt_console, 0),
		OPT_CALLBACK_(0, "cpuid-mask", cfg, "<features>",
			      "hide CPUID features, e.g. cx16,xsave or 0x7.ebx:5",
			      opt_cpuid_mask, PARSE_OPT_MULTI),
		OPT_UINT64(0, "tsc-khz", &cfg->tsc_khz, TSC_KHZ_MIN, TSC_KHZ_MAX, "<kHz>",
			   "guest TSC rate (default: this host's; a migrated guest keeps its own)"),
		OPT_GROUP_("Page map and migration:"),
		OPT_BOOLEAN(0, "page-map", &cfg->page_map,
			    "shared/private page map interface (hypercall + MSR) for a plain guest"),
		OPT_STR(0, "incoming", &cfg->incoming, "<[addr:]port>",
			"wait for a migrated guest on this address"),
		OPT_BOOLEAN(0, "no-prefault", &cfg->no_prefault,
			    "with --incoming: do not fault in guest RAM while waiting"),
		OPT_STR(0, "incoming-key", &cfg->incoming_key, "<file>",
			"with --incoming: take only a stream authenticated and encrypted with this key file (lkvm migrate --key)"),
		/* Test-only I/O ports (docs/page-map-abi.md): not in --help. */
		{ .type = OPT_BOOL, .long_name = "test-doorbell", .value = &cfg->debug_ioport,
		  .flags = PARSE_OPT_HIDDEN, .help = "test-only I/O ports" },
		VIRTIO_RUN_OPTIONS,	/* -d/--disk, -n/--network, --rng (virtio/) */
		SEV_RUN_OPTIONS(&cfg->sev_mode),		/* sev/launch.c, docs/sev.md */
		SEV_MIG_RUN_OPTIONS,		/* migration/sev-*.c, docs/sev-migration.md */
		OPT_END(),
	};
	struct option *o = malloc(sizeof(opts));

	if (o)
		memcpy(o, opts, sizeof(opts));
	return o;
}

static int validate(struct kvm_config *cfg, int nr_args, const char **args)
{
	if (nr_args) {
		fprintf(stderr, "lkvm run: error: unexpected argument '%s' (a kernel goes after -k)\n",
			args[0]);
		return -1;
	}
	/*
	 * Options that need --incoming first: without it, "no kernel" would
	 * send the user after a kernel when --incoming is what was left out.
	 */
	if (cfg->no_prefault && !cfg->incoming) {
		fprintf(stderr, "lkvm run: error: --no-prefault only applies with --incoming\n");
		return -1;
	}
	if (cfg->incoming_key && !cfg->incoming) {
		fprintf(stderr, "lkvm run: error: --incoming-key only applies with --incoming\n");
		return -1;
	}
	if (!cfg->kernel_filename && !cfg->incoming) {
		fprintf(stderr, "lkvm run: error: no kernel: give one with -k/--kernel\n");
		return -1;
	}
	if (cfg->incoming_key) {
		char why[512];

		if (mig_key__load(cfg->incoming_key, cfg->mig_key, why, sizeof(why)) < 0) {
			fprintf(stderr, "lkvm run: error: --incoming-key: %s\n", why);
			return -1;
		}
		cfg->mig_keyed = true;
	}
	if (cfg->incoming) {
		char host[256], port[16];

		if (mig_addr__parse(cfg->incoming, true, host, sizeof(host), port, sizeof(port))) {
			fprintf(stderr, "lkvm run: error: --incoming: '%s' is not [ADDR:]PORT "
				"(PORT 1-65535; IPv6: [ADDR]:PORT)\n", cfg->incoming);
			return -1;
		}
		/* Harmless (the same command line on both sides), but not silent. */
		if (cfg->kernel_filename || cfg->initrd_filename || cfg->kernel_cmdline)
			pr_warn("--incoming: the guest comes with its memory from the source; "
				"-k, -i and -p are not used");
	}
	if (cfg->ram_size < MIN_RAM_SIZE) {
		fprintf(stderr, "lkvm run: error: --mem: at least 2M of guest memory is needed\n");
		return -1;
	}
	if (cfg->ram_size & (PAGE_SIZE - 1)) {
		fprintf(stderr, "lkvm run: error: --mem: must be a multiple of 4K\n");
		return -1;
	}
	if (cfg->ram_size > (1ULL << 40)) {
		fprintf(stderr, "lkvm run: error: --mem: more than 1T is not supported\n");
		return -1;
	}
	return 0;
}

static int cmd_run(int argc, const char **argv)
{
	struct kvm *kvm = &the_kvm;
	struct kvm_config *cfg = &kvm->cfg;
	struct option *opts;
	int nr, ret, i, status = 1;
	char prefix[80];

	cfg->ram_size = DEFAULT_RAM_SIZE;
	cfg->nr_cpus = 1;
	cfg->console = "serial";
	opts = run_options(cfg);
	if (!opts)
		return 1;
	nr = parse_options(argc, argv, opts, run_usage);
	free(opts);
	if (nr == PARSE_HELP)
		return 0;
	if (nr < 0)
		return 1;
	/*
	 * Before validate(): its warnings are about this instance, like every
	 * message after it ("lkvm NAME: ..."); its option errors keep their
	 * own "lkvm run: error:" as the option parser's do.
	 */
	if (cfg->name) {
		snprintf(prefix, sizeof(prefix), "lkvm %s", cfg->name);
		lkvm__set_msg_prefix(prefix);
	}
	if (validate(cfg, nr, argv) || kvm_ipc__check(cfg->name))
		return 1;
	kvm->nr_cpus = cfg->nr_cpus;

	block_signals();
	/* SEV: open the firmware back end and pick the VM type first. */
	ret = sev__vm_type(kvm);
	if (ret < 0)
		return 1;
	kvm->vm_type = ret;

	ret = kvm__init(kvm);
	if (ret)
		return 1;
	if (start_signal_thread(kvm)) {
		pr_err("cannot start the signal thread");
		goto out_exit;
	}
	if (cfg->kernel_filename && !cfg->incoming) {
		ret = kvm__load_kernel(kvm);
		if (ret) {
			/* A signal while loading: its status (128+N), as later. */
			pthread_mutex_lock(&kvm->run_lock);
			if (kvm->stopping)
				status = kvm->exit_status;
			pthread_mutex_unlock(&kvm->run_lock);
			goto out_exit;
		}
	}
	ret = kvm__init_all(kvm);
	if (ret)
		goto out_exit;
	ret = kvm_cpu__init_all(kvm);
	if (ret)
		goto out_devices;
	/* An incoming guest gets its vCPU state from the migration stream. */
	for (i = 0; i < kvm->nr_cpus && !cfg->incoming; i++) {
		ret = kvm_cpu__reset(kvm->cpus[i]);
		if (ret) {
			pr_err("cannot set vCPU %d boot state: %s", i, strerror(-ret));
			goto out_cpus;
		}
	}
	ret = run_hooks__before_start(kvm);
	if (ret) {
		/* Stopped before the first instruction (a signal or `lkvm stop`
		 * while waiting for an incoming guest): that stop's status. */
		pthread_mutex_lock(&kvm->run_lock);
		if (kvm->stopping)
			status = kvm->exit_status;
		pthread_mutex_unlock(&kvm->run_lock);
		goto out_cpus;
	}

	term__setup(kvm);
	ret = kvm_cpu__start_all(kvm);
	if (ret)
		goto out_cpus;
	ret = kvm_cpu__wait_all(kvm);
	term__restore();
	if (kvm->exit_reason) {
		if (ret)
			pr_err("%s", kvm->exit_reason);
		else
			pr_info("%s", kvm->exit_reason);
	}
	/*
	 * Modules first (a migration still running is cancelled and waited
	 * for, the control socket closed), the vCPUs after: a migration's
	 * dirty-ring harvest reads the vCPUs' rings until it has ended.
	 */
	kvm__exit_all(kvm);
	kvm_cpu__exit_all(kvm);
	kvm__exit(kvm);
	return ret;

out_cpus:
	kvm__exit_all(kvm);
	kvm_cpu__exit_all(kvm);
	goto out_exit;
out_devices:
	kvm__exit_all(kvm);
out_exit:
	kvm__exit(kvm);
	return status;
}

LKVM_COMMAND("run", cmd_run, "start a virtual machine");
