/*
 * Giving up capabilities after start-up (include/lkvm/caps.h).  Order
 * matters: the bounding set can only be shrunk while CAP_SETPCAP is still
 * effective, so it goes first and the process sets go last.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

#include "lkvm/caps.h"
#include "lkvm/util.h"

static bool kept(int cap, const int *keep, int nr)
{
	for (int i = 0; i < nr; i++)
		if (keep[i] == cap)
			return true;
	return false;
}

int caps__drop_except(const int *keep, int nr_keep)
{
	cap_value_t last = cap_max_bits();	/* number of caps the kernel knows */
	bool setpcap = caps__effective() & (1ULL << CAP_SETPCAP);
	cap_value_t vals[64];
	int nr_vals = 0, ret = 0;
	cap_t caps;

	for (cap_value_t c = 0; c < last; c++) {
		if (kept(c, keep, nr_keep)) {
			if (nr_vals < (int)ARRAY_SIZE(vals))
				vals[nr_vals++] = c;
			continue;
		}
		/* Without CAP_SETPCAP the bounding set cannot change: that is fine. */
		if (setpcap && CAP_IS_SUPPORTED(c) && cap_drop_bound(c) < 0) {
			ret = -errno;
			pr_warn("caps: cannot drop capability %d from the bounding set: %s",
				c, strerror(errno));
		}
	}
	if (cap_reset_ambient() < 0 && errno != EINVAL)
		pr_debug("caps: cannot clear the ambient set: %s", strerror(errno));

	caps = cap_init();		/* all three sets empty */
	if (!caps)
		return -ENOMEM;
	if (nr_vals && (cap_set_flag(caps, CAP_EFFECTIVE, nr_vals, vals, CAP_SET) ||
			cap_set_flag(caps, CAP_PERMITTED, nr_vals, vals, CAP_SET))) {
		cap_free(caps);
		return -EINVAL;
	}
	if (cap_set_proc(caps) < 0) {
		ret = -errno;
		pr_err("caps: cannot drop capabilities: %s", strerror(errno));
	}
	cap_free(caps);

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 && !ret)
		ret = -errno;
	return ret;
}

unsigned long long caps__effective(void)
{
	unsigned long long mask = 0;
	cap_t caps = cap_get_proc();

	if (!caps)
		return 0;
	for (cap_value_t c = 0; c < 64 && CAP_IS_SUPPORTED(c); c++) {
		cap_flag_value_t v;

		if (!cap_get_flag(caps, c, CAP_EFFECTIVE, &v) && v == CAP_SET)
			mask |= 1ULL << c;
	}
	cap_free(caps);
	return mask;
}
