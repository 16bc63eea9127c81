/*
 * lkvm migrate --to HOST:PORT [--name NAME]: ask a running instance to
 * live-migrate its guest to `lkvm run --incoming PORT` on HOST, show the
 * progress, and end with a summary (or JSON with --json).  Exit status:
 *   0  the destination runs the guest (this VMM has exited);
 *   1  the migration failed or never began: the guest runs here as before;
 *   2  it failed because this VMM is stopping: the guest is gone with it;
 *   3  outcome unknown: the destination was told to run the guest and did
 *      not confirm; the guest is paused here until `lkvm resume` (if the
 *      destination does not run it) or `lkvm stop` (if it does).  Also when
 *      this client is interrupted (SIGINT, SIGTERM, SIGHUP): the migration
 *      goes on in the VMM, and --status tells how it ends.
 *
 * lkvm migrate --cancel [--name NAME]: make the migration in progress give
 * up (the guest goes on here); the migrating `lkvm migrate` then fails
 * with "cancelled".
 *
 * lkvm migrate --status [--name NAME] [--json]: the migration in progress
 * and its last progress report, or how the last one failed; for a script
 * that lost the `lkvm migrate` it started (which cancels nothing).
 *
 * lkvm migrate --set [--downtime MS] [--bandwidth MB/s] [--max-rounds N]
 * [--auto-converge | --no-auto-converge] [--name NAME]: change the migration
 * in progress while it pre-copies; prints the settings it now runs with.
 *
 * --key FILE authenticates and encrypts the stream (migration/crypt.c): the
 * file is read here, by the user who asks, and the master key hashed from
 * it goes to the VMM over the control socket.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lkvm/cmd.h"
#include "lkvm/ipc.h"
#include "lkvm/migration.h"
#include "lkvm/parse-options.h"

static const char migrate_usage_line[] =
	"lkvm migrate --to HOST:PORT [--name NAME] [--downtime MS] [--bandwidth MB/s] "
	"[--channels N] [--max-rounds N] [--auto-converge] [--compress] [--verify] "
	"[--wait-ready S] [--key FILE] [--json] [--quiet]\n"
	"   or: lkvm migrate --cancel [--name NAME]\n"
	"   or: lkvm migrate --status [--name NAME] [--json]\n"
	"   or: lkvm migrate --set [--downtime MS] [--bandwidth MB/s] [--max-rounds N] "
	"[--auto-converge | --no-auto-converge] [--name NAME]\n\n"
	"Live-migrate the guest of instance NAME to an lkvm started with the same\n"
	"machine options and --incoming PORT on HOST.  The guest keeps running here\n"
	"until the destination has received and checked everything; any failure\n"
	"before that leaves it running here, and the reason is printed.\n\n"
	"Exit status: 0 the guest runs at the destination; 1 it failed, the guest\n"
	"runs here; 2 it failed and the guest stopped with this instance (stopping,\n"
	"or its VMM went away before the final round); 3 outcome unknown: the guest\n"
	"is paused here ('lkvm resume' or 'lkvm stop' settles it), or the VMM went\n"
	"away or could not be read from the final round on, or this client was\n"
	"interrupted (SIGINT, SIGTERM, SIGHUP: the migration goes on; '--status' tells).\n"
	"--cancel, --status, --set: 0 done, 1 an error.";

struct client {
	bool json, quiet, tty;
	bool got_result;
	bool saw_progress, saw_final;	/* progress reports, one of the final round */
	struct mig_result res;
	/*
	 * What is wrong with the first progress report and with the result
	 * this lkvm could not read (a field cut short or of the wrong width:
	 * a broken or hostile VMM, since the fields of another build are read
	 * as far as they are known).  Empty: none.
	 */
	char odd_progress[256], odd_result[256];
};

