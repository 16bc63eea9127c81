/*
 * The VMM side of the control socket (protocol in include/lkvm/ipc.h and
 * docs/ipc.md; wire I/O in ipc-proto.c, the built-in requests in
 * ipc-cmds.c).
 *
 * One accept thread polls the listening socket; every accepted client gets
 * its own detached thread, so a client that sends half a message or never
 * reads its answer only ties up that thread (and only until IPC_TIMEOUT_MS
 * passes), never a vCPU or another client.  The number of connections is
 * capped so a flood cannot exhaust threads.  Liveness of an instance is a
 * flock() on NAME.lock held for the life of the process: the kernel drops it
 * on any death, so a leftover NAME.sock is known to be stale exactly when
 * the lock can be taken.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "lkvm/init.h"
#include "lkvm/ipc.h"
#include "lkvm/kvm.h"
#include "lkvm/run-hooks.h"

#define IPC_MAX_CONNS		16
#define IPC_IDLE_MS		(2 * ipc_timeout_ms)	/* between requests */
#define IPC_MAX_HANDLERS	32

static struct {
	u32 type;
	ipc_handler_fn fn;
	bool needs_guest;		/* refused while --incoming waits for it */
} handlers[IPC_MAX_HANDLERS];
static int nr_handlers;
static pthread_mutex_t handlers_lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	struct kvm *kvm;
	bool started;
	int listen_fd, lock_fd;
	int wake[2];			/* write end ends the accept thread */
	pthread_t accept_thread;
	char name[IPC_NAME_MAX + 1];
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char lock_path[PATH_MAX];

	pthread_mutex_t lock;		/* conns, nr_conns */
	pthread_cond_t cond;
	int conns[IPC_MAX_CONNS];	/* -1 = free slot */
	int nr_conns;
	bool closing;
} ipc = {
	.listen_fd = -1, .lock_fd = -1, .wake = { -1, -1 },
	.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
};

/*
 * Read one message: header checked, payload into a malloc'd buffer.
 * Returns 0, 1 on a clean EOF before any byte, or -errno.
 */
static int recv_msg(int fd, struct ipc_hdr *hdr, void **payload, int first_ms, int rest_ms)
{
	size_t got;
	void *p;
	int ret;

	*payload = NULL;
	ret = ipc__recv(fd, hdr, 1, ipc__deadline(first_ms), &got);
	if (ret == -EPIPE && !got)
		return 1;
	if (!ret)
		ret = ipc__recv(fd, (u8 *)hdr + 1, sizeof(*hdr) - 1, ipc__deadline(rest_ms), NULL);
	if (ret)
		return ret;
	ret = ipc__check_hdr(hdr);
	if (ret)
		return ret;
	p = malloc(hdr->len + 1);	/* +1: text payloads get a NUL */
	if (!p)
		return -ENOMEM;
	ret = ipc__recv(fd, p, hdr->len, ipc__deadline(rest_ms), NULL);
	if (ret) {
		free(p);
		return ret;
	}
	((char *)p)[hdr->len] = 0;
	*payload = p;
	return 0;
}

/* ---- handler table ----------------------------------------------------- */

static int register_handler(u32 type, ipc_handler_fn fn, bool needs_guest)
{
	int i, ret = 0;

	if (!fn || type == 0 || type >= IPC_MSG_REPLY)
		return -EINVAL;
	pthread_mutex_lock(&handlers_lock);
	for (i = 0; i < nr_handlers; i++)
		if (handlers[i].type == type)
			ret = -EEXIST;
	if (!ret && nr_handlers == IPC_MAX_HANDLERS)
		ret = -ENOSPC;
	if (!ret)
		handlers[nr_handlers++] = (typeof(handlers[0])){ type, fn, needs_guest };
	pthread_mutex_unlock(&handlers_lock);
	if (ret)
		pr_err("ipc: cannot register handler for type 0x%x (%d)", type, ret);
	return ret;
}

int ipc__register_handler(u32 type, ipc_handler_fn fn)
{
	return register_handler(type, fn, false);
}

int ipc__register_guest_handler(u32 type, ipc_handler_fn fn)
{
	return register_handler(type, fn, true);
}

static void __attribute__((constructor)) register_builtins(void)
{
	ipc_cmds__register();
}

