/*
 * Page map figures (`make bench`, not part of `make check`):
 *  - MAP_GPA_RANGE updates per second through the real exit handler
 *    (kvm_run records as KVM fills them), single 4 KiB pages at random;
 *  - time to flip a 1 GiB range shared and back (one request each);
 *  - time to walk a fragmented map of 1 M shared runs (next_run over the
 *    whole map, the dump, a harvest of the changed bitmap).
 * The map never touches guest memory, so the guest size only sets the
 * bitmap size: default 8 GiB, the least that holds 1 M separate runs.
 *
 *   pagemap-bench [GUEST_GiB]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>
#include <linux/kvm_para.h>

#include "lkvm/kvm-uapi.h"
#include "lkvm/kvm.h"
#include "lkvm/page-map.h"
#include "lkvm/pv-page-map.h"

#define GiB (1ULL << 30)

static double secs(u64 t0)
{
	return (now_ns() - t0) / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	u64 gib = argc > 1 ? strtoull(argv[1], NULL, 0) : 8;
	struct kvm kvm = { 0 };
	struct kvm_run *run = calloc(1, 4096);
	u64 nr_pages, t0, n, runs, pos, start, len, *changed;
	unsigned seed = 1;
	double t;
	FILE *null;

	if (gib < 2 || gib > 1024) {
		fprintf(stderr, "usage: pagemap-bench [GUEST_GiB 2..1024]\n");
		return 2;
	}
	/* The usual x86 layout: 3 GiB below the PCI hole, the rest above 4 GiB. */
	kvm.mem_banks[0] = (struct kvm_mem_bank){ .guest_phys_addr = 0,
		.size = 3 * GiB, .page_base = 0 };
	kvm.mem_banks[1] = (struct kvm_mem_bank){ .guest_phys_addr = 4 * GiB,
		.size = (gib - 3) * GiB, .page_base = (3 * GiB) >> 12 };
	kvm.nr_mem_banks = gib > 3 ? 2 : 1;
	if (gib <= 3)
		kvm.mem_banks[0].size = gib * GiB;
	kvm.cfg.sev_mode = SEV_MODE_EMULATED;
	if (page_map__create(&kvm) || !run) {
		fprintf(stderr, "pagemap-bench: out of memory\n");
		return 1;
	}
	nr_pages = page_map__nr_pages(kvm.page_map);
	printf("page map bench: guest memory %llu GiB (%llu pages, bitmap %llu KiB)\n",
	       (unsigned long long)gib, (unsigned long long)nr_pages,
	       (unsigned long long)(nr_pages / 8 / 1024));

	/* 1. Updates per second through the exit handler. */
	n = 2000000;
	t0 = now_ns();
	for (u64 i = 0; i < n; i++) {
		u64 page = rand_r(&seed) % (3 * GiB >> 12);

		run->exit_reason = KVM_EXIT_HYPERCALL;
		run->hypercall.nr = KVM_HC_MAP_GPA_RANGE;
		run->hypercall.args[0] = page << 12;
		run->hypercall.args[1] = 1;
		run->hypercall.args[2] = (i & 1) ? KVM_MAP_GPA_RANGE_ENCRYPTED : 0;
		run->hypercall.longmode = 1;
		hypercall__handle_exit(&kvm, run);
		if (run->hypercall.ret) {
			fprintf(stderr, "pagemap-bench: handler refused a valid request\n");
			return 1;
		}
	}
	t = secs(t0);
	printf("  handler updates (random 4 KiB pages): %.2f M/s (%.0f ns each)\n",
	       n / t / 1e6, t / n * 1e9);

	/* 2. Flip 1 GiB shared and back, one request each; median of 101 (shared machine). */
	page_map__reset(kvm.page_map);
	{
		double up[101], down[101];
		int k = ARRAY_SIZE(up);

		for (int i = 0; i < k; i++) {
			t0 = now_ns();
			if (hypercall__map_gpa_range(kvm.page_map, 1 * GiB, GiB >> 12, 0))
				return 1;
			up[i] = secs(t0);
			t0 = now_ns();
			if (hypercall__map_gpa_range(kvm.page_map, 1 * GiB, GiB >> 12,
						     KVM_MAP_GPA_RANGE_ENCRYPTED))
				return 1;
			down[i] = secs(t0);
		}
		qsort(up, k, sizeof(up[0]), cmp_double);
		qsort(down, k, sizeof(down[0]), cmp_double);
		printf("  flip 1 GiB range (median of %d): to shared %.1f us, back to private %.1f us\n",
		       k, up[k / 2] * 1e6, down[k / 2] * 1e6);
	}

	/* 3. Fragmented map: every other page shared, 1 M runs. */
	page_map__reset(kvm.page_map);
	for (u64 p = 0; p < 2 * (1ULL << 20) && p < nr_pages; p += 2)
		page_map__set_shared(kvm.page_map, p, 1);
	t0 = now_ns();
	for (runs = 0, pos = 0; page_map__next_run(kvm.page_map, pos, true, &start, &len);
	     runs++)
		pos = start + len;
	t = secs(t0);
	printf("  walk %llu shared runs (next_run): %.1f ms (%.0f ns per run)\n",
	       (unsigned long long)runs, t * 1e3, t / runs * 1e9);

	null = fopen("/dev/null", "w");
	t0 = now_ns();
	page_map__dump(kvm.page_map, null);
	fclose(null);
	printf("  dump of the same map (merged ranges): %.1f ms\n", secs(t0) * 1e3);

	changed = calloc(page_map__nr_words(kvm.page_map), 8);
	t0 = now_ns();
	n = page_map__harvest_changed(kvm.page_map, changed);
	printf("  harvest changed bitmap (%llu pages flagged): %.2f ms\n",
	       (unsigned long long)n, secs(t0) * 1e3);

	free(changed);
	free(run);
	page_map__free(kvm.page_map);
	return 0;
}
