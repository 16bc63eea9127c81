/* Messages, size parsing and I/O helpers shared by every module. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lkvm/util.h"

int lkvm_verbose;
static char msg_prefix[80] = "lkvm";	/* "lkvm " and a 64-character name */

void lkvm__set_msg_prefix(const char *prefix)
{
	snprintf(msg_prefix, sizeof(msg_prefix), "%s", prefix);
}

static void vmsg(const char *level, const char *fmt, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* One write so messages from several threads do not interleave. */
	fprintf(stderr, "%s: %s%s\n", msg_prefix, level, buf);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("error: ", fmt, ap);
	va_end(ap);
	exit(1);
}

void die_perror(const char *s)
{
	die("%s: %s", s, strerror(errno));
}

static unsigned int nr_errors;

unsigned int pr_err__count(void)
{
	return __atomic_load_n(&nr_errors, __ATOMIC_RELAXED);
}

void pr_err(const char *fmt, ...)
{
	va_list ap;

	__atomic_add_fetch(&nr_errors, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	vmsg("error: ", fmt, ap);
	va_end(ap);
}

void pr_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("warning: ", fmt, ap);
	va_end(ap);
}

void pr_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg("", fmt, ap);
	va_end(ap);
}

void pr_debug(const char *fmt, ...)
{
	va_list ap;

	if (!lkvm_verbose)
		return;
	va_start(ap, fmt);
	vmsg("debug: ", fmt, ap);
	va_end(ap);
}

int parse_u64(const char *s, u64 *out)
{
	char *end;
	unsigned long long v;
	int base = 10;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	/* Decimal, or hex with 0x; never octal: "-c 010" is ten, not eight. */
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		base = 16;
	}
	if (!isxdigit((unsigned char)*s))	/* strtoull would take " -5" */
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (*end || end == s)
		return -EINVAL;
	if (errno)		/* all digits, but more than a u64 holds */
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_size(const char *s, u64 *out, u64 default_unit)
{
	char *end;
	unsigned long long v;
	u64 mult;

	if (!s || !*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case '\0': mult = default_unit; break;
	case 'b': case 'B': mult = 1; end++; break;
	case 'k': case 'K': mult = 1ULL << 10; end++; break;
	case 'm': case 'M': mult = 1ULL << 20; end++; break;
	case 'g': case 'G': mult = 1ULL << 30; end++; break;
	case 't': case 'T': mult = 1ULL << 40; end++; break;
	default: return -EINVAL;
	}
	/* Accept "512M", "512MB", "512MiB". */
	if (mult != 1 && *end == 'i')
		end++;
	if (mult != 1 && (*end == 'B' || *end == 'b'))
		end++;
	if (*end)
		return -EINVAL;
	if (mult && v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= n;
	}
	return 0;
}

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int read_file(const char *path, void **buf, size_t *len, size_t max)
{
	return read_file_stoppable(path, buf, len, max, NULL);
}

/* A big initrd takes seconds to read: a SIGTERM must not wait for it all. */
static int read_pieces(int fd, char *p, size_t len, const bool *stop)
{
	const size_t piece = 64 << 20;
	int ret = 0;

	while (len && !ret) {
		size_t n = len < piece ? len : piece;

		if (stop && __atomic_load_n(stop, __ATOMIC_ACQUIRE))
			return -EINTR;
		ret = read_full(fd, p, n);
		p += n;
		len -= n;
	}
	return ret;
}

int read_file_stoppable(const char *path, void **buf, size_t *len, size_t max,
			const bool *stop)
{
	struct stat st;
	void *p;
	int fd, ret;

	/* O_NONBLOCK: a FIFO must fail the check below, not block open() forever. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto out_close;
	}
	if ((u64)st.st_size > max) {
		ret = -EFBIG;
		goto out_close;
	}
	p = malloc(st.st_size ? st.st_size : 1);
	if (!p) {
		ret = -ENOMEM;
		goto out_close;
	}
	ret = read_pieces(fd, p, st.st_size, stop);
	if (ret) {
		free(p);
		goto out_close;
	}
	*buf = p;
	*len = st.st_size;
out_close:
	close(fd);
	return ret;
}

u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

void timespec_add_ms(struct timespec *ts, u64 ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

bool ratelimit__allow(struct ratelimit *rl, u32 *dropped)
{
	u64 now = now_ns();
	bool ok;

	pthread_mutex_lock(&rl->lock);
	if (!rl->t0 || now - rl->t0 >= RATELIMIT_NS) {
		rl->t0 = now;
		rl->n = 0;
	}
	ok = rl->n < RATELIMIT_BURST;
	if (ok) {
		rl->n++;
		*dropped = rl->dropped;
		rl->dropped = 0;
	} else {
		rl->dropped++;
	}
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one. */
int utf8_len(const unsigned char *p)
{
	int n, i;
	unsigned int cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)	/* also stops at the NUL */
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* No overlong forms, surrogates or code points past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * Text from another process (a VMM's reply or reason: any process of the
 * user can answer on an instance's socket) made harmless for a terminal:
 * control characters (C0, DEL, and C1 as UTF-8 or as bare bytes) and bytes
 * that are not UTF-8 become '?', so an escape sequence cannot move the
 * cursor, retitle the window or rewrite what was printed before.  lines:
 * newlines and tabs stay (multi-line text).  In place, the length kept;
 * s[len] must be a NUL (a character is never read past it), and a NUL
 * before it becomes '?' too.
 */
void str_for_terminal(char *s, size_t len, bool lines)
{
	unsigned char *p = (unsigned char *)s;
	size_t i = 0;
	int n;

	while (i < len) {
		n = p[i] ? utf8_len(p + i) : 1;
		if (n == 1 && (p[i] >= 0x20 ? p[i] != 0x7f :
			       lines && (p[i] == '\n' || p[i] == '\t'))) {
			i++;
			continue;
		}
		/* U+0080-U+009F: C2 80 - C2 9F. */
		if (n == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0)
			n = 0;
		if (n > 1) {
			i += n;
			continue;
		}
		p[i++] = '?';		/* and the rest of a bad sequence in later steps */
	}
}

size_t str_cut_mark(char *buf, size_t n)
{
	const size_t m = sizeof(STR_CUT_MARK) - 1;
	size_t k, i, len = n ? strnlen(buf, n) : 0;

	/* Not cut (or no room for the mark beside a byte of text): as it is. */
	if (len + 1 < n || n < m + 2)
		return len;
	k = n - 1 - m;			/* bytes of text kept, at most */
	/* buf[k] is the first byte dropped: not one inside a UTF-8 character. */
	while (k && ((unsigned char)buf[k] & 0xc0) == 0x80)
		k--;
	/* After a separator in the last 32 bytes (a quarter, in a small buffer) rather than mid-word. */
	for (i = k; i && k - i < 32 && k - i <= k / 4; i--)
		if (strchr(" /;,:=", buf[i - 1])) {
			k = i;
			break;
		}
	memcpy(buf + k, STR_CUT_MARK, m + 1);
	return k + m;
}

size_t vsnprintf_cut(char *buf, size_t n, const char *fmt, va_list ap)
{
	int len;

	if (!n)
		return 0;
	len = vsnprintf(buf, n, fmt, ap);
	if (len < 0) {
		buf[0] = 0;
		return 0;
	}
	return (size_t)len < n ? (size_t)len : str_cut_mark(buf, n);
}

size_t snprintf_cut(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	len = vsnprintf_cut(buf, n, fmt, ap);
	va_end(ap);
	return len;
}
