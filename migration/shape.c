/*
 * The machine shape both ends describe in HELLO: memory banks, vCPUs, SEV
 * mode and the device list.  Devices with an identity worth comparing (a
 * disk image) add themselves with migration__register_device().
 */
#include <errno.h>
#include <string.h>

#include "lkvm/kvm.h"
#include "lkvm/migration.h"

static char devices[MIG_MAX_DEVICES_LEN + 1];

int migration__register_device(const char *desc)
{
	size_t have = strlen(devices), add = strlen(desc);

	if (have + add + 1 > MIG_MAX_DEVICES_LEN)
		return -ENOSPC;
	if (have)
		devices[have++] = ';';
	memcpy(devices + have, desc, add + 1);
	return 0;
}

int mig_shape__from_kvm(struct kvm *kvm, struct mig_shape *s)
{
	int i;

	memset(s, 0, sizeof(*s));
	s->features = MIG_F_ZERO_PAGES;
	s->nr_channels = 1;
	s->nr_cpus = kvm->nr_cpus;
	s->nr_banks = min(kvm->nr_mem_banks, MIG_MAX_BANKS);
	for (i = 0; i < (int)s->nr_banks; i++) {
		s->banks[i].gpa = kvm->mem_banks[i].guest_phys_addr;
		s->banks[i].size = kvm->mem_banks[i].size;
		s->nr_pages += kvm->mem_banks[i].size / PAGE_SIZE;
	}
	s->sev_mode = kvm->cfg.sev_mode;
	if (s->sev_mode)	/* SEV handshake + ENCRYPTED pages (issue 6) */
		s->features |= MIG_F_SEV_PAGES;
	s->devices_len = strlen(devices);
	memcpy(s->devices, devices, s->devices_len + 1);
	return 0;
}
