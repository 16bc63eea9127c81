/*
 * libFuzzer target for the parsers of untrusted files and messages that
 * have no fuzzer of their own: kernel images (PVH ELF and bzImage loaders
 * on a 64 MiB memory-only VM), SEV certificates (SEV 0x824 format, AMD
 * ARK/ASK format) and control-socket message headers.  The first input byte
 * picks the parser; the rest is the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lkvm/ipc.h"
#include "lkvm/kvm.h"
#include "lkvm/sev-crypto.h"
#include "lkvm/x86-boot.h"
#include "lkvm/x86-pvh.h"

static struct kvm *vm;

static struct kvm *fresh_vm(void)
{
	int i;

	if (!vm) {
		vm = calloc(1, sizeof(*vm));
		vm->cfg.ram_size = 64 << 20;
		vm->cfg.nr_cpus = 2;
		vm->nr_cpus = 2;
		if (kvm__init_memory(vm))
			abort();
	}
	/* Loaders only write what they load: clear the low area they use. */
	for (i = 0; i < vm->nr_loaded; i++)
		memset(guest_flat_to_host(vm, vm->loaded[i].gpa, vm->loaded[i].len), 0,
		       vm->loaded[i].len);
	vm->nr_loaded = 0;
	return vm;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1;
	size_t n = size ? size - 1 : 0;

	if (!size)
		return 0;
	switch (data[0] % 5) {
	case 0:
		if (pvh__is_elf(p, n))
			pvh__load(fresh_vm(), p, n, "console=ttyS0", p, n < 4096 ? n : 4096);
		break;
	case 1:
		if (bzimage__is_bzimage(p, n))
			bzimage__load(fresh_vm(), p, n, "console=ttyS0", p, n < 4096 ? n : 4096);
		break;
	case 2: {
		struct sev_cert c;

		sev_cert__parse(p, n, &c);
		sev_cert__parse_pdh(p, n, &c);
		break;
	}
	case 3: {
		struct sev_amd_cert c;
		size_t used = 0;

		if (sev_amd_cert__parse(p, n, &c, &used) == 0 && used > n)
			abort();
		break;
	}
	case 4: {
		struct ipc_hdr h;

		if (n >= sizeof(h)) {
			memcpy(&h, p, sizeof(h));
			ipc__check_hdr(&h);
		}
		break;
	}
	}
	return 0;
}
