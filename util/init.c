/* Ordered init/exit lists filled by the *_init() macros in lkvm/init.h. */
#include <stdio.h>
#include <string.h>

#include "lkvm/init.h"
#include "lkvm/util.h"

static struct init_item *levels[INIT_NR_LEVELS];

void init__register(struct init_item *item)
{
	struct init_item **p = &levels[item->level];

	/* Keep registration order within a level (constructors run in link order). */
	while (*p)
		p = &(*p)->next;
	*p = item;
}

int kvm__init_all(struct kvm *kvm)
{
	int lvl, ret;

	for (lvl = 0; lvl < INIT_NR_LEVELS; lvl++) {
		struct init_item *it;

		for (it = levels[lvl]; it; it = it->next) {
			unsigned int errs = pr_err__count();

			ret = it->init ? it->init(kvm) : 0;
			if (ret < 0) {
				/* One line per failure: most modules name the problem themselves. */
				if (pr_err__count() == errs)
					pr_err("%s failed: %s", it->name, strerror(-ret));
				else
					pr_debug("init %s failed (%d)", it->name, ret);
				kvm__exit_all(kvm);
				return ret;
			}
			it->done = true;
		}
	}
	return 0;
}

static void exit_list(struct init_item *it, struct kvm *kvm)
{
	if (!it)
		return;
	/* Reverse order within the level: recurse first. */
	exit_list(it->next, kvm);
	if (it->done && it->exit)
		it->exit(kvm);
	it->done = false;
}

void kvm__exit_all(struct kvm *kvm)
{
	int lvl;

	for (lvl = INIT_NR_LEVELS - 1; lvl >= 0; lvl--)
		exit_list(levels[lvl], kvm);
}
