/*
 * util/out-files.c: outputs written whole, several at once all or none,
 * symlinks followed, devices written through, the same file named twice
 * refused, and no temporary file left behind on any failure.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "lkvm/out-files.h"
#include "lkvm/util.h"

static char dir[64];

static void path_of(char *buf, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", dir, name);
}

/* The file's contents as a string ("" when absent). */
static const char *contents(const char *name)
{
	static char buf[256];
	char p[PATH_MAX];
	ssize_t n;
	int fd;

	path_of(p, name);
	buf[0] = 0;
	fd = open(p, O_RDONLY);
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	close(fd);
	return buf;
}

static void put(const char *name, const char *text)
{
	char p[PATH_MAX];

	path_of(p, name);
	if (out_file__write(p, text, strlen(text), 0644))
		abort();
}

static int nr_entries(void)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	while (d && (de = readdir(d)))
		n += de->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void clean(void)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	char p[PATH_MAX];

	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		path_of(p, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
}

static void test_one_file(void)
{
	char p[PATH_MAX], link[PATH_MAX];
	struct stat st;

	clean();
	path_of(p, "a");
	CHECK_EQ(out_file__write(p, "one", 3, 0600), 0);
	CHECK(!strcmp(contents("a"), "one"));
	CHECK(!stat(p, &st) && (st.st_mode & 0777) == 0600);
	CHECK_EQ(out_file__write(p, "two", 3, 0644), 0);
	CHECK(!strcmp(contents("a"), "two"));
	/* A symlink is followed, not replaced. */
	path_of(link, "l");
	REQUIRE(!symlink("a", link));
	CHECK_EQ(out_file__write(link, "three", 5, 0644), 0);
	CHECK(!lstat(link, &st) && S_ISLNK(st.st_mode));
	CHECK(!strcmp(contents("a"), "three"));
	/* Dangling: refused, nothing made. */
	path_of(link, "dangling");
	REQUIRE(!symlink("nowhere", link));
	CHECK_EQ(out_file__write(link, "x", 1, 0644), -ENOENT);
	CHECK(!*contents("nowhere"));
	/* A directory, a missing directory, the empty path. */
	CHECK_EQ(out_file__write(dir, "x", 1, 0644), -EISDIR);
	path_of(p, "no/such");
	CHECK_EQ(out_file__write(p, "x", 1, 0644), -ENOENT);
	CHECK_EQ(out_file__write("", "x", 1, 0644), -ENOENT);
	/* A device is written through and stays a device. */
	CHECK_EQ(out_file__write("/dev/null", "x", 1, 0644), 0);
	CHECK(!stat("/dev/null", &st) && S_ISCHR(st.st_mode));
	CHECK_EQ(out_file__write("/dev/full", "x", 1, 0644), -ENOSPC);
	CHECK(!stat("/dev/full", &st) && S_ISCHR(st.st_mode));
	/* A pipe through its /proc/self/fd link (what /dev/stdout is in a pipeline). */
	{
		int pfd[2];
		char got[8] = "";

		REQUIRE(!pipe(pfd));
		snprintf(link, sizeof(link), "/proc/self/fd/%d", pfd[1]);
		CHECK_EQ(out_file__write(link, "pipe", 4, 0644), 0);
		CHECK_EQ(read(pfd[0], got, sizeof(got) - 1), 4);
		CHECK(!strcmp(got, "pipe"));
		close(pfd[0]);
		close(pfd[1]);
	}
	CHECK_EQ(nr_entries(), 3);		/* a, l, dangling */
}

