/*
 * The SEV firmware interface: back-end selection, the thin wrappers every
 * caller uses, and the names of firmware commands, states and errors so
 * that every failure message says which firmware status came back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lkvm/parse-options.h"
#include "lkvm/sev.h"

struct sev_options sev_options = {
	.policy = SEV_POLICY_DEFAULT,
	.secret_wait_s = -1,		/* not given: SEV_SECRET_WAIT_S */
};

static const char *const ret_names[] = {
	[0x00] = "SUCCESS",
	[0x01] = "INVALID_PLATFORM_STATE",
	[0x02] = "INVALID_GUEST_STATE",
	[0x03] = "INVALID_CONFIG",
	[0x04] = "INVALID_LENGTH",
	[0x05] = "ALREADY_OWNED",
	[0x06] = "INVALID_CERTIFICATE",
	[0x07] = "POLICY_FAILURE",
	[0x08] = "INACTIVE",
	[0x09] = "INVALID_ADDRESS",
	[0x0a] = "BAD_SIGNATURE",
	[0x0b] = "BAD_MEASUREMENT",
	[0x0c] = "ASID_OWNED",
	[0x0d] = "INVALID_ASID",
	[0x0e] = "WBINVD_REQUIRED",
	[0x0f] = "DFFLUSH_REQUIRED",
	[0x10] = "INVALID_GUEST",
	[0x11] = "INVALID_COMMAND",
	[0x12] = "ACTIVE",
	[0x13] = "HWERROR_PLATFORM",
	[0x14] = "HWERROR_UNSAFE",
	[0x15] = "UNSUPPORTED",
	[0x16] = "INVALID_PARAM",
	[0x17] = "RESOURCE_LIMIT",
	[0x18] = "SECURE_DATA_INVALID",
	[0x19] = "INVALID_PAGE_SIZE",
	[0x1a] = "INVALID_PAGE_STATE",
	[0x1b] = "INVALID_MDATA_ENTRY",
	[0x1c] = "INVALID_PAGE_OWNER",
	[0x1d] = "AEAD_OFLOW",
	[0x1f] = "EXIT_RING_BUFFER",
	[0x20] = "RMP_INIT_REQUIRED",
	[0x21] = "BAD_SVN",
	[0x22] = "BAD_VERSION",
	[0x23] = "SHUTDOWN_REQUIRED",
	[0x24] = "UPDATE_FAILED",
	[0x25] = "RESTORE_REQUIRED",
	[0x26] = "RMP_INITIALIZATION_FAILED",
	[0x27] = "INVALID_KEY",
};

const char *sev_fw__error_name(int code)
{
	static __thread char buf[24];

	if (code == -1)
		return "NO_FW_CALL";
	if (code >= 0 && code < (int)ARRAY_SIZE(ret_names) && ret_names[code])
		return ret_names[code];
	snprintf(buf, sizeof(buf), "UNKNOWN(0x%x)", code);
	return buf;
}

static const char *const guest_cmd_names[] = {
	[KVM_SEV_INIT] = "INIT",
	[KVM_SEV_ES_INIT] = "ES_INIT",
	[KVM_SEV_LAUNCH_START] = "LAUNCH_START",
	[KVM_SEV_LAUNCH_UPDATE_DATA] = "LAUNCH_UPDATE_DATA",
	[KVM_SEV_LAUNCH_UPDATE_VMSA] = "LAUNCH_UPDATE_VMSA",
	[KVM_SEV_LAUNCH_SECRET] = "LAUNCH_SECRET",
	[KVM_SEV_LAUNCH_MEASURE] = "LAUNCH_MEASURE",
	[KVM_SEV_LAUNCH_FINISH] = "LAUNCH_FINISH",
	[KVM_SEV_SEND_START] = "SEND_START",
	[KVM_SEV_SEND_UPDATE_DATA] = "SEND_UPDATE_DATA",
	[KVM_SEV_SEND_UPDATE_VMSA] = "SEND_UPDATE_VMSA",
	[KVM_SEV_SEND_FINISH] = "SEND_FINISH",
	[KVM_SEV_RECEIVE_START] = "RECEIVE_START",
	[KVM_SEV_RECEIVE_UPDATE_DATA] = "RECEIVE_UPDATE_DATA",
	[KVM_SEV_RECEIVE_UPDATE_VMSA] = "RECEIVE_UPDATE_VMSA",
	[KVM_SEV_RECEIVE_FINISH] = "RECEIVE_FINISH",
	[KVM_SEV_GUEST_STATUS] = "GUEST_STATUS",
	[KVM_SEV_DBG_DECRYPT] = "DBG_DECRYPT",
	[KVM_SEV_DBG_ENCRYPT] = "DBG_ENCRYPT",
	[KVM_SEV_CERT_EXPORT] = "CERT_EXPORT",
	[KVM_SEV_GET_ATTESTATION_REPORT] = "GET_ATTESTATION_REPORT",
	[KVM_SEV_SEND_CANCEL] = "SEND_CANCEL",
	[LKVM_KVM_SEV_INIT2] = "INIT2",
};

const char *sev_fw__guest_cmd_name(u32 id)
{
	if (id < ARRAY_SIZE(guest_cmd_names) && guest_cmd_names[id])
		return guest_cmd_names[id];
	return "UNKNOWN";
}

