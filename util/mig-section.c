/* Registry of migration sections, kept sorted by id. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lkvm/mig-section.h"

static struct mig_section *sections;

void mig_section__register(struct mig_section *s)
{
	struct mig_section **p = &sections;

	while (*p && (*p)->id < s->id)
		p = &(*p)->next;
	s->next = *p;
	*p = s;
}

struct mig_section *mig_section__find(u32 id)
{
	struct mig_section *s;

	for (s = sections; s; s = s->next)
		if (s->id == id)
			return s;
	return NULL;
}

struct mig_section *mig_section__first(void)
{
	return sections;
}

u32 mig_section__features(void)
{
	struct mig_section *s;
	u32 f = 0;

	for (s = sections; s; s = s->next)
		f |= s->feature;
	return f;
}

u32 mig_section__features_of(struct kvm *kvm)
{
	struct mig_section *s;
	u32 f = 0;

	for (s = sections; s; s = s->next)
		if (s->feature && (!s->count || s->count(kvm)))
			f |= s->feature;
	return f;
}

int mig_buf__put(struct mig_buf *b, const void *p, size_t n)
{
	if (b->err)
		return b->err;
	if (!n)		/* an empty payload (a console with nothing typed): no copy from NULL */
		return 0;
	if (n > SIZE_MAX - b->len) {
		b->err = -EOVERFLOW;
		return b->err;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		u8 *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d) {
			b->err = -ENOMEM;
			return b->err;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void mig_buf__free(struct mig_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
