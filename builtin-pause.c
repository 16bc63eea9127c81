/*
 * lkvm pause: park every vCPU of a running instance out of KVM_RUN.  The
 * answer comes only once they are all parked, so a script can rely on the
 * guest making no progress after this returns.
 */
#include <stdio.h>

#include "lkvm/cmd.h"
#include "lkvm/ipc.h"

static int cmd_pause(int argc, const char **argv)
{
	return ipc__simple_command(argc, argv, IPC_MSG_PAUSE, "paused", false,
				   "Pause the instance NAME (or all of yours); 'lkvm resume' undoes it.\n"
				   "Pausing a paused instance is not an error.");
}

LKVM_COMMAND("pause", cmd_pause, "pause the vCPUs of an instance");
