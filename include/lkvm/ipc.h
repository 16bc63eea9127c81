/*
 * The control socket: one unix stream socket per running instance,
 * $LKVM_DIR/NAME.sock (default ~/.lkvm/NAME.sock), through which `lkvm list`,
 * `stop`, `pause`, `resume`, `debug` and `migrate` talk to the VMM.
 *
 * Wire format (docs/ipc.md): every message is a 16-byte header followed by
 * `len` payload bytes, all fields in host byte order (both ends are on the
 * same host).  A request is answered by zero or more IPC_MSG_DATA /
 * IPC_MSG_PROGRESS messages and then exactly one IPC_MSG_REPLY carrying the
 * status (0 or -errno) and an optional one-line text.  A bad header (magic,
 * version, length) gets an error reply and the connection is closed; an
 * unknown type gets -EOPNOTSUPP and the connection stays usable.
 *
 * Modules add request types in their own files (a file that nothing else
 * references is still linked into lkvm, but a unit test that wants its
 * handler must call ipc__register_handler() itself):
 *
 *	static int migrate_cmd(struct kvm *kvm, int fd, const void *p, u32 len)
 *	{
 *		...check len and p, they come from a client (named
 *		   fields, lkvm/ipc-fields.h, when another build may send them)...
 *		ipc__send(fd, IPC_MSG_PROGRESS, buf, n);	// any number
 *		return 0;		// or -errno: becomes the final REPLY
 *	}
 *	ipc_guest_handler(IPC_MSG_MIGRATE, migrate_cmd);	// needs the guest
 *
 * A handler runs on the connection's own thread, never on a vCPU thread and
 * never while holding an IPC lock, so it may block (a migration takes
 * seconds) without stalling the guest or other clients.  To reply with a
 * text (shown by the client), call ipc__reply() and return IPC_REPLIED.
 */
#ifndef LKVM__IPC_H
#define LKVM__IPC_H

#include <stdio.h>

#include "lkvm/util.h"

#define IPC_MAGIC		0x4d564b4cU	/* "LKVM" in memory on x86 */
#define IPC_VERSION		1
#define IPC_MAX_PAYLOAD		(64 * 1024)	/* larger output goes in several DATA messages */
#define IPC_NAME_MAX		64		/* longest instance name, without ".sock" */
#define IPC_TIMEOUT_MS		5000		/* a message must arrive / leave within this */

/* The timeout in use (IPC_TIMEOUT_MS; tests lower it to run fast). */
extern int ipc_timeout_ms;

struct ipc_hdr {
	u32 magic;		/* IPC_MAGIC */
	u16 version;		/* IPC_VERSION */
	u16 flags;		/* 0; receivers reject anything else */
	u32 type;		/* enum ipc_msg_type */
	u32 len;		/* payload bytes after the header, <= IPC_MAX_PAYLOAD */
} __packed;

/* Stable numbers: never reuse one.  Requests < 0x8000, answers >= 0x8000. */
enum ipc_msg_type {
	IPC_MSG_INFO	= 0x01,	/* -> DATA(struct ipc_info), REPLY */
	IPC_MSG_STOP	= 0x02,	/* -> REPLY; the VMM then exits with status 0 */
	IPC_MSG_PAUSE	= 0x03,	/* -> REPLY once every vCPU is parked */
	IPC_MSG_RESUME	= 0x04,	/* -> REPLY */
	IPC_MSG_DEBUG	= 0x05,	/* payload u32 IPC_DEBUG_* flags -> DATA(text)..., REPLY */
	IPC_MSG_MIGRATE_OLD = 0x10,	/* retired (a raw struct): answered -EPROTONOSUPPORT */
	IPC_MSG_MIGRATE_CANCEL = 0x11,	/* migration/: -> REPLY */
	IPC_MSG_MIGRATE_STATUS = 0x12,	/* migration/: u32 flags (1 = JSON) -> DATA(text), REPLY */
	IPC_MSG_MIGRATE_SET_OLD = 0x13,	/* retired (a raw struct): answered -EPROTONOSUPPORT */
	IPC_MSG_MIGRATE	= 0x14,	/* migration/: named fields -> PROGRESS..., DATA, REPLY */
	IPC_MSG_MIGRATE_SET = 0x15,	/* migration/: named fields -> REPLY */
	IPC_MSG_FIRST_FREE = 0x20,	/* further modules take numbers from here */

