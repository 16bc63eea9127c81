/* Small helpers every lkvm file uses: messages, die(), sizes, macros. */
#ifndef LKVM__UTIL_H
#define LKVM__UTIL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <linux/types.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int32_t s32;
typedef int64_t s64;

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define min(a, b)	((a) < (b) ? (a) : (b))
#define max(a, b)	((a) > (b) ? (a) : (b))
#define ALIGN_UP(x, a)	(((x) + (a) - 1) & ~((u64)(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((u64)(a) - 1))
#define IS_ALIGNED(x, a) (((x) & ((u64)(a) - 1)) == 0)
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define BUILD_BUG_ON(c)	_Static_assert(!(c), #c)
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define __packed	__attribute__((packed))
#define __noreturn	__attribute__((noreturn))
#define __printf(a, b)	__attribute__((format(printf, a, b)))

#define SZ_4K	0x1000ULL
#define SZ_1M	0x100000ULL
#define SZ_2M	0x200000ULL
#define SZ_1G	0x40000000ULL
#define PAGE_SIZE	4096ULL
#define PAGE_SHIFT	12

/*
 * Messages go to stderr prefixed with "lkvm: " (or the instance name once it
 * is known) so scripts can tell them from guest output on stdout.
 */
void __noreturn die(const char *fmt, ...) __printf(1, 2);
void __noreturn die_perror(const char *s);
void pr_err(const char *fmt, ...) __printf(1, 2);
/* How many errors were printed so far: a caller adds its own only if none was. */
unsigned int pr_err__count(void);
void pr_warn(const char *fmt, ...) __printf(1, 2);
void pr_info(const char *fmt, ...) __printf(1, 2);
void pr_debug(const char *fmt, ...) __printf(1, 2);
extern int lkvm_verbose;		/* --debug / LKVM_DEBUG=1 */
void lkvm__set_msg_prefix(const char *prefix);

/* "512M", "2G", "4096" (MiB when no unit, as kvmtool) -> bytes. */
int parse_size(const char *s, u64 *out, u64 default_unit);
/* Strict decimal / 0x integer parse of the whole string: -EINVAL, or
 * -ERANGE for digits beyond a u64. */
int parse_u64(const char *s, u64 *out);

/* read()/write() until done; return 0 or -errno (-EPIPE on early EOF). */
int read_full(int fd, void *buf, size_t len);
int write_full(int fd, const void *buf, size_t len);
/* Read a whole file (at most max bytes) into a malloc'd buffer. */
int read_file(const char *path, void **buf, size_t *len, size_t max);
/* The same, giving up with -EINTR between 64 MiB pieces once *stop is set. */
int read_file_stoppable(const char *path, void **buf, size_t *len, size_t max,
			const bool *stop);

u64 now_ns(void);

/*
 * Log lines a peer can trigger at will (a connection flood) are limited to
 * RATELIMIT_BURST per RATELIMIT_NS at one call site; the next line allowed
 * after a quiet spell says how many were left out.
 */
#define RATELIMIT_BURST	10
#define RATELIMIT_NS	10000000000ULL
struct ratelimit {
	pthread_mutex_t lock;
	u64 t0;
	u32 n, dropped;
};
#define RATELIMIT_INIT	{ .lock = PTHREAD_MUTEX_INITIALIZER }
/* true: log it; *dropped (when it returns true) the lines left out before. */
bool ratelimit__allow(struct ratelimit *rl, u32 *dropped);
/* pr_warn/pr_err through RL (FMT a literal): "(more left out)" when some were. */
#define pr_limited(pr, rl, fmt, ...) do {					\
	u32 __dropped;								\
										\
	if (ratelimit__allow(rl, &__dropped))					\
		pr(fmt "%s", ##__VA_ARGS__,					\
		   __dropped ? " (more like it left out: a flood)" : "");	\
} while (0)
/*
 * Texts cut to fit a buffer (a migration's reason quoting two disk paths)
 * end with STR_CUT_MARK, after a whole character and, when one is near,
 * after a separator, so a reader sees that something is missing and where.
 * str_cut_mark() marks BUF (size N) that holds a text cut at N - 1 bytes;
 * snprintf_cut() is snprintf() that marks what it had to cut.  Both return
 * the length of the text in BUF.
 */
#define STR_CUT_MARK	"[...]"
size_t str_cut_mark(char *buf, size_t n);
size_t snprintf_cut(char *buf, size_t n, const char *fmt, ...) __printf(3, 4);
size_t vsnprintf_cut(char *buf, size_t n, const char *fmt, va_list ap) __printf(3, 0);
/* Length of the valid UTF-8 sequence at p (1-4; 0: not one; stops at a NUL). */
int utf8_len(const unsigned char *p);
/* Another process's text made safe to print: see util/util.c. */
void str_for_terminal(char *s, size_t len, bool lines);
/* *ts += ms, normalised (deadlines for the *_timedwait/_timedjoin calls). */
void timespec_add_ms(struct timespec *ts, u64 ms);

/* Little-endian wire integers, whatever the host's order. */
static inline void put_le32(u8 *p, u32 v)
{
	p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}

static inline void put_le16(u8 *p, u16 v)
{
	p[0] = v; p[1] = v >> 8;
}

static inline u16 get_le16(const u8 *p)
{
	return (u16)(p[0] | p[1] << 8);
}

static inline u32 get_le32(const u8 *p)
{
	return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

static inline void put_le64(u8 *p, u64 v)
{
	put_le32(p, (u32)v);
	put_le32(p + 4, (u32)(v >> 32));
}

static inline u64 get_le64(const u8 *p)
{
	return (u64)get_le32(p) | (u64)get_le32(p + 4) << 32;
}

#endif
