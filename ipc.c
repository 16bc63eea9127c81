/*
 * The VMM side of the control socket (protocol in include/lkvm/ipc.h and
 * docs/ipc.md).
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
#include "lkvm/kvm-cpu.h"
#include "lkvm/kvm.h"
#include "lkvm/run-hooks.h"

#define IPC_MAX_CONNS		16
#define IPC_IDLE_MS		(2 * ipc_timeout_ms)	/* between requests */
#define IPC_MAX_HANDLERS	32

/* Provided by the page-map module when it is linked in (include/lkvm/page-map.h). */
void page_map__dump(struct page_map *pm, FILE *out) __attribute__((weak));

int ipc_timeout_ms = IPC_TIMEOUT_MS;

static struct {
	u32 type;
	ipc_handler_fn fn;
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
 * Serialises the commands that change the run state (pause, resume, debug,
 * stop), so `lkvm debug` during `lkvm pause` neither resumes a guest the
 * user paused nor races with it.
 */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static bool user_paused;

/* ---- codec ------------------------------------------------------------- */

void ipc__fill_hdr(struct ipc_hdr *hdr, u32 type, u32 len)
{
	hdr->magic = IPC_MAGIC;
	hdr->version = IPC_VERSION;
	hdr->flags = 0;
	hdr->type = type;
	hdr->len = len;
}

int ipc__check_hdr(const struct ipc_hdr *hdr)
{
	if (hdr->magic != IPC_MAGIC)
		return -EBADMSG;
	if (hdr->version != IPC_VERSION)
		return -EPROTONOSUPPORT;
	if (hdr->flags)
		return -EINVAL;
	if (hdr->len > IPC_MAX_PAYLOAD)
		return -EMSGSIZE;
	return 0;
}

bool ipc__valid_name(const char *name)
{
	size_t i, n = strnlen(name, IPC_NAME_MAX + 1);

	if (n == 0 || n > IPC_NAME_MAX || name[0] == '.')
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int ipc__dir(char *buf, size_t len, bool create, char *why, size_t why_len)
{
	const char *env = getenv("LKVM_DIR"), *home = getenv("HOME");
	struct stat st;
	char dummy[1];
	int n;

	if (!why) {
		why = dummy;
		why_len = sizeof(dummy);
	}
	why[0] = 0;
	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else if (home && *home)
		n = snprintf(buf, len, "%s/.lkvm", home);
	else {
		snprintf(why, why_len, "no socket directory: set HOME or LKVM_DIR");
		return -ENOENT;
	}
	if (n < 0 || (size_t)n >= len) {
		snprintf(why, why_len, "socket directory name too long");
		return -ENAMETOOLONG;
	}
	if (create && mkdir(buf, 0700) < 0 && errno != EEXIST) {
		snprintf(why, why_len, "cannot create %s: %s", buf, strerror(errno));
		return -errno;
	}
	if (lstat(buf, &st) < 0) {
		snprintf(why, why_len, "%s: %s", buf, strerror(errno));
		return -errno;
	}
	/*
	 * Sockets in a directory someone else controls could be swapped for
	 * theirs: insist on ours, private, and not a symlink.
	 */
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, why_len, "%s is not a directory (set LKVM_DIR to a private directory)",
			 buf);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid()) {
		snprintf(why, why_len, "%s is owned by uid %u, not by you (uid %u)", buf,
			 st.st_uid, geteuid());
		return -EACCES;
	}
	if (st.st_mode & 077) {
		snprintf(why, why_len, "%s has mode %04o: it must be private (chmod 700)",
			 buf, st.st_mode & 07777);
		return -EACCES;
	}
	return 0;
}

/* Wait for fd to become ready until deadline (ns); -ETIMEDOUT after it. */
static int wait_fd(int fd, short events, u64 deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		u64 now = now_ns();
		int ret;

		if (deadline && now >= deadline)
			return -ETIMEDOUT;
		ret = poll(&pfd, 1, deadline ? (int)DIV_ROUND_UP(deadline - now, 1000000) : -1);
		if (ret > 0)
			return 0;
		if (ret < 0 && errno != EINTR)
			return -errno;
	}
}

u64 ipc__deadline(int timeout_ms)
{
	return timeout_ms < 0 ? 0 : now_ns() + (u64)timeout_ms * 1000000;
}

