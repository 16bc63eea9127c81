/*
 * The files a command writes for its user: keys, certificates, session
 * blobs, measurements.  A reader (a guest owner's script polling for the
 * measurement, the next command of a pipeline) must never see half of one,
 * and a command that writes several must not leave some new and some old
 * when one of them fails: a fresh keys file beside the old session blob is
 * worse than nothing.  So every regular file is first written in full to a
 * temporary file beside it (fsync'd), and only once all of them are ready
 * are they renamed into place.
 *
 * Only a regular file is replaced: a device, pipe or tty (/dev/stdout) is
 * written through, and a symlink is followed to its target, so that
 * neither is replaced by a file (as root, "--keys /dev/full" once replaced
 * the device).  Two outputs that name the same file are refused before
 * anything is written; the same device twice is allowed (/dev/null).
 *
 * The files a command reads are listed too, as inputs: an output that
 * names one is refused the same way, as `cp a a` is ("--keys P --pdh P"
 * replaced the PDH it had read, "-k K --sev-measure-out K" the kernel).
 * A device, pipe or tty input is written through, not replaced, so it is
 * never "the same file": "-k /dev/stdin --sev-measure-out /dev/stdout".
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lkvm/out-files.h"
#include "lkvm/util.h"

struct staged {
	char path[PATH_MAX];		/* symlinks resolved */
	char tmp[PATH_MAX + 8];		/* path.XXXXXX while staged */
	bool through;			/* not a regular file: written in place */
	bool exists;
	dev_t dev;
	ino_t ino;
	char canon[2 * PATH_MAX + 2];	/* for the same-file check */
};

