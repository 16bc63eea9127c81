/* Table-driven option parsing with strict values and one-line errors. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lkvm/parse-options.h"

const char *parse_options_cmd = "lkvm";
/* The last error printed, without its "lkvm CMD: error: " (for --json). */
static char last_error[1024];

const char *parse_options_error(void)
{
	return last_error;
}

static void opt_name(const struct option *opt, char *buf, size_t len)
{
	if (opt->long_name)
		snprintf(buf, len, "--%s", opt->long_name);
	else
		snprintf(buf, len, "-%c", opt->short_name);
}

/*
 * "lkvm CMD: error: PREFIX MESSAGE SUFFIX" on stderr, and PREFIX MESSAGE
 * kept for parse_options_error().  stderr gets it whole, not the kept copy:
 * a long argument may fill that, and the hint after it (--cpuid-mask's
 * list of names) would be lost where the user reads it.
 */
static void report(const char *prefix, const char *suffix, const char *fmt, va_list ap)
{
	va_list kept;
	int n;

	va_copy(kept, ap);
	n = snprintf(last_error, sizeof(last_error), "%s", prefix);
	vsnprintf(last_error + n, sizeof(last_error) - n, fmt, kept);
	va_end(kept);
	fprintf(stderr, "lkvm %s: error: %s", parse_options_cmd, prefix);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "%s\n", suffix);
}

int opt_error(const struct option *opt, const char *fmt, ...)
{
	char name[64], prefix[sizeof(name) + 2];
	va_list ap;

	opt_name(opt, name, sizeof(name));
	snprintf(prefix, sizeof(prefix), "%s: ", name);
	va_start(ap, fmt);
	report(prefix, "", fmt, ap);
	va_end(ap);
	return -1;
}

static int general_error(const char *fmt, ...) __printf(1, 2);
static int general_error(const char *fmt, ...)
{
	char suffix[96];
	va_list ap;

	snprintf(suffix, sizeof(suffix), " (see 'lkvm %s --help')", parse_options_cmd);
	va_start(ap, fmt);
	report("", suffix, fmt, ap);
	va_end(ap);
	return -1;
}

static bool takes_value(const struct option *opt)
{
	return opt->type != OPT_BOOL;
}

/*
 * A whole number no greater than cap and within the option's range.  "-5"
 * and "99999999999" are numbers, just not allowed ones: say so with the
 * range rather than calling them "not a number".
 */
static int opt_number(const struct option *opt, const char *arg, u64 cap, u64 *v)
{
	bool ranged = opt->min || opt->max;
	s64 lo = ranged ? opt->min : 0, hi = ranged ? opt->max : (s64)min(cap, (u64)INT64_MAX);
	int ret;

	if (!arg)
		return opt_error(opt, "'' is not a number");
	if (arg[0] == '-' && arg[1] >= '0' && arg[1] <= '9')
		ret = parse_u64(arg + 1, v) == -EINVAL ? -EINVAL : -ERANGE;
	else
		ret = parse_u64(arg, v);
	if (ret == -EINVAL)
		return opt_error(opt, "'%s' is not a whole number", arg);
	if (ret || *v > cap || (s64)*v < lo || (s64)*v > hi)
		return opt_error(opt, "%s is out of range %lld..%lld", arg, (long long)lo,
				 (long long)hi);
	return 0;
}

static int set_value(const struct option *opt, const char *arg)
{
	u64 v;

	switch (opt->type) {
	case OPT_BOOL:
		*(bool *)opt->value = true;
		return 0;
	case OPT_STRING:
		/* "--sev" alone: the option's default value (data), or "". */
		if (!arg && (opt->flags & PARSE_OPT_OPTARG)) {
			*(const char **)opt->value = opt->data ? opt->data : "";
			return 0;
		}
		if (!arg || (!*arg && !(opt->flags & PARSE_OPT_EMPTY)))
			return opt_error(opt, "empty value");
		*(const char **)opt->value = arg;
		return 0;
	case OPT_INT:
		if (opt_number(opt, arg, INT_MAX, &v))
			return -1;
		*(int *)opt->value = (int)v;
		return 0;
	case OPT_U64:
		if (opt_number(opt, arg, UINT64_MAX, &v))
			return -1;
		*(u64 *)opt->value = v;
		return 0;
	case OPT_SIZE:
		if (!arg || parse_size(arg, &v, opt->unit ? opt->unit : 1))
			return opt_error(opt, "'%s' is not a size (use e.g. 512M, 2G)",
					 arg ? arg : "");
		if (v == 0)
			return opt_error(opt, "size must not be zero");
		*(u64 *)opt->value = v;
		return 0;
	case OPT_CALLBACK:
		return opt->cb(opt, arg);
	default:
		return opt_error(opt, "internal: bad option type");
	}
}

