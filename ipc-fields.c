/*
 * Named fields (include/lkvm/ipc-fields.h, docs/ipc.md): the encoding of
 * control messages that two lkvm builds must both read.  Every byte comes
 * from a socket: each length is checked against what is left before it is
 * used, each value against its type's width and range.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lkvm/ipc-fields.h"

static void put_le(u8 *p, u64 v, int n)
{
	int i;

	for (i = 0; i < n; i++)
		p[i] = v >> (8 * i);
}

static u64 get_le(const u8 *p, int n)
{
	u64 v = 0;
	int i;

	for (i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The value's wire length, and its bytes in val (at most 8 for numbers). */
static size_t value_of(const struct ipcf *f, const u8 *m, u8 *val, const u8 **ptr)
{
	u64 v = 0;
	double d;
	u32 u;

	*ptr = val;
	switch (f->type) {
	case IPCF_U32:
	case IPCF_S32:
		memcpy(&u, m, 4);
		put_le(val, u, 4);
		return 4;
	case IPCF_U64:
		memcpy(&v, m, 8);
		put_le(val, v, 8);
		return 8;
	case IPCF_BOOL:
		val[0] = *(const bool *)m;
		return 1;
	case IPCF_F64:
		memcpy(&d, m, 8);
		memcpy(&v, &d, 8);
		put_le(val, v, 8);
		return 8;
	case IPCF_STR:
		*ptr = m;
		return strnlen((const char *)m, f->size - 1);
	default:		/* IPCF_BYTES */
		*ptr = m;
		return f->size;
	}
}

int ipcf__encode(const struct ipcf *t, int nr, u64 mask, const void *obj, u8 *buf, size_t n)
{
	size_t k = 0;
	int i;

	if (nr < 0 || nr > IPCF_MAX_FIELDS)	/* bit i of mask is t[i] */
		return -EINVAL;
	for (i = 0; i < nr; i++) {
		size_t nl = strlen(t[i].name), vl;
		const u8 *v;
		u8 num[8];

		if (!(mask & 1ULL << i))
			continue;
		vl = value_of(&t[i], (const u8 *)obj + t[i].off, num, &v);
		if (nl > IPCF_NAME_MAX || vl > 0xffff || n - k < 3 + nl + vl)
			return -EMSGSIZE;
		buf[k++] = nl;
		memcpy(buf + k, t[i].name, nl);
		k += nl;
		put_le(buf + k, vl, 2);
		k += 2;
		memcpy(buf + k, v, vl);
		k += vl;
	}
	return k;
}

static bool name_ok(const u8 *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
		      p[i] == '_' || p[i] == '-'))
			return false;
	return true;
}

static const char *type_name(u8 type)
{
	switch (type) {
	case IPCF_BOOL:	return "a flag (0 or 1)";
	case IPCF_F64:	return "a finite number";
	case IPCF_STR:	return "a string";
	case IPCF_BYTES: return "bytes";
	default:	return "an integer";
	}
}

