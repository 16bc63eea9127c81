/*
 * lkvm list: every instance of this user with its pid, run state, vCPUs
 * and memory, as a table or (--json) one JSON array for scripts.
 * Instances that do not answer are listed as "not-responding" rather than
 * hidden; sockets left by crashed instances are removed by ipc__connect().
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lkvm/cmd.h"
#include "lkvm/ipc.h"
#include "lkvm/parse-options.h"

struct list_state {
	bool json;
	int count;
	FILE *out;	/* the whole listing, printed only if it completes */
};

static const char *state_name(int err, u32 state)
{
	if (err == -ENOENT)
		return NULL;			/* gone (stale socket removed) */
	if (err == -ESHUTDOWN)
		return "stopping";		/* it answered: "the instance is exiting" */
	if (err)
		return "not-responding";
	switch (state) {
	case IPC_STATE_RUNNING:		return "running";
	case IPC_STATE_PAUSED:		return "paused";
	case IPC_STATE_STOPPING:	return "stopping";
	case IPC_STATE_INCOMING:	return "incoming";
	case IPC_STATE_STARTING:	return "starting";
	case IPC_STATE_UNKNOWN:		return "paused-unknown";
	default:			return "unknown";
	}
}

static int list_one(const char *name, void *arg)
{
	struct list_state *ls = arg;
	struct ipc_info info;
	const char *state;
	char pid_s[16];
	u32 pid = 0;
	int ret;

	ret = ipc__instance_info(name, &info, 2000);
	state = state_name(ret, info.state);
	if (!state)
		return 0;
	/*
	 * An instance that did not answer has no figures to show: no zeros.
	 * Its pid, from its lock file, says which process to look at.
	 */
	if (ret && (pid = ipc__instance_pid(name)))
		snprintf(pid_s, sizeof(pid_s), "%u", pid);
	if (ls->json && ret)
		fprintf(ls->out, "%s\n  {\"name\": \"%s\", \"pid\": %s, \"state\": \"%s\", "
			"\"cpus\": null, \"mem_bytes\": null}", ls->count ? "," : "", name,
			pid ? pid_s : "null", state);
	else if (ls->json)
		fprintf(ls->out, "%s\n  {\"name\": \"%s\", \"pid\": %u, \"state\": \"%s\", "
			"\"cpus\": %u, \"mem_bytes\": %llu}",
			ls->count ? "," : "", name, info.pid, state, info.nr_cpus,
			(unsigned long long)info.ram_size);
	else if (ret)
		fprintf(ls->out, "%-24s %8s  %-14s %4s %9s\n", name, pid ? pid_s : "-", state,
			"-", "-");
	else
		fprintf(ls->out, "%-24s %8u  %-14s %4u %8lluM\n", name, info.pid, state,
			info.nr_cpus, (unsigned long long)(info.ram_size >> 20));
	ls->count++;
	return 0;
}

static int cmd_list(int argc, const char **argv)
{
	struct list_state ls = { 0 };
	const struct option opts[] = {
		OPT_BOOLEAN(0, "json", &ls.json, "machine-readable output (a JSON array)"),
		OPT_END(),
	};
	int ret = parse_options(argc, argv, opts, "lkvm list [--json]");
	char *text = NULL;
	size_t size = 0;

	if (ret == PARSE_HELP)
		return 0;
	if (ret) {
		if (ret > 0)
			fprintf(stderr, "lkvm list: error: unexpected argument '%s'\n", argv[0]);
		return 1;
	}
	/* Nothing on stdout unless the listing is whole: no "[]" before an error. */
	ls.out = open_memstream(&text, &size);
	if (!ls.out) {
		ipc__client_error(NULL, -ENOMEM, NULL);
		return 1;
	}
	if (ls.json)
		fprintf(ls.out, "[");
	else
		fprintf(ls.out, "%-24s %8s  %-14s %4s %9s\n", "NAME", "PID", "STATE", "CPUS",
			"MEM");
	ret = ipc__for_each_instance(list_one, &ls);
	if (ls.json)
		fprintf(ls.out, "%s]\n", ls.count ? "\n" : "");
	if (fclose(ls.out) && !ret)
		ret = -ENOMEM;
	if (ret < 0) {
		ipc__client_error(NULL, ret, NULL);
		free(text);
		return 1;
	}
	ret = fwrite(text, 1, size, stdout) != size || fflush(stdout) ? -errno : 0;
	free(text);
	if (ret)
		fprintf(stderr, "lkvm list: error: cannot write the list: %s\n", strerror(-ret));
	return ret ? 1 : 0;
}

static void list_usage(void)
{
	printf("usage: lkvm list [--json]\n\n"
	       "List your running instances (sockets in $LKVM_DIR or ~/.lkvm).\n");
}

LKVM_COMMAND("list", cmd_list, list_usage, "list running instances");
