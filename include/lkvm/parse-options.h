/*
 * A small option parser for builtin commands: a table of options, strict
 * value checking, one-line errors.  parse_options() returns the number of
 * positional arguments left (compacted to the front of argv), PARSE_HELP
 * after printing usage for -h/--help, or PARSE_ERROR after printing one
 * line "lkvm CMD: error: ..." to stderr.
 */
#ifndef LKVM__PARSE_OPTIONS_H
#define LKVM__PARSE_OPTIONS_H

#include "lkvm/util.h"

enum opt_type {
	OPT_END,
	OPT_GROUP,	/* heading in usage output */
	OPT_BOOL,	/* bool *; takes no value */
	OPT_STRING,	/* const char **; last one wins */
	OPT_INT,	/* int *; range [min, max] */
	OPT_U64,	/* u64 *; range [min, max] */
	OPT_SIZE,	/* u64 * bytes; "512M"; bare number in `unit` */
	OPT_CALLBACK,	/* cb(opt, arg) */
};

#define PARSE_OPT_OPTARG	1	/* --opt or --opt=VALUE (never "--opt VALUE") */
#define PARSE_OPT_MULTI		2	/* callback may be given repeatedly */
#define PARSE_OPT_HIDDEN	4	/* parsed, but not listed by --help (test hooks) */
#define PARSE_OPT_EMPTY		8	/* a string that may be "" (-p "$EXTRA") */

struct option;
typedef int (*parse_opt_cb)(const struct option *opt, const char *arg);

struct option {
	enum opt_type type;
	int short_name;
	const char *long_name;
	void *value;
	const char *argh;
	const char *help;
	parse_opt_cb cb;	/* returns 0, or -1 after opt_error() */
	s64 min, max;
	u64 unit;
	int flags;
	void *data;
};

#define OPT_END()	{ .type = OPT_END }
#define OPT_GROUP_(h)	{ .type = OPT_GROUP, .help = (h) }
#define OPT_BOOLEAN(s, l, v, h) \
	{ .type = OPT_BOOL, .short_name = (s), .long_name = (l), .value = (v), .help = (h) }
#define OPT_STR(s, l, v, a, h) \
	{ .type = OPT_STRING, .short_name = (s), .long_name = (l), .value = (v), .argh = (a), .help = (h) }
#define OPT_STR_EMPTY_OK(s, l, v, a, h) \
	{ .type = OPT_STRING, .short_name = (s), .long_name = (l), .value = (v), .argh = (a), \
	  .help = (h), .flags = PARSE_OPT_EMPTY }
#define OPT_INTEGER(s, l, v, lo, hi, h) \
	{ .type = OPT_INT, .short_name = (s), .long_name = (l), .value = (v), .argh = "<n>", \
	  .min = (lo), .max = (hi), .help = (h) }
#define OPT_UINT64(s, l, v, lo, hi, a, h) \
	{ .type = OPT_U64, .short_name = (s), .long_name = (l), .value = (v), .argh = (a), \
	  .min = (lo), .max = (hi), .help = (h) }
#define OPT_SIZE_(s, l, v, u, h) \
	{ .type = OPT_SIZE, .short_name = (s), .long_name = (l), .value = (v), .argh = "<size>", \
	  .unit = (u), .help = (h) }
#define OPT_CALLBACK_(s, l, v, a, h, f, fl) \
	{ .type = OPT_CALLBACK, .short_name = (s), .long_name = (l), .value = (v), .argh = (a), \
	  .help = (h), .cb = (f), .flags = (fl) }

#define PARSE_HELP	(-2)
#define PARSE_ERROR	(-1)

int parse_options(int argc, const char **argv, const struct option *opts,
		  const char *usage_line);
void usage_with_options(const char *usage_line, const struct option *opts);
/* For callbacks: print "lkvm CMD: error: --long: <msg>" and return -1. */
int opt_error(const struct option *opt, const char *fmt, ...) __printf(2, 3);
/* The command name used in messages ("run", "migrate" ...). */
extern const char *parse_options_cmd;
/* The last error parse_options() or opt_error() printed, without the
 * "lkvm CMD: error: " prefix; "" when it printed none (for --json). */
const char *parse_options_error(void);

#endif
