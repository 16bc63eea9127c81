/*
 * kvmclock for live migration.  The guest's clock must not stand still
 * while it is in flight: the source records the kvmclock value together
 * with the wall-clock time of that instant (KVM's own pairing,
 * KVM_CLOCK_REALTIME, when it can give one), and the destination sets the
 * clock forward by the wall-clock time that passed, in the kernel when
 * KVM_SET_CLOCK takes KVM_CLOCK_REALTIME, else here.  This assumes both
 * hosts keep their realtime clocks in sync (NTP), as migration usually does.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include <libfdt.h>

#include "lkvm/cpu-state.h"
#include "lkvm/kvm.h"
#include "lkvm/mig-section.h"
#include "lkvm/state-fdt.h"

static u64 realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (u64)ts.tv_sec * 1000000000ULL + (u64)ts.tv_nsec;
}

static int fill_clock(void *fdt, const void *arg)
{
	const struct clock_state *st = arg;
	int ret;

	ret = fdt_begin_node(fdt, "");
	if (!ret) ret = fdt_property_string(fdt, "compatible", CLOCK_STATE_COMPAT);
	if (!ret) ret = sfdt__put_u32(fdt, "version", 1);
	if (!ret) ret = sfdt__begin(fdt, "kvmclock", 1);
	if (!ret) ret = sfdt__put_u64(fdt, "clock", st->clock);
	if (!ret) ret = sfdt__put_u32(fdt, "flags", st->flags);
	if (!ret) ret = sfdt__put_u64(fdt, "realtime", st->realtime);
	if (!ret && (st->flags & KVM_CLOCK_HOST_TSC))
		ret = sfdt__put_u64(fdt, "host-tsc", st->host_tsc);
	if (!ret) ret = sfdt__end(fdt);
	return ret ? ret : fdt_end_node(fdt);
}

int clock_state__save(struct kvm *kvm, struct mig_buf *out)
{
	struct kvm_clock_data data;
	struct clock_state st;

	memset(&data, 0, sizeof(data));
	if (ioctl(kvm->vm_fd, KVM_GET_CLOCK, &data) < 0) {
		pr_err("KVM_GET_CLOCK: %s", strerror(errno));
		return -errno;
	}
	st.clock = data.clock;
	st.flags = data.flags;
	/* Without KVM's pairing, the closest we can do is right after. */
	st.realtime = (data.flags & KVM_CLOCK_REALTIME) ? data.realtime : realtime_ns();
	st.host_tsc = (data.flags & KVM_CLOCK_HOST_TSC) ? data.host_tsc : 0;
	return clock_state__encode(&st, out);
}

int clock_state__encode(const struct clock_state *st, struct mig_buf *out)
{
	return sfdt__build(out, 1024, fill_clock, st);
}

int clock_state__decode(const void *data, size_t len, struct clock_state *st)
{
	static const char *const nodes[] = { "kvmclock", NULL };
	static const char *const props[] = { "clock", "flags", "realtime", "host-tsc", NULL };
	void *fdt;
	u32 version;
	int ret, off;

	memset(st, 0, sizeof(*st));
	ret = sfdt__open(data, len, CLOCK_STATE_COMPAT, &fdt);
	if (ret)
		return ret;
	ret = sfdt__check_node(fdt, 0, 1, NULL, nodes, &version);
	if (ret)
		goto out;
	off = sfdt__subnode(fdt, 0, "kvmclock");
	ret = off < 0 ? -EINVAL : sfdt__check_node(fdt, off, 1, props, NULL, &version);
	if (ret)
		goto out;
	if (sfdt__get_u64(fdt, off, "clock", &st->clock) ||
	    sfdt__get_u32(fdt, off, "flags", &st->flags) ||
	    sfdt__get_u64(fdt, off, "realtime", &st->realtime)) {
		ret = -EINVAL;
		goto out;
	}
	ret = sfdt__get_u64(fdt, off, "host-tsc", &st->host_tsc);
	if (ret == -ENOENT)
		ret = 0;
out:
	free(fdt);
	return ret;
}

int clock_state__load(struct kvm *kvm, const void *data, size_t len)
{
	struct kvm_clock_data kd;
	struct clock_state st;
	int caps, ret = clock_state__decode(data, len, &st);
	u64 now;

	if (ret) {
		pr_err("clock state blob rejected: %s", strerror(-ret));
		return ret;
	}
	memset(&kd, 0, sizeof(kd));
	kd.clock = st.clock;
	caps = ioctl(kvm->sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK);
	if (caps > 0 && (caps & KVM_CLOCK_REALTIME)) {
		/* The kernel adds the elapsed time at the last possible moment. */
		kd.flags = KVM_CLOCK_REALTIME;
		kd.realtime = st.realtime;
	} else {
		now = realtime_ns();
		if (now > st.realtime)
			kd.clock += now - st.realtime;
	}
	if (ioctl(kvm->vm_fd, KVM_SET_CLOCK, &kd) < 0) {
		pr_err("KVM_SET_CLOCK: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int clock_section_save(struct kvm *kvm, u32 instance, struct mig_buf *out)
{
	return instance ? -ERANGE : clock_state__save(kvm, out);
}

static int clock_section_load(struct kvm *kvm, u32 instance, const void *data, size_t len)
{
	return instance ? -ERANGE : clock_state__load(kvm, data, len);
}

static struct mig_section clock_section = {
	.name	= "clock",
	.id	= MIG_SEC_CLOCK,
	.save	= clock_section_save,
	.load	= clock_section_load,
};
mig_section_register(clock_section);
