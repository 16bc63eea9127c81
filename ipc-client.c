/*
 * The client side of the control socket, shared by the builtin-*.c
 * commands (list, stop, pause, resume, debug, and migrate later).
 * Everything that comes back from an instance is checked like any other
 * input: header, length, reply layout.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lkvm/ipc.h"
#include "lkvm/parse-options.h"

/* Why the socket directory was refused, for ipc__client_error(). */
static char dir_why[PATH_MAX + 128];
/* What made the last answer unreadable (-EBADMSG), for ipc__other_build(). */
static char answer_why[160];

static int __printf(1, 2) bad_answer(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(answer_why, sizeof(answer_why), fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static int socket_dir(char *dir, size_t len)
{
	int ret = ipc__dir(dir, len, false, dir_why, sizeof(dir_why));

	if (ret == -ENOENT)
		dir_why[0] = 0;		/* nothing started yet: "no such instance" */
	return ret;
}

static int instance_path(const char *name, const char *suffix, char *buf, size_t len)
{
	char dir[PATH_MAX];
	int ret, n;

	if (!ipc__valid_name(name))
		return -EINVAL;
	ret = socket_dir(dir, sizeof(dir));
	if (ret)
		return ret;
	n = snprintf(buf, len, "%s/%s%s", dir, name, suffix);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool ipc__instance_alive(const char *name)
{
	char path[PATH_MAX];
	bool alive;
	int fd;

	if (instance_path(name, ".lock", path, sizeof(path)))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	/* A shared lock is refused exactly while the instance holds its own. */
	alive = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return alive;
}

struct info_answer {
	struct ipc_info *info;
	bool got;
};

/*
 * INFO's DATA: the struct ipc_info of this build is a prefix that never
 * changes; a newer build appends fields, which are not read here.  Other
 * messages a newer build may add are information: skipped.
 */
static int got_info(u32 type, const void *p, u32 len, void *arg)
{
	struct info_answer *a = arg;

	if (type != IPC_MSG_DATA || a->got)
		return 0;
	if (len < sizeof(*a->info))
		return bad_answer("INFO data of %u bytes, fewer than the %zu this lkvm reads", len,
				  sizeof(*a->info));
	memcpy(a->info, p, sizeof(*a->info));
	a->got = true;
	return 0;
}

u32 ipc__instance_pid(const char *name)
{
	char path[PATH_MAX], buf[16] = "";
	unsigned int pid = 0;
	ssize_t n;
	int fd;

	if (!ipc__instance_alive(name) || instance_path(name, ".lock", path, sizeof(path)))
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || sscanf(buf, "%u", &pid) != 1)
		return 0;
	return pid;
}

int ipc__instance_info(const char *name, struct ipc_info *info, int timeout_ms, char *msg,
			size_t msg_len)
{
	struct info_answer a = { .info = info };
	int fd, ret;

	memset(info, 0, sizeof(*info));
	if (msg && msg_len)
		msg[0] = 0;
	fd = ipc__connect(name);
	if (fd < 0)
		return fd;
	ret = ipc__request(fd, IPC_MSG_INFO, NULL, 0, timeout_ms, got_info, &a, msg, msg_len);
	close(fd);
	if (!ret && !a.got)
		ret = bad_answer("a REPLY to INFO without its data");
	return ret;
}

u32 ipc__instance_exe(const char *name, char *exe, size_t n, char *run, size_t run_n)
{
	u32 pid = ipc__instance_pid(name);
	char path[32];
	ssize_t k = -1;

	exe[0] = run[0] = 0;
	if (pid) {
		snprintf(path, sizeof(path), "/proc/%u/exe", pid);
		k = readlink(path, exe, n - 1);
	}
	if (k <= 0) {
		exe[0] = 0;
		return pid;
	}
	exe[k] = 0;
	str_for_terminal(exe, k, false);	/* a file name the other process chose */
	/* Replaced by an upgrade: /proc/PID/exe runs the old binary while the VMM lives. */
	snprintf(run, run_n, "%s", k > 10 && !strcmp(exe + k - 10, " (deleted)") ? path : exe);
	return pid;
}

const char *ipc__answer_why(void)
{
	return answer_why[0] ? answer_why : "malformed";
}

void ipc__vmm_desc(const char *name, char *buf, size_t n, char *run, size_t run_n)
{
	char exe[PATH_MAX];
	u32 pid = ipc__instance_exe(name, exe, sizeof(exe), run, run_n);

	if (!pid)
		snprintf(buf, n, "its VMM (pid unknown)");
	else if (!exe[0])
		snprintf(buf, n, "its VMM (pid %u)", pid);
	else
		snprintf(buf, n, "its VMM (pid %u, %s)", pid, exe);
}

void ipc__other_build_why(const char *name, const char *how, const char *what, char *why,
			  size_t n)
{
	char vmm[PATH_MAX + 64], run[PATH_MAX];

	ipc__vmm_desc(name, vmm, sizeof(vmm), run, sizeof(run));
	if (run[0])
		snprintf(why, n, "%s: %s %s: run '%s %s' with the same options", name, vmm, how,
			 run, what);
	else
		snprintf(why, n, "%s: %s %s: run the 'lkvm %s' of the lkvm that started it", name,
			 vmm, how, what);
}

bool ipc__unknown_type(int err, const char *msg)
{
	return err == -EOPNOTSUPP && msg && !strncmp(msg, "unknown request type", 20);
}

bool ipc__other_build(const char *name, int err, const char *msg, const char *what, char *why,
		      size_t n)
{
	char how[700];

	if (ipc__unknown_type(err, msg))
		snprintf(how, sizeof(how), "is of an older lkvm that does not know this request "
			 "(%s)", msg);
	else if (err == -EINVAL)
		snprintf(how, sizeof(how), "refused this lkvm's request (%s): it runs another "
			 "lkvm build", msg && *msg ? msg : "Invalid argument");
	else if (err == -EBADMSG)
		snprintf(how, sizeof(how), "sent an answer this lkvm cannot read (%s): it runs "
			 "another lkvm build", ipc__answer_why());
	else
		return false;
	ipc__other_build_why(name, how, what, why, n);
	return true;
}

/* A socket nobody listens on and whose lock is free was left by a crash. */
static void remove_stale(const char *name, const char *sock)
{
	char path[PATH_MAX];
	int fd;

	struct stat st;

	/* Only a socket: a file of that name is not ours to delete. */
	if (lstat(sock, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	if (instance_path(name, ".lock", path, sizeof(path)))
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return;			/* alive after all (just starting) */
	}
	unlink(sock);
	/*
	 * The lock too, while we hold it: an instance starting under this name
	 * that opened the old file sees it was unlinked (take_lock() compares
	 * inodes) and takes a new one.
	 */
	if (fd >= 0) {
		unlink(path);
		close(fd);
	}
}

int ipc__connect(const char *name)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, ret;

	ret = instance_path(name, ".sock", addr.sun_path, sizeof(addr.sun_path));
	if (ret)
		return ret;
	/*
	 * Non-blocking: a hung instance stops accepting, its queue fills with
	 * clients that gave up, and a blocking connect() would then wait
	 * forever.  Non-blocking, a full queue is EAGAIN at once.
	 */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = -errno;
		close(fd);
		if (ret == -ECONNREFUSED && !ipc__instance_alive(name)) {
			remove_stale(name, addr.sun_path);
			return -ENOENT;
		}
		return ret == -EAGAIN ? -ETIMEDOUT : ret;	/* "not responding" */
	}
	/* The requests have their own timeouts. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * Wait until the VMM has read all we sent: a unix socket's SIOCOUTQ counts
 * the bytes its peer has not consumed.  A request with no per-message
 * timeout (a migration, whose steps the VMM bounds) would otherwise wait
 * for ever on a VMM that does not read at all (stopped, wedged): it must
 * at least be taken within the time any client allows.  The VMM drops a
 * request whose sender has gone, so giving up withdraws it.
 */
static int wait_taken(int fd, int timeout_ms)
{
	u64 end = now_ns() + (u64)timeout_ms * 1000000;
	int queued;

	for (;;) {
		if (ioctl(fd, SIOCOUTQ, &queued) < 0)
			return 0;	/* cannot tell: the answers will */
		if (queued <= 0)
			return 0;
		if (now_ns() > end)
			return -ETIMEDOUT;
		usleep(10000);
	}
}

int ipc__request(int fd, u32 type, const void *payload, u32 len, int timeout_ms,
		 ipc_data_fn on_data, void *arg, char *msg, size_t msg_len)
{
	struct ipc_hdr hdr;
	void *buf = NULL;
	int ret;

	if (msg && msg_len)
		msg[0] = 0;
	answer_why[0] = 0;
	if (timeout_ms == 0)
		timeout_ms = ipc_timeout_ms;
	ret = ipc__send(fd, type, payload, len);
	if (ret)
		return ret == -EPIPE ? -ECONNRESET : ret;
	if (timeout_ms < 0 && (ret = wait_taken(fd, ipc_timeout_ms))) {
		if (msg && msg_len)
			snprintf(msg, msg_len, "instance not responding within %g s; the request "
				 "is withdrawn", ipc_timeout_ms / 1000.0);
		return ret;
	}

	for (;;) {
		u64 deadline = ipc__deadline(timeout_ms);

		ret = ipc__recv(fd, &hdr, sizeof(hdr), deadline, NULL);
		if (!ret && ipc__check_hdr(&hdr))
			ret = bad_answer("a message header of magic 0x%08x, version %u, flags 0x%x, "
					 "%u bytes", hdr.magic, hdr.version, hdr.flags, hdr.len);
		if (ret)
			break;
		buf = malloc(hdr.len + 1);
		if (!buf) {
			ret = -ENOMEM;
			break;
		}
		ret = ipc__recv(fd, buf, hdr.len, deadline, NULL);
		if (ret)
			break;
		if (hdr.type == IPC_MSG_REPLY) {
			struct ipc_reply r;
			size_t n;

			if (hdr.len < sizeof(r)) {
				ret = bad_answer("a REPLY of %u bytes, fewer than %zu", hdr.len,
						 sizeof(r));
				break;
			}
			memcpy(&r, buf, sizeof(r));
			n = hdr.len - sizeof(r);
			if (msg && msg_len) {
				n = min(n, msg_len - 1);
				memcpy(msg, (char *)buf + sizeof(r), n);
				msg[n] = 0;
				/* Printed by the caller: the sender may be any process of the user. */
				str_for_terminal(msg, n, false);
			}
			/* A status must be 0 or a plausible -errno. */
			ret = r.status > 0 || r.status < -4095 ?
			      bad_answer("a REPLY status of %d, not 0 or -errno", r.status) : r.status;
			break;
		}
		if (hdr.type != IPC_MSG_DATA && hdr.type != IPC_MSG_PROGRESS) {
			ret = bad_answer("a message of type 0x%x", hdr.type);
			break;
		}
		if (on_data) {
			ret = on_data(hdr.type, buf, hdr.len, arg);
			if (ret < 0)
				break;
		}
		free(buf);
		buf = NULL;
	}
	free(buf);
	return ret;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ipc__for_each_instance(int (*fn)(const char *name, void *arg), void *arg)
{
	char dir[PATH_MAX], **names = NULL;
	size_t nr = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int ret;

	ret = socket_dir(dir, sizeof(dir));
	if (ret)
		return ret == -ENOENT ? 0 : ret;	/* no directory: no instances */
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char *name;

		if (n <= 5 || strcmp(de->d_name + n - 5, ".sock"))
			continue;
		name = strndup(de->d_name, n - 5);
		if (!name || !ipc__valid_name(name)) {
			free(name);
			continue;
		}
		if (nr == cap) {
			char **nn = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof(*names));

			if (!nn) {
				free(name);
				ret = -ENOMEM;
				break;
			}
			names = nn;
		}
		names[nr++] = name;
	}
	closedir(d);
	if (nr)
		qsort(names, nr, sizeof(*names), cmp_str);
	for (i = 0; i < nr; i++) {
		if (!ret && fn(names[i], arg) < 0)
			ret = -ECANCELED;
		free(names[i]);
	}
	free(names);
	return ret;
}

const char *ipc__strerror(int err)
{
	switch (err) {
	case -ENOENT:		return "no such instance";
	case -EACCES:
	case -EPERM:		return "permission denied";
	case -ETIMEDOUT:	return "instance not responding";
	case -ECONNREFUSED:	return "instance not accepting connections";
	case -EPIPE:
	case -ECONNRESET:	return "instance closed the connection";
	case -EBADMSG:		return "bad answer from instance";
	case -EINVAL:		return "invalid instance name";
	case -ENAMETOOLONG:	return "socket path too long (set a shorter LKVM_DIR)";
	case -ESHUTDOWN:	return "instance is shutting down";
	case -EOPNOTSUPP:	return "instance does not support this request";
	default:		return strerror(-err);
	}
}

const char *ipc__client_why(int err, const char *msg)
{
	return msg && *msg ? msg : dir_why[0] ? dir_why : ipc__strerror(err);
}

void ipc__client_error(const char *name, int err, const char *msg)
{
	const char *why = ipc__client_why(err, msg);

	if (name)
		fprintf(stderr, "lkvm %s: error: %s: %s\n", parse_options_cmd, name, why);
	else
		fprintf(stderr, "lkvm %s: error: %s\n", parse_options_cmd, why);
}

struct simple_cmd {
	u32 type;
	const char *done_verb;
	const char *what;	/* the command, as another lkvm would be told to run it */
	bool wait_exit;
	bool all;		/* --all: sent along (IPC_FLAG_ALL) */
	int failed;
	int seen;
};

/* Wait for the instance's lock to go: it has really exited. */
static bool wait_gone(const char *name, int timeout_ms)
{
	u64 end = now_ns() + (u64)timeout_ms * 1000000;

	while (ipc__instance_alive(name)) {
		if (now_ns() > end)
			return false;
		usleep(20000);
	}
	return true;
}

/*
 * STOP or RESUME of --all refused for its flags word (-EINVAL): an older
 * VMM, from before that flag, which cannot refuse --all where its last
 * migration's outcome is unknown.  Such a guest is held paused, so one that
 * runs (or has no guest yet) is not in that state: send the request again
 * without the flag.  A paused one is left alone, saying so (returns 1).
 */
static int without_all_flag(const char *name, struct simple_cmd *c, char *msg, size_t n)
{
	char vmm[PATH_MAX + 64], run[PATH_MAX];
	struct ipc_info info;
	int fd, ret;

	ret = ipc__instance_info(name, &info, 0, msg, n);
	if (ret)
		return ret;
	if (info.state != IPC_STATE_RUNNING && info.state != IPC_STATE_STARTING &&
	    info.state != IPC_STATE_INCOMING && info.state != IPC_STATE_STOPPING) {
		ipc__vmm_desc(name, vmm, sizeof(vmm), run, sizeof(run));
		fprintf(stderr, "lkvm %s: error: %s: not %s by --all: %s is of an older lkvm that "
			"cannot refuse --all when its last migration's outcome is unknown, and its "
			"guest is paused: %s it by --name\n", parse_options_cmd, name, c->done_verb,
			vmm, parse_options_cmd);
		return 1;
	}
	fd = ipc__connect(name);
	if (fd < 0)
		return fd;
	ret = ipc__request(fd, c->type, NULL, 0, 0, NULL, NULL, msg, n);
	close(fd);
	return ret;
}

/* The answer of a VMM of another build: one line naming it (and true). */
static bool other_build_error(const char *name, int err, const char *msg, const char *what)
{
	char why[2 * PATH_MAX + 1024];

	if (!ipc__other_build(name, err, msg, what, why, sizeof(why)))
		return false;
	fprintf(stderr, "lkvm %s: error: %s\n", parse_options_cmd, why);
	return true;
}

static int simple_one(const char *name, void *arg)
{
	struct simple_cmd *c = arg;
	u32 flags = IPC_FLAG_ALL;
	bool send = c->all && (c->type == IPC_MSG_STOP || c->type == IPC_MSG_RESUME);
	char msg[512];
	int fd, ret;

	fd = ipc__connect(name);
	/*
	 * --all: a socket nobody holds (its VMM was killed; ipc__connect()
	 * removed it) or a file that is none is no instance, as `lkvm list`
	 * does not show it: not a failure of the command.
	 */
	if (fd == -ENOENT && c->all)
		return 0;
	c->seen++;
	if (fd < 0) {
		ipc__client_error(name, fd, NULL);
		c->failed++;
		return 0;
	}
	ret = ipc__request(fd, c->type, send ? &flags : NULL, send ? sizeof(flags) : 0, 0,
			   NULL, NULL, msg, sizeof(msg));
	/* Closing tells the instance to drop or undo what it had not answered. */
	close(fd);
	if (ret == -EINVAL && send)
		ret = without_all_flag(name, c, msg, sizeof(msg));
	if (ret == 1) {		/* said why */
		c->failed++;
		return 0;
	}
	if (ret == -ETIMEDOUT && !*msg)
		snprintf(msg, sizeof(msg), "instance not responding within %g s; "
			 "the request is withdrawn", ipc_timeout_ms / 1000.0);
	/* --all over an instance that has no guest yet: nothing to do there. */
	if (ret == -EAGAIN && c->all) {
		printf("%s: skipped (%s)\n", name, *msg ? msg : "no guest yet");
		return 0;
	}
	if (ret) {
		if (!other_build_error(name, ret, msg, c->what))
			ipc__client_error(name, ret, msg);
		c->failed++;
		return 0;
	}
	if (c->wait_exit && !wait_gone(name, 10000)) {
		ipc__client_error(name, 0, "accepted the request but is still running after 10s");
		c->failed++;
		return 0;
	}
	if (*msg)
		printf("%s: %s\n", name, msg);
	else
		printf("%s: %s\n", name, c->done_verb);
	return 0;
}

int ipc__simple_request(const char *name, u32 type, const char *done_verb, const char *what)
{
	struct simple_cmd c = { .type = type, .done_verb = done_verb, .what = what };

	simple_one(name, &c);
	return c.failed ? 1 : 0;
}

/* The VMM's text (--status, debug) as lines, without what a terminal would obey. */
static int print_data(u32 type, const void *p, u32 len, void *arg)
{
	char *text;
	int ret = 0;

	if (type != IPC_MSG_DATA)
		return 0;
	text = malloc((size_t)len + 1);
	if (!text)
		return -ENOMEM;
	memcpy(text, p, len);
	text[len] = 0;
	str_for_terminal(text, len, true);
	if (fwrite(text, 1, len, stdout) != len)
		ret = -EIO;
	free(text);
	return ret;
}

int ipc__print_request(const char *name, u32 type, u32 flags, const char *what, char *why,
		       size_t why_len)
{
	char msg[512], other[2 * PATH_MAX + 1024];
	int fd, ret;

	msg[0] = 0;
	/* ipc__connect() says -EINVAL for it too: not another build's refusal. */
	if (!ipc__valid_name(name)) {
		ipc__client_error(name, -EINVAL, NULL);
		if (why && why_len)
			snprintf(why, why_len, "%s", ipc__client_why(-EINVAL, NULL));
		return 1;
	}
	fd = ipc__connect(name);
	if (fd >= 0) {
		ret = ipc__request(fd, type, &flags, sizeof(flags), 0, print_data, NULL,
				   msg, sizeof(msg));
		close(fd);
		fflush(stdout);
	} else {
		ret = fd;
	}
	if (!ret)
		return 0;
	if (ipc__other_build(name, ret, msg, what, other, sizeof(other))) {
		fprintf(stderr, "lkvm %s: error: %s\n", parse_options_cmd, other);
		if (why && why_len)	/* without the name, as ipc__client_why() */
			snprintf(why, why_len, "%s", other + strlen(name) + 2);
		return 1;
	}
	ipc__client_error(name, ret, msg);
	if (why && why_len)
		snprintf(why, why_len, "%s", ipc__client_why(ret, msg));
	return 1;
}

int ipc__simple_command(int argc, const char **argv, u32 type, const char *done_verb,
			bool wait_exit, const char *about)
{
	struct simple_cmd c = { .type = type, .done_verb = done_verb, .wait_exit = wait_exit,
				.what = parse_options_cmd };
	const char *name = NULL;
	bool all = false;
	char usage[512];
	int ret;
	const struct option opts[] = {
		OPT_STR('n', "name", &name, "<name>", "the instance (see 'lkvm list')"),
		OPT_BOOLEAN('a', "all", &all, "every instance of this user"),
		OPT_END(),
	};

	snprintf(usage, sizeof(usage), "lkvm %s --name NAME | --all\n\n%s\n"
		 "Exit status: 0 done (also with --all and no instance), 1 an error.",
		 parse_options_cmd, about);
	ret = parse_options(argc, argv, opts, usage);
	if (ret == PARSE_HELP)
		return 0;
	if (ret < 0)
		return 1;
	if (ret > 0) {
		fprintf(stderr, "lkvm %s: error: unexpected argument '%s' (use --name)\n",
			parse_options_cmd, argv[0]);
		return 1;
	}
	if (!!name == all) {
		fprintf(stderr, "lkvm %s: error: give exactly one of --name NAME or --all\n",
			parse_options_cmd);
		return 1;
	}
	if (name && !ipc__valid_name(name)) {
		ipc__client_error(name, -EINVAL, NULL);
		return 1;
	}
	c.all = all;
	if (name)
		simple_one(name, &c);
	else if ((ret = ipc__for_each_instance(simple_one, &c)) < 0) {
		ipc__client_error(NULL, ret, NULL);
		return 1;
	}
	if (all && !c.seen)	/* not an error: there is nothing to do */
		printf("no instances: nothing to %s\n", parse_options_cmd);
	return c.failed ? 1 : 0;
}