static int on_data(u32 type, const void *p, u32 len, void *arg)
{
	struct client *c = arg;
	char line[512], why[256];

	if (type == IPC_MSG_PROGRESS) {
		struct mig_progress pr;

		if (mig_ipc__decode_progress(p, len, &pr, why, sizeof(why))) {
			if (!c->odd_progress[0])
				snprintf(c->odd_progress, sizeof(c->odd_progress), "%s", why);
			return 0;
		}
		c->saw_progress = true;
		c->saw_final |= pr.final;
		if (c->quiet)
			return 0;
		if (c->json) {		/* stdout keeps the one summary object */
			mig_progress__json(&pr, line, sizeof(line));
			fprintf(stderr, "%s\n", line);
			return 0;
		}
		mig_progress__text(&pr, line, sizeof(line));
		fprintf(stderr, c->tty ? "\r%s\033[K" : "%s\n", line);
	} else if (type == IPC_MSG_DATA) {
		struct mig_result r;

		if (mig_ipc__decode_result(p, len, &r, why, sizeof(why))) {
			snprintf(c->odd_result, sizeof(c->odd_result), "%s", why);
			return 0;
		}
		c->res = r;
		c->got_result = true;
	}
	return 0;
}

/*
 * Said once for the progress reports and once for the result, before the
 * outcome: without it a migration that completed would end in silence, and
 * --json with no object at all.  The REPLY still decides the exit status.
 */
static void warn_odd(const struct client *c, const char *name, int ret)
{
	if (c->odd_progress[0])
		fprintf(stderr, "lkvm migrate: warning: the VMM of %s sent a progress report this "
			"lkvm cannot read (%s); reports like it are not shown\n", name,
			c->odd_progress);
	if (!c->odd_result[0])
		return;
	fprintf(stderr, "lkvm migrate: warning: the VMM of %s sent a result this lkvm cannot "
		"read (%s); the figures of its summary are lost\n", name, c->odd_result);
	if (!ret && !c->got_result && c->json)
		printf("{\"status\":\"completed\",\"reason\":\"\",\"guest\":\"destination\"}\n");
}

/*
 * The VMM does not know IPC_MSG_MIGRATE or IPC_MSG_MIGRATE_SET (WHAT: "migrate"
 * or "migrate --set"): it was started by an lkvm from before their named
 * fields.  Its own `lkvm migrate` speaks its language: name that binary
 * (the file it runs, or /proc/PID/exe when a package upgrade replaced the
 * file: that still runs the old one while the VMM lives).  Never run it
 * from here: a root client must not run a user's file.
 */
static void old_vmm_why(const char *name, const char *what, char *why, size_t n)
{
	char exe[PATH_MAX], run[PATH_MAX];
	u32 pid = ipc__instance_exe(name, exe, sizeof(exe), run, sizeof(run));

	if (!exe[0])
		snprintf(why, n, "%s: its VMM%s was started by an older lkvm that does not take this "
			 "lkvm's %s request: run the 'lkvm %s' of the lkvm that started it",
			 name, pid ? "" : " (pid unknown)", what, what);
	else if (strcmp(run, exe))	/* replaced: run is /proc/PID/exe */
		snprintf(why, n, "%s: its VMM (pid %u) was started by an older lkvm (%s) that does "
			 "not take this lkvm's %s request: run '/proc/%u/exe %s' with the same "
			 "options (the old binary, still there while the VMM runs)", name, pid, exe,
			 what, pid, what);
	else
		snprintf(why, n, "%s: its VMM (pid %u) was started by an older lkvm that does not take "
			 "this lkvm's %s request: run '%s %s' with the same options", name,
			 pid, what, exe, what);
}

/*
 * The VMM's answer to a request that went out cannot be read (-EBADMSG: a
 * VMM of another build, or a broken one).  A VMM goes on migrating when
 * its client goes, and a --set may have been applied: so not "unchanged"
 * but unknown (UNKNOWN says what), and the lkvm that started it can ask.
 */
static void unreadable_why(const char *name, const char *unknown, char *why, size_t n)
{
	char vmm[PATH_MAX + 64], run[PATH_MAX];

	ipc__vmm_desc(name, vmm, sizeof(vmm), run, sizeof(run));
	snprintf(why, n, "%s: %s sent an answer this lkvm cannot read (%s): %s: '%s migrate "
		 "--status --name %s' tells", name, vmm, ipc__answer_why(), unknown,
		 run[0] ? run : "lkvm", name);
}

