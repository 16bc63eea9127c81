/* Prints CPUID leaf 1 ECX/EDX and leaf 7 EBX so tests can check --cpuid-mask. */
#include "rt.h"

int main(void)
{
	u32 a, b, c, d, b7, c7, d7;

	cpuid(1, 0, &a, &b, &c, &d);
	cpuid(7, 0, &a, &b7, &c7, &d7);
	printf("leaf1 ecx=%x edx=%x apic=%u leaf7 ebx=%x\n", c, d, b >> 24, b7);
	return 0;
}
