/*
 * Internals of the software SEV firmware model (sev/model.c: platform,
 * identity and platform commands; sev/model-guest.c: guest contexts and
 * the guest commands).  Only the model and its tests include this.
 */
#ifndef LKVM__SEV_MODEL_H
#define LKVM__SEV_MODEL_H

#include <pthread.h>

#include "lkvm/sev.h"
#include "lkvm/sev-crypto.h"

/* What the model reports in PLATFORM_STATUS and puts in its certificates. */
#define SEV_MODEL_API_MAJOR	0
#define SEV_MODEL_API_MINOR	24
#define SEV_MODEL_BUILD		0

struct sev_model_guest {
	bool used;
	u32 handle;
	u32 policy;
	u8 state;			/* enum sev_guest_state */
	bool active;			/* ACTIVATE done */
	bool have_tks;			/* transport channel open */
	struct sev_tks tks;
	struct sev_digest digest;	/* launch digest, LUPDATE only */
	bool digest_live;
	u8 measure[SEV_MAC_SIZE];	/* kept for LAUNCH_SECRET */
};

struct sev_model {
	struct sev_model *next;		/* process-wide list, keyed by dir */
	int refs;
	char *state_dir;		/* realpath */
	char *root_dir;			/* NULL: the built-in test root */
	pthread_mutex_t lock;

	u8 pstate;			/* enum sev_platform_state */
	u32 guest_count;
	struct sev_model_guest guests[SEV_FW_MAX_GUESTS + 1];	/* [handle] */

	struct sev_amd_root root;	/* the ARK this platform trusts */
	struct sev_platform_keys keys;
};

/* Firmware status helpers: set *error and return -EIO as the kernel does. */
static inline int sev_model__fail(u32 *error, u32 code)
{
	*error = code;
	return -5;	/* -EIO */
}

/* sev/model-guest.c */
int sev_model__guest_cmd(struct sev_fw *fw, struct kvm_sev_cmd *cmd);
void sev_model__guest_free(struct sev_model_guest *g);
/* Address range check: inside a REG_REGION'd range of this VM. */
bool sev_model__in_region(struct sev_fw *fw, u64 uaddr, u64 len);

/* sev/model.c: persist/regenerate identity after PEK_GEN/PDH_GEN. */
int sev_model__save_keys(struct sev_model *m);
/* Driver behaviour: INIT the platform if it is UNINIT. */
void sev_model__auto_init(struct sev_model *m);

#endif
