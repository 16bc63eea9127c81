/*
 * lkvm debug: print the registers of every vCPU of a running instance
 * (the VMM pauses the vCPUs around the dump) and, with --page-map, its
 * shared/private page map.
 */
#include <stdio.h>

#include "lkvm/cmd.h"
#include "lkvm/ipc.h"
#include "lkvm/parse-options.h"

static int cmd_debug(int argc, const char **argv)
{
	const char *name = NULL;
	bool regs = false, page_map = false;
	const struct option opts[] = {
		OPT_STR('n', "name", &name, "<name>", "the instance (see 'lkvm list')"),
		OPT_BOOLEAN(0, "regs", &regs, "dump vCPU registers (the default)"),
		OPT_BOOLEAN(0, "page-map", &page_map, "dump the shared/private page map"),
		OPT_END(),
	};
	u32 flags;
	int ret;

	ret = parse_options(argc, argv, opts, "lkvm debug --name NAME [--regs] [--page-map]\n\n"
			    "Print the registers of every vCPU of instance NAME (paused around\n"
			    "the dump) and, with --page-map, its shared/private page map.\n"
			    "Exit status: 0 dumped, 1 an error (one line on stderr).");
	if (ret == PARSE_HELP)
		return 0;
	if (ret) {
		if (ret > 0)
			fprintf(stderr, "lkvm debug: error: unexpected argument '%s' (use --name)\n",
				argv[0]);
		return 1;
	}
	if (!name) {
		fprintf(stderr, "lkvm debug: error: --name NAME is required (see 'lkvm list')\n");
		return 1;
	}
	flags = (regs || !page_map ? IPC_DEBUG_REGS : 0) | (page_map ? IPC_DEBUG_PAGE_MAP : 0);

	return ipc__print_request(name, IPC_MSG_DEBUG, flags, "debug", NULL, 0);
}

LKVM_COMMAND("debug", cmd_debug, "dump vCPU registers of an instance");
