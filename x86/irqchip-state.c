/*
 * VM-wide interrupt hardware for live migration: the in-kernel PIC pair and
 * IOAPIC (one section) and the in-kernel PIT (another), as FDT blobs
 * described in docs/vm-state.md.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include <libfdt.h>

#include "lkvm/cpu-state.h"
#include "lkvm/kvm.h"
#include "lkvm/mig-section.h"
#include "lkvm/state-fdt.h"

static const struct {
	const char *node, *prop;
	u32 chip_id;
} chips[] = {
	{ "pic-master",	"kvm-pic-state",    KVM_IRQCHIP_PIC_MASTER },
	{ "pic-slave",	"kvm-pic-state",    KVM_IRQCHIP_PIC_SLAVE },
	{ "ioapic",	"kvm-ioapic-state", KVM_IRQCHIP_IOAPIC },
};

static void *chip_part(struct irqchip_state *st, u32 chip_id, size_t *len)
{
	if (chip_id == KVM_IRQCHIP_IOAPIC) {
		*len = sizeof(st->ioapic);
		return &st->ioapic;
	}
	*len = sizeof(st->pic[0]);
	return &st->pic[chip_id];
}

static int fill_irqchip(void *fdt, const void *arg)
{
	struct irqchip_state *st = (struct irqchip_state *)arg;
	size_t len, i;
	void *p;
	int ret;

	ret = fdt_begin_node(fdt, "");
	if (!ret) ret = fdt_property_string(fdt, "compatible", IRQCHIP_STATE_COMPAT);
	if (!ret) ret = sfdt__put_u32(fdt, "version", 1);
	for (i = 0; !ret && i < ARRAY_SIZE(chips); i++) {
		p = chip_part(st, chips[i].chip_id, &len);
		ret = sfdt__begin(fdt, chips[i].node, 1);
		if (!ret) ret = sfdt__put_raw(fdt, chips[i].prop, p, len);
		if (!ret) ret = sfdt__end(fdt);
	}
	return ret ? ret : fdt_end_node(fdt);
}

int irqchip_state__save(struct kvm *kvm, struct mig_buf *out)
{
	struct irqchip_state st;
	struct kvm_irqchip chip;
	size_t i, len;
	void *p;

	memset(&st, 0, sizeof(st));
	for (i = 0; i < ARRAY_SIZE(chips); i++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = chips[i].chip_id;
		if (ioctl(kvm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0) {
			pr_err("KVM_GET_IRQCHIP %s: %s", chips[i].node, strerror(errno));
			return -errno;
		}
		p = chip_part(&st, chips[i].chip_id, &len);
		memcpy(p, &chip.chip, len);
	}
	return irqchip_state__encode(&st, out);
}

int irqchip_state__encode(const struct irqchip_state *st, struct mig_buf *out)
{
	return sfdt__build(out, 2048, fill_irqchip, st);
}

int irqchip_state__decode(const void *data, size_t len, struct irqchip_state *st)
{
	static const char *const nodes[] = { "pic-master", "pic-slave", "ioapic", NULL };
	void *fdt;
	u32 version;
	size_t i, plen;
	int ret, off;

	memset(st, 0, sizeof(*st));
	ret = sfdt__open(data, len, IRQCHIP_STATE_COMPAT, &fdt);
	if (ret)
		return ret;
	ret = sfdt__check_node(fdt, 0, 1, NULL, nodes, &version);
	for (i = 0; !ret && i < ARRAY_SIZE(chips); i++) {
		const char *const props[] = { chips[i].prop, NULL };
		void *p = chip_part(st, chips[i].chip_id, &plen);

		off = sfdt__subnode(fdt, 0, chips[i].node);
		if (off < 0) {
			ret = -EINVAL;
			break;
		}
		ret = sfdt__check_node(fdt, off, 1, props, NULL, &version);
		if (!ret)
			ret = sfdt__get_raw(fdt, off, chips[i].prop, p, plen);
		if (ret == -ENOENT)
			ret = -EINVAL;
	}
	free(fdt);
	return ret;
}

int irqchip_state__load(struct kvm *kvm, const void *data, size_t len)
{
	struct irqchip_state st;
	struct kvm_irqchip chip;
	size_t i, plen;
	int ret = irqchip_state__decode(data, len, &st);

	if (ret) {
		pr_err("irqchip state blob rejected: %s", strerror(-ret));
		return ret;
	}
	for (i = 0; i < ARRAY_SIZE(chips); i++) {
		void *p = chip_part(&st, chips[i].chip_id, &plen);

		memset(&chip, 0, sizeof(chip));
		chip.chip_id = chips[i].chip_id;
		memcpy(&chip.chip, p, plen);
		if (ioctl(kvm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0) {
			pr_err("KVM_SET_IRQCHIP %s: %s", chips[i].node, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/*
 * PIT: KVM_SET_PIT2 reloads every channel's count and restarts it "now",
 * so count_load_time (a host monotonic timestamp) is carried only for the
 * record and the counters resume from their programmed initial counts.
 */
