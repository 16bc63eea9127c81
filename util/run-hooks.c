/* Ordered list of before-start steps (see lkvm/run-hooks.h). */
#include "lkvm/run-hooks.h"
#include "lkvm/util.h"

static struct run_hook *hooks;

void run_hooks__register(struct run_hook *h)
{
	struct run_hook **p = &hooks;

	while (*p && (*p)->prio <= h->prio)
		p = &(*p)->next;
	h->next = *p;
	*p = h;
}

int run_hooks__before_start(struct kvm *kvm)
{
	struct run_hook *h;
	int ret;

	for (h = hooks; h; h = h->next) {
		ret = h->fn(kvm);
		if (ret < 0) {
			pr_debug("run step %s failed (%d)", h->name, ret);
			return ret;
		}
	}
	return 0;
}
