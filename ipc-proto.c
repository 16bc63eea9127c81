/*
 * The control-socket wire format and the I/O both ends share
 * (include/lkvm/ipc.h, docs/ipc.md): header checks, instance names, the
 * socket directory rules, and reads and writes that never wait past a
 * deadline nor raise SIGPIPE.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lkvm/ipc.h"

int ipc_timeout_ms = IPC_TIMEOUT_MS;

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

	/* Not '.' (hidden, "..") nor '-' (read as an option by lkvm stop --name). */
	if (n == 0 || n > IPC_NAME_MAX || name[0] == '.' || name[0] == '-')
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
		/*
		 * Not -ENOENT, which clients read as "nothing started yet": an
		 * instance started with HOME set is there all the same (a cron
		 * job or a unit without HOME must not be told "no instances").
		 */
		snprintf(why, why_len, "no socket directory: set HOME or LKVM_DIR");
		return -EDESTADDRREQ;
	}
	if (n < 0 || (size_t)n >= len) {
		snprintf(why, why_len, "socket directory name too long");
		return -ENAMETOOLONG;
	}
	/*
	 * A relative directory names another one from another working
	 * directory: a client run elsewhere would not find the instance (and
	 * resolving it at start in each process would not change that).
	 */
	if (buf[0] != '/') {
		snprintf(why, why_len, "%s=%s is not an absolute path (a client in another "
			 "directory would look elsewhere)", env && *env ? "LKVM_DIR" : "HOME",
			 env && *env ? env : home);
		return -EINVAL;
	}
	/* One level only: parents made here would get whatever mode umask gives. */
	if (create && mkdir(buf, 0700) < 0 && errno != EEXIST) {
		snprintf(why, why_len, "cannot create %s: %s%s", buf, strerror(errno),
			 errno == ENOENT ? " (its parent does not exist)" : "");
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
	if (S_ISLNK(st.st_mode)) {
		snprintf(why, why_len, "%s is a symlink; give the directory it points to "
			 "(a symlink could be swapped for another)", buf);
		return -ENOTDIR;
	}
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
		/* A reply too long for text (a migration's reason) is cut, and says so. */
		n = (int)vsnprintf_cut(m->text, sizeof(m->text), fmt, ap);
	}
	ipc__fill_hdr(&m->hdr, IPC_MSG_REPLY, sizeof(m->r) + n);
	return sizeof(m->hdr) + sizeof(m->r) + n;
}

static int vreply(int fd, bool nowait, int status, const char *fmt, va_list ap)
{
	struct reply_buf m;
	size_t len = build_reply(&m, status, fmt, ap);

	if (!nowait)
		return send_full(fd, &m, len, ipc__deadline(ipc_timeout_ms));
	/* One attempt: a small message fits an empty socket buffer. */
	return send(fd, &m, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len ? 0 : -errno;
}

int ipc__reply(int fd, int status, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vreply(fd, false, status, fmt, ap);
	va_end(ap);
	return ret;
}

int ipc__reply_nowait(int fd, int status, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vreply(fd, true, status, fmt, ap);
	va_end(ap);
	return ret;
}
