/* lkvm resume: let the vCPUs of an instance paused by 'lkvm pause' run again. */
#include <stdio.h>

#include "lkvm/cmd.h"
#include "lkvm/ipc.h"

static int cmd_resume(int argc, const char **argv)
{
	return ipc__simple_command(argc, argv, IPC_MSG_RESUME, "resumed", false,
				   "Resume the instance NAME (or all of yours) after 'lkvm pause'.\n"
				   "Resuming a running instance is not an error.");
}

LKVM_COMMAND("resume", cmd_resume, "resume a paused instance");