/*
 * With --json, stdout always gets one object, a failure before any result
 * too.  "unchanged": the VMM never started a migration; else GUEST says
 * where the guest is (as mig_result__where()).
 */
static void print_json_failure(const struct client *c, const char *why, const char *status,
			       const char *guest)
{
	char esc[600];

	if (!c->json)
		return;
	mig_json_str(why, esc, sizeof(esc));
	printf("{\"status\":\"%s\",\"reason\":\"%s\",\"guest\":\"%s\"}\n", status, esc, guest);
}

/* As ipc__client_error() says it on stderr: "NAME: why". */
static void print_ipc_failure(const struct client *c, const char *name, int err, const char *msg,
			      const char *guest)
{
	char why[IPC_NAME_MAX + 600];

	snprintf(why, sizeof(why), "%s: %s", name, ipc__client_why(err, msg && msg[0] ? msg : NULL));
	print_json_failure(c, why, "failed", guest);
}

/*
 * The VMM closed the connection with no result: it was killed, or crashed,
 * mid-migration.  Before the final round the destination cannot have the
 * guest (it runs only on GO), so it went with the VMM; from the final round
 * on it may run there.  A VMM still alive dropped only this client: the
 * migration goes on, and --status tells how it ends.
 */
static bool still_alive(const char *name)
{
	int i;

	/* A killed VMM closes our socket before its lock file: allow it 1 s. */
	for (i = 0; i < 100 && ipc__instance_alive(name); i++)
		usleep(10000);
	return ipc__instance_alive(name);
}

static int vmm_gone(const struct client *c, const char *name)
{
	char why[400];

	if (still_alive(name)) {
		snprintf(why, sizeof(why), "lost the connection to %s mid-migration; "
			 "'lkvm migrate --status --name %s' tells how it ends", name, name);
		fprintf(stderr, "lkvm migrate: error: %s\n", why);
		print_json_failure(c, why, "unknown", "unknown");
		return 3;
	}
	if (c->saw_final) {
		snprintf(why, sizeof(why), "the VMM of %s went away in the final round: the guest "
			 "runs at the destination if it got the go-ahead, else nowhere", name);
		fprintf(stderr, "lkvm migrate: error: %s\n", why);
		print_json_failure(c, why, "unknown", "destination-or-nowhere");
		return 3;
	}
	if (!c->saw_progress)	/* it was stopping, or died, before round 0 began */
		snprintf(why, sizeof(why), "%s exited before its migration got under way (it was "
			 "stopping, or was killed): the guest stopped with it", name);
	else
		snprintf(why, sizeof(why), "the VMM of %s went away mid-migration (killed?): the "
			 "guest went with it; the destination does not run it", name);
	fprintf(stderr, "lkvm migrate: error: %s\n", why);
	print_json_failure(c, why, "failed", "stopped");
	return 2;
}

/*
 * Ctrl-C, SIGTERM or a hangup (the terminal gone) while the VMM migrates:
 * the migration goes on without this client (a script's timeout must not
 * half-abort a move), so where the guest ends up is not known here.  Exit
 * 3 with the line that says so and how to learn it, as for a connection
 * lost mid-migration, not a silent 128+N that says nothing of the guest.
 * The handler may only write() and _exit(): both texts are made before
 * the request goes out.
 */
static char sig_line[700], sig_json[900];
static size_t sig_line_len, sig_json_len;

static void on_interrupt(int sig)
{
	ssize_t ignored;

	if (sig_json_len)
		ignored = write(1, sig_json, sig_json_len);
	ignored = write(2, sig_line, sig_line_len);
	(void)ignored;
	_exit(3);
}

