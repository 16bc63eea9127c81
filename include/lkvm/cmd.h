/*
 * The command table.  Each builtin-NAME.c registers itself with
 * LKVM_COMMAND(); main.c walks the linker section, so adding a command
 * touches one file.
 */
#ifndef LKVM__CMD_H
#define LKVM__CMD_H

struct lkvm_cmd {
	const char *name;
	const char *help;	/* one line for `lkvm help` */
	/* argv[0] is the command; `lkvm help NAME` runs it with --help. */
	int (*fn)(int argc, const char **argv);
};

#define LKVM_COMMAND(_name, _fn, _help)					\
	static const struct lkvm_cmd __lkvm_cmd_##_fn			\
	__attribute__((used, section("lkvm_cmds"), aligned(8))) = {	\
		.name = _name, .help = _help, .fn = _fn }

const struct lkvm_cmd *lkvm_cmd__find(const char *name);
void lkvm_cmd__help(void);

#endif
