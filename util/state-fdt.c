/* Self-describing state blobs over libfdt: see include/lkvm/state-fdt.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include "lkvm/mig-section.h"
#include "lkvm/state-fdt.h"

int sfdt__build(struct mig_buf *out, size_t hint,
		int (*fill)(void *fdt, const void *arg), const void *arg)
{
	size_t size = hint < 1024 ? 1024 : hint;
	void *fdt;
	int ret;

	for (;;) {
		if (size > SFDT_MAX_SIZE)
			return -E2BIG;
		fdt = calloc(1, size);
		if (!fdt)
			return -ENOMEM;
		ret = fdt_create(fdt, size);
		if (!ret)
			ret = fdt_finish_reservemap(fdt);
		if (!ret)
			ret = fill(fdt, arg);
		if (!ret)
			ret = fdt_finish(fdt);
		if (ret != -FDT_ERR_NOSPACE)
			break;
		free(fdt);
		size *= 2;
	}
	if (ret == 0)
		ret = mig_buf__put(out, fdt, fdt_totalsize(fdt));
	else if (ret < 0 && ret > -64)	/* a libfdt error, not an errno */
		ret = -EINVAL;
	free(fdt);
	return ret;
}

int sfdt__begin(void *fdt, const char *name, u32 version)
{
	int ret = fdt_begin_node(fdt, name);

	return ret ? ret : fdt_property_u32(fdt, "version", version);
}

int sfdt__end(void *fdt)
{
	return fdt_end_node(fdt);
}

int sfdt__put_u32(void *fdt, const char *name, u32 v)
{
	return fdt_property_u32(fdt, name, v);
}

int sfdt__put_u64(void *fdt, const char *name, u64 v)
{
	return fdt_property_u64(fdt, name, v);
}

int sfdt__put_raw(void *fdt, const char *name, const void *p, size_t len)
{
	if (len > SFDT_MAX_SIZE)
		return -FDT_ERR_BADVALUE;
	return fdt_property(fdt, name, p, (int)len);
}

