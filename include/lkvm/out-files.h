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
};

/*
 * Write all @n files or, as far as the file system allows, none: a
 * regular file (or a new one) is staged beside its path and renamed into
 * place only once every file is staged; a device or pipe is written
 * through (after the staging, before the renames); a symlink is followed.
 * Returns 0 or -errno with *bad the index of the file that failed and
 * *written how many had been written all the same (devices, pipes, or a
 * rename that failed after others); -ENOTUNIQ when f[*bad] and f[*clash]
 * name the same file (nothing written).
 */
int out_files__write(const struct out_file *f, int n, int *bad, int *clash, int *written);
/* "(no output written)" or "(N other outputs written)", for a failure's message. */
const char *out_files__what_written(int written);
/* One file, the same way. */
int out_file__write(const char *path, const void *data, size_t len, mode_t mode);

#endif
