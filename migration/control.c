/*
 * IPC_MSG_MIGRATE: `lkvm migrate` asks this VMM to migrate its guest.  The
 * handler runs on the control connection's own thread, streams progress
 * back, and on commit stops the VM with status 0 (the guest lives on at
 * the destination).  On failure the engine has already resumed the guest.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lkvm/init.h"
#include "lkvm/ipc.h"
#include "lkvm/ipc-fields.h"
#include "lkvm/kvm.h"
#include "lkvm/migration.h"
#include "lkvm/util.h"

static pthread_mutex_t busy_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t replied = PTHREAD_COND_INITIALIZER;
static bool busy;
static bool handling;		/* a MIGRATE request whose outcome is not known yet */
static unsigned int answering;	/* MIGRATE requests not yet answered */

/* What lkvm migrate --status reports; under busy_lock. */
static struct {
	char to[256];
	u64 t0_ns;
	bool have_prog, have_res;
	struct mig_progress prog;	/* the last report */
	struct mig_result res;		/* the last migration's, once it failed */
} st;

struct prog_ctx {
	int fd;
};

static void send_progress(const struct mig_progress *p, void *arg)
{
	struct prog_ctx *c = arg;
	u8 wire[MIG_IPC_MSG_MAX];
	char line[256];
	int n;

	pthread_mutex_lock(&busy_lock);
	st.prog = *p;
	st.have_prog = true;
	pthread_mutex_unlock(&busy_lock);

	/* A client that went away must not stop the migration. */
	n = mig_ipc__encode_progress(p, wire, sizeof(wire));
	if (c->fd >= 0 && (n < 0 || ipc__send(c->fd, IPC_MSG_PROGRESS, wire, n)))
		c->fd = -1;
	mig_progress__text(p, line, sizeof(line));
	pr_debug("%s", line);
}

/* "pid P, /path/to/lkvm": which lkvm this is, for a client of another build. */
static void whoami(char *buf, size_t n)
{
	char exe[PATH_MAX];
	ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[k > 0 ? k : 0] = 0;
	snprintf(buf, n, "VMM pid %d%s%s", (int)getpid(), k > 0 ? ", " : "", exe);
}

/*
 * A request (migrate or migrate --set: WHAT) from another lkvm build (or a
 * raw client) that this one cannot read: a malformed field, an
 * out-of-range value, or an option this build does not have.  The last is
 * refused by name (never ignored: the user asked for it), and says which
 * lkvm answers so the user can pick a client.
 */
static int refuse_request(int fd, const char *what, int err, const char *why,
			  const char *unknown)
{
	char me[PATH_MAX + 64];

	whoami(me, sizeof(me));
	pr_warn("ipc: rejected %s request: %s", what, why);
	if (err == -ENOPROTOOPT)
		ipc__reply(fd, err, "this lkvm (%s) does not know the %s option '%s': "
			   "leave it out, or migrate with an lkvm that has it", me, what, unknown);
	else
		ipc__reply(fd, err, "%s request: %s", what, why);
	return IPC_REPLIED;
}

/* A request that decoded; migrate_cmd() wipes it after, whatever the way out. */
static int migrate_req(struct kvm *kvm, int fd, struct mig_ipc_req *req)
{
	u8 wire[MIG_IPC_MSG_MAX];
	struct mig_params p;
	struct mig_result res;
	struct prog_ctx ctx = { fd };
	char line[512];
	int ret, n;

	/* A stop in progress tears the machine down under the engine's feet. */
	if (kvm__stopping(kvm))
		return -ESHUTDOWN;
	/* Only an SEV guest says when it is ready to move: not silently ignored. */
	if (req->wait_ready_s && kvm->cfg.sev_mode == SEV_MODE_NONE)
		return ipc__reply(fd, -EINVAL, "--wait-ready applies to SEV guests only") ?:
		       IPC_REPLIED;

	if (kvm_ipc__outcome_unknown()) {
		ipc__reply(fd, -EBUSY, "%s", IPC_UNKNOWN_MSG);
		return IPC_REPLIED;
	}
	pthread_mutex_lock(&busy_lock);
	if (busy) {
		pthread_mutex_unlock(&busy_lock);
		ipc__reply(fd, -EBUSY, "a migration is already in progress");
		return IPC_REPLIED;
	}
	busy = true;
	handling = true;
	answering++;
	snprintf(st.to, sizeof(st.to), "%s", req->to);
	st.t0_ns = now_ns();
	st.have_prog = false;
	pthread_mutex_unlock(&busy_lock);

	mig_params__defaults(&p);
	p.to = req->to;
	if (req->downtime_ms)
		p.downtime_ms = req->downtime_ms;
	if (req->channels)
		p.channels = req->channels;
	if (req->max_rounds)
		p.max_rounds = req->max_rounds;
	p.bandwidth_mbps = req->bandwidth_mbps;
	p.verify = req->verify;
	p.auto_converge = req->auto_converge;
	p.compress = req->compress;
	p.wait_ready_ms = req->wait_ready_s * 1000;
	p.keyed = req->keyed;
	if (!req->channels)
		p.channels = mig__default_channels(p.keyed);
	memcpy(p.key, req->key, sizeof(p.key));
	explicit_bzero(req->key, sizeof(req->key));	/* one copy, for as long as it runs */

	pr_info("migration to %s started", p.to);
	ret = migration__send(kvm, &p, send_progress, &ctx, &res);
	explicit_bzero(p.key, sizeof(p.key));
	mig_result__text(&res, line, sizeof(line));
	if (ret)
		pr_err("%s", line);
	else
		pr_info("%s", line);
	/*
	 * Over before the client hears so: a new MIGRATE, --status or
	 * --cancel sent as soon as `lkvm migrate` has returned must not find
	 * this one still in progress ("a migration is already in progress").
	 */
	pthread_mutex_lock(&busy_lock);
	busy = ret == 0;		/* after a commit, never again */
	handling = false;
	st.res = res;
	st.have_res = true;
	pthread_mutex_unlock(&busy_lock);
	n = mig_ipc__encode_result(&res, wire, sizeof(wire));
	if (ctx.fd >= 0 && n >= 0)
		ipc__send(fd, IPC_MSG_DATA, wire, n);
	if (ctx.fd >= 0)
		ipc__reply(fd, ret, "%s", ret ? res.reason : "migrated");
	if (!ret) {
		static char reason[300];

		/* The vCPUs are still parked: they leave without running again. */
		snprintf(reason, sizeof(reason), "guest migrated to %s", req->to);
		kvm__request_stop(kvm, 0, reason);
	}
	pthread_mutex_lock(&busy_lock);
	answering--;
	pthread_cond_broadcast(&replied);
	pthread_mutex_unlock(&busy_lock);
	return IPC_REPLIED;
}

