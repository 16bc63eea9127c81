/* Files written for the user: whole or not at all, several at once. */
#ifndef LKVM__OUT_FILES_H
#define LKVM__OUT_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct out_file {
	const char *opt;	/* the option that named it ("--keys"), for messages */
	const char *path;	/* NULL: not asked for, skipped */
	const void *data;
	size_t len;
	mode_t mode;		/* 0600 for secrets, 0644 for the rest */
	bool in;		/* a file the command reads: never written, and
				 * an output naming it is refused (-ENOTUNIQ) */
};

/* An input, listed beside the outputs so that none of them replaces it. */
#define OUT_FILE_INPUT(opt_, path_)	{ .opt = (opt_), .path = (path_), .in = true }

/*
 * Write all @n files or, as far as the file system allows, none: a
 * regular file (or a new one) is staged beside its path and renamed into
 * place only once every file is staged; a device or pipe is written
 * through (after the staging, before the renames); a symlink is followed.
 * Returns 0 or -errno with *bad the index of the file that failed and
 * *written how many had been written all the same (devices, pipes, or a
 * rename that failed after others); -ENOTUNIQ when f[*bad] and f[*clash]
 * name the same file, two outputs or an output and an input (nothing
 * written).  An input is the same file when it is the same inode or, not
 * there yet, the same resolved name; a device, pipe or tty never is.  An
 * input that cannot be looked at (a directory, a dangling symlink) is left
 * to its reader to report.
 */
int out_files__write(const struct out_file *f, int n, int *bad, int *clash, int *written);
/*
 * Only the looking: out_files__write()'s checks, nothing staged or
 * written, for a command that must refuse before it starts work (lkvm run
 * before the VM).  The same returns, *bad and *clash.
 */
int out_files__check(const struct out_file *f, int n, int *bad, int *clash);
/* The -ENOTUNIQ line: "--keys P would replace the file --pdh reads". */
const char *out_files__clash_msg(const struct out_file *f, int bad, int clash);
/* "(no output written)" or "(N other outputs written)", for a failure's message. */
const char *out_files__what_written(int written);
/* One file, the same way. */
int out_file__write(const char *path, const void *data, size_t len, mode_t mode);

#endif
