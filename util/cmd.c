/* Lookup in the command table that builtin-*.c files fill via LKVM_COMMAND. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lkvm/cmd.h"

extern const struct lkvm_cmd __start_lkvm_cmds[] __attribute__((weak));
extern const struct lkvm_cmd __stop_lkvm_cmds[] __attribute__((weak));

const struct lkvm_cmd *lkvm_cmd__find(const char *name)
{
	const struct lkvm_cmd *c;

	for (c = __start_lkvm_cmds; c && c < __stop_lkvm_cmds; c++)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

static int cmp_cmd(const void *a, const void *b)
{
	return strcmp((*(const struct lkvm_cmd *const *)a)->name,
		      (*(const struct lkvm_cmd *const *)b)->name);
}

void lkvm_cmd__help(void)
{
	const struct lkvm_cmd *c, *sorted[64];
	size_t n = 0, i;

	for (c = __start_lkvm_cmds; c && c < __stop_lkvm_cmds && n < 64; c++)
		sorted[n++] = c;
	qsort(sorted, n, sizeof(sorted[0]), cmp_cmd);
	printf("usage: lkvm [--debug] COMMAND [ARGS]\n"
	       "   or: lkvm help [COMMAND]\n"
	       "   or: lkvm --version\n\nCommands:\n");
	for (i = 0; i < n; i++)
		printf("   %-10s %s\n", sorted[i]->name, sorted[i]->help);
	printf("\nSee 'lkvm help COMMAND' (or 'lkvm COMMAND --help') for a command's options\n"
	       "and exit status.\n");
}
