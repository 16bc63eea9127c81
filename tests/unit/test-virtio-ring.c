/*
 * The descriptor-chain walker against hand-built rings in a malloc'd fake
 * guest memory: good chains come out exactly, every malformed one (loops,
 * out-of-range indices and addresses, oversized chains, bad indirect
 * tables, private memory) is refused with an error and never read past.
 */
#include <errno.h>

#include "test.h"
#include "lkvm/virtio.h"

#define MEM_BASE	0x100000ULL
#define MEM_SIZE	0x100000ULL
#define QSZ		8
#define DESC_GPA	(MEM_BASE + 0x0)
#define AVAIL_GPA	(MEM_BASE + 0x1000)
#define USED_GPA	(MEM_BASE + 0x2000)
#define BUF_GPA		(MEM_BASE + 0x10000)
#define PRIV_GPA	(MEM_BASE + 0x80000)	/* pretend SEV-private page */

static u8 *mem;
static int dirty_calls;

static void *fake_ptr(void *ctx, u64 gpa, u64 len)
{
	if (gpa < MEM_BASE || len > MEM_SIZE || gpa - MEM_BASE > MEM_SIZE - len)
		return NULL;
	if (gpa < PRIV_GPA + 0x1000 && gpa + len > PRIV_GPA)
		return NULL;
	return mem + (gpa - MEM_BASE);
}

static void fake_dirty(void *ctx, u64 gpa, u64 len)
{
	CHECK(fake_ptr(ctx, gpa, len) != NULL);
	dirty_calls++;
}

static const struct virtio_mem fmem = { .ptr = fake_ptr, .dirty = fake_dirty };
static struct virt_queue vq;
static struct virtq_chain chain;

static struct vring_desc *desc(void) { return (void *)(mem + DESC_GPA - MEM_BASE); }
static struct vring_avail *avail(void) { return (void *)(mem + AVAIL_GPA - MEM_BASE); }
static struct vring_used *used(void) { return (void *)(mem + USED_GPA - MEM_BASE); }

static u16 avail_event(void)
{
	u16 v;

	memcpy(&v, &used()->ring[QSZ], 2);
	return v;
}

static void setup(void)
{
	memset(mem, 0, MEM_SIZE);
	memset(&vq, 0, sizeof(vq));
	vq.mem = &fmem;
	vq.size = QSZ;
	virtq__reset(&vq);
	vq.desc_gpa = DESC_GPA;
	vq.avail_gpa = AVAIL_GPA;
	vq.used_gpa = USED_GPA;
	vq.enabled = true;
	vq.indirect = true;
	dirty_calls = 0;
}

static void set_desc(struct vring_desc *t, int i, u64 addr, u32 len, u16 flags, u16 next)
{
	t[i].addr = addr;
	t[i].len = len;
	t[i].flags = flags;
	t[i].next = next;
}

static void offer(u16 head)
{
	avail()->ring[avail()->idx % QSZ] = head;
	avail()->idx++;
}

static int pop_one(void)
{
	if (virtq__map(&vq))
		return -1000;
	return virtq__pop(&vq, &chain);
}

static void test_simple_chain(void)
{
	int r;

	setup();
	memcpy(mem + BUF_GPA - MEM_BASE, "hello", 5);
	set_desc(desc(), 0, BUF_GPA, 5, VRING_DESC_F_NEXT, 3);
	set_desc(desc(), 3, BUF_GPA + 0x100, 0, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 5);
	set_desc(desc(), 5, BUF_GPA + 0x200, 64, VRING_DESC_F_WRITE, 0);
	offer(0);
	r = pop_one();
	REQUIRE(r == 1);
	CHECK_EQ(chain.head, 0);
	CHECK_EQ(chain.nr_out, 1);
	CHECK_EQ(chain.nr_in, 1);	/* zero-length buffer skipped */
	CHECK_EQ(chain.out_len, 5);
	CHECK_EQ(chain.in_len, 64);
	{
		char buf[8] = { 0 };

		CHECK_EQ(virtq_chain__read(&chain, 1, buf, 8), 4);
		CHECK(!memcmp(buf, "ello", 4));
		CHECK_EQ(virtq_chain__write(&chain, 60, "abcdefgh", 8), 4);
		CHECK(!memcmp(mem + BUF_GPA + 0x200 + 60 - MEM_BASE, "abcd", 4));
	}
	virtq__push(&vq, &chain, 1000);		/* claims too much: clamped */
	CHECK_EQ(used()->idx, 1);
	CHECK_EQ(used()->ring[0].id, 0);
	CHECK_EQ(used()->ring[0].len, 64);
	CHECK(dirty_calls >= 2);
	CHECK_EQ(pop_one(), 0);			/* ring empty now */
}