	IPC_MSG_REPLY	 = 0x8000,	/* struct ipc_reply + optional text; ends a request */
	IPC_MSG_DATA	 = 0x8001,	/* request-specific bytes (text for DEBUG) */
	IPC_MSG_PROGRESS = 0x8002,	/* request-specific progress record */
};

#define IPC_DEBUG_REGS		(1U << 0)	/* kvm_cpu__dump() of every vCPU */
#define IPC_DEBUG_PAGE_MAP	(1U << 1)	/* page_map__dump() */

struct ipc_reply {
	s32 status;		/* 0 or -errno */
	u32 reserved;		/* 0 */
	/* followed by len - 8 bytes of text, no NUL */
} __packed;

enum ipc_vm_state {
	IPC_STATE_RUNNING = 1,
	IPC_STATE_PAUSED = 2,
	IPC_STATE_STOPPING = 3,
	IPC_STATE_INCOMING = 4,		/* waiting for / receiving a migrated guest */
	IPC_STATE_STARTING = 5,		/* before the first instruction (SEV launch) */
	IPC_STATE_UNKNOWN = 6,		/* paused after a migration whose outcome is unknown */
};

/*
 * INFO's DATA.  Fixed for good (88 bytes): a newer build only appends
 * fields after name[], and every build reads the prefix it knows and
 * ignores the rest, so that lkvm list works across an upgrade
 * (docs/ipc.md, "Other lkvm builds").  reserved stays 0 and is not read.
 */
struct ipc_info {
	u32 pid;
	u32 state;		/* enum ipc_vm_state */
	u32 nr_cpus;
	u32 reserved;
	u64 ram_size;		/* bytes */
	char name[IPC_NAME_MAX];	/* NUL-padded; no NUL when 64 long */
} __packed;

/* ---- VMM side ---------------------------------------------------------- */

struct kvm;

/* Return 0 / -errno (sent as the REPLY), or IPC_REPLIED after ipc__reply(). */
typedef int (*ipc_handler_fn)(struct kvm *kvm, int fd, const void *payload, u32 len);
#define IPC_REPLIED	1

int ipc__register_handler(u32 type, ipc_handler_fn fn);
/* One that needs the guest: while --incoming still waits for it, the server
 * answers -EAGAIN "the guest has not arrived yet" without calling fn. */
int ipc__register_guest_handler(u32 type, ipc_handler_fn fn);
#define ipc_handler(_type, _fn)						\
	static void __attribute__((constructor)) __ipc_reg_##_fn(void)	\
	{ ipc__register_handler(_type, _fn); }
#define ipc_guest_handler(_type, _fn)					\
	static void __attribute__((constructor)) __ipc_reg_##_fn(void)	\
	{ ipc__register_guest_handler(_type, _fn); }

/* Send one message (len <= IPC_MAX_PAYLOAD) with a send timeout; 0 or -errno. */
int ipc__send(int fd, u32 type, const void *payload, u32 len);
/* Text as DATA messages, split at IPC_MAX_PAYLOAD. */
int ipc__send_data(int fd, const void *buf, size_t len);
/* The final REPLY with status and a printf-style one-line text. */
int ipc__reply(int fd, int status, const char *fmt, ...) __printf(3, 4);
/* The same, one non-blocking attempt (for refusing a client). */
int ipc__reply_nowait(int fd, int status, const char *fmt, ...) __printf(3, 4);

/*
 * Bind NAME.sock (kvm->cfg.name, default "guest-<pid>") and start the
 * accept thread.  Registered as the RUN_HOOK_IPC run hook (start) and with
 * late_init() (stop, from kvm__exit_all()), so `lkvm run` needs no call.
 */