static void test_all_or_none(void)
{
	char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
	struct out_file f[3] = {
		{ "--a", a, "new-a", 5, 0644 },
		{ "--b", b, "new-b", 5, 0600 },
		{ "--c", c, "new-c", 5, 0644 },
	};
	int bad, clash, written;

	clean();
	path_of(a, "a");
	path_of(b, "b");
	path_of(c, "no/c");
	put("a", "old-a");
	CHECK_EQ(out_files__write(f, 3, &bad, &clash, &written), -ENOENT);
	CHECK_EQ(bad, 2);
	CHECK_EQ(written, 0);
	CHECK(!strcmp(contents("a"), "old-a"));
	CHECK(!*contents("b"));
	CHECK_EQ(nr_entries(), 1);		/* no a.XXXXXX, no b */

	/* A device that fails comes after the staging, before any rename. */
	f[2].path = "/dev/full";
	CHECK_EQ(out_files__write(f, 3, &bad, &clash, &written), -ENOSPC);
	CHECK_EQ(bad, 2);
	CHECK_EQ(written, 0);
	CHECK(!strcmp(contents("a"), "old-a"));
	CHECK_EQ(nr_entries(), 1);
	/* ...but a device before it has been written: the count says so. */
	f[1].path = "/dev/null";
	CHECK_EQ(out_files__write(f, 3, &bad, &clash, &written), -ENOSPC);
	CHECK_EQ(written, 1);
	CHECK(!strcmp(out_files__what_written(written), "(1 other output written)"));
	CHECK(!strcmp(contents("a"), "old-a"));
	f[1].path = b;

	/* Unwanted outputs (NULL) are skipped; the rest land together. */
	f[2].path = NULL;
	CHECK_EQ(out_files__write(f, 3, &bad, &clash, &written), 0);
	CHECK(!strcmp(contents("a"), "new-a"));
	CHECK(!strcmp(contents("b"), "new-b"));
	CHECK_EQ(nr_entries(), 2);
}

static void test_same_file(void)
{
	char a[PATH_MAX], a2[PATH_MAX], hard[PATH_MAX], sym[PATH_MAX], want[2 * PATH_MAX];
	struct out_file f[2] = {
		{ "--x", a, "x", 1, 0644 },
		{ "--y", a2, "y", 1, 0644 },
	};
	int bad, clash, written;

	clean();
	/* A file yet to be made, named two ways. */
	path_of(a, "a");
	snprintf(a2, sizeof(a2), "%s/./a", dir);
	CHECK_EQ(out_files__write(f, 2, &bad, &clash, &written), -ENOTUNIQ);
	CHECK_EQ(bad, 1);
	CHECK_EQ(clash, 0);
	snprintf(want, sizeof(want), "--x and --y name the same file (%s)", a2);
	CHECK(!strcmp(out_files__clash_msg(f, bad, clash), want));
	CHECK_EQ(nr_entries(), 0);

	/* An existing one through a hard link, and through a symlink. */
	put("a", "old");
	path_of(hard, "hard");
	REQUIRE(!link(a, hard));
	f[1].path = hard;
	CHECK_EQ(out_files__write(f, 2, &bad, &clash, &written), -ENOTUNIQ);
	path_of(sym, "sym");
	REQUIRE(!symlink("a", sym));
	f[1].path = sym;
	CHECK_EQ(out_files__write(f, 2, &bad, &clash, &written), -ENOTUNIQ);
	CHECK(!strcmp(contents("a"), "old"));
	CHECK_EQ(nr_entries(), 3);

	/* The same device twice is fine: nothing gets replaced. */
	f[0].path = f[1].path = "/dev/null";
	CHECK_EQ(out_files__write(f, 2, &bad, &clash, &written), 0);
}

/*
 * An input (a file the command reads) takes part in the same-file check
 * and is never written: `--keys P --pdh P` replaced the PDH it had read,
 * `--sev-measure-out K -k K` the kernel.  Compared by device and inode
 * when it exists (a hard link or symlink is the same file), by its
 * resolved name when it does not yet (a secret the owner writes later).
 * A device, pipe or tty input is no file to replace: never a clash.
 */
