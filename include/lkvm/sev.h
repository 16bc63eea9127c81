/*
 * AMD SEV: one firmware interface, two back ends.
 *
 * struct sev_fw is what KVM keeps per VM plus the /dev/sev handle: a back
 * end ("hw" = /dev/sev + KVM_MEMORY_ENCRYPT_OP, "model" = the in-process
 * firmware of sev/model*.c) that takes exactly the UAPI structs:
 *   - platform commands: an SEV_* id and a sev_user_data_* struct, as in
 *     ioctl(/dev/sev, SEV_ISSUE_CMD);
 *   - guest commands: a struct kvm_sev_cmd whose data points to a
 *     kvm_sev_* struct, as in ioctl(vm_fd, KVM_MEMORY_ENCRYPT_OP).
 * Both return 0 or a negative errno; a firmware failure is -EIO with the
 * firmware status in ->error, exactly as the kernel reports it, so callers
 * are written once.  User pointers in the structs are host addresses.
 *
 * sev/launch.c drives the launch sequence for `lkvm run --sev`; the
 * crypto formats (certificates, session, packets) are in sev-crypto.h.
 */
#ifndef LKVM__SEV_H
#define LKVM__SEV_H

#include "lkvm/sev-uapi.h"
#include "lkvm/sev-crypto.h"	/* policy bits, buffer sizes, formats */
#include "lkvm/util.h"
#include "lkvm/kvm.h"

/* Firmware platform states (PLATFORM_STATUS .state). */
enum sev_platform_state {
	SEV_PSTATE_UNINIT = 0,
	SEV_PSTATE_INIT = 1,
	SEV_PSTATE_WORKING = 2,
};

/* Firmware guest states (GUEST_STATUS .state), sev-facts 2.2. */
enum sev_guest_state {
	SEV_GSTATE_UNINIT = 0,
	SEV_GSTATE_LUPDATE = 1,
	SEV_GSTATE_LSECRET = 2,
	SEV_GSTATE_RUNNING = 3,
	SEV_GSTATE_SUPDATE = 4,
	SEV_GSTATE_RUPDATE = 5,
	SEV_GSTATE_SENT = 6,
};

#define SEV_POLICY_DEFAULT	SEV_POLICY_NODBG

/* Limits not in sev-crypto.h (which has the buffer sizes, sev-facts 2.8). */
#define SEV_FW_ID_LEN		0x40	/* GET_ID2, per socket */
#define SEV_FW_MAX_GUESTS	1024	/* handles 1..1024 */
#define SEV_FW_BLOB_MAX		0x4000	/* KVM's psp_copy_user_blob limit */

/* C-bit position reported in CPUID 0x8000001F by the model (documented). */
#define SEV_MODEL_CBIT		51
#define SEV_MODEL_PHYS_REDUCTION 1

struct sev_fw;
struct sev_model;

struct sev_fw_ops {
	const char *name;
	/* ioctl(/dev/sev, SEV_ISSUE_CMD) */
	int (*platform_cmd)(struct sev_fw *fw, struct sev_issue_cmd *cmd);
	/* VM type for KVM_CREATE_VM (KVM_X86_SEV_VM when INIT2 is used). */
	int (*vm_type)(struct sev_fw *fw, int sys_fd);
	/* KVM_SEV_INIT or KVM_SEV_INIT2 on the new VM, before any vCPU. */
	int (*vm_init)(struct sev_fw *fw, int vm_fd);
	/* ioctl(vm_fd, KVM_MEMORY_ENCRYPT_OP, cmd) */
	int (*guest_cmd)(struct sev_fw *fw, struct kvm_sev_cmd *cmd);
	/* KVM_MEMORY_ENCRYPT_REG_REGION */
	int (*reg_region)(struct sev_fw *fw, u64 addr, u64 size);
	void (*close)(struct sev_fw *fw);
};

struct sev_fw {
	const struct sev_fw_ops *ops;
	enum kvm_sev_mode mode;
	int sev_fd;		/* hw: /dev/sev */
	int vm_fd;		/* hw: after vm_init */
	int vm_type;
	/* model only: the platform and this VM's guest context */
	struct sev_model *model;
	u32 handle;		/* what KVM remembers after LAUNCH/RECEIVE_START */
	bool sev_enabled;	/* vm_init done */
	bool active;		/* ACTIVATE done (ASID bound) */
	int nr_regions;
	struct { u64 addr, size; } regions[KVM_MAX_MEM_BANKS + 4];
};

