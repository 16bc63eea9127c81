/*
 * The one place for SEV UAPI that Debian 12's linux-libc-dev 6.1 lacks
 * (sev-facts 1.3, 1.6, 1.7).  Every definition is guarded so that newer
 * headers win; values are the upstream ones, never our own.
 *
 * Other modules include this instead of <linux/kvm.h>/<linux/psp-sev.h>
 * when they need anything SEV.
 */
#ifndef LKVM__SEV_UAPI_H
#define LKVM__SEV_UAPI_H

#include <linux/types.h>
#include <linux/kvm.h>
#include <linux/psp-sev.h>

/*
 * KVM_SEV_INIT2 is an enum member in newer headers, so #ifndef cannot see
 * it; newer headers also define the VM-type macros below, which is the
 * test we use for "struct kvm_sev_init already exists".
 */
#ifndef KVM_X86_SEV_VM
#define LKVM_NEED_KVM_SEV_INIT 1
#endif

#ifndef KVM_X86_DEFAULT_VM
#define KVM_X86_DEFAULT_VM		0
#endif
#ifndef KVM_X86_SW_PROTECTED_VM
#define KVM_X86_SW_PROTECTED_VM		1
#endif
#ifndef KVM_X86_SEV_VM
#define KVM_X86_SEV_VM			2
#endif
#ifndef KVM_X86_SEV_ES_VM
#define KVM_X86_SEV_ES_VM		3
#endif
#ifndef KVM_X86_SNP_VM
#define KVM_X86_SNP_VM			4
#endif
#ifndef KVM_X86_TDX_VM
#define KVM_X86_TDX_VM			5
#endif

#ifndef KVM_CAP_VM_TYPES
#define KVM_CAP_VM_TYPES		235
#endif

#ifndef KVM_X86_GRP_SEV
#define KVM_X86_GRP_SEV			1
#endif
#ifndef KVM_X86_SEV_VMSA_FEATURES
#define KVM_X86_SEV_VMSA_FEATURES	0
#endif

/* enum sev_cmd_id: 22 is KVM_SEV_NR_MAX in 6.1, KVM_SEV_INIT2 later. */
#define LKVM_KVM_SEV_INIT2		22

#ifdef LKVM_NEED_KVM_SEV_INIT
/* INIT2 argument (40 bytes); for plain SEV everything must be zero. */
struct kvm_sev_init {
	__u64 vmsa_features;
	__u32 flags;
	__u16 ghcb_version;
	__u16 pad1;
	__u32 pad2[8];
};
#endif

/* sev_ret_code: 6.1 misspells INVALID_CONFIG and stops at 0x18. */
#define LKVM_SEV_RET_INVALID_CONFIG	0x03
#define LKVM_SEV_RET_INVALID_PAGE_SIZE	0x19
#define LKVM_SEV_RET_INVALID_PAGE_STATE	0x1a
#define LKVM_SEV_RET_INVALID_MDATA_ENTRY 0x1b
#define LKVM_SEV_RET_INVALID_PAGE_OWNER	0x1c
#define LKVM_SEV_RET_AEAD_OFLOW		0x1d
#define LKVM_SEV_RET_EXIT_RING_BUFFER	0x1f
#define LKVM_SEV_RET_RMP_INIT_REQUIRED	0x20
#define LKVM_SEV_RET_BAD_SVN		0x21
#define LKVM_SEV_RET_BAD_VERSION	0x22
#define LKVM_SEV_RET_SHUTDOWN_REQUIRED	0x23
#define LKVM_SEV_RET_UPDATE_FAILED	0x24
#define LKVM_SEV_RET_RESTORE_REQUIRED	0x25
#define LKVM_SEV_RET_RMP_INITIALIZATION_FAILED 0x26
#define LKVM_SEV_RET_INVALID_KEY	0x27

#endif
