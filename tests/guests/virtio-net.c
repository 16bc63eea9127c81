/*
 * virtio-net: ask the host for 10.0.0.1 with an ARP request from 10.0.0.2
 * and wait for the reply.  That one exchange proves transmit (the host saw
 * the request) and receive (its answer reached our buffer), vnet headers
 * included.  Other frames the host sends meanwhile are skipped.
 *
 * "loop=1": the exchange over and over, one line "count N arp ok (R
 * resent)" each, "delay=N" pause loops apart: the migration test guest for
 * a network device.  A request or reply in flight when the guest moves
 * may be lost with the old host's tap, so an unanswered request is sent
 * again (up to 8 times) before the line says FAILED.
 *
 * "split=GPA": each receive buffer is a chain whose first writable segment
 * is the 1 byte at GPA (the last byte of RAM in the test), then the buffer:
 * the device must write the header's num_buffers (bytes 10-11) into the
 * chain where they fall, not 9 bytes past that byte (the end of the host's
 * mapping of guest RAM: lkvm crashed).
 *
 * "small=1": the first receive buffer holds 32 bytes (header + 20), less
 * than any frame: the frame that lands there must be cut to it (used
 * length at most 32, the canary bytes after it untouched), and the
 * exchange then goes on with full-size buffers.
 */
#include "virtio-drv.h"

#define HDR	12		/* virtio_net_hdr_v1 */

static struct vqueue rxq, txq;
static u8 rxbuf[2048], txbuf[HDR + 42], peer[6];
static const u8 guest_ip[4] = { 10, 0, 0, 2 }, host_ip[4] = { 10, 0, 0, 1 };
static u64 split;
static u8 smallbuf[64];
static int small;		/* 1: the next buffer is the small one; 2: its frame was cut right */

static void post_rx(void)
{
	void *p[2] = { (void *)split, rxbuf };
	u32 len[2] = { 1, sizeof(rxbuf) };
	u16 fl[2] = { VF_WRITE, VF_WRITE };

	if (small == 1) {
		p[0] = smallbuf;
		len[0] = 32;
		memset(smallbuf, 0xa5, sizeof(smallbuf));
		vq_post(&rxq, 1, p, len, fl);
	} else if (split)
		vq_post(&rxq, 2, p, len, fl);
	else
		vq_post(&rxq, 1, &p[1], &len[1], &fl[1]);
	vq_kick(&rxq, 0);
}

/* One ARP exchange; 0 when the reply came, -1 after 8 silent waits. */
static int arp_once(const u8 *mac, int *resent)
{
	u8 *f = txbuf + HDR, *r = rxbuf + HDR - (split ? 1 : 0);
	void *p = txbuf;
	u32 len = sizeof(txbuf);
	u16 fl = 0;
	int tries;

	memset(txbuf, 0, sizeof(txbuf));
	memset(f, 0xff, 6);				/* broadcast */
	memcpy(f + 6, mac, 6);
	f[12] = 0x08; f[13] = 0x06;			/* ARP */
	f[14] = 0; f[15] = 1; f[16] = 0x08; f[17] = 0;	/* Ethernet, IPv4 */
	f[18] = 6; f[19] = 4; f[20] = 0; f[21] = 1;	/* request */
	memcpy(f + 22, mac, 6);
	memcpy(f + 28, guest_ip, 4);
	memcpy(f + 38, host_ip, 4);
	if (vq_request(&txq, 1, 1, &p, &len, &fl) < 0) {
		puts("virtio-net: transmit timed out");
		return -1;
	}
	for (tries = 0; tries < 8; tries++) {
		s64 n = vq_wait(&rxq, 20000000);

		if (n < 0) {			/* silence: ask again */
			if (vq_request(&txq, 1, 1, &p, &len, &fl) < 0)
				return -1;
			++*resent;
			continue;
		}
		if (small == 1) {		/* whatever came, cut to 32 bytes */
			int i, canary = 1;

			for (i = 32; i < (int)sizeof(smallbuf); i++)
				canary &= smallbuf[i] == 0xa5;
			printf("virtio-net: frame into a 32-byte buffer: used %ld, canary %s\n", n,
			       canary ? "intact" : "OVERWRITTEN");
			small = n <= 32 && canary ? 2 : 3;
			post_rx();
			if (vq_request(&txq, 1, 1, &p, &len, &fl) < 0)
				return -1;
			continue;
		}
		if (n >= HDR + 42 && r[12] == 0x08 && r[13] == 0x06 && r[21] == 2 &&
		    !memcmp(r + 28, host_ip, 4) && !memcmp(r + 32, mac, 6)) {
			memcpy(peer, r + 22, 6);	/* before the buffer goes back */
			post_rx();			/* for the next one */
			return 0;
		}
		post_rx();				/* something else: keep listening */
	}
	return -1;
}

int main(void)
{
	struct vdev d;
	struct vqueue *qs[2] = { &rxq, &txq };
	u64 loop = rt_cmdline_u64("loop", 0), delay = rt_cmdline_u64("delay", 20000), n, i;
	u8 mac[6];
	int resent = 0;

	split = rt_cmdline_u64("split", 0);
	small = rt_cmdline_has("small");

	if (vdev_find(&d, 1) || !(vdev_init(&d, VERSION_1 | (1 << 5), qs, 2) & 4)) {
		puts("virtio-net: no device");
		return 1;
	}
	for (i = 0; i < 6; i++)
		mac[i] = r8(d.devcfg + i);
	printf("virtio-net: mac %x:%x:%x:%x:%x:%x\n", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	post_rx();
	if (!loop) {
		if (arp_once(mac, &resent)) {
			puts("virtio-net: no ARP reply");
			return 1;
		}
		printf("virtio-net: ARP reply from 10.0.0.1 at %x:%x:%x:%x:%x:%x\n",
		       peer[0], peer[1], peer[2], peer[3], peer[4], peer[5]);
		if (small == 1 || small == 3) {
			puts("virtio-net: the small buffer's frame was not cut to it");
			return 1;
		}
		puts("virtio-net: ok");
		return 0;
	}
	for (n = 1;; n++) {
		resent = 0;
		if (arp_once(mac, &resent))
			printf("count %lu arp FAILED\n", n);
		else
			printf("count %lu arp ok (%d resent)\n", n, resent);
		for (i = 0; i < delay; i++)
			cpu_relax();
	}
}