static const char *const platform_cmd_names[] = {
	[SEV_FACTORY_RESET] = "FACTORY_RESET",
	[SEV_PLATFORM_STATUS] = "PLATFORM_STATUS",
	[SEV_PEK_GEN] = "PEK_GEN",
	[SEV_PEK_CSR] = "PEK_CSR",
	[SEV_PDH_GEN] = "PDH_GEN",
	[SEV_PDH_CERT_EXPORT] = "PDH_CERT_EXPORT",
	[SEV_PEK_CERT_IMPORT] = "PEK_CERT_IMPORT",
	[SEV_GET_ID] = "GET_ID",
	[SEV_GET_ID2] = "GET_ID2",
};

const char *sev_fw__platform_cmd_name(u32 cmd)
{
	if (cmd < ARRAY_SIZE(platform_cmd_names) && platform_cmd_names[cmd])
		return platform_cmd_names[cmd];
	return "UNKNOWN";
}

const char *sev_fw__pstate_name(int state)
{
	switch (state) {
	case SEV_PSTATE_UNINIT:		return "UNINIT";
	case SEV_PSTATE_INIT:		return "INIT";
	case SEV_PSTATE_WORKING:	return "WORKING";
	}
	return "UNKNOWN";
}

const char *sev_fw__gstate_name(int state)
{
	static const char *const n[] = { "UNINIT", "LUPDATE", "LSECRET",
		"RUNNING", "SUPDATE", "RUPDATE", "SENT" };

	if (state >= 0 && state < (int)ARRAY_SIZE(n))
		return n[state];
	return "UNKNOWN";
}

const char *sev_fw__strerror(int ret, u32 error, char *buf, size_t len)
{
	if (ret == -EIO && error)
		snprintf(buf, len, "firmware error %s (0x%x)",
			 sev_fw__error_name(error), error);
	else
		snprintf(buf, len, "%s", strerror(-ret));
	return buf;
}

int sev_fw__open(struct sev_fw **out, enum kvm_sev_mode mode,
		 const struct sev_model_paths *paths)
{
	struct sev_fw *fw;
	int ret;

	fw = calloc(1, sizeof(*fw));
	if (!fw)
		return -ENOMEM;
	fw->mode = mode;
	fw->sev_fd = -1;
	fw->vm_fd = -1;
	switch (mode) {
	case SEV_MODE_HARDWARE:
		ret = sev_hw__open(fw);
		break;
	case SEV_MODE_EMULATED:
		ret = sev_model__open(fw, paths);
		break;
	default:
		ret = -EINVAL;
	}
	if (ret < 0) {
		free(fw);
		return ret;
	}
	*out = fw;
	return 0;
}

void sev_fw__close(struct sev_fw *fw)
{
	if (!fw)
		return;
	if (fw->ops && fw->ops->close)
		fw->ops->close(fw);
	free(fw);
}

int sev_fw__platform(struct sev_fw *fw, u32 cmd, void *data, u32 *error)
{
	struct sev_issue_cmd c = { .cmd = cmd, .data = (u64)(unsigned long)data };
	int ret = fw->ops->platform_cmd(fw, &c);

	if (error)
		*error = c.error;
	return ret;
}

int sev_fw__guest(struct sev_fw *fw, u32 id, void *data, u32 *error)
{
	struct kvm_sev_cmd c = { .id = id, .data = (u64)(unsigned long)data,
				 .sev_fd = (u32)fw->sev_fd };
	int ret = fw->ops->guest_cmd(fw, &c);

	if (error)
		*error = c.error;
	return ret;
}

int sev_fw__vm_type(struct sev_fw *fw, int sys_fd)
{
	return fw->ops->vm_type(fw, sys_fd);
}

int sev_fw__vm_init(struct sev_fw *fw, int vm_fd)
{
	return fw->ops->vm_init(fw, vm_fd);
}

int sev_fw__reg_region(struct sev_fw *fw, u64 addr, u64 size)
{
	return fw->ops->reg_region(fw, addr, size);
}

/* ---- option callbacks shared by `lkvm run` and `lkvm sev ...` ---- */

int sev__opt_mode(const struct option *opt, const char *arg)
{
	enum kvm_sev_mode *mode = opt->value;

	/* "--sev=" is a script's empty variable, not a choice of hardware. */
	if (arg && !*arg)
		return opt_error(opt, "empty value (use --sev or --sev=emulated)");
	if (!arg || !strcmp(arg, "hw") || !strcmp(arg, "hardware"))
		*mode = SEV_MODE_HARDWARE;
	else if (!strcmp(arg, "emulated") || !strcmp(arg, "model"))
		*mode = SEV_MODE_EMULATED;
	else
		return opt_error(opt, "'%s' is not a back end (use --sev or --sev=emulated)", arg);
	return 0;
}

int sev__opt_policy(const struct option *opt, const char *arg)
{
	u64 v;

	if (parse_u64(arg, &v) < 0 || v > 0xffffffffULL)
		return opt_error(opt, "'%s' is not a 32-bit policy value", arg);
	sev_options.policy = (u32)v;
	sev_options.policy_set = true;
	return 0;
}

int sev__opt_gpa(const struct option *opt, const char *arg)
{
	u64 v;

	if (parse_u64(arg, &v) < 0)
		return opt_error(opt, "'%s' is not an address", arg);
	if (!IS_ALIGNED(v, 16))
		return opt_error(opt, "0x%llx is not 16-byte aligned (the firmware requires it)",
				 (unsigned long long)v);
	sev_options.secret_gpa = v;
	sev_options.secret_gpa_set = true;
	return 0;
}