static int resolve(const char *path, struct staged *s)
{
	char dir[PATH_MAX], base[PATH_MAX], rdir[PATH_MAX];
	struct stat st;

	if (!*path)
		return -ENOENT;
	/*
	 * Not a regular file (through any symlinks): written through by the
	 * name given.  realpath() would turn /dev/stdout into "pipe:[N]".
	 */
	if (!stat(path, &st) && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		if (snprintf(s->path, sizeof(s->path), "%s", path) >= (int)sizeof(s->path))
			return -ENAMETOOLONG;
		s->through = s->exists = true;
		s->dev = st.st_dev;
		s->ino = st.st_ino;
		return 0;
	}
	if (!lstat(path, &st) && S_ISLNK(st.st_mode)) {
		if (stat(path, &st) < 0)
			return -errno;	/* dangling: ENOENT */
		if (!realpath(path, s->path))
			return -errno;
	} else if (snprintf(s->path, sizeof(s->path), "%s", path) >= (int)sizeof(s->path)) {
		return -ENAMETOOLONG;
	}
	if (!stat(s->path, &st)) {
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		s->through = !S_ISREG(st.st_mode);
		s->exists = true;
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	/* A file yet to be made: its directory's real path and its name. */
	snprintf(dir, sizeof(dir), "%s", s->path);
	snprintf(base, sizeof(base), "%s", s->path);
	if (realpath(dirname(dir), rdir))
		snprintf(s->canon, sizeof(s->canon), "%s/%s", rdir, basename(base));
	else
		snprintf(s->canon, sizeof(s->canon), "%s", s->path);
	return 0;
}

static bool same_file(const struct staged *a, const struct staged *b)
{
	if (a->through || b->through)
		return false;
	if (a->exists && b->exists)
		return a->dev == b->dev && a->ino == b->ino;
	return !strcmp(a->canon, b->canon);
}

static int stage(struct staged *s, const void *data, size_t len, mode_t mode)
{
	int fd, ret;

	if (snprintf(s->tmp, sizeof(s->tmp), "%s.XXXXXX", s->path) >= (int)sizeof(s->tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(s->tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		s->tmp[0] = 0;
		return ret;
	}
	ret = fchmod(fd, mode) < 0 ? -errno : 0;
	if (!ret)
		ret = write_full(fd, data, len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}

/* Straight into an existing non-regular file (a pipe, /dev/stdout, a tty). */
static int write_through(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = write_full(fd, data, len);
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}

/*
 * Resolve every named file and look for two that are one: two outputs, or
 * an output and an input (two inputs may well be one file).
 */
static int check(const struct out_file *f, int n, struct staged *s, int *bad, int *clash)
{
	int i, j, ret = 0;

	for (i = 0; i < n && !ret; i++) {
		if (!f[i].path)
			continue;
		ret = resolve(f[i].path, &s[i]);
		if (ret && f[i].in) {
			/* Not a file to compare (a directory, a dangling link):
			 * nothing replaces it, and its reader says what is wrong. */
			memset(&s[i], 0, sizeof(s[i]));
			s[i].through = true;
			ret = 0;
			continue;
		}
		if (ret)
			*bad = i;
		for (j = 0; j < i && !ret; j++) {
			if (f[j].path && !(f[i].in && f[j].in) && same_file(&s[i], &s[j])) {
				*bad = i;
				*clash = j;
				ret = -ENOTUNIQ;
			}
		}
	}
	return ret;
}

int out_files__check(const struct out_file *f, int n, int *bad, int *clash)
{
	struct staged *s;
	int ret;

	*bad = *clash = -1;
	s = calloc(n, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = check(f, n, s, bad, clash);
	free(s);
	return ret;
}

const char *out_files__clash_msg(const struct out_file *f, int bad, int clash)
{
	static __thread char buf[2 * PATH_MAX];
	const struct out_file *out = f[bad].in ? &f[clash] : &f[bad];
	const struct out_file *in = f[bad].in ? &f[bad] : &f[clash];

	if (in->in)
		snprintf(buf, sizeof(buf), "%s %s would replace the file %s reads", out->opt,
			 out->path, in->opt);
	else
		snprintf(buf, sizeof(buf), "%s and %s name the same file (%s)", f[clash].opt,
			 f[bad].opt, f[bad].path);
	return buf;
}

int out_files__write(const struct out_file *f, int n, int *bad, int *clash, int *written)
{
	struct staged *s;
	int i, ret;

	*bad = *clash = -1;
	*written = 0;
	s = calloc(n, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = check(f, n, s, bad, clash);
	/* Everything that can fail comes before the first rename. */
	for (i = 0; i < n && !ret; i++) {
		if (!f[i].path || f[i].in || s[i].through)
			continue;
		ret = stage(&s[i], f[i].data, f[i].len, f[i].mode);
		if (ret)
			*bad = i;
	}
	/* A device or pipe cannot be staged: what went out before a failure is out. */
	for (i = 0; i < n && !ret; i++) {
		if (!f[i].path || f[i].in || !s[i].through)
			continue;
		ret = write_through(s[i].path, f[i].data, f[i].len);
		if (ret)
			*bad = i;
		else
			(*written)++;
	}
	for (i = 0; i < n && !ret; i++) {
		if (f[i].path && !f[i].in && !s[i].through && rename(s[i].tmp, s[i].path) < 0) {
			ret = -errno;
			*bad = i;
		} else {
			s[i].tmp[0] = 0;
			*written += f[i].path && !f[i].in && !s[i].through;
		}
	}
	for (i = 0; i < n; i++)
		if (s[i].tmp[0])
			unlink(s[i].tmp);
	free(s);
	return ret;
}

const char *out_files__what_written(int written)
{
	static __thread char buf[48];

	if (!written)
		return "(no output written)";
	snprintf(buf, sizeof(buf), "(%d other output%s written)", written, written == 1 ? "" : "s");
	return buf;
}

int out_file__write(const char *path, const void *data, size_t len, mode_t mode)
{
	struct out_file f = { .path = path, .data = data, .len = len, .mode = mode };
	int bad, clash, written;

	return out_files__write(&f, 1, &bad, &clash, &written);
}