static ipc_handler_fn find_handler(u32 type, bool *needs_guest)
{
	ipc_handler_fn fn = NULL;
	int i;

	pthread_mutex_lock(&handlers_lock);
	for (i = 0; i < nr_handlers; i++) {
		if (handlers[i].type == type) {
			fn = handlers[i].fn;
			*needs_guest = handlers[i].needs_guest;
		}
	}
	pthread_mutex_unlock(&handlers_lock);
	return fn;
}

/* ---- serving one client ------------------------------------------------ */

static const char *hdr_problem(int err)
{
	switch (err) {
	case -EBADMSG:		return "bad magic";
	case -EPROTONOSUPPORT:	return "unsupported protocol version";
	case -EINVAL:		return "non-zero flags";
	case -EMSGSIZE:		return "payload too large";
	case -ETIMEDOUT:	return "message incomplete after timeout";
	case -EPIPE:		return "truncated message";
	default:		return strerror(-err);
	}
}

/*
 * Has the client closed its end?  A client that gave up waiting (its
 * request timed out, or it was killed) told its user that the request
 * failed, so a state change it asked for must not happen behind its back.
 * Only a full close counts: a client that shut down just its sending side
 * still reads the answer.
 */
bool ipc__client_gone(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR));
}

void ipc__serve(struct kvm *kvm, int fd)
{
	for (;;) {
		struct ipc_hdr hdr;
		ipc_handler_fn fn;
		bool needs_guest = false;
		void *payload;
		int ret;

		ret = recv_msg(fd, &hdr, &payload, IPC_IDLE_MS, ipc_timeout_ms);
		if (ret == 1)
			return;			/* client done */
		if (ret == -ETIMEDOUT) {
			pr_debug("ipc: closing idle or stalled connection");
			ipc__reply(fd, -ETIMEDOUT, "timed out waiting for a complete message");
			return;
		}
		if (ret) {
			/* The stream cannot be resynchronised: answer and hang up. */
			pr_warn("ipc: rejected message: %s", hdr_problem(ret));
			ipc__reply(fd, ret, "rejected: %s", hdr_problem(ret));
			return;
		}
		fn = hdr.type < IPC_MSG_REPLY ? find_handler(hdr.type, &needs_guest) : NULL;
		if (fn && __atomic_load_n(&ipc.closing, __ATOMIC_ACQUIRE)) {
			/*
			 * It was queued as the VMM began to exit: say so rather
			 * than act on a guest that is going away (or hang up,
			 * which would leave the client guessing).  A stop has
			 * what it asked for.
			 */
			ret = hdr.type == IPC_MSG_STOP ?
			      ipc__reply(fd, 0, "already exiting") :
			      ipc__reply(fd, -ESHUTDOWN, "not done: the instance is exiting");
			free(payload);
			if (ret)
				return;
			continue;
		}
		if (fn && ipc__client_gone(fd)) {
			/* It waited in the queue until its sender gave up. */
			pr_warn("ipc: dropped a request (type 0x%x) whose sender is gone",
				hdr.type);
			free(payload);
			return;
		}
		if (!fn) {
			pr_warn("ipc: rejected unknown request type 0x%x", hdr.type);
			ret = ipc__reply(fd, -EOPNOTSUPP, "unknown request type 0x%x", hdr.type);
		} else if (needs_guest && kvm__incoming_wait(kvm)) {
			ret = ipc__reply(fd, -EAGAIN, "the guest has not arrived yet: "
					 "this instance waits for an incoming migration");
		} else if (needs_guest && kvm__starting(kvm)) {
			ret = ipc__reply(fd, -EAGAIN, "the guest has not started yet: "
					 "try again once 'lkvm list' shows it running");
		} else {
			ret = fn(kvm, fd, payload, hdr.len);
			/* A handler's -EINVAL: malformed, or a value out of range. */
			if (ret == -EINVAL)
				pr_warn("ipc: rejected request type 0x%x: invalid payload (%u bytes: "
					"wrong size or a value out of range)", hdr.type, hdr.len);
			if (ret == IPC_REPLIED)
				ret = 0;
			else if (ret >= 0)
				ret = ipc__reply(fd, 0, NULL);
			else
				ret = ipc__reply(fd, ret, "%s", ret == -ESHUTDOWN ?
						 "instance is shutting down" : strerror(-ret));
		}
		/* A migrate request holds lkvm migrate --key's master key. */
		explicit_bzero(payload, hdr.len);
		free(payload);
		if (ret)
			return;			/* client not reading its answers */
	}
}

/* ---- threads ----------------------------------------------------------- */