/* Where the model keeps its identity (see docs/sev.md). */
struct sev_model_paths {
	const char *state_dir;	/* per platform: keys + cert chain */
	const char *root_dir;	/* shared test ARK/ASK ("AMD root") */
};

/*
 * Open a back end.  SEV_MODE_HARDWARE opens /dev/sev; on failure prints one
 * line naming the missing requirement and returns -errno.  SEV_MODE_EMULATED
 * opens (creating on first use) the model platform in paths (NULL fields:
 * --sev-state/LKVM_SEV_STATE or ~/.lkvm/sev-model, --sev-root/LKVM_SEV_ROOT
 * or the built-in test root) and prints the not-encrypted warning once per process.
 */
int sev_fw__open(struct sev_fw **out, enum kvm_sev_mode mode,
		 const struct sev_model_paths *paths);
void sev_fw__close(struct sev_fw *fw);

/* Convenience wrappers: status code into *error (may be NULL). */
int sev_fw__platform(struct sev_fw *fw, u32 cmd, void *data, u32 *error);
int sev_fw__guest(struct sev_fw *fw, u32 id, void *data, u32 *error);
int sev_fw__vm_type(struct sev_fw *fw, int sys_fd);
int sev_fw__vm_init(struct sev_fw *fw, int vm_fd);
int sev_fw__reg_region(struct sev_fw *fw, u64 addr, u64 size);

/* "INVALID_GUEST_STATE" etc., or "UNKNOWN(0x..)" in a static buffer. */
const char *sev_fw__error_name(int code);
const char *sev_fw__guest_cmd_name(u32 id);
const char *sev_fw__platform_cmd_name(u32 cmd);
const char *sev_fw__pstate_name(int state);
const char *sev_fw__gstate_name(int state);
/* One-line description of a failed command (errno + firmware status). */
const char *sev_fw__strerror(int ret, u32 error, char *buf, size_t len);

/* Back ends (sev/hw.c, sev/model.c). */
int sev_hw__open(struct sev_fw *fw);
int sev_model__open(struct sev_fw *fw, const struct sev_model_paths *paths);

/*
 * The model platform directly, for tests and the migration code that
 * wants two platforms in one process: firmware-level DECOMMISSION of the
 * guest bound to fw (what KVM does when the VM goes away).
 */
int sev_model__decommission(struct sev_fw *fw, u32 *error);
/* Firmware-level GUEST_STATUS on an arbitrary handle. */
int sev_model__guest_status(struct sev_model *m, u32 handle,
			    struct kvm_sev_guest_status *st, u32 *error);
/* Firmware-level PLATFORM_SHUTDOWN (tests: back to UNINIT). */
int sev_model__shutdown(struct sev_model *m, u32 *error);
int sev_model__platform_state(struct sev_model *m);

/* ------------------------------------------------------------------ */
/* Launch (sev/launch.c): options of `lkvm run` and `lkvm sev measure`. */

struct sev_options {
	u32 policy;
	bool policy_set;
	const char *dh_cert;		/* guest owner's PDH cert file */
	const char *session;		/* session blob file */
	const char *measure_out;	/* file, or "-" / NULL for stdout */
	const char *secret_header;	/* LAUNCH_SECRET packet header file */
	const char *secret;		/* LAUNCH_SECRET ciphertext file */
	u64 secret_gpa;
	bool secret_gpa_set;
	int secret_wait_s;		/* how long to wait for the secret files, -1: default */
	const char *state_dir;
	const char *root_dir;
};

extern struct sev_options sev_options;

struct option;
int sev__opt_mode(const struct option *opt, const char *arg);
int sev__opt_policy(const struct option *opt, const char *arg);
int sev__opt_gpa(const struct option *opt, const char *arg);

/*
 * The SEV rows of `lkvm run`'s option table; mode points at the
 * enum kvm_sev_mode to set (&kvm->cfg.sev_mode).
 */
