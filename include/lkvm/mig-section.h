/*
 * Pieces of VM state carried by the migration stream.  Each owner (vCPUs,
 * irqchip, PIT, clock, serial, each virtio device, SEV) registers one
 * section with a stable id; the migration engine frames every section with
 * its id, length and CRC.  The payload format is the owner's (an FDT blob is
 * recommended: self-describing and checked with fdt_check_full()).
 *
 * save() runs with every vCPU paused.  load() runs on the destination before
 * any vCPU has run; it must treat data as hostile (check every length,
 * count and offset) and return a negative errno, leaving the VM unstarted,
 * on anything it does not accept.
 */
#ifndef LKVM__MIG_SECTION_H
#define LKVM__MIG_SECTION_H

#include "lkvm/util.h"

struct kvm;

struct mig_buf {
	u8 *data;
	size_t len, cap;
	int err;		/* sticky: first allocation failure */
};

int mig_buf__put(struct mig_buf *b, const void *p, size_t n);
void mig_buf__free(struct mig_buf *b);

/* Stable section ids: never reuse a number. */
enum mig_section_id {
	MIG_SEC_CPU	= 0x10,		/* one per vCPU, instance = cpu id */
	MIG_SEC_IRQCHIP	= 0x20,
	MIG_SEC_PIT	= 0x21,
	MIG_SEC_CLOCK	= 0x22,
	MIG_SEC_SERIAL	= 0x30,
	MIG_SEC_RTC	= 0x31,		/* with stream feature MIG_F_RTC_STATE */
	MIG_SEC_PCI	= 0x38,		/* with stream feature MIG_F_PCI_STATE */
	MIG_SEC_VIRTIO	= 0x40,		/* instance = device index */
	MIG_SEC_CONSOLE	= 0x41,		/* with stream feature MIG_F_CONSOLE_INPUT */
	MIG_SEC_PAGE_MAP = 0x50,
	MIG_SEC_SEV	= 0x60,
};

struct mig_section {
	const char *name;
	u32 id;
	/* Number of instances to save (e.g. nr vCPUs); NULL means one. */
	u32 (*count)(struct kvm *kvm);
	int (*save)(struct kvm *kvm, u32 instance, struct mig_buf *out);
	int (*load)(struct kvm *kvm, u32 instance, const void *data, size_t len);
	/*
	 * Loaded before every other section, whatever its id: others check
	 * against its state (the page map: a live virtio queue's rings must
	 * be shared pages, and a fresh SEV destination's map says none are).
	 */
	bool load_first;
	/*
	 * A stream feature bit (MIG_F_*), or 0.  With one, the section is in a
	 * stream only when the handshake agreed on that feature: a source of
	 * this build asks for it whenever it has an instance of the section, a
	 * destination requires the section only then and refuses it otherwise.
	 * So a peer that predates the section is told at HELLO (or, as a
	 * source, simply sends none), and a machine without any instance
	 * (no virtio-console) sends the stream it sent before the section.
	 */
	u32 feature;
	struct mig_section *next;
};

void mig_section__register(struct mig_section *s);
struct mig_section *mig_section__find(u32 id);
struct mig_section *mig_section__first(void);	/* walk with ->next, ordered by id */
u32 mig_section__features(void);		/* every registered section's feature */
/* The features of the sections kvm has at least one instance of (a source's). */
u32 mig_section__features_of(struct kvm *kvm);

#define mig_section_register(_s)					\
	static void __attribute__((constructor)) __mig_reg_##_s(void)	\
	{ mig_section__register(&_s); }

#endif
