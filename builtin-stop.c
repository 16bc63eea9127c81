/*
 * lkvm stop: ask a running instance to shut its guest down, as a guest
 * poweroff would (the VMM exits 0), and wait until it is gone.
 */
#include <stdio.h>

#include "lkvm/cmd.h"
#include "lkvm/ipc.h"

static int cmd_stop(int argc, const char **argv)
{
	return ipc__simple_command(argc, argv, IPC_MSG_STOP, "stopped", true,
				   "Stop the instance NAME (or all of yours) and wait for it to exit.");
}

LKVM_COMMAND("stop", cmd_stop, "stop a running instance");