#define SEV_RUN_OPTIONS(mode)						\
	OPT_GROUP_("AMD SEV:"),						\
	OPT_CALLBACK_(0, "sev", (mode), "emulated",			\
		"SEV guest on /dev/sev; =emulated: software model, NOT encrypted", \
		sev__opt_mode, PARSE_OPT_OPTARG),			\
	OPT_CALLBACK_(0, "sev-policy", &sev_options.policy, "<policy>",	\
		"guest policy (default 0x1 = NODBG)", sev__opt_policy, 0),	\
	OPT_STR(0, "sev-dh-cert", &sev_options.dh_cert, "<file>",	\
		"guest owner's PDH certificate (LAUNCH_START)"),	\
	OPT_STR(0, "sev-session", &sev_options.session, "<file>",	\
		"guest owner's session blob (LAUNCH_START)"),		\
	OPT_STR(0, "sev-measure-out", &sev_options.measure_out, "<file>", \
		"write the launch measurement (48 bytes) here (default: hex on stdout)"), \
	OPT_STR(0, "sev-secret-header", &sev_options.secret_header, "<file>", \
		"LAUNCH_SECRET packet header from the owner (waited for)"), \
	OPT_STR(0, "sev-secret", &sev_options.secret, "<file>",	\
		"LAUNCH_SECRET ciphertext from the owner (waited for)"),	\
	OPT_CALLBACK_(0, "sev-secret-gpa", &sev_options.secret_gpa, "<addr>", \
		"guest physical address for the secret", sev__opt_gpa, 0), \
	OPT_INTEGER(0, "sev-secret-wait", &sev_options.secret_wait_s, 0, 3600, \
		"seconds to wait for the secret files (default 60)"),	\
	OPT_STR(0, "sev-state", &sev_options.state_dir, "<dir>",	\
		"model: platform state directory (LKVM_SEV_STATE, ~/.lkvm/sev-model)"), \
	OPT_STR(0, "sev-root", &sev_options.root_dir, "<dir>",		\
		"model: a generated AMD root kept in DIR (LKVM_SEV_ROOT; default: the built-in test root)")

struct sev_guest {
	struct sev_fw *fw;
	u32 handle;
	u32 policy;
	u8 measure[SEV_MEASURE_BLOB_SIZE];
	bool launched;			/* LAUNCH_FINISH done */
};

/*
 * Core hooks, in call order:
 *  sev__vm_type()    before KVM_CREATE_VM: opens the back end, returns the
 *                    VM type to create (0 or KVM_X86_SEV_VM) or -errno;
 *  sev__vm_init()    after KVM_CREATE_VM and RAM registration, before the
 *                    first vCPU: KVM_SEV_INIT(2), REG_REGION per RAM bank;
 *  sev__launch()     after every loader ran, before vCPUs start (a no-op
 *                    with --incoming: a migrated guest arrives through
 *                    RECEIVE_START..RECEIVE_FINISH on kvm->sev->fw instead);
 *  sev__exit()       at VM teardown.
 * All are no-ops (return 0) when kvm->cfg.sev_mode is SEV_MODE_NONE.
 */
int sev__vm_type(struct kvm *kvm);
int sev__vm_init(struct kvm *kvm);
int sev__launch(struct kvm *kvm);
void sev__exit(struct kvm *kvm);

/* CPUID 0x8000001F for the guest: EAX bit 1 (SEV), EBX C-bit/phys reduction. */
void sev__cpuid_8000001f(struct kvm *kvm, u32 *eax, u32 *ebx, u32 *ecx, u32 *edx);

/*
 * The measured byte stream: the ranges of kvm->loaded[] in call order,
 * each widened to 16-byte alignment (start down, end up), exactly what
 * sev__launch() hands to LAUNCH_UPDATE_DATA.  `lkvm sev measure` uses the
 * same function so the two can never disagree.  cb gets host pointers.
 */
int sev__for_each_measured(struct kvm *kvm,
			   int (*cb)(void *opaque, void *host, u64 gpa, u64 len),
			   void *opaque);
/* SHA-256 of the measured stream (the launch digest). */
int sev__launch_digest(struct kvm *kvm, u8 digest[32]);

#endif