static void catch_interrupts(const struct client *c, const char *name)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = on_interrupt };
	char why[500], esc[600];
	size_t i;

	snprintf(why, sizeof(why), "interrupted: the migration of %s goes on in its VMM without "
		 "this client ('lkvm migrate --cancel --name %s' stops it); 'lkvm migrate --status "
		 "--name %s' tells how it ends (once %s has exited, the destination's --status)",
		 name, name, name, name);
	/* A progress line on a terminal ends in \r: the message gets its own line. */
	snprintf(sig_line, sizeof(sig_line), "%slkvm migrate: error: %s\n",
		 c->tty && !c->quiet && !c->json ? "\n" : "", why);
	sig_line_len = strlen(sig_line);
	if (c->json) {
		mig_json_str(why, esc, sizeof(esc));
		snprintf(sig_json, sizeof(sig_json),
			 "{\"status\":\"unknown\",\"reason\":\"%s\",\"guest\":\"unknown\"}\n", esc);
		sig_json_len = strlen(sig_json);
	}
	sigfillset(&sa.sa_mask);
	for (i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaction(sigs[i], &sa, NULL);
}

/* The outcome is in: from here a signal must not replace it with "unknown". */
static void ignore_interrupts(void)
{
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
}

static int fail_early(const struct client *c, const char *why)
{
	fprintf(stderr, "lkvm migrate: error: %s\n", why);
	print_json_failure(c, why, "failed", "unchanged");
	return 1;
}

/*
 * The default instance: the only one that can migrate.  A destination
 * waiting with --incoming on the same host does not count, except for
 * --status when it is the only instance there is.
 */
struct pick {
	char found[256], incoming[256];	/* names live only during the callback */
	int n, n_incoming;
};

static int pick_instance(const char *name, void *arg)
{
	struct pick *p = arg;
	struct ipc_info info;

	if (!ipc__instance_alive(name))
		return 0;
	if (!ipc__instance_info(name, &info, 2000, NULL, 0) && info.state == IPC_STATE_INCOMING) {
		p->n_incoming++;
		snprintf(p->incoming, sizeof(p->incoming), "%s", name);
	} else {
		p->n++;
		snprintf(p->found, sizeof(p->found), "%s", name);
	}
	return 0;
}

/* The name, in a buffer of its own for the rest of the command (no leak). */
static const char *default_instance(bool query, const char **why)
{
	static struct pick p;
	int ret;

	memset(&p, 0, sizeof(p));
	/* A socket directory refused (its mode, its owner) is the reason, as for --name. */
	ret = ipc__for_each_instance(pick_instance, &p);
	if (ret < 0) {
		*why = ipc__client_why(ret, NULL);
		return NULL;
	}
	if (p.n == 1)
		return p.found;
	if (p.n > 1) {
		*why = "several instances run: choose one with --name";
		return NULL;
	}
	if (query && p.n_incoming == 1)
		return p.incoming;
	*why = p.n_incoming ? "no instance to migrate: only destinations waiting for a guest "
			      "(choose one with --name)" : "no running instance (see 'lkvm list')";
	return NULL;
}

#define BANDWIDTH_UNSET	(~0ULL)	/* not a valid --bandwidth: above the maximum */

