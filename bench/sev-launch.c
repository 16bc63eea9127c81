/*
 * LAUNCH_UPDATE_DATA throughput of the SEV firmware model, through the
 * same struct sev_fw interface lkvm run uses:
 *   - one call over the whole image (what sev__launch does for a kernel);
 *   - 4 KiB calls (per-call overhead: locking, range check, digest update);
 * and, for scale, plain SHA-256 over the same bytes (the model's floor).
 *   bench/sev-launch [MiB]      (default 256)
 * A temporary state directory is used and removed.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lkvm/sev.h"

static double mibs(u64 bytes, u64 ns)
{
	return ns ? (double)bytes / (1 << 20) / ((double)ns / 1e9) : 0;
}

static int launch(struct sev_fw *fw, u8 *img, u64 size, u64 chunk, u64 *ns)
{
	struct kvm_sev_launch_start s = { .policy = 0 };
	struct kvm_sev_launch_measure m = { 0 };
	u8 blob[SEV_MEASURE_BLOB_SIZE];
	u64 off, t0;
	u32 err;
	int ret;

	ret = sev_fw__guest(fw, KVM_SEV_LAUNCH_START, &s, &err);
	if (ret)
		return ret;
	t0 = now_ns();
	for (off = 0; off < size; off += chunk) {
		struct kvm_sev_launch_update_data u = {
			.uaddr = (u64)(unsigned long)(img + off), .len = (u32)min(chunk, size - off) };

		ret = sev_fw__guest(fw, KVM_SEV_LAUNCH_UPDATE_DATA, &u, &err);
		if (ret)
			return ret;
	}
	*ns = now_ns() - t0;
	m.uaddr = (u64)(unsigned long)blob;
	m.len = sizeof(blob);
	ret = sev_fw__guest(fw, KVM_SEV_LAUNCH_MEASURE, &m, &err);
	return ret ?: sev_model__decommission(fw, &err);
}

int main(int argc, char **argv)
{
	u64 mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 256, size = mib << 20, ns1, ns4, nsh;
	char dir[] = "/tmp/lkvm-sev-bench.XXXXXX", state[64], cmd[96];
	struct sev_model_paths p = { .state_dir = state };
	unsigned char md[32];
	unsigned int mdlen;
	struct sev_fw *fw;
	EVP_MD_CTX *ctx;
	u8 *img;
	u64 i, t0;

	if (!mib || mib > 4096 || !mkdtemp(dir)) {
		fprintf(stderr, "usage: sev-launch [MiB 1..4096]\n");
		return 1;
	}
	snprintf(state, sizeof(state), "%s/platform", dir);
	img = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (img == MAP_FAILED)
		return 1;
	for (i = 0; i < size; i += 8)
		*(u64 *)(img + i) = i * 0x9e3779b97f4a7c15ULL;
	if (sev_fw__open(&fw, SEV_MODE_EMULATED, &p) || sev_fw__vm_init(fw, -1) ||
	    sev_fw__reg_region(fw, (u64)(unsigned long)img, size))
		return 1;
	/* The first pass warms caches and TLBs; the figures are from the second. */
	if (launch(fw, img, size, size, &ns1) || launch(fw, img, size, size, &ns1) ||
	    launch(fw, img, size, PAGE_SIZE, &ns4)) {
		fprintf(stderr, "sev-launch: model launch failed\n");
		return 1;
	}
	ctx = EVP_MD_CTX_new();
	t0 = now_ns();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, img, size);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	nsh = now_ns() - t0;
	EVP_MD_CTX_free(ctx);

	printf("sev-launch: model LAUNCH_UPDATE_DATA, %llu MiB image\n", (unsigned long long)mib);
	printf("  one call:        %8.1f ms  %8.1f MiB/s\n", ns1 / 1e6, mibs(size, ns1));
	printf("  4 KiB calls:     %8.1f ms  %8.1f MiB/s  (%llu calls, %.2f us/call)\n", ns4 / 1e6,
	       mibs(size, ns4), (unsigned long long)(size / PAGE_SIZE),
	       ns4 / 1e3 / (double)(size / PAGE_SIZE));
	printf("  SHA-256 alone:   %8.1f ms  %8.1f MiB/s\n", nsh / 1e6, mibs(size, nsh));
	sev_fw__close(fw);
	munmap(img, size);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? 1 : 0;
}
