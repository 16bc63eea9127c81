/*
 * libFuzzer target for the parsers of untrusted files and messages that
 * have no fuzzer of their own: kernel images (PVH ELF and bzImage loaders
 * on a 64 MiB memory-only VM), SEV certificates (SEV 0x824 format, AMD
 * ARK/ASK format), control-socket message headers, and the named fields
 * of the migrate request, progress and result and of migrate --set (read,
 * then written and read again: the same struct; a partial result, written
 * whole, reads back with every field reported).  The first input byte picks the parser; the
 * rest is the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lkvm/ipc.h"
#include "lkvm/ipc-fields.h"
#include "lkvm/kvm.h"
#include "lkvm/migration.h"
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

/* What was read is written back and reads the same. */
static void mig_fields(const uint8_t *p, size_t n)
{
	static uint8_t out[MIG_IPC_MSG_MAX];
	char why[256], unknown[IPCF_NAME_MAX + 1];
	struct mig_ipc_set st, st2;
	struct mig_ipc_req rq, rq2;
	struct mig_progress pr, pr2;
	struct mig_result rs, rs2;
	int k;

	if (!mig_ipc__decode_req(p, n, &rq, why, sizeof(why), unknown)) {
		k = mig_ipc__encode_req(&rq, out, sizeof(out));
		if (k < 0 || mig_ipc__decode_req(out, k, &rq2, why, sizeof(why), unknown) ||
		    memcmp(&rq, &rq2, sizeof(rq)))
			abort();
	}
	if (!mig_ipc__decode_progress(p, n, &pr, why, sizeof(why))) {
		k = mig_ipc__encode_progress(&pr, out, sizeof(out));
		/* The encoder sends every field: unreported ones come back as 0s. */
		if (k < 0 || mig_ipc__decode_progress(out, k, &pr2, why, sizeof(why)) ||
		    pr2.unreported)
			abort();
		pr2.unreported = pr.unreported;
		if (memcmp(&pr, &pr2, sizeof(pr)))
			abort();
	}
	if (!mig_ipc__decode_result(p, n, &rs, why, sizeof(why))) {
		k = mig_ipc__encode_result(&rs, out, sizeof(out));
		if (k < 0 || mig_ipc__decode_result(out, k, &rs2, why, sizeof(why)) ||
		    rs2.unreported)
			abort();
		rs2.unreported = rs.unreported;
		if (memcmp(&rs, &rs2, sizeof(rs)))
			abort();
	}
	if (!mig_ipc__decode_set(p, n, &st, why, sizeof(why), unknown)) {
		k = mig_ipc__encode_set(&st, out, sizeof(out));
		if (k < 0 || mig_ipc__decode_set(out, k, &st2, why, sizeof(why), unknown) ||
		    memcmp(&st, &st2, sizeof(st)))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1;
	size_t n = size ? size - 1 : 0;

	if (!size)
		return 0;
	switch (data[0] % 6) {
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
	case 5:
		mig_fields(p, n);
		break;
	}
	return 0;
}
