/* virtio-rng: two 32-byte reads must come back filled and different. */
#include "virtio-drv.h"

static struct vqueue vq;
static u8 a[32], b[32];

int main(void)
{
	struct vdev d;
	struct vqueue *qs[1] = { &vq };
	u32 len = 32;
	u16 fl = VF_WRITE;
	void *p;
	s64 la, lb;
	int i, nz = 0;

	if (vdev_find(&d, 4) || !(vdev_init(&d, VERSION_1, qs, 1) & 4)) {
		puts("virtio-rng: no device");
		return 1;
	}
	p = a;
	la = vq_request(&vq, 0, 1, &p, &len, &fl);
	p = b;
	lb = vq_request(&vq, 0, 1, &p, &len, &fl);
	for (i = 0; i < 32; i++)
		nz += a[i] != 0;
	printf("virtio-rng: got %ld and %ld bytes, %d non-zero\n", la, lb, nz);
	if (la != 32 || lb != 32 || nz < 16 || !memcmp(a, b, 32)) {
		puts("virtio-rng: FAILED");
		return 1;
	}
	puts("virtio-rng: ok");
	return 0;
}