static u32 be32_at(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

/*
 * Every token of the structure block, walked in 64-bit arithmetic before
 * libfdt sees it: a property whose length runs past the block, a name that
 * runs off it, or an unknown token refuses the blob.  libfdt 1.6.1 (Debian
 * 12) overflows on a length near 4 GiB in fdt_next_tag() and then loops in
 * fdt_check_full() for ever: one such byte in a section hung the
 * destination (found by a fuzzer of the migration sections).
 */
static bool struct_block_sane(const u8 *fdt, size_t len)
{
	u64 off = fdt_off_dt_struct(fdt), size = fdt_size_dt_struct(fdt), p = 0;

	if (off > len || size > len - off || size % 4)
		return false;
	fdt += off;
	while (p + 4 <= size) {
		u32 tag = be32_at(fdt + p);
		const u8 *nul;

		p += 4;
		switch (tag) {
		case FDT_BEGIN_NODE:
			nul = memchr(fdt + p, 0, size - p);
			if (!nul)
				return false;
			p = (nul - fdt + 1 + 3) & ~3ull;
			break;
		case FDT_PROP:
			if (size - p < 8 || be32_at(fdt + p) > size - p - 8)
				return false;
			p += 8 + (((u64)be32_at(fdt + p) + 3) & ~3ull);
			break;
		case FDT_END_NODE:
		case FDT_NOP:
			break;
		case FDT_END:
			return p == size;
		default:
			return false;
		}
	}
	return false;		/* no FDT_END */
}

/*
 * The only gate for FDT blobs from a stream.  Our blobs are always version
 * 17 (libfdt's sequential writer); older versions are refused before
 * fdt_check_full() because Debian 12's libfdt 1.6.1 dereferences NULL inside
 * it on some malformed pre-17 headers (found by tests/fuzz/fuzz-cpu-state.c),
 * and the structure block is walked first for a hang of the same libfdt
 * (struct_block_sane()).
 */
int sfdt__check(const void *fdt, size_t len)
{
	if (len < sizeof(struct fdt_header) || len > SFDT_MAX_SIZE ||
	    fdt_magic(fdt) != FDT_MAGIC || fdt_totalsize(fdt) != len ||
	    fdt_version(fdt) != 17 || fdt_last_comp_version(fdt) != 16 ||
	    !struct_block_sane(fdt, len) || fdt_check_full(fdt, len) != 0)
		return -EINVAL;
	return 0;
}

int sfdt__open(const void *data, size_t len, const char *compat, void **out)
{
	const char *c;
	void *fdt;
	int clen;

	*out = NULL;
	if (!data || len < sizeof(struct fdt_header) || len > SFDT_MAX_SIZE)
		return -EINVAL;
	/*
	 * Work on an aligned private copy: the section payload may sit at any
	 * offset in a receive buffer, and nothing below may depend on memory
	 * the sender can still change.
	 */
	fdt = malloc(len);
	if (!fdt)
		return -ENOMEM;
	memcpy(fdt, data, len);
	if (sfdt__check(fdt, len))
		goto err_inval;
	c = fdt_getprop(fdt, 0, "compatible", &clen);
	/* Exactly the string and its NUL: no prefix or list matches. */
	if (!c || clen != (int)strlen(compat) + 1 || memcmp(c, compat, clen))
		goto err_inval;
	*out = fdt;
	return 0;

err_inval:
	free(fdt);
	return -EINVAL;
}

/* A name from the blob, fit for a message: printable, bounded. */
static const char *printable(const char *name, char *buf, size_t size)
{
	size_t i;

	for (i = 0; name && name[i] && i + 1 < size; i++)
		buf[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
	buf[i] = 0;
	return buf;
}

static bool optional(const char *name)
{
	return !strncmp(name, SFDT_OPT_PREFIX, strlen(SFDT_OPT_PREFIX));
}

/* Index of name in list (NULL-terminated), or -1. */
static int lookup(const char *const *list, const char *name)
{
	int i;

	for (i = 0; list && list[i]; i++)
		if (!strcmp(list[i], name))
			return i;
	return -1;
}

int sfdt__check_node(const void *fdt, int node, u32 max_version,
		     const char *const *props, const char *const *nodes,
		     u32 *version)
{
	u64 seen = 0;
	int off, len, idx, ret;
	char b1[48], b2[48];
	const char *name;

	fdt_for_each_property_offset(off, fdt, node) {
		if (!fdt_getprop_by_offset(fdt, off, &name, &len))
			return -EINVAL;
		if (!strcmp(name, "version") || !strcmp(name, "compatible"))
			idx = 62 + !strcmp(name, "version");
		else
			idx = lookup(props, name);
		if (idx < 0 || idx > 63) {
			if (optional(name))
				continue;
			pr_err("state: unknown field '%s' in node '%s'",
			       printable(name, b1, sizeof(b1)),
			       printable(fdt_get_name(fdt, node, NULL), b2, sizeof(b2)));
			return -EOPNOTSUPP;
		}
		if (seen & (1ULL << idx))
			return -EINVAL;		/* duplicate field */
		seen |= 1ULL << idx;
	}
	if (off != -FDT_ERR_NOTFOUND)
		return -EINVAL;

	seen = 0;
	fdt_for_each_subnode(off, fdt, node) {
		name = fdt_get_name(fdt, off, &len);
		if (!name)
			return -EINVAL;
		idx = lookup(nodes, name);
		if (idx < 0 || idx > 63) {
			if (optional(name))
				continue;
			pr_err("state: unknown object '%s' in node '%s'",
			       printable(name, b1, sizeof(b1)),
			       printable(fdt_get_name(fdt, node, NULL), b2, sizeof(b2)));
			return -EOPNOTSUPP;
		}
		if (seen & (1ULL << idx))
			return -EINVAL;
		seen |= 1ULL << idx;
	}
	if (off != -FDT_ERR_NOTFOUND)
		return -EINVAL;

	ret = sfdt__get_u32(fdt, node, "version", version);
	if (ret)
		return -EINVAL;
	if (*version == 0)
		return -EINVAL;
	if (*version > max_version) {
		pr_err("state: node '%s' has version %u, this lkvm reads up to %u",
		       printable(fdt_get_name(fdt, node, NULL), b1, sizeof(b1)),
		       *version, max_version);
		return -EOPNOTSUPP;
	}
	return 0;
}

int sfdt__subnode(const void *fdt, int node, const char *name)
{
	int off = fdt_subnode_offset(fdt, node, name);

	return off < 0 ? -ENOENT : off;
}

int sfdt__get_blob(const void *fdt, int node, const char *name,
		   const void **p, size_t *len)
{
	int l;

	*p = fdt_getprop(fdt, node, name, &l);
	if (!*p)
		return l == -FDT_ERR_NOTFOUND ? -ENOENT : -EINVAL;
	if (l < 0)
		return -EINVAL;
	*len = (size_t)l;
	return 0;
}

int sfdt__get_raw(const void *fdt, int node, const char *name, void *dst, size_t len)
{
	const void *p;
	size_t l;
	int ret = sfdt__get_blob(fdt, node, name, &p, &l);

	if (ret)
		return ret;
	if (l != len)
		return -EINVAL;
	memcpy(dst, p, len);
	return 0;
}

int sfdt__get_u32(const void *fdt, int node, const char *name, u32 *v)
{
	fdt32_t be;
	int ret = sfdt__get_raw(fdt, node, name, &be, sizeof(be));

	if (!ret)
		*v = fdt32_to_cpu(be);
	return ret;
}

int sfdt__get_u64(const void *fdt, int node, const char *name, u64 *v)
{
	fdt64_t be;
	int ret = sfdt__get_raw(fdt, node, name, &be, sizeof(be));

	if (!ret)
		*v = fdt64_to_cpu(be);
	return ret;
}
