/*
 * lkvm list: every instance of this user with its pid, run state, vCPUs
 * and memory, as a table or (--json) one JSON array for scripts.
 * Instances that do not answer are listed as "not-responding" rather than
 * hidden; sockets left by crashed instances are removed by ipc__connect().
 */
#include <errno.h>
#include <limits.h>
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

/* NULL for a state this build does not know (a newer VMM's). */
static const char *state_name(u32 state)
{
	switch (state) {
	case IPC_STATE_RUNNING:		return "running";
	case IPC_STATE_PAUSED:		return "paused";
	case IPC_STATE_STOPPING:	return "stopping";
	case IPC_STATE_INCOMING:	return "incoming";
	case IPC_STATE_STARTING:	return "starting";
	case IPC_STATE_UNKNOWN:		return "paused-unknown";
	default:			return NULL;
	}
}

static int list_one(const char *name, void *arg)
{
	struct list_state *ls = arg;
	struct ipc_info info;
	char pid_s[16], state_s[24], msg[512], why[2 * PATH_MAX + 1024];
	const char *state;
	u32 pid = 0;
	int ret;

	ret = ipc__instance_info(name, &info, 2000, msg, sizeof(msg));
	if (ret == -ENOENT)
		return 0;			/* gone (stale socket removed) */
	/*
	 * Another lkvm build, or a broken VMM: listed all the same, and one
	 * line says which process and binary answered (docs/ipc.md).
	 */
	if (ipc__other_build(name, ret, msg, "list", why, sizeof(why))) {
		fprintf(stderr, "lkvm list: warning: %s\n", why);
		state = "unreadable";
	} else if (ret == -ESHUTDOWN) {
		state = "stopping";		/* it answered: "the instance is exiting" */
	} else if (ret) {
		state = "not-responding";
	} else if (!(state = state_name(info.state))) {
		snprintf(state_s, sizeof(state_s), "state-%u", info.state);
		state = state_s;
		snprintf(msg, sizeof(msg), "reports state %u, which this lkvm does not know: it "
			 "runs another lkvm build", info.state);
		ipc__other_build_why(name, msg, "list", why, sizeof(why));
		fprintf(stderr, "lkvm list: warning: %s\n", why);
	}
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
	int ret = parse_options(argc, argv, opts, "lkvm list [--json]\n\n"
				"List your running instances (sockets in $LKVM_DIR or ~/.lkvm).\n"
				"Exit status: 0 listed (also none), 1 an error (nothing on stdout).");
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

LKVM_COMMAND("list", cmd_list, "list running instances");