static int migrate_cmd(struct kvm *kvm, int fd, const void *payload, u32 len)
{
	char why[256], unknown[IPCF_NAME_MAX + 1];
	struct mig_ipc_req req;
	int ret;

	ret = mig_ipc__decode_req(payload, len, &req, why, sizeof(why), unknown);
	if (ret)
		ret = refuse_request(fd, "migrate", ret, why, unknown);
	else
		ret = migrate_req(kvm, fd, &req);
	explicit_bzero(&req, sizeof(req));	/* a part-decoded one too */
	return ret;
}

ipc_guest_handler(IPC_MSG_MIGRATE, migrate_cmd);

/*
 * The requests of lkvm builds before the named fields (the VMM's raw C
 * structs): from such a client, answered with what to run instead (WHAT:
 * its command), whatever the size.  Served on any instance, so that the
 * answer is always this one.
 */
static int refuse_old_client(int fd, u32 type, const char *what)
{
	char me[PATH_MAX + 64];

	whoami(me, sizeof(me));
	pr_warn("ipc: rejected a %s request of an older lkvm client (type 0x%x)", what, type);
	ipc__reply(fd, -EPROTONOSUPPORT, "this lkvm (%s) no longer takes the %s request of older "
		   "lkvm clients: run its own 'lkvm %s'", me, what, what);
	return IPC_REPLIED;
}

static int migrate_old_cmd(struct kvm *kvm, int fd, const void *payload, u32 len)
{
	return refuse_old_client(fd, IPC_MSG_MIGRATE_OLD, "migrate");
}

ipc_handler(IPC_MSG_MIGRATE_OLD, migrate_old_cmd);

static int set_old_cmd(struct kvm *kvm, int fd, const void *payload, u32 len)
{
	return refuse_old_client(fd, IPC_MSG_MIGRATE_SET_OLD, "migrate --set");
}

ipc_handler(IPC_MSG_MIGRATE_SET_OLD, set_old_cmd);

/* lkvm migrate --cancel: answers at once; the MIGRATE request fails soon after. */
static int cancel_cmd(struct kvm *kvm, int fd, const void *payload, u32 len)
{
	char msg[320];
	int ret;

	if (len)
		return -EINVAL;
	ret = migration__cancel(msg, sizeof(msg));
	if (!ret)
		pr_info("migration: %s (lkvm migrate --cancel)", msg);
	ipc__reply(fd, ret, "%s", msg);
	return IPC_REPLIED;
}

ipc_guest_handler(IPC_MSG_MIGRATE_CANCEL, cancel_cmd);

/*
 * lkvm migrate --set: new settings for the migration in progress (QEMU's
 * migrate-set-parameters): a cap raised or lifted because the migration
 * crawls, a downtime target relaxed or auto-converge turned on because it
 * does not converge, --max-rounds to make the next round the last.  Cheaper
 * than a cancel and a new start, which sends all of RAM again.
 */