static void test_loop(void)
{
	setup();
	set_desc(desc(), 0, BUF_GPA, 4, VRING_DESC_F_NEXT, 1);
	set_desc(desc(), 1, BUF_GPA, 4, VRING_DESC_F_NEXT, 0);
	offer(0);
	CHECK_EQ(pop_one(), -ELOOP);

	setup();	/* a descriptor that points at itself */
	set_desc(desc(), 2, BUF_GPA, 4, VRING_DESC_F_NEXT, 2);
	offer(2);
	CHECK_EQ(pop_one(), -ELOOP);
}

static void test_out_of_range(void)
{
	setup();	/* next beyond the table */
	set_desc(desc(), 0, BUF_GPA, 4, VRING_DESC_F_NEXT, QSZ);
	offer(0);
	CHECK_EQ(pop_one(), -ERANGE);

	setup();	/* head beyond the table */
	offer(QSZ + 3);
	CHECK_EQ(pop_one(), -ERANGE);

	setup();	/* buffer outside guest RAM */
	set_desc(desc(), 0, MEM_BASE + MEM_SIZE - 4, 8, 0, 0);
	offer(0);
	CHECK_EQ(pop_one(), -EFAULT);

	setup();	/* address + length wraps around 2^64 */
	set_desc(desc(), 0, ~0ULL - 2, 16, 0, 0);
	offer(0);
	CHECK_EQ(pop_one(), -EFAULT);

	setup();	/* buffer in a private (SEV) page */
	set_desc(desc(), 0, PRIV_GPA + 0x800, 16, VRING_DESC_F_WRITE, 0);
	offer(0);
	CHECK_EQ(pop_one(), -EFAULT);

	setup();	/* rings themselves outside RAM / private / misaligned */
	vq.used_gpa = MEM_BASE + MEM_SIZE - 8;
	CHECK_EQ(virtq__map(&vq), -EFAULT);
	vq.used_gpa = PRIV_GPA;
	CHECK_EQ(virtq__map(&vq), -EFAULT);
	vq.used_gpa = USED_GPA + 2;
	CHECK_EQ(virtq__map(&vq), -EINVAL);
	vq.used_gpa = USED_GPA;
	vq.size = 6;	/* not a power of two */
	CHECK_EQ(virtq__map(&vq), -EINVAL);
}

