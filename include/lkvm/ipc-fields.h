/*
 * Named fields: the payload encoding of control-socket messages that must
 * stay readable across lkvm builds (docs/ipc.md "Named fields").  A payload
 * is a flat list of fields, each
 *
 *	u8 name_len (1..IPCF_NAME_MAX), name ([a-z0-9_-]), u16 len, len bytes
 *
 * with integers little-endian and of a fixed width per type, strings
 * without a NUL.  The reader is driven by a table of the fields it knows.
 * A request refuses a field it does not know (-ENOPROTOOPT, the name given
 * back: the client asked for something this build cannot do); an answer
 * skips it (informational).  Absent fields are left as the caller set them.
 *
 * Names instead of numbers, so that an older reader can name the field it
 * refuses: the request fields are spelt as lkvm migrate's options.
 */
#ifndef LKVM__IPC_FIELDS_H
#define LKVM__IPC_FIELDS_H

#include <stddef.h>

#include "lkvm/util.h"

#define IPCF_NAME_MAX	32
#define IPCF_MAX_FIELDS	64		/* per table: the seen mask is a u64 */

enum ipcf_type {
	IPCF_U32 = 1,			/* 4 bytes; [min, max] unless both are 0 */
	IPCF_U64,			/* 8 bytes; likewise */
	IPCF_S32,			/* 4 bytes, two's complement (an errno status) */
	IPCF_BOOL,			/* 1 byte, 0 or 1; a C bool */
	IPCF_F64,			/* 8 bytes, IEEE-754 binary64, finite */
	IPCF_STR,			/* min..size-1 bytes, no NUL; a char[size], NUL-ended */
	IPCF_BYTES,			/* exactly size bytes */
};

struct ipcf {
	const char *name;
	u8 type;
	bool required;
	u32 off;			/* of the member in the struct */
	u32 size;			/* of the member */
	u64 min, max;			/* integers: the range; STR: min is the shortest */
};

/* Table rows for a member M of struct type T; the widths are checked at build time. */
#define IPCF_CHECK(T, M, n)	(0 * sizeof(char[sizeof(((T *)0)->M) == (n) ? 1 : -1]))
#define IPCF_ROW(T, M, nm, ty, w)						\
	.name = (nm), .type = (ty), .off = offsetof(T, M),			\
	.size = sizeof(((T *)0)->M) + IPCF_CHECK(T, M, w)
#define IPCF_U32_ROW(T, M, nm)	IPCF_ROW(T, M, nm, IPCF_U32, 4)
#define IPCF_U64_ROW(T, M, nm)	IPCF_ROW(T, M, nm, IPCF_U64, 8)
#define IPCF_S32_ROW(T, M, nm)	IPCF_ROW(T, M, nm, IPCF_S32, 4)
#define IPCF_BOOL_ROW(T, M, nm)	IPCF_ROW(T, M, nm, IPCF_BOOL, 1)
#define IPCF_F64_ROW(T, M, nm)	IPCF_ROW(T, M, nm, IPCF_F64, 8)
#define IPCF_STR_ROW(T, M, nm)	.name = (nm), .type = IPCF_STR, .off = offsetof(T, M), \
				.size = sizeof(((T *)0)->M)
#define IPCF_BYTES_ROW(T, M, nm) .name = (nm), .type = IPCF_BYTES, .off = offsetof(T, M), \
				.size = sizeof(((T *)0)->M)

/*
 * Append the fields of t[] whose bit is set in mask (bit i: t[i]) from obj
 * to buf.  Returns the bytes written, -EMSGSIZE if they do not fit in n,
 * or -EINVAL for a table of more than IPCF_MAX_FIELDS.
 */
int ipcf__encode(const struct ipcf *t, int nr, u64 mask, const void *obj, u8 *buf, size_t n);

#define IPCF_STRICT	1		/* a request: an unknown field is refused */

/*
 * Read the fields of p[0..len) into obj (the caller initialises it: absent
 * fields are left alone).  Returns 0 with *seen the mask of fields read;
 * -EINVAL for a malformed payload (a header or value cut short, a name that
 * is not [a-z0-9_-], a field twice, a wrong width, a value out of range, a
 * required field missing); -ENOPROTOOPT with IPCF_STRICT for a field t[]
 * does not have.  On error, why says which field and what is wrong, and
 * unknown (if not NULL, IPCF_NAME_MAX + 1 bytes) gets the unknown field's
 * name.  obj may be partly written on error.
 */
int ipcf__decode(const struct ipcf *t, int nr, int flags, const void *p, size_t len, void *obj,
		 u64 *seen, char *why, size_t why_len, char *unknown);

#endif