static int set_cmd(struct kvm *kvm, int fd, const void *payload, u32 len)
{
	char msg[400], why[256], unknown[IPCF_NAME_MAX + 1];
	struct mig_ipc_set s;
	int ret;

	ret = mig_ipc__decode_set(payload, len, &s, why, sizeof(why), unknown);
	if (ret)
		return refuse_request(fd, "migrate --set", ret, why, unknown);
	ret = migration__set(&s, msg, sizeof(msg));
	if (ret == -EINVAL)
		return ret;
	if (!ret)
		pr_info("%s (lkvm migrate --set)", msg);
	ipc__reply(fd, ret, "%s", msg);
	return IPC_REPLIED;
}

ipc_guest_handler(IPC_MSG_MIGRATE_SET, set_cmd);

/*
 * lkvm migrate --status: the migration in progress (its last progress
 * report), or how the last one failed; on a destination still receiving,
 * the incoming one.  Answers a client that lost the
 * `lkvm migrate` that started it: that one going away cancels nothing.
 */
static int status_cmd(struct kvm *kvm, int fd, const void *payload, u32 len)
{
	char text[MIG_RESULT_TEXT_SIZE + 1024], prog[MIG_RESULT_TEXT_SIZE], to[512], from[64];
	bool json;
	u64 ago;
	u32 flags;
	size_t n;

	if (len != sizeof(flags))
		return -EINVAL;
	memcpy(&flags, payload, sizeof(flags));
	if (flags & ~MIG_STATUS_JSON)
		return -EINVAL;
	json = flags & MIG_STATUS_JSON;

	/* A destination: the guest that is arriving. */
	if (kvm__incoming_wait(kvm) &&
	    !migration__incoming_status(kvm, text, sizeof(text) - 1, json)) {
		n = strlen(text);
		text[n++] = '\n';
		return ipc__send_data(fd, text, n);
	}
	pthread_mutex_lock(&busy_lock);
	mig_json_str(st.to, to, sizeof(to));
	if (handling) {
		double secs = (now_ns() - st.t0_ns) / 1e9;

		if (json) {
			if (st.have_prog)
				mig_progress__json(&st.prog, prog, sizeof(prog));
			snprintf(text, sizeof(text),
				 "{\"active\":true,\"to\":\"%s\",\"elapsed_ms\":%.0f,\"progress\":%s}",
				 to, secs * 1000, st.have_prog ? prog : "null");
		} else {
			const char *p = prog;

			if (st.have_prog) {
				mig_progress__text(&st.prog, prog, sizeof(prog));
				if (!strncmp(p, "migrate: ", 9))
					p += 9;
			}
			snprintf(text, sizeof(text), "migrating to %s for %.1f s; %s", to, secs,
				 st.have_prog ? p : "no progress report yet");
		}
	} else if (st.have_res) {
		if (json) {
			mig_result__json(&st.res, prog, sizeof(prog));
			snprintf(text, sizeof(text), "{\"active\":false,\"to\":\"%s\",\"last\":%s}",
				 to, prog);
		} else {
			char line[MIG_RESULT_TEXT_SIZE];

			/* Its own words: "failed: ...", or "outcome unknown: ..." */
			mig_result__text(&st.res, line, sizeof(line));
			snprintf(text, sizeof(text), "no migration in progress; the last one, to %s: "
				 "%s", to, strncmp(line, "migration ", 10) ? line : line + 10);
		}
	} else if (!migration__arrival(from, sizeof(from), &ago)) {
		/* Its own source has exited: this is where a script learns the outcome. */
		mig_json_str(from, to, sizeof(to));
		if (json)
			snprintf(text, sizeof(text), "{\"active\":false,\"last\":null,\"arrived\":"
				 "{\"from\":\"%s\",\"elapsed_ms\":%.0f}}", to, ago / 1e6);
		else
			snprintf(text, sizeof(text), "no migration in progress; the guest arrived here "
				 "from %s %.1f s ago", from, ago / 1e9);
	} else {
		snprintf(text, sizeof(text), json ? "{\"active\":false,\"last\":null}" :
			 "no migration in progress");
	}
	pthread_mutex_unlock(&busy_lock);
	n = strlen(text);
	text[n++] = '\n';
	return ipc__send_data(fd, text, n);
}

ipc_handler(IPC_MSG_MIGRATE_STATUS, status_cmd);	/* also while receiving */

/*
 * Late level, linked after ipc.c: runs before the control socket closes
 * and guest memory goes.  Waits until the MIGRATE request is answered: the
 * engine is done (nothing reads guest memory any more) and the client has
 * heard the outcome.  A commit under way is waited for as long as its own
 * timeouts allow: giving up in the middle of it could leave the guest
 * nowhere (no GO sent, and this VMM gone).
 */
static int migrate_exit(struct kvm *kvm)
{
	u32 wait_ms = migration__stop();
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	timespec_add_ms(&until, wait_ms);
	pthread_mutex_lock(&busy_lock);
	while (answering)
		if (pthread_cond_timedwait(&replied, &busy_lock, &until) == ETIMEDOUT)
			break;
	if (answering)
		pr_warn("migration: still running %u s after the stop; exiting anyway",
			wait_ms / 1000);
	pthread_mutex_unlock(&busy_lock);
	return 0;
}
late_exit(migrate_exit);
