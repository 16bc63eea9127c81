/* Ordered list of before-start steps (see lkvm/run-hooks.h). */
#include "lkvm/kvm.h"
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
	int ret = 0;

	__atomic_store_n(&kvm->starting, true, __ATOMIC_RELEASE);
	for (h = hooks; h; h = h->next) {
		ret = h->fn(kvm);
		if (ret < 0) {
			pr_debug("run step %s failed (%d)", h->name, ret);
			break;
		}
	}
	__atomic_store_n(&kvm->starting, false, __ATOMIC_RELEASE);
	return ret < 0 ? ret : 0;
}