int kvm_ipc__check(const char *name);	/* before set-up: what start would refuse */
int kvm_ipc__start(struct kvm *kvm);
int kvm_ipc__stop(struct kvm *kvm);	/* close, unlink, end connections */
const char *kvm_ipc__name(void);	/* this instance's name, once started */

/*
 * `lkvm pause` state across a migration (ipc-cmds.c).  The source holds it
 * from END on: hold returns whether the user paused the guest (the
 * destination keeps it paused) and makes PAUSE/RESUME answer -EBUSY until
 * release (the migration failed; after a commit the VMM exits).  The
 * destination calls pause_as_user() before its vCPUs start, so that
 * `lkvm resume` there is what starts the guest.
 */
bool kvm_ipc__hold_run_state(void);
bool kvm_ipc__user_paused(void);	/* paused by `lkvm pause` now */
void kvm_ipc__release_run_state(void);
/*
 * The migration that held the run state ended with its outcome unknown:
 * the state stays held (pause refused, another migrate refused) until
 * `lkvm resume` calls @resume (under the state lock) and lets go; when
 * @resume fails (the destination holds the disks), why goes back to the
 * user and the state stays held.
 */
void kvm_ipc__hold_unknown(int (*resume)(struct kvm *kvm, char *why, size_t n));
bool kvm_ipc__outcome_unknown(void);
/* STOP / RESUME payload (optional u32): sent by --all, which must not settle
 * an unknown migration outcome for the user. */
#define IPC_FLAG_ALL		1u

#define IPC_UNKNOWN_MSG	"the last migration's outcome is unknown and the guest is paused " \
			"here: 'lkvm resume' if the destination does not run it, " \
			"'lkvm stop' if it does"
int kvm_ipc__pause_as_user(struct kvm *kvm);

/* INFO, STOP, PAUSE, RESUME, DEBUG (ipc-cmds.c); ipc.c registers them. */
void ipc_cmds__register(void);

/* Serve one connected client until EOF or error (exported for unit tests). */
void ipc__serve(struct kvm *kvm, int fd);
/* The client closed its end: it no longer waits for this answer. */
bool ipc__client_gone(int fd);

/* ---- shared by both sides ---------------------------------------------- */

/* 0 if hdr is well-formed (magic, version, flags, len), else -errno. */
int ipc__check_hdr(const struct ipc_hdr *hdr);
void ipc__fill_hdr(struct ipc_hdr *hdr, u32 type, u32 len);
/* now + timeout_ms as a now_ns() deadline; 0 (none) for timeout_ms < 0. */
u64 ipc__deadline(int timeout_ms);
/*
 * Receive exactly len bytes before deadline: 0, -ETIMEDOUT, -EPIPE on EOF
 * (got, if not NULL, says how many bytes came first), or -errno.
 */
int ipc__recv(int fd, void *buf, size_t len, u64 deadline, size_t *got);
/* Names: 1..IPC_NAME_MAX chars of [A-Za-z0-9._-], not starting with '.' or '-'. */
bool ipc__valid_name(const char *name);
/*
 * The socket directory ($LKVM_DIR or ~/.lkvm) into buf.  With create, make
 * it 0700 if missing.  An existing directory must be a real directory owned
 * by us with no group/other access: -ENOTDIR / -EACCES otherwise, with the
 * reason as one line in why (may be NULL).
 */
int ipc__dir(char *buf, size_t len, bool create, char *why, size_t why_len);

/* ---- client side (builtin-*.c) ----------------------------------------- */

/* Connect to instance NAME; -ENOENT no such instance, -EACCES, -ECONNREFUSED (dead). */
int ipc__connect(const char *name);
/*
 * Send one request and read the answer.  DATA/PROGRESS messages go to
 * on_data (may be NULL: dropped; a negative return aborts with it); the
 * REPLY text goes to msg (NUL-ended, may be NULL).  timeout_ms bounds the
 * wait for each message (0: ipc_timeout_ms, -1: forever), so a long request
 * such as a migration should send PROGRESS more often than that.  With -1
 * the VMM must still read the request within ipc_timeout_ms (-ETIMEDOUT,
 * msg "instance not responding within N s; the request is withdrawn").
 * Returns the REPLY status (0 or the VMM's -errno), or -errno for a
 * transport failure (-ETIMEDOUT: instance not responding).
 */