/* --set: the VMM answers with the settings it now runs with (or why not). */
static int set_request(const char *name, int downtime, bool bw_given, u64 bandwidth,
		       int max_rounds, int converge)
{
	struct mig_ipc_set s = { 0 };
	char msg[512], why[2 * PATH_MAX + 800];
	u8 wire[MIG_IPC_MSG_MAX];
	int fd, ret, len;

	if (downtime) {
		s.which |= MIG_SET_DOWNTIME;
		s.downtime_ms = downtime;
	}
	if (bw_given) {
		s.which |= MIG_SET_BANDWIDTH;
		s.bandwidth_mbps = bandwidth;
	}
	if (max_rounds) {
		s.which |= MIG_SET_MAX_ROUNDS;
		s.max_rounds = max_rounds;
	}
	if (converge >= 0) {
		s.which |= MIG_SET_AUTO_CONVERGE;
		s.auto_converge = converge;
	}
	len = mig_ipc__encode_set(&s, wire, sizeof(wire));
	if (len < 0) {		/* cannot be: four numbers */
		fprintf(stderr, "lkvm migrate: error: the --set request does not fit in a message\n");
		return 1;
	}
	fd = ipc__connect(name);
	if (fd < 0) {
		ipc__client_error(name, fd, NULL);
		return 1;
	}
	ret = ipc__request(fd, IPC_MSG_MIGRATE_SET, wire, len, 0, NULL, NULL, msg, sizeof(msg));
	close(fd);
	if (ipc__unknown_type(ret, msg)) {
		old_vmm_why(name, "migrate --set", why, sizeof(why));
		fprintf(stderr, "lkvm migrate: error: %s\n", why);
		return 1;
	}
	if (ret == -EBADMSG) {
		unreadable_why(name, "whether the settings changed is not known here", why,
			       sizeof(why));
		fprintf(stderr, "lkvm migrate: error: %s\n", why);
		return 1;
	}
	if (ret) {
		ipc__client_error(name, ret, msg[0] ? msg : NULL);
		return 1;
	}
	printf("%s: %s\n", name, msg);
	return 0;
}