int ipc__recv(int fd, void *buf, size_t len, u64 deadline, size_t *got)
{
	size_t done = 0;
	int ret = 0;

	while (done < len) {
		ssize_t n;

		ret = wait_fd(fd, POLLIN, deadline);
		if (ret)
			break;
		n = recv(fd, (char *)buf + done, len - done, MSG_DONTWAIT);
		if (n > 0) {
			done += n;
			continue;
		}
		if (n == 0) {
			ret = -EPIPE;
			break;
		}
		if (errno != EAGAIN && errno != EINTR) {
			ret = -errno;
			break;
		}
	}
	if (got)
		*got = done;
	return ret;
}

static int send_full(int fd, const void *buf, size_t len, u64 deadline)
{
	size_t done = 0;

	while (done < len) {
		/* MSG_NOSIGNAL: a client that went away must not SIGPIPE the VMM. */
		ssize_t n = send(fd, (const char *)buf + done, len - done,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		int ret;

		if (n >= 0) {
			done += n;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		ret = wait_fd(fd, POLLOUT, deadline);
		if (ret)
			return ret;
	}
	return 0;
}

static int send_msg(int fd, u32 type, const void *payload, u32 len, u64 deadline)
{
	struct ipc_hdr hdr;
	int ret;

	if (len > IPC_MAX_PAYLOAD || (len && !payload))
		return -EINVAL;
	ipc__fill_hdr(&hdr, type, len);
	ret = send_full(fd, &hdr, sizeof(hdr), deadline);
	if (!ret && len)
		ret = send_full(fd, payload, len, deadline);
	return ret;
}

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

int ipc__send(int fd, u32 type, const void *payload, u32 len)
{
	return send_msg(fd, type, payload, len, ipc__deadline(ipc_timeout_ms));
}

int ipc__send_data(int fd, const void *buf, size_t len)
{
	const u8 *p = buf;

	while (len) {
		u32 n = min(len, (size_t)IPC_MAX_PAYLOAD);
		int ret = ipc__send(fd, IPC_MSG_DATA, p, n);

		if (ret)
			return ret;
		p += n;
		len -= n;
	}
	return 0;
}

struct reply_buf {
	struct ipc_hdr hdr;
	struct ipc_reply r;
	char text[512];
} __packed;

/* Header + reply + text in one buffer; returns the bytes to send. */
static size_t build_reply(struct reply_buf *m, int status, const char *fmt, va_list ap)
{
	int n = 0;

	memset(m, 0, sizeof(*m));
	m->r.status = status;
	if (fmt) {
		n = vsnprintf(m->text, sizeof(m->text), fmt, ap);
		if (n < 0)
			n = 0;
		n = min(n, (int)sizeof(m->text) - 1);
	}
	ipc__fill_hdr(&m->hdr, IPC_MSG_REPLY, sizeof(m->r) + n);
	return sizeof(m->hdr) + sizeof(m->r) + n;
}

int ipc__reply(int fd, int status, const char *fmt, ...)
{
	struct reply_buf m;
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = build_reply(&m, status, fmt, ap);
	va_end(ap);
	return send_full(fd, &m, len, ipc__deadline(ipc_timeout_ms));
}

/* ---- handler table ----------------------------------------------------- */

int ipc__register_handler(u32 type, ipc_handler_fn fn)
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
		handlers[nr_handlers++] = (typeof(handlers[0])){ type, fn };
	pthread_mutex_unlock(&handlers_lock);
	if (ret)
		pr_err("ipc: cannot register handler for type 0x%x (%d)", type, ret);
	return ret;
}

static ipc_handler_fn find_handler(u32 type)
{
	ipc_handler_fn fn = NULL;
	int i;

	pthread_mutex_lock(&handlers_lock);
	for (i = 0; i < nr_handlers; i++)
		if (handlers[i].type == type)
			fn = handlers[i].fn;
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

void ipc__serve(struct kvm *kvm, int fd)
{
	for (;;) {
		struct ipc_hdr hdr;
		ipc_handler_fn fn;
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
		fn = hdr.type < IPC_MSG_REPLY ? find_handler(hdr.type) : NULL;
		if (!fn) {
			pr_warn("ipc: rejected unknown request type 0x%x", hdr.type);
			ret = ipc__reply(fd, -EOPNOTSUPP, "unknown request type 0x%x", hdr.type);
		} else {
			ret = fn(kvm, fd, payload, hdr.len);
			if (ret == IPC_REPLIED)
				ret = 0;
			else if (ret >= 0)
				ret = ipc__reply(fd, 0, NULL);
			else
				ret = ipc__reply(fd, ret, "%s", ret == -ESHUTDOWN ?
						 "instance is shutting down" : strerror(-ret));
		}
		free(payload);
		if (ret)
			return;			/* client not reading its answers */
	}
}

/* ---- built-in requests ------------------------------------------------- */

static bool vm_stopping(struct kvm *kvm)
{
	bool s;

	pthread_mutex_lock(&kvm->run_lock);
	s = kvm->stopping;
	pthread_mutex_unlock(&kvm->run_lock);
	return s;
}

static int ipc_info(struct kvm *kvm, int fd, const void *p, u32 len)
{
	struct ipc_info info = {
		.pid = getpid(),
		.nr_cpus = kvm->nr_cpus,
		.ram_size = kvm->ram_size,
	};
	int ret;

	if (len)
		return -EINVAL;
	/* Paused by anyone (lkvm pause, a migration's final phase) counts. */
	if (vm_stopping(kvm))
		info.state = IPC_STATE_STOPPING;
	else
		info.state = __atomic_load_n(&kvm->paused, __ATOMIC_ACQUIRE) ?
			IPC_STATE_PAUSED : IPC_STATE_RUNNING;
	memcpy(info.name, ipc.name, strnlen(ipc.name, sizeof(info.name)));	/* NUL-padded */
	ret = ipc__send(fd, IPC_MSG_DATA, &info, sizeof(info));
	return ret;
}

static int ipc_stop(struct kvm *kvm, int fd, const void *p, u32 len)
{
	if (len)
		return -EINVAL;
	pr_info("stop requested through the control socket");
	pthread_mutex_lock(&state_lock);
	kvm__request_stop(kvm, 0, "stopped by 'lkvm stop'");
	/* Parked vCPUs must wake up to see the stop. */
	if (user_paused) {
		kvm__resume(kvm);
		__atomic_store_n(&user_paused, false, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&state_lock);
	return 0;
}

static int ipc_pause(struct kvm *kvm, int fd, const void *p, u32 len)
{
	int ret = 0;

	if (len)
		return -EINVAL;
	pthread_mutex_lock(&state_lock);
	if (vm_stopping(kvm))
		ret = -ESHUTDOWN;
	else if (user_paused)
		ret = -EALREADY;
	else if (!(ret = kvm__pause(kvm)))
		__atomic_store_n(&user_paused, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&state_lock);
	if (ret == -EALREADY)
		return ipc__reply(fd, 0, "already paused") ?: IPC_REPLIED;
	return ret;
}

static int ipc_resume(struct kvm *kvm, int fd, const void *p, u32 len)
{
	bool was;

	if (len)
		return -EINVAL;
	pthread_mutex_lock(&state_lock);
	was = user_paused;
	if (was) {
		kvm__resume(kvm);
		__atomic_store_n(&user_paused, false, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&state_lock);
	if (!was)
		return ipc__reply(fd, 0, "not paused") ?: IPC_REPLIED;
	return 0;
}

static int ipc_debug(struct kvm *kvm, int fd, const void *p, u32 len)
{
	char *text = NULL;
	size_t size = 0;
	u32 flags = IPC_DEBUG_REGS;
	FILE *out;
	int i, ret = 0;

	if (len != 0 && len != sizeof(u32))
		return -EINVAL;
	if (len)
		memcpy(&flags, p, sizeof(flags));
	if (!flags || (flags & ~(IPC_DEBUG_REGS | IPC_DEBUG_PAGE_MAP)))
		return ipc__reply(fd, -EINVAL, "unknown debug flags 0x%x", flags) ?: IPC_REPLIED;
	if ((flags & IPC_DEBUG_PAGE_MAP) && (!page_map__dump || !kvm->page_map))
		return ipc__reply(fd, -ENODEV, "page map not enabled") ?: IPC_REPLIED;

	out = open_memstream(&text, &size);
	if (!out)
		return -ENOMEM;
	/*
	 * Registers are only meaningful while the vCPU is out of KVM_RUN, so
	 * park them around the dump; the text goes to memory first so that a
	 * slow client never keeps the guest paused.
	 */
	pthread_mutex_lock(&state_lock);
	if (!user_paused)
		ret = kvm__pause(kvm);
	if (!ret) {
		for (i = 0; (flags & IPC_DEBUG_REGS) && i < kvm->nr_cpus; i++) {
			if (!kvm->cpus[i])
				continue;
			fprintf(out, "--- vCPU %d ---\n", i);
			kvm_cpu__dump(kvm->cpus[i], out);
		}
		if (flags & IPC_DEBUG_PAGE_MAP) {
			fprintf(out, "--- page map ---\n");
			page_map__dump(kvm->page_map, out);
		}
		if (!user_paused)
			kvm__resume(kvm);
	}
	pthread_mutex_unlock(&state_lock);
	if (fclose(out) && !ret)
		ret = -ENOMEM;
	if (!ret)
		ret = ipc__send_data(fd, text, size);
	free(text);
	return ret;
}

ipc_handler(IPC_MSG_INFO, ipc_info);
ipc_handler(IPC_MSG_STOP, ipc_stop);
ipc_handler(IPC_MSG_PAUSE, ipc_pause);
ipc_handler(IPC_MSG_RESUME, ipc_resume);
ipc_handler(IPC_MSG_DEBUG, ipc_debug);

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

static void reject(int fd, int err, const char *fmt, ...) __printf(3, 4);
static void reject(int fd, int err, const char *fmt, ...)
{
	struct reply_buf m;
	va_list ap;
	size_t len;

	/*
	 * One non-blocking send into an empty socket buffer: the accept
	 * thread must never wait on a client.
	 */
	va_start(ap, fmt);
	len = build_reply(&m, err, fmt, ap);
	va_end(ap);
	if (send(fd, &m, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		pr_debug("ipc: could not tell a refused client why: %s", strerror(errno));
	close(fd);
}

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
		pr_warn("ipc: too many connections, refusing one");
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

const char *kvm_ipc__name(void)
{
	return ipc.started ? ipc.name : NULL;
}

int kvm_ipc__start(struct kvm *kvm)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	char dir[PATH_MAX], why[PATH_MAX + 128], pid[32];
	const char *name = kvm->cfg.name;
	int ret, n, i;

	if (ipc.started)
		return -EBUSY;
	if (name && !ipc__valid_name(name)) {
		pr_err("invalid instance name '%s': use up to %d letters, digits, '.', '_', '-'",
		       name, IPC_NAME_MAX);
		return -EINVAL;
	}
	if (name)
		snprintf(ipc.name, sizeof(ipc.name), "%s", name);
	else
		snprintf(ipc.name, sizeof(ipc.name), "guest-%d", (int)getpid());

	ret = ipc__dir(dir, sizeof(dir), true, why, sizeof(why));
	if (ret) {
		pr_err("control socket: %s", why);
		return ret;
	}
	n = snprintf(ipc.sock_path, sizeof(ipc.sock_path), "%s/%s.sock", dir, ipc.name);
	if (n < 0 || (size_t)n >= sizeof(ipc.sock_path)) {
		pr_err("control socket path %s/%s.sock is too long for a unix socket "
		       "(set LKVM_DIR to a shorter directory)", dir, ipc.name);
		return -ENAMETOOLONG;
	}
	n = snprintf(ipc.lock_path, sizeof(ipc.lock_path), "%s/%s.lock", dir, ipc.name);
	if (n < 0 || (size_t)n >= sizeof(ipc.lock_path))
		return -ENAMETOOLONG;

	ipc.lock_fd = take_lock(ipc.lock_path);
	if (ipc.lock_fd < 0) {
		ret = ipc.lock_fd;
		if (ret == -EADDRINUSE)
			pr_err("instance name '%s' is in use by a running lkvm "
			       "(pick another --name, or 'lkvm stop --name %s')", ipc.name, ipc.name);
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
	ret = -pthread_create(&ipc.accept_thread, NULL, accept_thread, kvm);
	if (ret)
		goto err_pipe;
	ipc.started = true;
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
	int i;

	if (!ipc.started)
		return 0;
	ipc.started = false;
	if (write(ipc.wake[1], "x", 1) != 1)
		pr_warn("ipc: cannot wake the accept thread");
	pthread_join(ipc.accept_thread, NULL);

	/* Unlink before unlocking: a new instance may take the name at once. */
	unlink(ipc.sock_path);
	close(ipc.listen_fd);
	ipc.listen_fd = -1;

	/*
	 * Hang up on clients (their threads see EOF) and give handlers a
	 * moment to finish; a handler stuck longer is left behind rather
	 * than holding up the exit.
	 */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	pthread_mutex_lock(&ipc.lock);
	ipc.closing = true;
	for (i = 0; i < IPC_MAX_CONNS; i++)
		if (ipc.conns[i] >= 0)
			shutdown(ipc.conns[i], SHUT_RDWR);
	while (ipc.nr_conns > 0)
		if (pthread_cond_timedwait(&ipc.cond, &ipc.lock, &until) == ETIMEDOUT)
			break;
	if (ipc.nr_conns)
		pr_warn("ipc: %d control connection(s) still busy at exit", ipc.nr_conns);
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
 * Up once the guest is ready to start (after SEV launch and an incoming
 * migration), down in kvm__exit_all() on every exit path of `lkvm run`.
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

static int ipc_init_nothing(struct kvm *kvm)
{
	return 0;
}
late_init(ipc_init_nothing, kvm_ipc__stop);
