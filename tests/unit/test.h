/*
 * Minimal unit-test support.  Every test prints exactly one line:
 *   PASS: <binary>/<test>
 *   FAIL: <binary>/<test>: <file>:<line>: <what>
 *   SKIP: <binary>/<test>: <reason>
 * tests/run-tests.sh counts those lines; a binary that exits non-zero
 * without printing FAIL counts as one failure.
 */
#ifndef LKVM_TEST_H
#define LKVM_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

static const char *t_binary = "unit";
static const char *t_current;
static int t_failed_here, t_skipped_here, t_total_failed;

#define CHECK(cond) do {							\
	if (!(cond)) {							\
		if (!t_failed_here)					\
			printf("FAIL: %s/%s: %s:%d: %s\n", t_binary, t_current,	\
			       __FILE__, __LINE__, #cond);			\
		t_failed_here = 1;					\
	}								\
} while (0)

/* Like CHECK but stop the current test (e.g. before using a NULL). */
#define REQUIRE(cond) do {						\
	if (!(cond)) {	/* evaluated once: cond may have side effects */	\
		if (!t_failed_here)					\
			printf("FAIL: %s/%s: %s:%d: %s\n", t_binary, t_current,	\
			       __FILE__, __LINE__, #cond);			\
		t_failed_here = 1;					\
		return;							\
	}								\
} while (0)

#define CHECK_EQ(a, b) do {						\
	long long __a = (long long)(a), __b = (long long)(b);		\
	if (__a != __b) {						\
		if (!t_failed_here)					\
			printf("FAIL: %s/%s: %s:%d: %s == %s (%lld != %lld)\n",	\
			       t_binary, t_current, __FILE__, __LINE__, #a, #b,	\
			       __a, __b);					\
		t_failed_here = 1;					\
	}								\
} while (0)

#define CHECK_MEM(a, b, n) do {						\
	if (memcmp((a), (b), (n))) {					\
		if (!t_failed_here)					\
			printf("FAIL: %s/%s: %s:%d: memcmp(%s, %s, %s)\n",	\
			       t_binary, t_current, __FILE__, __LINE__, #a, #b, #n); \
		t_failed_here = 1;					\
	}								\
} while (0)

#define SKIP(reason) do {						\
	printf("SKIP: %s/%s: %s\n", t_binary, t_current, (reason));	\
	t_skipped_here = 1;						\
	return;								\
} while (0)

static inline void t_run(const char *name, void (*fn)(void))
{
	t_current = name;
	t_failed_here = t_skipped_here = 0;
	fflush(stdout);
	fn();
	if (t_failed_here)
		t_total_failed++;
	else if (!t_skipped_here)
		printf("PASS: %s/%s\n", t_binary, name);
	fflush(stdout);
}

#define RUN(fn) t_run(#fn, fn)
#define TEST_MAIN_BEGIN(name) int main(void) { t_binary = (name);
#define TEST_MAIN_END() return t_total_failed ? 1 : 0; }

/* Hex string -> bytes for test vectors; returns length. */
static inline size_t unhex(const char *s, unsigned char *out, size_t max)
{
	size_t n = 0;

	while (s[0] && s[1] && n < max) {
		unsigned int b;

		if (s[0] == ' ') { s++; continue; }
		if (sscanf(s, "%2x", &b) != 1)
			break;
		out[n++] = (unsigned char)b;
		s += 2;
	}
	return n;
}

#endif