static int cmd_migrate(int argc, const char **argv)
{
	const char *name = NULL, *to = NULL, *key_file = NULL;
	u64 bandwidth = BANDWIDTH_UNSET;
	int downtime = 0, channels = 0, max_rounds = 0, wait_ready = 0;
	bool verify = false, cancel = false, query = false, converge = false, compress = false;
	bool set = false, no_converge = false, bw_given;
	struct client c = { 0 };
	const struct option opts[] = {
		OPT_STR('t', "to", &to, "<host:port>", "the destination: lkvm run --incoming PORT there"),
		OPT_STR('n', "name", &name, "<name>", "the instance (default: the only one running)"),
		OPT_INTEGER(0, "downtime", &downtime, 1, 600000,
			    "target downtime in ms (default 30)"),
		OPT_UINT64(0, "bandwidth", &bandwidth, 0, MIG_MAX_BANDWIDTH_MBPS, "<MB/s>",
			   "cap the migration bandwidth (default and 0: none)"),
		OPT_INTEGER(0, "channels", &channels, 1, MIG_MAX_CHANNELS,
			    "TCP connections for RAM (default: one per 2 CPUs of the VMM, at least 2 (1 on one CPU); with --key one per CPU)"),
		OPT_INTEGER(0, "max-rounds", &max_rounds, 1, 10000,
			    "pre-copy rounds before stopping the guest anyway (default 30)"),
		OPT_BOOLEAN(0, "auto-converge", &converge,
			    "slow the guest's vCPUs down while it dirties memory faster than it moves"),
		OPT_BOOLEAN(0, "compress", &compress,
			    "deflate RAM pages (zlib level 1): for a slow or capped link, not a fast one"),
		OPT_BOOLEAN(0, "verify", &verify,
			    "end-to-end crc32 of all guest RAM, checked by the destination (adds a pass over RAM at each end to the downtime)"),
		OPT_INTEGER(0, "wait-ready", &wait_ready, 0, 3600,
			    "SEV: wait up to N s for the guest to be migration-ready (default 0: refuse)"),
		OPT_STR(0, "key", &key_file, "<file>",
			"authenticate and encrypt the stream with this key file (the destination's --incoming-key)"),
		OPT_BOOLEAN(0, "cancel", &cancel,
			    "stop the migration in progress; the guest goes on here"),
		OPT_BOOLEAN(0, "status", &query,
			    "the migration in progress, or how the last one failed"),
		OPT_BOOLEAN(0, "set", &set,
			    "change the migration in progress: --downtime, --bandwidth, --max-rounds (the next round is the last if already past), --[no-]auto-converge"),
		OPT_BOOLEAN(0, "no-auto-converge", &no_converge,
			    "with --set: stop throttling the vCPUs"),
		OPT_BOOLEAN(0, "json", &c.json,
			    "the summary as JSON on stdout, progress as JSON lines on stderr"),
		OPT_BOOLEAN('q', "quiet", &c.quiet, "no progress lines"),
		OPT_END(),
	};
	struct mig_ipc_req req;
	char msg[512], out[MIG_RESULT_TEXT_SIZE], host[256], port[16];
	u8 wire[MIG_IPC_MSG_MAX];
	int fd, ret, len;

	/* Asked for JSON: a command line that does not parse gets its object too. */
	for (ret = 1; ret < argc; ret++)
		if (!strcmp(argv[ret], "--json"))
			c.json = true;
	ret = parse_options(argc, argv, opts, migrate_usage_line);
	if (ret == PARSE_HELP)
		return 0;
	if (ret) {
		if (ret > 0)
			snprintf(msg, sizeof(msg), "unexpected argument '%s'", argv[0]);
		else if (parse_options_error()[0])
			snprintf(msg, sizeof(msg), "%s", parse_options_error());
		else
			snprintf(msg, sizeof(msg), "invalid command line (see the error on stderr)");
		if (ret > 0)
			fprintf(stderr, "lkvm migrate: error: %s\n", msg);
		print_json_failure(&c, msg, "failed", "unchanged");
		return 1;
	}
	bw_given = bandwidth != BANDWIDTH_UNSET;
	if (!bw_given)
		bandwidth = 0;
	if (key_file && !to)
		return fail_early(&c, "--key goes with --to");
	if (cancel && (to || downtime || bw_given || channels || max_rounds || verify || converge ||
		       compress || wait_ready || c.json || c.quiet || set || no_converge))
		return fail_early(&c, "--cancel takes no option but --name");
	if (query && (cancel || to || downtime || bw_given || channels || max_rounds || verify ||
		      converge || compress || wait_ready || c.quiet || set || no_converge))
		return fail_early(&c, "--status takes no option but --name and --json");
	if (set && (to || channels || verify || compress || wait_ready || c.json || c.quiet))
		return fail_early(&c, "--set changes only --downtime, --bandwidth, --max-rounds and "
				  "--[no-]auto-converge");
	if (set && !downtime && !bw_given && !max_rounds && !converge && !no_converge)
		return fail_early(&c, "--set: nothing to change (--downtime, --bandwidth, "
				  "--max-rounds, --auto-converge or --no-auto-converge)");
	if (no_converge && (!set || converge))
		return fail_early(&c, converge ? "--auto-converge and --no-auto-converge contradict "
				  "each other" : "--no-auto-converge goes with --set");
	if (!to && !cancel && !query && !set)
		return fail_early(&c, "--to HOST:PORT (or --cancel, --status, --set) is required");
	if (to && (strlen(to) >= sizeof(req.to) ||
	    mig_addr__parse(to, false, host, sizeof(host), port, sizeof(port)))) {
		snprintf(msg, sizeof(msg), "--to: '%s' is not HOST:PORT (IPv6: [ADDR]:PORT)", to);
		return fail_early(&c, msg);
	}
	/* Read by this user, here: the VMM gets the master key hashed from it. */
	memset(&req, 0, sizeof(req));
	if (key_file) {
		char why[400];

		/* Named like run's --incoming-key errors: which option's file. */
		if (mig_key__load(key_file, req.key, why, sizeof(why)) < 0) {
			snprintf(msg, sizeof(msg), "--key: %s", why);
			return fail_early(&c, msg);
		}
		req.keyed = true;
	}
	if (!name) {
		const char *why = NULL;

		name = default_instance(query, &why);
		if (!name)
			return fail_early(&c, why);
	}
	if (query) {	/* the VMM's one line, as it is; a failure as any other */
		char why[400], named[IPC_NAME_MAX + sizeof(why) + 2];

		if (!ipc__print_request(name, IPC_MSG_MIGRATE_STATUS,
					c.json ? MIG_STATUS_JSON : 0, "migrate --status", why,
					sizeof(why)))
			return 0;
		/* "NAME: why", as stderr and print_ipc_failure() say it. */
		snprintf(named, sizeof(named), "%s: %s", name, why);
		print_json_failure(&c, named, "failed", "unchanged");
		return 1;
	}
	if (cancel)	/* the answer says what happens: "cancelling the migration to ..." */
		return ipc__simple_request(name, IPC_MSG_MIGRATE_CANCEL, "cancelling",
					   "migrate --cancel");
	if (set)
		return set_request(name, downtime, bw_given, bandwidth, max_rounds,
				   converge ? 1 : no_converge ? 0 : -1);

	strcpy(req.to, to);
	req.downtime_ms = downtime;
	req.channels = channels;
	req.max_rounds = max_rounds;
	req.bandwidth_mbps = bandwidth;
	req.verify = verify;
	req.auto_converge = converge;
	req.wait_ready_s = wait_ready;
	req.compress = compress ? 1 : 0;
	len = mig_ipc__encode_req(&req, wire, sizeof(wire));
	explicit_bzero(req.key, sizeof(req.key));
	if (len < 0)		/* cannot be: every field is bounded */
		return fail_early(&c, "the migrate request does not fit in a message");
	c.tty = isatty(2);

	fd = ipc__connect(name);
	if (fd < 0) {
		explicit_bzero(wire, len);
		ipc__client_error(name, fd, NULL);
		print_ipc_failure(&c, name, fd, NULL, "unchanged");
		return 1;
	}
	/*
	 * Output closed under it (`lkvm migrate 2>&1 | head -n 1`): the
	 * writes fail and the exit status still tells the outcome, instead of
	 * SIGPIPE killing this client at its next progress line.
	 */
	signal(SIGPIPE, SIG_IGN);
	catch_interrupts(&c, name);
	/* No per-message timeout: the VMM bounds every step of the migration. */
	ret = ipc__request(fd, IPC_MSG_MIGRATE, wire, len, -1, on_data, &c, msg, sizeof(msg));
	ignore_interrupts();
	explicit_bzero(wire, len);
	close(fd);
	if (ipc__unknown_type(ret, msg)) {
		char why[PATH_MAX + 600];

		old_vmm_why(name, "migrate", why, sizeof(why));
		fprintf(stderr, "lkvm migrate: error: %s\n", why);
		print_json_failure(&c, why, "failed", "unchanged");
		return 1;
	}
	if (c.tty && !c.quiet && !c.json)
		fputc('\n', stderr);
	warn_odd(&c, name, ret);
	if (c.got_result) {
		if (c.json) {
			mig_result__json(&c.res, out, sizeof(out));
			printf("%s\n", out);
		} else {
			mig_result__text(&c.res, out, sizeof(out));
			fprintf(stderr, "%s\n", out);
		}
	}
	if ((ret == -ECONNRESET || ret == -EPIPE) && !c.got_result &&
	    (c.saw_progress || !still_alive(name)))
		return vmm_gone(&c, name);
	if (ret == -ESHUTDOWN && !c.got_result) {
		/* Refused because the VMM is stopping: the guest stops with it. */
		ipc__client_error(name, ret, msg[0] ? msg : NULL);
		print_ipc_failure(&c, name, ret, msg, "stopped");
		return 2;
	}
	if (ret == -EBADMSG && !c.got_result) {
		char why[2 * PATH_MAX + 800];

		unreadable_why(name, "how its migration ends is not known here (a VMM goes on "
			       "without its client)", why, sizeof(why));
		fprintf(stderr, "lkvm migrate: error: %s\n", why);
		print_json_failure(&c, why, "unknown", "unknown");
		return 3;
	}
	if (ret && !c.got_result) {
		ipc__client_error(name, ret, msg[0] ? msg : NULL);
		print_ipc_failure(&c, name, ret, msg, "unchanged");
		return 1;
	}
	if (ret)
		return c.res.unknown ? 3 : c.res.source_stopping ? 2 : 1;
	return 0;
}

LKVM_COMMAND("migrate", cmd_migrate, "live-migrate an instance to another host");