struct conn {
	struct kvm *kvm;
	int fd;
	int slot;
};

static void *conn_thread(void *arg)
{
	struct conn *c = arg;

	pthread_setname_np(pthread_self(), "lkvm-ipc-conn");
	ipc__serve(c->kvm, c->fd);
	pthread_mutex_lock(&ipc.lock);
	ipc.conns[c->slot] = -1;
	ipc.nr_conns--;
	close(c->fd);
	pthread_cond_broadcast(&ipc.cond);
	pthread_mutex_unlock(&ipc.lock);
	free(c);
	return NULL;
}

/* Same uid or root: anyone else is answered and dropped before reading. */
static bool peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred)) {
		pr_warn("ipc: cannot get peer credentials: %s", strerror(errno));
		return false;
	}
	if (cred.uid == geteuid() || cred.uid == 0)
		return true;
	pr_warn("ipc: refused connection from uid %u (pid %d)", cred.uid, cred.pid);
	return false;
}

/* The accept thread must never wait on a client: one non-blocking try. */
static void reject(int fd, int err, const char *why)
{
	if (ipc__reply_nowait(fd, err, "%s", why))
		pr_debug("ipc: could not tell a refused client why: %s", strerror(errno));
	close(fd);
}

static struct ratelimit busy_log = RATELIMIT_INIT;

static void accept_one(struct kvm *kvm)
{
	struct conn *c;
	pthread_attr_t attr;
	pthread_t th;
	int fd, slot;

	fd = accept4(ipc.listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			pr_warn("ipc: accept: %s", strerror(errno));
		return;
	}
	if (!peer_allowed(fd))
		return reject(fd, -EACCES, "permission denied");

	pthread_mutex_lock(&ipc.lock);
	for (slot = 0; slot < IPC_MAX_CONNS && ipc.conns[slot] >= 0; slot++)
		;
	if (slot == IPC_MAX_CONNS || ipc.closing) {
		pthread_mutex_unlock(&ipc.lock);
		pr_limited(pr_warn, &busy_log, "ipc: too many connections, refusing one");
		return reject(fd, -EBUSY, "too many connections");
	}
	c = malloc(sizeof(*c));
	if (!c) {
		pthread_mutex_unlock(&ipc.lock);
		return reject(fd, -ENOMEM, "out of memory");
	}
	*c = (struct conn){ .kvm = kvm, .fd = fd, .slot = slot };
	ipc.conns[slot] = fd;
	ipc.nr_conns++;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&th, &attr, conn_thread, c)) {
		ipc.conns[slot] = -1;
		ipc.nr_conns--;
		pthread_mutex_unlock(&ipc.lock);
		free(c);
		pthread_attr_destroy(&attr);
		return reject(fd, -EAGAIN, "cannot create thread");
	}
	pthread_attr_destroy(&attr);
	pthread_mutex_unlock(&ipc.lock);
}

static void *accept_thread(void *arg)
{
	struct kvm *kvm = arg;

	pthread_setname_np(pthread_self(), "lkvm-ipc");
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = ipc.listen_fd, .events = POLLIN },
			{ .fd = ipc.wake[0], .events = POLLIN },
		};

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			pr_err("ipc: poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents)
			break;
		if (pfd[0].revents & POLLIN)
			accept_one(kvm);
	}
	return NULL;
}

/* ---- start / stop ------------------------------------------------------ */

/*
 * Take NAME.lock.  The inode check closes the race with an exiting
 * instance that unlinks the file between our open() and flock().
 */
static int take_lock(const char *path)
{
	int tries;

	for (tries = 0; tries < 5; tries++) {
		struct stat a, b;
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int err = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;

			close(fd);
			return err;
		}
		if (!fstat(fd, &a) && !stat(path, &b) && a.st_dev == b.st_dev &&
		    a.st_ino == b.st_ino)
			return fd;
		close(fd);
	}
	return -EAGAIN;
}

/* Connection threads ask; the main thread starts and stops the socket. */
const char *kvm_ipc__name(void)
{
	return __atomic_load_n(&ipc.started, __ATOMIC_ACQUIRE) ? ipc.name : NULL;
}

static void name_in_use(const char *name)
{
	pr_err("instance name '%s' is in use by a running lkvm "
	       "(pick another --name, or 'lkvm stop --name %s')", name, name);
}

/* An instance without --name is guest-PID. */
static const char *own_name(const char *name, char *buf, size_t n)
{
	if (name)
		return name;
	snprintf(buf, n, "guest-%d", (int)getpid());
	return buf;
}

