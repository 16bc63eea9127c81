/*
 * Self-describing state blobs: a small layer over libfdt for migration
 * sections.  A blob is a flattened device tree whose root carries a
 * "compatible" string naming the format and a "version"; every object is a
 * node with its own "version", every field a property.  Raw KVM UAPI
 * structs are stored as byte strings in the host's (x86-64, little-endian)
 * layout and must have exactly the expected size; scalars are big-endian
 * FDT cells (u32) or two cells (u64).
 *
 * Compatibility rule: a reader refuses a node whose version is newer than
 * it knows, and any property or node it does not know unless the name
 * starts with "opt-" (optional data an older reader may drop).  So a new
 * writer adds "opt-..." fields for things that are safe to lose and bumps
 * the version for things that are not.
 */
#ifndef LKVM__STATE_FDT_H
#define LKVM__STATE_FDT_H

#include "lkvm/util.h"

struct mig_buf;

#define SFDT_MAX_SIZE	(16U << 20)	/* no state blob is anywhere near */
#define SFDT_OPT_PREFIX	"opt-"

/*
 * Build a blob: fill() is called with a fresh sequential-write FDT (after
 * the reserve map, before the root node) and must return 0 or a libfdt
 * error; it is called again with a bigger buffer on -FDT_ERR_NOSPACE.  The
 * finished blob is appended to out.  Returns 0 or a negative errno.
 */
int sfdt__build(struct mig_buf *out, size_t hint,
		int (*fill)(void *fdt, const void *arg), const void *arg);

/* Writer helpers: return 0 or a libfdt error. */
int sfdt__begin(void *fdt, const char *name, u32 version);	/* node + version */
int sfdt__end(void *fdt);
int sfdt__put_u32(void *fdt, const char *name, u32 v);
int sfdt__put_u64(void *fdt, const char *name, u64 v);
int sfdt__put_raw(void *fdt, const char *name, const void *p, size_t len);

/*
 * Check a received blob: exactly len bytes, fdt_check_full() clean, root
 * "compatible" equal to compat.  On success *fdt points to a private,
 * aligned copy that the caller frees with free().
 */
int sfdt__open(const void *data, size_t len, const char *compat, void **fdt);
/* Structure check of an untrusted blob (version 17 only, fdt_check_full). */
int sfdt__check(const void *fdt, size_t len);

/*
 * Check one node: its "version" is present and 1..max_version (stored in
 * *version); every property is in props[] (NULL-terminated; "version" is
 * implied) or optional; every subnode is in nodes[] (NULL-terminated, may
 * be NULL for none) or optional; no known name appears twice.
 */
int sfdt__check_node(const void *fdt, int node, u32 max_version,
		     const char *const *props, const char *const *nodes,
		     u32 *version);

/* Child node by name: offset, or -ENOENT. */
int sfdt__subnode(const void *fdt, int node, const char *name);

/* Getters: 0, -ENOENT when absent, -EINVAL when the size is wrong. */
int sfdt__get_u32(const void *fdt, int node, const char *name, u32 *v);
int sfdt__get_u64(const void *fdt, int node, const char *name, u64 *v);
int sfdt__get_raw(const void *fdt, int node, const char *name, void *dst, size_t len);
/* Variable-size property: pointer into the blob (unaligned) and length. */
int sfdt__get_blob(const void *fdt, int node, const char *name,
		   const void **p, size_t *len);

#endif