/* Check the value of known field f (vl bytes at v) and store it; 0 or a reason in why. */
static int store(const struct ipcf *f, const u8 *v, size_t vl, u8 *m, char *why, size_t n)
{
	size_t want = f->type == IPCF_U32 || f->type == IPCF_S32 ? 4 :
		      f->type == IPCF_U64 || f->type == IPCF_F64 ? 8 :
		      f->type == IPCF_BOOL ? 1 : f->size;
	u64 x;
	u32 u;
	double d;

	/* Every type but a string has one width (a 0-byte BYTES member too: no room). */
	if (f->type != IPCF_STR && vl != want) {
		snprintf(why, n, "field '%s' is %zu bytes: %s of %zu bytes", f->name, vl,
			 type_name(f->type), want);
		return -EINVAL;
	}
	switch (f->type) {
	case IPCF_U32:
	case IPCF_U64:
		x = get_le(v, want);
		if ((f->min || f->max) && (x < f->min || x > f->max)) {
			snprintf(why, n, "field '%s' is %llu: out of its range %llu-%llu", f->name,
				 (unsigned long long)x, (unsigned long long)f->min,
				 (unsigned long long)f->max);
			return -EINVAL;
		}
		if (f->type == IPCF_U32) {
			u = x;
			memcpy(m, &u, 4);
		} else {
			memcpy(m, &x, 8);
		}
		return 0;
	case IPCF_S32:
		u = get_le(v, 4);
		memcpy(m, &u, 4);
		return 0;
	case IPCF_BOOL:
		if (v[0] > 1) {
			snprintf(why, n, "field '%s' is %u: a flag is 0 or 1", f->name, v[0]);
			return -EINVAL;
		}
		*(bool *)m = v[0];
		return 0;
	case IPCF_F64:
		x = get_le(v, 8);
		memcpy(&d, &x, 8);
		if (!isfinite(d)) {
			snprintf(why, n, "field '%s' is not a finite number", f->name);
			return -EINVAL;
		}
		memcpy(m, &d, 8);
		return 0;
	case IPCF_STR:
		if (vl >= f->size || vl < f->min) {
			snprintf(why, n, "field '%s' is %zu bytes long: a string of %llu-%u", f->name,
				 vl, (unsigned long long)f->min, f->size - 1);
			return -EINVAL;
		}
		if (memchr(v, 0, vl)) {
			snprintf(why, n, "field '%s' holds a NUL byte", f->name);
			return -EINVAL;
		}
		memcpy(m, v, vl);
		m[vl] = 0;
		return 0;
	default:		/* IPCF_BYTES, its length checked above */
		memcpy(m, v, vl);
		return 0;
	}
}

int ipcf__decode(const struct ipcf *t, int nr, int flags, const void *p, size_t len, void *obj,
		 u64 *seen, char *why, size_t why_len, char *unknown)
{
	const u8 *b = p;
	size_t k = 0, nl, vl;
	u64 got = 0;
	int i, idx = 0, ret;

	if (nr < 0 || nr > IPCF_MAX_FIELDS) {	/* a caller's bug, but why is printed */
		snprintf(why, why_len, "a table of %d fields, not 0-%d", nr, IPCF_MAX_FIELDS);
		return -EINVAL;
	}
	for (; k < len; idx++) {
		/* The header: name length, name, value length; each inside len. */
		nl = b[k];
		if (!nl || nl > IPCF_NAME_MAX) {
			snprintf(why, why_len, "field %d (at byte %zu): name length %zu, not 1-%d",
				 idx, k, nl, IPCF_NAME_MAX);
			return -EINVAL;
		}
		if (len - k - 1 < nl + 2) {
			snprintf(why, why_len, "field %d (at byte %zu): its header is cut short "
				 "(%zu bytes left)", idx, k, len - k);
			return -EINVAL;
		}
		if (!name_ok(b + k + 1, nl)) {
			snprintf(why, why_len, "field %d (at byte %zu): its name is not [a-z0-9_-]",
				 idx, k);
			return -EINVAL;
		}
		vl = get_le(b + k + 1 + nl, 2);
		if (vl > len - k - 3 - nl) {
			snprintf(why, why_len, "field '%.*s': %zu value bytes, only %zu left",
				 (int)nl, b + k + 1, vl, len - k - 3 - nl);
			return -EINVAL;
		}
		for (i = 0; i < nr; i++)
			if (strlen(t[i].name) == nl && !memcmp(t[i].name, b + k + 1, nl))
				break;
		if (i == nr) {
			if (flags & IPCF_STRICT) {
				snprintf(why, why_len, "unknown field '%.*s'", (int)nl, b + k + 1);
				if (unknown)
					snprintf(unknown, IPCF_NAME_MAX + 1, "%.*s", (int)nl, b + k + 1);
				return -ENOPROTOOPT;
			}
		} else {
			if (got & 1ULL << i) {
				snprintf(why, why_len, "field '%s' appears twice", t[i].name);
				return -EINVAL;
			}
			got |= 1ULL << i;
			ret = store(&t[i], b + k + 3 + nl, vl, (u8 *)obj + t[i].off, why, why_len);
			if (ret)
				return ret;
		}
		k += 3 + nl + vl;
	}
	for (i = 0; i < nr; i++)
		if (t[i].required && !(got & 1ULL << i)) {
			snprintf(why, why_len, "field '%s' is missing", t[i].name);
			return -EINVAL;
		}
	if (seen)
		*seen = got;
	return 0;
}