static const struct option *find_long(const struct option *opts, const char *name,
				      size_t len)
{
	for (; opts->type != OPT_END; opts++)
		if (opts->long_name && strlen(opts->long_name) == len &&
		    !strncmp(opts->long_name, name, len))
			return opts;
	return NULL;
}

static const struct option *find_short(const struct option *opts, int c)
{
	for (; opts->type != OPT_END; opts++)
		if (opts->type != OPT_GROUP && opts->short_name == c)
			return opts;
	return NULL;
}

void usage_with_options(const char *usage_line, const struct option *opts)
{
	bool first = true;

	printf("usage: %s\n", usage_line);
	for (; opts->type != OPT_END; opts++) {
		char left[80];
		int n = 0;

		/* A blank line before each group's heading, or the first option. */
		if (opts->type == OPT_GROUP) {
			printf("\n%s\n", opts->help);
			first = false;
			continue;
		}
		if (opts->flags & PARSE_OPT_HIDDEN)
			continue;
		if (first)
			putchar('\n');
		first = false;
		n += snprintf(left + n, sizeof(left) - n, "    ");
		if (opts->short_name)
			n += snprintf(left + n, sizeof(left) - n, "-%c%s", opts->short_name,
				      opts->long_name ? ", " : "");
		if (opts->long_name)
			n += snprintf(left + n, sizeof(left) - n, "--%s", opts->long_name);
		if (takes_value(opts) && opts->argh)
			snprintf(left + n, sizeof(left) - n, "%s%s%s",
				 opts->flags & PARSE_OPT_OPTARG ? "[=" : " ",
				 opts->argh, opts->flags & PARSE_OPT_OPTARG ? "]" : "");
		printf("%-34s %s\n", left, opts->help ? opts->help : "");
	}
}

int parse_options(int argc, const char **argv, const struct option *opts,
		  const char *usage_line)
{
	int nr_args = 0, i;
	bool only_args = false;

	last_error[0] = '\0';

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const struct option *opt;
		const char *val = NULL;

		if (only_args || a[0] != '-' || a[1] == '\0') {
			argv[nr_args++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_args = true;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage_with_options(usage_line, opts);
			return PARSE_HELP;
		}
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);

			opt = find_long(opts, name, len);
			/* lkvm's own --debug: the usual slip is to give it after the command. */
			if (!opt && len == 5 && !strncmp(name, "debug", 5)) {
				snprintf(last_error, sizeof(last_error), "--debug goes before the "
					 "command: lkvm --debug %s ...", parse_options_cmd);
				fprintf(stderr, "lkvm %s: error: %s\n", parse_options_cmd, last_error);
				return -1;
			}
			if (!opt)
				return general_error("unknown option '--%.*s'", (int)len, name);
			if (eq) {
				if (!takes_value(opt))
					return opt_error(opt, "takes no value");
				val = eq + 1;
			} else if (takes_value(opt) && !(opt->flags & PARSE_OPT_OPTARG)) {
				if (i + 1 >= argc)
					return opt_error(opt, "requires a value");
				val = argv[++i];
			}
		} else {
			opt = find_short(opts, a[1]);
			if (!opt)
				return general_error("unknown option '-%c'", a[1]);
			if (!takes_value(opt)) {
				if (a[2])
					return general_error("unknown option '%s'", a);
			} else if (a[2]) {
				val = a + 2;
			} else if (!(opt->flags & PARSE_OPT_OPTARG)) {
				if (i + 1 >= argc)
					return opt_error(opt, "requires a value");
				val = argv[++i];
			}
		}
		if (set_value(opt, val))
			return PARSE_ERROR;
	}
	argv[nr_args] = NULL;
	return nr_args;
}