typedef int (*ipc_data_fn)(u32 type, const void *p, u32 len, void *arg);
int ipc__request(int fd, u32 type, const void *payload, u32 len, int timeout_ms,
		 ipc_data_fn on_data, void *arg, char *msg, size_t msg_len);
/* True while the instance NAME is alive (its lock is held). */
bool ipc__instance_alive(const char *name);
/* The pid a live instance wrote into NAME.lock (0: unknown), for one that
 * does not answer. */
u32 ipc__instance_pid(const char *name);
/*
 * IPC_MSG_INFO of NAME: 0, or -ENOENT (gone), -ETIMEDOUT, -EBADMSG (an
 * answer this build cannot read), ...; the REPLY text into msg (may be NULL).
 * A newer VMM's longer struct is read as far as this build knows it.
 */
int ipc__instance_info(const char *name, struct ipc_info *info, int timeout_ms, char *msg,
			size_t msg_len);
/*
 * The pid of NAME's VMM (0: unknown, from its lock file), the binary it
 * runs into exe ("": unknown; made fit for a terminal, " (deleted)" when an
 * upgrade replaced the file) and what runs that binary into run (exe, or
 * /proc/PID/exe once replaced: the old binary while the VMM lives).
 */
u32 ipc__instance_exe(const char *name, char *exe, size_t n, char *run, size_t run_n);
/* "its VMM (pid P, /usr/bin/lkvm)"; the binary to run into run ("": unknown). */
void ipc__vmm_desc(const char *name, char *buf, size_t n, char *run, size_t run_n);
/* Why the last answer was unreadable (its request ended in -EBADMSG). */
const char *ipc__answer_why(void);
/*
 * A VMM of another lkvm build (docs/ipc.md, "Other lkvm builds"): the one
 * line that names it, "NAME: its VMM (pid P, BIN) HOW: run 'BIN WHAT' with
 * the same options".  ipc__other_build() says it for an answer that shows
 * another build (a request type it does not know, -EINVAL to a payload
 * this build forms correctly, an answer this build cannot read) and
 * returns true; false for any other error.
 */
void ipc__other_build_why(const char *name, const char *how, const char *what, char *why,
			  size_t n);
bool ipc__other_build(const char *name, int err, const char *msg, const char *what, char *why,
		      size_t n);
/* The VMM has no handler for the request's type (an older build). */
bool ipc__unknown_type(int err, const char *msg);
/* Call fn for every instance name in the directory (sorted); stops on fn < 0. */
int ipc__for_each_instance(int (*fn)(const char *name, void *arg), void *arg);
/* One-line reason for a client-side error, e.g. "no such instance". */
const char *ipc__strerror(int err);

/*
 * The body of `lkvm stop|pause|resume`: options -n/--name NAME, -a/--all,
 * send `type` with no payload to each instance, print one line per error.
 * With wait_exit, also wait until each instance has exited.  ABOUT: what
 * the command does, for --help.
 */
int ipc__simple_command(int argc, const char **argv, u32 type, const char *done_verb,
			bool wait_exit, const char *about);
/* One such request to NAME: prints "NAME: answer" or the error; 0 or 1 (an exit status).
 * WHAT: the command, for the line that names a VMM of another build. */
int ipc__simple_request(const char *name, u32 type, const char *done_verb, const char *what);
/* A request with a u32 flags word whose DATA answer goes to stdout as it
 * is (lkvm debug, lkvm migrate --status); 1 on failure, said on stderr,
 * and the reason also into why (may be NULL) for a caller that reports
 * it elsewhere too (migrate --status --json). */
int ipc__print_request(const char *name, u32 type, u32 flags, const char *what, char *why,
		       size_t why_len);
/* Print "lkvm CMD: error: NAME: reason" (reason from err, or msg if given). */
void ipc__client_error(const char *name, int err, const char *msg);
/* That reason alone. */
const char *ipc__client_why(int err, const char *msg);

#endif