static void test_oversized(void)
{
	struct vring_desc *t = (void *)(mem + 0x20000);
	int i;

	setup();	/* more segments than the walker takes, via indirect */
	for (i = 0; i < VIRTQ_MAX_INDIRECT; i++)
		set_desc(t, i, BUF_GPA, 1, VRING_DESC_F_NEXT, i + 1);
	set_desc(t, VIRTQ_MAX_INDIRECT - 1, BUF_GPA, 1, 0, 0);
	set_desc(desc(), 0, MEM_BASE + 0x20000, 16 * VIRTQ_MAX_INDIRECT, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	CHECK_EQ(pop_one(), 1);		/* exactly at the limit is fine */
	CHECK_EQ(chain.nr_out, VIRTQ_MAX_SEGS);

	setup();	/* indirect table longer than allowed */
	set_desc(desc(), 0, MEM_BASE + 0x20000, 16 * (VIRTQ_MAX_INDIRECT + 1),
		 VRING_DESC_F_INDIRECT, 0);
	offer(0);
	CHECK_EQ(pop_one(), -E2BIG);

	setup();	/* total length above the per-chain cap */
	set_desc(desc(), 0, BUF_GPA, 0x60000, VRING_DESC_F_NEXT, 1);
	for (i = 1; i < QSZ; i++)
		set_desc(desc(), i, BUF_GPA, 0x60000, VRING_DESC_F_NEXT, i + 1);
	set_desc(desc(), QSZ - 1, BUF_GPA, 0xffffffff, 0, 0);
	offer(0);
	CHECK_EQ(pop_one(), -E2BIG);

	setup();	/* avail idx ran more than a ring ahead */
	avail()->idx = QSZ + 1;
	CHECK_EQ(pop_one(), -EINVAL);
}

static void test_indirect(void)
{
	struct vring_desc *t = (void *)(mem + 0x20000);
	int r;

	setup();
	set_desc(t, 0, BUF_GPA, 16, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, BUF_GPA + 16, 32, VRING_DESC_F_WRITE, 0);
	set_desc(desc(), 4, MEM_BASE + 0x20000, 32, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	r = pop_one();
	REQUIRE(r == 1);
	CHECK_EQ(chain.head, 4);
	CHECK_EQ(chain.out_len, 16);
	CHECK_EQ(chain.in_len, 32);

	setup();	/* indirect not negotiated */
	vq.indirect = false;
	set_desc(t, 0, BUF_GPA, 16, 0, 0);
	set_desc(desc(), 0, MEM_BASE + 0x20000, 16, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	CHECK_EQ(pop_one(), -EINVAL);

	setup();	/* nested indirect */
	set_desc(t, 0, MEM_BASE + 0x20000, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(desc(), 0, MEM_BASE + 0x20000, 16, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	CHECK_EQ(pop_one(), -EINVAL);

	setup();	/* INDIRECT together with NEXT */
	set_desc(t, 0, BUF_GPA, 16, 0, 0);
	set_desc(desc(), 0, MEM_BASE + 0x20000, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	offer(0);
	CHECK_EQ(pop_one(), -EINVAL);

	setup();	/* table length not a multiple of a descriptor */
	set_desc(desc(), 0, MEM_BASE + 0x20000, 24, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	CHECK_EQ(pop_one(), -E2BIG);

	setup();	/* loop inside the indirect table */
	set_desc(t, 0, BUF_GPA, 16, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, BUF_GPA, 16, VRING_DESC_F_NEXT, 0);
	set_desc(desc(), 0, MEM_BASE + 0x20000, 32, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	CHECK_EQ(pop_one(), -ELOOP);

	setup();	/* next beyond the indirect table */
	set_desc(t, 0, BUF_GPA, 16, VRING_DESC_F_NEXT, 2);
	set_desc(desc(), 0, MEM_BASE + 0x20000, 32, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	CHECK_EQ(pop_one(), -ERANGE);

	setup();	/* indirect table in private memory */
	set_desc(desc(), 0, PRIV_GPA, 32, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	CHECK_EQ(pop_one(), -EFAULT);
}

static void test_order_and_zero(void)
{
	setup();	/* readable after writable is refused */
	set_desc(desc(), 0, BUF_GPA, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(desc(), 1, BUF_GPA, 4, 0, 0);
	offer(0);
	CHECK_EQ(pop_one(), -EINVAL);

	setup();	/* a chain of only zero-length buffers (address ignored) */
	set_desc(desc(), 0, 0xdead0000000ULL, 0, VRING_DESC_F_NEXT, 1);
	set_desc(desc(), 1, 0, 0, VRING_DESC_F_WRITE, 0);
	offer(0);
	CHECK_EQ(pop_one(), 1);
	CHECK_EQ(chain.nr_out + chain.nr_in, 0);
	virtq__push(&vq, &chain, 5);
	CHECK_EQ(used()->ring[0].len, 0);
}

static void test_wrapping_indices(void)
{
	int i;

	setup();
	/* Start both sides just below 2^16 so the indices wrap mid-test. */
	avail()->idx = 65533;
	vq.last_avail = 65533;
	vq.used_idx = 65533;
	used()->idx = 65533;
	set_desc(desc(), 0, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
	for (i = 0; i < 6; i++) {
		offer(0);
		CHECK_EQ(pop_one(), 1);
		virtq__push(&vq, &chain, 8);
	}
	CHECK_EQ(vq.last_avail, 3);
	CHECK_EQ(used()->idx, 3);
	CHECK_EQ(pop_one(), 0);
}

static void test_event_idx(void)
{
	int r;

	setup();
	vq.event_idx = true;
	set_desc(desc(), 0, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
	offer(0);
	offer(0);
	r = pop_one();
	REQUIRE(r == 1);
	/* The device publishes how far it has read in avail_event. */
	CHECK_EQ(avail_event(), 0);
	CHECK_EQ(pop_one(), 1);
	CHECK_EQ(avail_event(), 1);
	CHECK_EQ(pop_one(), 0);
	CHECK_EQ(avail_event(), 2);

	virtq__push(&vq, &chain, 8);
	CHECK(virtq__should_signal(&vq));	/* first time: always */
	avail()->ring[QSZ] = 5;			/* used_event: wake me at 6 */
	virtq__push(&vq, &chain, 8);
	CHECK(!virtq__should_signal(&vq));
	avail()->ring[QSZ] = 2;			/* wake me when idx passes 2 */
	virtq__push(&vq, &chain, 8);
	CHECK(virtq__should_signal(&vq));

	setup();	/* without event idx the NO_INTERRUPT flag rules */
	avail()->flags = VRING_AVAIL_F_NO_INTERRUPT;
	r = virtq__map(&vq);
	REQUIRE(r == 0);
	CHECK(!virtq__should_signal(&vq));
	avail()->flags = 0;
	CHECK(virtq__should_signal(&vq));
}

TEST_MAIN_BEGIN("test-virtio-ring")
	mem = malloc(MEM_SIZE);
	if (!mem)
		return 1;
	RUN(test_simple_chain);
	RUN(test_loop);
	RUN(test_out_of_range);
	RUN(test_oversized);
	RUN(test_indirect);
	RUN(test_order_and_zero);
	RUN(test_wrapping_indices);
	RUN(test_event_idx);
	free(mem);
TEST_MAIN_END()
