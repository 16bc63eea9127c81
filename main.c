/* lkvm entry: pick the command from the table and run it. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lkvm/cmd.h"
#include "lkvm/parse-options.h"
#include "lkvm/util.h"

/*
 * Started with 0, 1 or 2 closed (a daemon's "<&- >&- 2>&-"), the next open
 * would take that number: /dev/kvm as stdin, a disk image as stderr, and
 * every log line would then be written into the guest's disk.
 */
static void reserve_std_fds(void)
{
	int fd;

	do {
		fd = open("/dev/null", O_RDWR);
	} while (fd >= 0 && fd <= 2);
	if (fd > 2)
		close(fd);
}

/*
 * What a command printed on stdout must have arrived: `lkvm migrate --json
 * >out.json` on a full disk must not exit 0 with the object lost.  Only a
 * success is turned into a failure; a command's own error stands.
 */
static int stdout_written(int ret)
{
	bool in_cmd = strcmp(parse_options_cmd, "lkvm");
	int err = fflush(stdout) ? errno : 0;

	if (ret || (!err && !ferror(stdout)))
		return ret;
	fprintf(stderr, "lkvm%s%s: error: cannot write to stdout%s%s\n", in_cmd ? " " : "",
		in_cmd ? parse_options_cmd : "", err ? ": " : "", err ? strerror(err) : "");
	return 1;
}

static int run_main(int argc, const char **argv);

int main(int argc, const char **argv)
{
	return stdout_written(run_main(argc, argv));
}

static int run_main(int argc, const char **argv)
{
	const struct lkvm_cmd *cmd;
	const char *env;

	reserve_std_fds();
	env = getenv("LKVM_DEBUG");

	if (env && *env && strcmp(env, "0"))
		lkvm_verbose = 1;
	argc--, argv++;
	while (argc && !strcmp(argv[0], "--debug")) {
		lkvm_verbose = 1;
		argc--, argv++;
	}
	if (!argc || !strcmp(argv[0], "help") || !strcmp(argv[0], "--help") ||
	    !strcmp(argv[0], "-h")) {
		cmd = argc > 1 ? lkvm_cmd__find(argv[1]) : NULL;
		/* Help with one command (and one of its subcommands) at a time. */
		if (argc > 3 || (argc > 2 && cmd && !cmd->subcommands)) {
			if (argc > 3)
				fprintf(stderr, "lkvm: error: unexpected argument '%s' (lkvm help "
					"[COMMAND [SUBCOMMAND]])\n", argv[3]);
			else
				fprintf(stderr, "lkvm: error: unexpected argument '%s' (lkvm help "
					"COMMAND: %s has no subcommands)\n", argv[2], cmd->name);
			return 1;
		}
		/*
		 * The command's own --help: one text, whichever way it is asked
		 * for; "lkvm help sev measure" is "lkvm sev measure --help".
		 */
		if (cmd) {
			const char *help_argv[] = { cmd->name, "--help", NULL, NULL };

			if (argc > 2) {
				help_argv[1] = argv[2];
				help_argv[2] = "--help";
			}
			parse_options_cmd = cmd->name;
			return cmd->fn(argc > 2 ? 3 : 2, help_argv);
		}
		if (argc > 1) {
			fprintf(stderr, "lkvm: error: no command '%s' to help with (see 'lkvm help')\n",
				argv[1]);
			return 1;
		}
		lkvm_cmd__help();
		if (argc)
			return 0;
		/* The list is the help; the error is for a script's stderr. */
		fprintf(stderr, "lkvm: error: no command given (see the list above)\n");
		return 1;
	}
	if (!strcmp(argv[0], "--version") || !strcmp(argv[0], "version")) {
		if (argc > 1) {
			fprintf(stderr, "lkvm: error: unexpected argument '%s' after %s\n",
				argv[1], argv[0]);
			return 1;
		}
		printf("lkvm %s\n", LKVM_VERSION);
		return 0;
	}
	cmd = lkvm_cmd__find(argv[0]);
	if (!cmd && argv[0][0] == '-') {
		fprintf(stderr, "lkvm: error: unknown option '%s' (before the command only --debug, --help and --version; see 'lkvm help')\n",
			argv[0]);
		return 1;
	}
	if (!cmd) {
		fprintf(stderr, "lkvm: error: unknown command '%s' (see 'lkvm help')\n", argv[0]);
		return 1;
	}
	parse_options_cmd = cmd->name;
	return cmd->fn(argc, argv);
}
