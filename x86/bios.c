/*
 * Puts the tiny real-mode BIOS (x86/bios/bios.S) into the guest for the
 * bzImage path: the IVT and BIOS data area at 0, the code at f000:0000,
 * its data block (e820 map, e801/88 sizes) at f000:BIOS_DATA_OFF and the
 * MP table at f000:MPTABLE_OFF.  Every byte goes through kvm__load_bytes()
 * so an SEV launch measures exactly this.
 */
#include <errno.h>
#include <string.h>

#include "lkvm/kvm.h"
#include "lkvm/x86-boot.h"

extern const u8 lkvm_bios_blob[], lkvm_bios_blob_end[];

/* Offsets of the handler table at the start of the blob. */
enum {
	BLOB_INT_DEFAULT = 8, BLOB_IRQ_MASTER = 10, BLOB_IRQ_SLAVE = 12,
	BLOB_INT10 = 14, BLOB_INT13 = 16, BLOB_INT15 = 18, BLOB_INT16 = 20,
	BLOB_INT1A = 22, BLOB_SIZE = 24, BLOB_HEADER_END = 26,
};

#define BDA_COM1		0x400
#define BDA_EQUIPMENT		0x410
#define BDA_EBDA_SEG		0x40e
#define BDA_BASE_MEM_KB		0x413
#define BDA_VIDEO_MODE		0x449
#define BDA_VIDEO_COLS		0x44a
#define BDA_CRTC_PORT		0x463
#define BDA_VIDEO_ROWS		0x484	/* rows - 1 */
#define BDA_CHAR_HEIGHT		0x485
#define IVT_BDA_SIZE		0x500

static u16 blob_word(size_t off)
{
	return lkvm_bios_blob[off] | lkvm_bios_blob[off + 1] << 8;
}

int bios__nr_cpus(struct kvm *kvm)
{
	if (kvm->cfg.nr_cpus > 0)
		return kvm->cfg.nr_cpus;
	return kvm->nr_cpus > 0 ? kvm->nr_cpus : 1;
}

static int setup_ivt_bda(struct kvm *kvm)
{
	u8 low[IVT_BDA_SIZE] = { 0 };
	int v;

	for (v = 0; v < 256; v++) {
		size_t h = BLOB_INT_DEFAULT;

		if (v >= 0x08 && v <= 0x0f)
			h = BLOB_IRQ_MASTER;
		else if (v >= 0x70 && v <= 0x77)
			h = BLOB_IRQ_SLAVE;
		else if (v == 0x10)
			h = BLOB_INT10;
		else if (v == 0x13)
			h = BLOB_INT13;
		else if (v == 0x15)
			h = BLOB_INT15;
		else if (v == 0x16)
			h = BLOB_INT16;
		else if (v == 0x1a)
			h = BLOB_INT1A;
		put_le16(&low[v * 4], blob_word(h));
		put_le16(&low[v * 4 + 2], BIOS_SEG);
	}

	/* What Linux reads from the BDA: COM1, EBDA, base memory, 80x25 text. */
	put_le16(&low[BDA_COM1], COM1_PORT);
	put_le16(&low[BDA_EQUIPMENT], 0x0220);	/* 1 serial port, 80x25 colour */
	put_le16(&low[BDA_EBDA_SEG], EBDA_SEG);
	put_le16(&low[BDA_BASE_MEM_KB], EBDA_START >> 10);
	low[BDA_VIDEO_MODE] = 3;
	put_le16(&low[BDA_VIDEO_COLS], 80);
	put_le16(&low[BDA_CRTC_PORT], 0x3d4);
	low[BDA_VIDEO_ROWS] = 24;
	put_le16(&low[BDA_CHAR_HEIGHT], 16);
	return kvm__load_bytes(kvm, 0, low, sizeof(low));
}

/*
 * The sizes the old memory calls report, both about the RAM that is
 * contiguous from 1 MiB: AH=0x88 in KiB (16 bits, capped), AX=0xe801 as
 * KiB between 1 and 16 MiB plus 64 KiB blocks above 16 MiB.
 */
static void legacy_sizes(const struct e820_entry *map, int n, u16 *ext88,
			 u16 *e801_lo, u16 *e801_hi)
{
	u64 top = BIOS_END;
	int i;

	for (i = 0; i < n; i++)
		if (map[i].type == E820_RAM && map[i].addr == BIOS_END)
			top = min(map[i].addr + map[i].size, 1ULL << 32);
	*ext88 = min((top - BIOS_END) >> 10, 0xfc00ULL);
	*e801_lo = min((top - BIOS_END) >> 10, 15ULL << 10);
	*e801_hi = top > 16 * SZ_1M ? min((top - 16 * SZ_1M) >> 16, 0xffffULL) : 0;
}

static int setup_data(struct kvm *kvm)
{
	u8 data[BIOS_DATA_E820 - BIOS_DATA_OFF + E820_MAX_ENTRIES * E820_ENTRY_SIZE];
	struct e820_entry map[E820_MAX_ENTRIES];
	u16 ext88, lo, hi;
	int n;

	BUILD_BUG_ON(sizeof(struct e820_entry) != E820_ENTRY_SIZE);
	BUILD_BUG_ON(BIOS_DATA_OFF + sizeof(data) > MPTABLE_OFF);

	n = e820__build(kvm, map, E820_MAX_ENTRIES);
	if (n < 0) {
		pr_err("cannot build the e820 map: %s", strerror(-n));
		return n;
	}
	legacy_sizes(map, n, &ext88, &lo, &hi);
	memset(data, 0, sizeof(data));
	put_le16(&data[BIOS_DATA_EXT88 - BIOS_DATA_OFF], ext88);
	put_le16(&data[BIOS_DATA_E801_LO - BIOS_DATA_OFF], lo);
	put_le16(&data[BIOS_DATA_E801_HI - BIOS_DATA_OFF], hi);
	put_le16(&data[BIOS_DATA_NR_E820 - BIOS_DATA_OFF], n);
	memcpy(&data[BIOS_DATA_E820 - BIOS_DATA_OFF], map, n * sizeof(map[0]));
	return kvm__load_bytes(kvm, BIOS_START + BIOS_DATA_OFF, data,
			       BIOS_DATA_E820 - BIOS_DATA_OFF + n * E820_ENTRY_SIZE);
}

int bios__setup(struct kvm *kvm)
{
	size_t size = lkvm_bios_blob_end - lkvm_bios_blob;
	int ret;

	/* The blob describes itself; refuse a build that got it wrong. */
	if (size < BLOB_HEADER_END || memcmp(lkvm_bios_blob, "LKVMBIOS", 8) ||
	    size > BIOS_CODE_MAX || blob_word(BLOB_SIZE) != size) {
		pr_err("the built-in BIOS image is corrupt (%zu bytes)", size);
		return -EINVAL;
	}
	if (!guest_flat_to_host(kvm, 0, BIOS_END)) {
		pr_err("the bzImage boot path needs RAM over the first MiB");
		return -EFAULT;
	}
	ret = setup_ivt_bda(kvm);
	if (!ret)
		ret = kvm__load_bytes(kvm, BIOS_START, lkvm_bios_blob, size);
	if (!ret)
		ret = setup_data(kvm);
	if (!ret)
		ret = mptable__setup(kvm, bios__nr_cpus(kvm));
	return ret;
}
