/*
 * The hardware back end: /dev/sev (SEV_ISSUE_CMD) for platform commands and
 * KVM_MEMORY_ENCRYPT_OP on the VM fd for guest commands.  The structs are
 * passed through untouched: the kernel marshals them to the PSP.
 *
 * Every way this can fail on a host without working SEV is turned into one
 * line that names the missing piece, because "ioctl failed: EINVAL" tells
 * a user nothing about which of the four things (device, permission, KVM
 * support, firmware state) to fix.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "lkvm/sev.h"

#define SEV_DEV "/dev/sev"

static int hw_platform_cmd(struct sev_fw *fw, struct sev_issue_cmd *cmd)
{
	if (ioctl(fw->sev_fd, SEV_ISSUE_CMD, cmd) < 0)
		return -errno;
	return 0;
}

static int hw_guest_cmd(struct sev_fw *fw, struct kvm_sev_cmd *cmd)
{
	if (fw->vm_fd < 0)
		return -EBADF;
	cmd->sev_fd = (u32)fw->sev_fd;
	if (ioctl(fw->vm_fd, KVM_MEMORY_ENCRYPT_OP, cmd) < 0)
		return -errno;
	return 0;
}

/*
 * KVM_CAP_VM_TYPES (newer kernels) lists the VM types; if it offers
 * KVM_X86_SEV_VM we use it with KVM_SEV_INIT2, otherwise the default type
 * with the older KVM_SEV_INIT.  A kernel that only knows the SEV types
 * refuses KVM_SEV_INIT on them, so the two choices go together.
 */
static int hw_vm_type(struct sev_fw *fw, int sys_fd)
{
	int types = ioctl(sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);

	if (types > 0 && (types & (1 << KVM_X86_SEV_VM)))
		fw->vm_type = KVM_X86_SEV_VM;
	else
		fw->vm_type = KVM_X86_DEFAULT_VM;
	return fw->vm_type;
}

static int hw_vm_init(struct sev_fw *fw, int vm_fd)
{
	struct kvm_sev_init init;
	struct kvm_sev_cmd cmd = { .sev_fd = (u32)fw->sev_fd };
	char why[64];

	/* A NULL argument asks whether KVM has SEV at all (ENOTTY if not). */
	if (ioctl(vm_fd, KVM_MEMORY_ENCRYPT_OP, NULL) < 0 && errno == ENOTTY) {
		pr_err("SEV: KVM has no SEV support (KVM_MEMORY_ENCRYPT_OP: ENOTTY): "
		       "load kvm_amd with sev=1 on an SEV-capable host");
		return -ENOTTY;
	}

	if (fw->vm_type == KVM_X86_SEV_VM) {
		memset(&init, 0, sizeof(init));	/* plain SEV: no VMSA features */
		cmd.id = LKVM_KVM_SEV_INIT2;
		cmd.data = (u64)(unsigned long)&init;
	} else {
		cmd.id = KVM_SEV_INIT;
	}
	if (ioctl(vm_fd, KVM_MEMORY_ENCRYPT_OP, &cmd) < 0) {
		int err = errno;

		if (err == ENOTTY)
			pr_err("SEV: KVM has no SEV support (ENOTTY on %s)",
			       sev_fw__guest_cmd_name(cmd.id));
		else if (err == EIO || cmd.error)
			pr_err("SEV: firmware refused %s: %s; check `lkvm sev status` "
			       "(platform state) and dmesg (ccp)", sev_fw__guest_cmd_name(cmd.id),
			       sev_fw__strerror(-EIO, cmd.error, why, sizeof(why)));
		else if (err == EBUSY)
			pr_err("SEV: no free SEV ASID (KVM_SEV_INIT: EBUSY)");
		else if (err == EPERM || err == EACCES)
			pr_err("SEV: permission denied by KVM on %s", sev_fw__guest_cmd_name(cmd.id));
		else
			pr_err("SEV: KVM %s failed: %s (SEV disabled in kvm_amd or no ASIDs?)",
			       sev_fw__guest_cmd_name(cmd.id), strerror(err));
		return -err;
	}
	fw->vm_fd = vm_fd;
	fw->sev_enabled = true;
	return 0;
}

static int hw_reg_region(struct sev_fw *fw, u64 addr, u64 size)
{
	struct kvm_enc_region r = { .addr = addr, .size = size };

	if (ioctl(fw->vm_fd, KVM_MEMORY_ENCRYPT_REG_REGION, &r) < 0) {
		int err = errno;

		pr_err("SEV: KVM_MEMORY_ENCRYPT_REG_REGION of %llu MiB failed: %s%s",
		       (unsigned long long)(size >> 20), strerror(err),
		       err == ENOMEM ? " (RLIMIT_MEMLOCK too low to pin guest RAM?)" : "");
		return -err;
	}
	return 0;
}

static void hw_close(struct sev_fw *fw)
{
	/* KVM decommissions the guest when the VM fd goes; the core closes it. */
	if (fw->sev_fd >= 0)
		close(fw->sev_fd);
	fw->sev_fd = -1;
}

static const struct sev_fw_ops hw_ops = {
	.name = "hardware",
	.platform_cmd = hw_platform_cmd,
	.vm_type = hw_vm_type,
	.vm_init = hw_vm_init,
	.guest_cmd = hw_guest_cmd,
	.reg_region = hw_reg_region,
	.close = hw_close,
};

int sev_hw__open(struct sev_fw *fw)
{
	const char *dev = getenv("LKVM_SEV_DEVICE");	/* tests point this elsewhere */
	int fd;

	if (!dev || !*dev)
		dev = SEV_DEV;
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

		if (err == ENOENT)
			pr_err("SEV: no %s: this host has no SEV firmware interface "
			       "(AMD SEV CPU with the ccp driver needed; --sev=emulated runs the "
			       "unencrypted software model)", dev);
		else if (err == EACCES || err == EPERM)
			pr_err("SEV: permission denied opening %s read-write (need root or its group)",
			       dev);
		else
			pr_err("SEV: cannot open %s: %s", dev, strerror(err));
		return -err;
	}
	fw->sev_fd = fd;
	fw->ops = &hw_ops;
	return 0;
}
