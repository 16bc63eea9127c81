/* Prints a greeting and powers off: the smallest useful guest. */
#include "rt.h"

int main(void)
{
	puts("Hello from an lkvm guest!");
	return 0;
}
