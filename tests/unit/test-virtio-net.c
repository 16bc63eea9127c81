/*
 * virtio-net's option parsing and its announcement frame: the MAC forms a
 * user may type and every malformed one, the rule that two devices of one
 * guest never share a MAC (defaults included), and the RARP frame sent
 * after an incoming migration, byte for byte as QEMU builds it.
 */
#include <errno.h>

#include "test.h"
#include "lkvm/virtio-devices.h"

static void test_parse_mac(void)
{
	static const char *const bad[] = {
		"", "0", "02", "02:", "02:aa:bb:cc:dd", "02:aa:bb:cc:dd:", "02:aa:bb:cc:dd:ee:",
		"02:aa:bb:cc:dd:ee:ff", "02:aa-bb:cc:dd:ee", "2:aa:bb:cc:dd:ee", "02:aa:bb:cc:dd:e",
		"0g:aa:bb:cc:dd:ee", "02.aa.bb.cc.dd.ee", "02aabbccddee", " 02:aa:bb:cc:dd:ee",
		"02:aa:bb:cc:dd:ee ", "02::aa:bb:cc:dd:e",
	};
	const char *why = NULL;
	u8 mac[6];
	size_t i;

	CHECK_EQ(virtio_net__parse_mac("02:AA:bb:0c:dd:ee", mac, &why), 0);
	CHECK(!memcmp(mac, "\x02\xaa\xbb\x0c\xdd\xee", 6));
	CHECK_EQ(virtio_net__parse_mac("52-54-00-12-34-56", mac, &why), 0);
	CHECK(!memcmp(mac, "\x52\x54\x00\x12\x34\x56", 6));
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		why = NULL;
		CHECK_EQ(virtio_net__parse_mac(bad[i], mac, &why), -EINVAL);
		CHECK(why && strstr(why, "six hex octets"));
	}
	CHECK_EQ(virtio_net__parse_mac("01:00:5e:00:00:01", mac, &why), -EINVAL);
	CHECK(strstr(why, "multicast") != NULL);
	CHECK_EQ(virtio_net__parse_mac("ff:ff:ff:ff:ff:ff", mac, &why), -EINVAL);
	CHECK(strstr(why, "multicast") != NULL);
	CHECK_EQ(virtio_net__parse_mac("00:00:00:00:00:00", mac, &why), -EINVAL);
	CHECK(strstr(why, "all zero") != NULL);
}

/* Each call adds a device unless it fails; the table holds 4. */
static void test_options(void)
{
	const struct option o = OPT_CALLBACK_('n', "network", NULL, "", "", virtio_net__parse_opt, 0);

	CHECK_EQ(virtio_net__parse_opt(&o, "mode=user"), -1);
	CHECK_EQ(virtio_net__parse_opt(&o, "tapif=x"), -1);		/* no mode */
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap,mac=01:00:00:00:00:01"), -1);
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap,mac="), -1);
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap,colour=blue"), -1);
	/* A setting twice or an empty one is a typo (the last used to win). */
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap,tapif=a,tapif=b"), -1);
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap,mac=02:00:00:00:00:09,guest_mac=02:00:00:00:00:08"), -1);
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap,mode=tap"), -1);
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap,,tapif=a"), -1);
	CHECK_EQ(virtio_net__parse_opt(&o, ",mode=tap"), -1);
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap,"), -1);
	/* device 0: default 52:54:00:12:34:56 */
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap"), 0);
	/* device 1 may not take device 0's default, by either spelling */
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap,mac=52:54:00:12:34:56"), -1);
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap,guest_mac=52-54-00-12-34-56"), -1);
	/* device 1 takes device 2's default-to-be: then device 2's default collides */
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap,tapif=t1,guest_mac=52:54:00:12:34:58"), 0);
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap"), -1);
	/* one tap for two devices: the second open would fail with EBUSY */
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap,tapif=t1,mac=02:00:00:00:00:07"), -1);
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap,mac=02:00:00:00:00:02"), 0);
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap"), 0);		/* device 3: ...:59 */
	CHECK_EQ(virtio_net__parse_opt(&o, "mode=tap,mac=02:00:00:00:00:04"), -1);	/* full */
}

static void test_announce_frame(void)
{
	static const u8 want[VIRTIO_NET_ANNOUNCE_LEN] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x1c, 0xaa, 0x00, 0x00, 0x2f,
		0x80, 0x35,			/* RARP */
		0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x03,
		0x02, 0x1c, 0xaa, 0x00, 0x00, 0x2f, 0, 0, 0, 0,
		0x02, 0x1c, 0xaa, 0x00, 0x00, 0x2f, 0, 0, 0, 0,
		/* 18 bytes of padding to the 60-byte minimum */
	};
	u8 f[VIRTIO_NET_ANNOUNCE_LEN];

	memset(f, 0xa5, sizeof(f));
	virtio_net__announce_frame((const u8 *)"\x02\x1c\xaa\x00\x00\x2f", f);
	CHECK(!memcmp(f, want, sizeof(f)));
}

TEST_MAIN_BEGIN("test-virtio-net")
	RUN(test_parse_mac);
	RUN(test_options);
	RUN(test_announce_frame);
TEST_MAIN_END()