/* Whether DIR/NAME.sock fits a unix socket's path; one line if not. */
static int sock_path_fits(const char *dir, const char *name)
{
	if (strlen(dir) + 1 + strlen(name) + strlen(".sock") < sizeof(ipc.sock_path))
		return 0;
	pr_err("control socket path %s/%s.sock is too long for a unix socket "
	       "(set LKVM_DIR to a shorter directory)", dir, name);
	return -ENAMETOOLONG;
}

/*
 * What kvm_ipc__start() would refuse, asked before the VM is built: a
 * socket directory it cannot use or a name in use would otherwise be
 * found only after taps, disk locks and the SEV firmware are set up, and
 * reported after their lines.  The run hook still decides (another
 * instance may take the name in between).
 */
int kvm_ipc__check(const char *name)
{
	char dir[PATH_MAX], why[PATH_MAX + 128], own[32];
	int ret;

	name = own_name(name, own, sizeof(own));
	/* The length first: a directory made for a socket that cannot be is litter. */
	ret = ipc__dir(dir, sizeof(dir), false, why, sizeof(why));
	if (!ret || ret == -ENOENT) {
		ret = sock_path_fits(dir, name);
		if (ret)
			return ret;
	}
	ret = ipc__dir(dir, sizeof(dir), true, why, sizeof(why));
	if (ret) {
		pr_err("control socket: %s", why);
		return ret;
	}
	if (ipc__instance_alive(name)) {
		name_in_use(name);
		return -EADDRINUSE;
	}
	return 0;
}

int kvm_ipc__start(struct kvm *kvm)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char dir[PATH_MAX], why[PATH_MAX + 128], pid[32], own[32];
	const char *name = kvm->cfg.name;
	int ret, n, i;

	if (ipc.started)
		return -EBUSY;
	if (name && !ipc__valid_name(name)) {
		pr_err("invalid instance name '%s': use up to %d letters, digits, '.', '_', '-', "
		       "not starting with '.' or '-'", name, IPC_NAME_MAX);
		return -EINVAL;
	}
	snprintf(ipc.name, sizeof(ipc.name), "%s", own_name(name, own, sizeof(own)));

	ret = ipc__dir(dir, sizeof(dir), true, why, sizeof(why));
	if (ret) {
		pr_err("control socket: %s", why);
		return ret;
	}
	ret = sock_path_fits(dir, ipc.name);
	if (ret)
		return ret;
	n = snprintf(ipc.sock_path, sizeof(ipc.sock_path), "%s/%s.sock", dir, ipc.name);
	if (n < 0 || (size_t)n >= sizeof(ipc.sock_path))
		return -ENAMETOOLONG;	/* cannot be: it fits */
	n = snprintf(ipc.lock_path, sizeof(ipc.lock_path), "%s/%s.lock", dir, ipc.name);
	if (n < 0 || (size_t)n >= sizeof(ipc.lock_path))
		return -ENAMETOOLONG;

	ipc.lock_fd = take_lock(ipc.lock_path);
	if (ipc.lock_fd < 0) {
		ret = ipc.lock_fd;
		if (ret == -EADDRINUSE)
			name_in_use(ipc.name);
		else
			pr_err("cannot lock %s: %s", ipc.lock_path, strerror(-ret));
		goto err;
	}
	/* For people looking at the directory; nothing trusts it. */
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(ipc.lock_fd, 0) || pwrite(ipc.lock_fd, pid, n, 0) != n)
		pr_debug("ipc: cannot write pid to %s", ipc.lock_path);

	/* We hold the lock, so any socket left here belongs to a dead instance. */
	if (!unlink(ipc.sock_path))
		pr_debug("ipc: removed stale %s", ipc.sock_path);

	ipc.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ipc.listen_fd < 0) {
		ret = -errno;
		goto err_lock;
	}
	memcpy(addr.sun_path, ipc.sock_path, strlen(ipc.sock_path) + 1);
	if (bind(ipc.listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = -errno;
		pr_err("cannot bind %s: %s", ipc.sock_path, strerror(errno));
		goto err_sock;
	}
	/* The directory is 0700 already; the mode is a second fence. */
	if (chmod(ipc.sock_path, 0600) < 0 || listen(ipc.listen_fd, IPC_MAX_CONNS) < 0) {
		ret = -errno;
		pr_err("cannot set up %s: %s", ipc.sock_path, strerror(errno));
		goto err_unlink;
	}
	if (pipe2(ipc.wake, O_CLOEXEC) < 0) {
		ret = -errno;
		goto err_unlink;
	}
	for (i = 0; i < IPC_MAX_CONNS; i++)
		ipc.conns[i] = -1;
	ipc.nr_conns = 0;
	ipc.closing = false;
	ipc.kvm = kvm;
	/* Before the thread: a client it serves at once gets our name in INFO. */
	ipc.started = true;
	ret = -pthread_create(&ipc.accept_thread, NULL, accept_thread, kvm);
	if (ret) {
		ipc.started = false;
		goto err_pipe;
	}
	pr_debug("ipc: listening on %s", ipc.sock_path);
	return 0;

err_pipe:
	close(ipc.wake[0]);
	close(ipc.wake[1]);
	ipc.wake[0] = ipc.wake[1] = -1;
err_unlink:
	unlink(ipc.sock_path);
err_sock:
	close(ipc.listen_fd);
	ipc.listen_fd = -1;
err_lock:
	unlink(ipc.lock_path);
	close(ipc.lock_fd);
	ipc.lock_fd = -1;
err:
	return ret;
}

