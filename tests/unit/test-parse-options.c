/* Option parsing and size parsing: good values accepted, bad ones refused. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "test.h"
#include "lkvm/parse-options.h"

static u64 mem;
static int cpus;
static bool flag, hook;
static const char *name;
static const char *sev_mode;

static const struct option opts[] = {
	OPT_SIZE_('m', "mem", &mem, SZ_1M, "memory"),
	OPT_INTEGER('c', "cpus", &cpus, 1, 64, "cpus"),
	OPT_BOOLEAN('f', "flag", &flag, "flag"),
	OPT_STR(0, "name", &name, "<name>", "name"),
	{ .type = OPT_STRING, .long_name = "sev", .value = &sev_mode, .flags = PARSE_OPT_OPTARG,
	  .argh = "<mode>", .help = "sev" },
	{ .type = OPT_BOOL, .long_name = "test-hook", .value = &hook, .flags = PARSE_OPT_HIDDEN,
	  .help = "hidden" },
	OPT_END(),
};

static int parse(int argc, const char **argv)
{
	mem = 0; cpus = 0; flag = false; hook = false; name = NULL; sev_mode = NULL;
	return parse_options(argc, argv, opts, "test");
}

static void test_sizes(void)
{
	u64 v;

	CHECK(!parse_size("512M", &v, 1) && v == 512ULL << 20);
	CHECK(!parse_size("2G", &v, 1) && v == 2ULL << 30);
	CHECK(!parse_size("2GiB", &v, 1) && v == 2ULL << 30);
	CHECK(!parse_size("64", &v, SZ_1M) && v == 64ULL << 20);
	CHECK(!parse_size("4096b", &v, SZ_1M) && v == 4096);
	CHECK(parse_size("", &v, 1));
	CHECK(parse_size("-1G", &v, 1));
	CHECK(parse_size("1X", &v, 1));
	CHECK(parse_size("1GG", &v, 1));
	CHECK(parse_size("99999999999999999999", &v, 1));
	CHECK(parse_size("17179869184T", &v, 1));	/* overflows u64 */
	CHECK(!parse_u64("0x10", &v) && v == 16);
	CHECK_EQ(parse_u64("18446744073709551615", &v), 0);
	CHECK_EQ(parse_u64("18446744073709551616", &v), -ERANGE);
	CHECK_EQ(parse_u64("12x", &v), -EINVAL);
	CHECK_EQ(parse_u64("-1", &v), -EINVAL);
	CHECK_EQ(parse_u64("", &v), -EINVAL);
	/* Never octal (strtoull base 0 read "010" as 8 and refused "08"). */
	CHECK(!parse_u64("010", &v) && v == 10);
	CHECK(!parse_u64("08", &v) && v == 8);
	CHECK(!parse_u64("0XfF", &v) && v == 255);
	CHECK_EQ(parse_u64("0x", &v), -EINVAL);
	CHECK_EQ(parse_u64("0x-1", &v), -EINVAL);
	CHECK_EQ(parse_u64("0x 1", &v), -EINVAL);
	CHECK_EQ(parse_u64("1a", &v), -EINVAL);
	CHECK_EQ(parse_u64("0x10000000000000000", &v), -ERANGE);
}

static void test_good_options(void)
{
	const char *argv[] = { "run", "-m", "256M", "--cpus=4", "-f", "--name", "vm1",
			       "--sev", "pos", NULL };
	int n = parse(9, argv);

	CHECK_EQ(n, 1);
	CHECK(!strcmp(argv[0], "pos"));
	CHECK_EQ(mem, 256ULL << 20);
	CHECK_EQ(cpus, 4);
	CHECK(flag);
	CHECK(name && !strcmp(name, "vm1"));
	CHECK(sev_mode && !*sev_mode);	/* --sev without =VALUE: "" */
}

static void test_optarg(void)
{
	const char *argv[] = { "run", "--sev=emulated", "-m128", NULL };

	CHECK_EQ(parse(3, argv), 0);
	CHECK(sev_mode && !strcmp(sev_mode, "emulated"));
	CHECK_EQ(mem, 128ULL << 20);
}

static void test_bad_options(void)
{
	const char *a1[] = { "run", "--cpus=0", NULL };
	const char *a2[] = { "run", "--cpus=65", NULL };
	const char *a3[] = { "run", "--cpus=x", NULL };
	const char *a4[] = { "run", "--mem", NULL };
	const char *a5[] = { "run", "--nope", NULL };
	const char *a6[] = { "run", "-q", NULL };
	const char *a7[] = { "run", "--flag=1", NULL };
	const char *a8[] = { "run", "--mem=12Q", NULL };
	const char *a9[] = { "run", "--name=", NULL };
	const char *a10[] = { "run", "--cpus=-1", NULL };

	CHECK_EQ(parse(2, a1), PARSE_ERROR);
	CHECK_EQ(parse(2, a2), PARSE_ERROR);
	CHECK_EQ(parse(2, a3), PARSE_ERROR);
	CHECK_EQ(parse(2, a4), PARSE_ERROR);
	CHECK_EQ(parse(2, a5), PARSE_ERROR);
	CHECK_EQ(parse(2, a6), PARSE_ERROR);
	CHECK_EQ(parse(2, a7), PARSE_ERROR);
	CHECK_EQ(parse(2, a8), PARSE_ERROR);
	CHECK_EQ(parse(2, a9), PARSE_ERROR);
	CHECK_EQ(parse(2, a10), PARSE_ERROR);
}

/* The last error, for lkvm migrate --json: what stderr said, without the prefix. */
static void test_error_kept(void)
{
	const char *a1[] = { "run", "--cpus=65", NULL };
	const char *a2[] = { "run", "--nope", NULL };
	const char *a3[] = { "run", "--debug", NULL };
	const char *ok[] = { "run", "--cpus=2", NULL };

	CHECK_EQ(parse(2, a1), PARSE_ERROR);
	CHECK(!strcmp(parse_options_error(), "--cpus: 65 is out of range 1..64"));
	CHECK_EQ(parse(2, a2), PARSE_ERROR);
	CHECK(!strcmp(parse_options_error(), "unknown option '--nope'"));
	CHECK_EQ(parse(2, a3), PARSE_ERROR);
	CHECK(!strcmp(parse_options_error(), "--debug goes before the command: lkvm --debug lkvm ..."));
	CHECK_EQ(parse(2, ok), 0);
	CHECK(!strcmp(parse_options_error(), ""));		/* a parse that succeeds clears it */
}

static void test_double_dash(void)
{
	const char *argv[] = { "run", "--", "--cpus=3", NULL };

	CHECK_EQ(parse(3, argv), 1);
	CHECK(!strcmp(argv[0], "--cpus=3"));
	CHECK_EQ(cpus, 0);
}

/* A hidden option parses like any other but is left out of --help. */
static void test_hidden(void)
{
	const char *argv[] = { "run", "--test-hook", NULL };
	char buf[4096] = "";
	FILE *f = tmpfile();
	int saved = dup(1);
	size_t n;

	REQUIRE(f && saved >= 0);
	CHECK_EQ(parse(2, argv), 0);
	CHECK(hook);
	fflush(stdout);
	dup2(fileno(f), 1);
	usage_with_options("test", opts);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	CHECK(strstr(buf, "--flag"));
	CHECK(!strstr(buf, "--test-hook"));
}

TEST_MAIN_BEGIN("parse-options")
	RUN(test_sizes);
	RUN(test_good_options);
	RUN(test_optarg);
	RUN(test_bad_options);
	RUN(test_error_kept);
	RUN(test_double_dash);
	RUN(test_hidden);
TEST_MAIN_END()
