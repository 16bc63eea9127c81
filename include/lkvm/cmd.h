/*
 * The command table.  Each builtin-NAME.c registers itself with
 * LKVM_COMMAND(); main.c walks the linker section, so adding a command
 * touches one file.
 */
#ifndef LKVM__CMD_H
#define LKVM__CMD_H

#include <stdbool.h>

struct lkvm_cmd {
	const char *name;
	const char *help;	/* one line for `lkvm help` */
	/* argv[0] is the command; `lkvm help NAME` runs it with --help. */
	int (*fn)(int argc, const char **argv);
	/* argv[1] names a subcommand: `lkvm help NAME SUB` is `NAME SUB --help`. */
	bool subcommands;
};

#define LKVM_COMMAND_(_name, _fn, _help, _subs)				\
	static const struct lkvm_cmd __lkvm_cmd_##_fn			\
	__attribute__((used, section("lkvm_cmds"), aligned(8))) = {	\
		.name = _name, .help = _help, .fn = _fn, .subcommands = _subs }
#define LKVM_COMMAND(_name, _fn, _help)		LKVM_COMMAND_(_name, _fn, _help, false)
#define LKVM_COMMAND_SUBS(_name, _fn, _help)	LKVM_COMMAND_(_name, _fn, _help, true)

const struct lkvm_cmd *lkvm_cmd__find(const char *name);
void lkvm_cmd__help(void);

#endif
