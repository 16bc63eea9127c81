/* virtio-console: print a line through the transmit queue (port 0), or "repeat=N" lines. */
#include "virtio-drv.h"

static struct vqueue rxq, txq;
static char msg[] = "hello through virtio-console\n";

int main(void)
{
	struct vdev d;
	struct vqueue *qs[2] = { &rxq, &txq };
	u32 len = sizeof(msg) - 1;
	u16 fl = 0;
	void *p = msg;
	u64 n;

	if (vdev_find(&d, 3) || !(vdev_init(&d, VERSION_1, qs, 2) & 4)) {
		puts("virtio-console: no device");
		return 1;
	}
	/* "repeat=N": N lines, 0 for ever (a console that fills up). */
	for (n = rt_cmdline_u64("repeat", 1); ; ) {
		if (vq_request(&txq, 1, 1, &p, &len, &fl) < 0) {
			puts("virtio-console: transmit timed out");
			return 1;
		}
		if (n && !--n)
			return 0;
	}
}
