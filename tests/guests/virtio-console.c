/* virtio-console: print a line through the transmit queue (port 0). */
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

	if (vdev_find(&d, 3) || !(vdev_init(&d, VERSION_1, qs, 2) & 4)) {
		puts("virtio-console: no device");
		return 1;
	}
	if (vq_request(&txq, 1, 1, &p, &len, &fl) < 0) {
		puts("virtio-console: transmit timed out");
		return 1;
	}
	return 0;
}