int kvm_ipc__stop(struct kvm *kvm)
{
	struct timespec until;
	u64 deadline;
	int i;

	if (!ipc.started)
		return 0;
	__atomic_store_n(&ipc.started, false, __ATOMIC_RELEASE);
	if (write(ipc.wake[1], "x", 1) != 1)
		pr_warn("ipc: cannot wake the accept thread");
	pthread_join(ipc.accept_thread, NULL);

	/* Unlink before unlocking: a new instance may take the name at once. */
	unlink(ipc.sock_path);
	close(ipc.listen_fd);
	ipc.listen_fd = -1;

	/*
	 * Stop reading from clients, not writing to them: an idle client's
	 * thread sees EOF at once, a request already queued is read and
	 * answered "the instance is exiting" (ipc__serve()), and a handler
	 * at work can still deliver its answer.  Give handlers a moment to
	 * finish; one stuck longer is hung up on and left behind rather than
	 * holding up the exit.  A client that does not read (its socket full
	 * of answers) cannot take one more: it is hung up on at once, so that
	 * it does not cost every exit the whole grace.
	 */
	deadline = now_ns() + 2000000000ull;
	pthread_mutex_lock(&ipc.lock);
	__atomic_store_n(&ipc.closing, true, __ATOMIC_RELEASE);
	for (i = 0; i < IPC_MAX_CONNS; i++)
		if (ipc.conns[i] >= 0)
			shutdown(ipc.conns[i], SHUT_RD);
	while (ipc.nr_conns > 0 && now_ns() < deadline) {
		for (i = 0; i < IPC_MAX_CONNS; i++) {
			struct pollfd pfd = { .fd = ipc.conns[i], .events = POLLOUT };

			if (pfd.fd >= 0 && poll(&pfd, 1, 0) == 0)
				shutdown(pfd.fd, SHUT_RDWR);
		}
		clock_gettime(CLOCK_REALTIME, &until);
		timespec_add_ms(&until, 50);
		pthread_cond_timedwait(&ipc.cond, &ipc.lock, &until);
	}
	if (ipc.nr_conns) {
		pr_warn("ipc: %d control connection(s) still busy at exit", ipc.nr_conns);
		for (i = 0; i < IPC_MAX_CONNS; i++)
			if (ipc.conns[i] >= 0)
				shutdown(ipc.conns[i], SHUT_RDWR);
	}
	pthread_mutex_unlock(&ipc.lock);

	close(ipc.wake[0]);
	close(ipc.wake[1]);
	ipc.wake[0] = ipc.wake[1] = -1;
	unlink(ipc.lock_path);
	close(ipc.lock_fd);
	ipc.lock_fd = -1;
	return 0;
}

/*
 * Up once the guest is ready to start (after SEV launch; a destination
 * waiting for an incoming guest answers list and stop meanwhile), down in
 * kvm__exit_all() on every exit path of `lkvm run`.
 */
static int ipc_hook(struct kvm *kvm)
{
	return kvm_ipc__start(kvm);
}

static struct run_hook ipc_run_hook = {
	.name = "control socket",
	.prio = RUN_HOOK_IPC,
	.fn = ipc_hook,
};
run_hook_register(ipc_run_hook);

late_exit(kvm_ipc__stop);
