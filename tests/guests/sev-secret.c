/*
 * SEV launch-secret test guest: reports what CPUID 0x8000001F says and an
 * FNV-1a hash of the secret the host injected with LAUNCH_SECRET at
 * secret_gpa=ADDR (secret_len=N bytes, from the command line).
 */
#include "rt.h"

int main(void)
{
	u64 gpa = rt_cmdline_u64("secret_gpa", 0), len = rt_cmdline_u64("secret_len", 0);
	u64 h = 0xcbf29ce484222325UL, i;
	u32 a, b, c, d;

	cpuid(0x80000000, 0, &a, &b, &c, &d);
	if (a >= 0x8000001f) {
		cpuid(0x8000001f, 0, &a, &b, &c, &d);
		printf("sev cpuid eax %x cbit %u\n", a, b & 0x3f);
	} else {
		printf("sev cpuid none\n");
	}
	if (!gpa || !len || len > 0x5000) {
		printf("no secret_gpa/secret_len\n");
		return 1;
	}
	for (i = 0; i < len; i++) {
		h ^= ((const volatile u8 *)gpa)[i];
		h *= 0x100000001b3UL;
	}
	printf("secret fnv1a %lx len %lu\n", h, len);
	return 0;
}