static void test_inputs(void)
{
	char in[PATH_MAX], out[PATH_MAX], hard[PATH_MAX], sym[PATH_MAX], later[PATH_MAX];
	char want[2 * PATH_MAX];
	struct out_file f[3] = {
		OUT_FILE_INPUT("--in", in),
		{ "--out", out, "new", 3, 0644 },
		OUT_FILE_INPUT("--in2", in),
	};
	int bad, clash, written;

	clean();
	put("in", "old");
	path_of(in, "in");
	path_of(out, "in");
	CHECK_EQ(out_files__check(f, 2, &bad, &clash), -ENOTUNIQ);
	CHECK_EQ(bad, 1);
	CHECK_EQ(clash, 0);
	snprintf(want, sizeof(want), "--out %s would replace the file --in reads", out);
	CHECK(!strcmp(out_files__clash_msg(f, bad, clash), want));
	CHECK_EQ(out_files__write(f, 2, &bad, &clash, &written), -ENOTUNIQ);
	CHECK_EQ(bad, 1);
	CHECK_EQ(clash, 0);
	CHECK_EQ(written, 0);
	CHECK(!strcmp(contents("in"), "old"));
	CHECK_EQ(nr_entries(), 1);
	/* The output first, the input after: the same refusal, same roles. */
	f[0] = f[1];
	f[1] = (struct out_file)OUT_FILE_INPUT("--in", in);
	CHECK_EQ(out_files__write(f, 2, &bad, &clash, &written), -ENOTUNIQ);
	CHECK(!strcmp(out_files__clash_msg(f, bad, clash), want));
	CHECK(!strcmp(contents("in"), "old"));
	/* Through a hard link, a symlink, another spelling. */
	path_of(hard, "hard");
	REQUIRE(!link(in, hard));
	path_of(sym, "sym");
	REQUIRE(!symlink("in", sym));
	f[0].path = hard;
	CHECK_EQ(out_files__check(f, 2, &bad, &clash), -ENOTUNIQ);
	f[0].path = sym;
	CHECK_EQ(out_files__check(f, 2, &bad, &clash), -ENOTUNIQ);
	snprintf(out, sizeof(out), "%s/./in", dir);
	f[0].path = out;
	CHECK_EQ(out_files__write(f, 2, &bad, &clash, &written), -ENOTUNIQ);
	CHECK(!strcmp(contents("in"), "old"));
	/* An input not there yet, by name. */
	path_of(later, "later");
	f[0].path = later;
	f[1].path = later;
	CHECK_EQ(out_files__check(f, 2, &bad, &clash), -ENOTUNIQ);
	CHECK(!*contents("later"));
	/* Two inputs naming one file are fine, and inputs are not written. */
	path_of(out, "out");
	f[0].path = out;
	f[1].path = in;
	f[2] = (struct out_file)OUT_FILE_INPUT("--in2", hard);
	CHECK_EQ(out_files__write(f, 3, &bad, &clash, &written), 0);
	CHECK_EQ(written, 1);
	CHECK(!strcmp(contents("out"), "new"));
	CHECK(!strcmp(contents("in"), "old"));
	/* A missing input, a directory, an empty name: left to its reader. */
	path_of(in, "no/such");
	f[2].path = dir;
	CHECK_EQ(out_files__write(f, 3, &bad, &clash, &written), 0);
	f[1].path = "";
	CHECK_EQ(out_files__check(f, 2, &bad, &clash), 0);
	CHECK_EQ(nr_entries(), 4);		/* in, hard, sym, out */
}

/*
 * /dev/stdin, a pipe or a FIFO as an input and the same as an output: no
 * file is replaced (a FIFO is written through), so nothing to refuse.
 */
static void test_inputs_not_files(void)
{
	char fifo[PATH_MAX], link[PATH_MAX];
	struct out_file f[2] = {
		OUT_FILE_INPUT("-k", "/dev/null"),
		{ "--out", "/dev/null", "x", 1, 0644 },
	};
	int bad, clash, written, pfd[2];

	clean();
	CHECK_EQ(out_files__write(f, 2, &bad, &clash, &written), 0);
	path_of(fifo, "fifo");
	REQUIRE(!mkfifo(fifo, 0600));
	f[0].path = f[1].path = fifo;
	CHECK_EQ(out_files__check(f, 2, &bad, &clash), 0);
	REQUIRE(!pipe(pfd));
	snprintf(link, sizeof(link), "/proc/self/fd/%d", pfd[0]);
	f[0].path = f[1].path = link;
	CHECK_EQ(out_files__check(f, 2, &bad, &clash), 0);
	close(pfd[0]);
	close(pfd[1]);
	/* ...but a regular file behind /proc/self/fd/N is that file. */
	put("in", "old");
	path_of(fifo, "in");
	pfd[0] = open(fifo, O_RDONLY);
	REQUIRE(pfd[0] >= 0);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", pfd[0]);
	f[0].path = link;
	f[1].path = fifo;
	CHECK_EQ(out_files__check(f, 2, &bad, &clash), -ENOTUNIQ);
	close(pfd[0]);
}

TEST_MAIN_BEGIN("test-out-files")
	snprintf(dir, sizeof(dir), "/tmp/lkvm-test-out-files.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	RUN(test_one_file);
	RUN(test_all_or_none);
	RUN(test_same_file);
	RUN(test_inputs);
	RUN(test_inputs_not_files);
	clean();
	rmdir(dir);
TEST_MAIN_END()
