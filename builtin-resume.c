/* lkvm resume: let the vCPUs of an instance paused by 'lkvm pause' run again. */
#include <stdio.h>

#include "lkvm/cmd.h"
#include "lkvm/ipc.h"

static void resume_usage(void)
{
	printf("usage: lkvm resume --name NAME | --all\n\n"
	       "Resume the instance NAME (or all of yours) after 'lkvm pause'.\n");
}

static int cmd_resume(int argc, const char **argv)
{
	return ipc__simple_command(argc, argv, IPC_MSG_RESUME, "resumed", false);
}

LKVM_COMMAND("resume", cmd_resume, resume_usage, "resume a paused instance");
