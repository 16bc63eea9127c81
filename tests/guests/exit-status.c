/* Exits with the status given as "status=N" on the command line. */
#include "rt.h"

int main(void)
{
	return (int)rt_cmdline_u64("status", 0);
}