static int fill_pit(void *fdt, const void *arg)
{
	const struct kvm_pit_state2 *st = arg;
	int ret;

	ret = fdt_begin_node(fdt, "");
	if (!ret) ret = fdt_property_string(fdt, "compatible", PIT_STATE_COMPAT);
	if (!ret) ret = sfdt__put_u32(fdt, "version", 1);
	if (!ret) ret = sfdt__begin(fdt, "pit", 1);
	if (!ret) ret = sfdt__put_raw(fdt, "kvm-pit-state2", st, sizeof(*st));
	if (!ret) ret = sfdt__end(fdt);
	return ret ? ret : fdt_end_node(fdt);
}

int pit_state__save(struct kvm *kvm, struct mig_buf *out)
{
	struct kvm_pit_state2 st;

	memset(&st, 0, sizeof(st));
	if (ioctl(kvm->vm_fd, KVM_GET_PIT2, &st) < 0) {
		pr_err("KVM_GET_PIT2: %s", strerror(errno));
		return -errno;
	}
	return pit_state__encode(&st, out);
}

int pit_state__encode(const struct kvm_pit_state2 *st, struct mig_buf *out)
{
	return sfdt__build(out, 1024, fill_pit, st);
}

int pit_state__decode(const void *data, size_t len, struct kvm_pit_state2 *st)
{
	static const char *const nodes[] = { "pit", NULL };
	static const char *const props[] = { "kvm-pit-state2", NULL };
	void *fdt;
	u32 version;
	int ret, off, i;

	memset(st, 0, sizeof(*st));
	ret = sfdt__open(data, len, PIT_STATE_COMPAT, &fdt);
	if (ret)
		return ret;
	ret = sfdt__check_node(fdt, 0, 1, NULL, nodes, &version);
	if (!ret) {
		off = sfdt__subnode(fdt, 0, "pit");
		ret = off < 0 ? -EINVAL : sfdt__check_node(fdt, off, 1, props, NULL, &version);
		if (!ret)
			ret = sfdt__get_raw(fdt, off, "kvm-pit-state2", st, sizeof(*st));
		if (ret == -ENOENT)
			ret = -EINVAL;
	}
	/*
	 * An 8254 counter holds at most 65536 (0 = 65536); KVM would arm its
	 * timer with anything.  The mode is 0-5, or 0xff before programming.
	 */
	for (i = 0; !ret && i < 3; i++)
		if (st->channels[i].count > 0x10000 ||
		    (st->channels[i].mode > 5 && st->channels[i].mode != 0xff))
			ret = -EINVAL;
	free(fdt);
	return ret;
}

int pit_state__load(struct kvm *kvm, const void *data, size_t len)
{
	struct kvm_pit_state2 st;
	int ret = pit_state__decode(data, len, &st);

	if (ret) {
		pr_err("PIT state blob rejected: %s", strerror(-ret));
		return ret;
	}
	if (ioctl(kvm->vm_fd, KVM_SET_PIT2, &st) < 0) {
		pr_err("KVM_SET_PIT2: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

static int irqchip_section_save(struct kvm *kvm, u32 instance, struct mig_buf *out)
{
	return instance ? -ERANGE : irqchip_state__save(kvm, out);
}

static int irqchip_section_load(struct kvm *kvm, u32 instance, const void *data, size_t len)
{
	return instance ? -ERANGE : irqchip_state__load(kvm, data, len);
}

static int pit_section_save(struct kvm *kvm, u32 instance, struct mig_buf *out)
{
	return instance ? -ERANGE : pit_state__save(kvm, out);
}

static int pit_section_load(struct kvm *kvm, u32 instance, const void *data, size_t len)
{
	return instance ? -ERANGE : pit_state__load(kvm, data, len);
}

static struct mig_section irqchip_section = {
	.name	= "irqchip",
	.id	= MIG_SEC_IRQCHIP,
	.save	= irqchip_section_save,
	.load	= irqchip_section_load,
};
mig_section_register(irqchip_section);

static struct mig_section pit_section = {
	.name	= "pit",
	.id	= MIG_SEC_PIT,
	.save	= pit_section_save,
	.load	= pit_section_load,
};
mig_section_register(pit_section);
