/*
 * SEV crypto: every test vector of the reference notes (sev-facts 2.5), the
 * session round trips (owner -> firmware, platform -> platform), packets,
 * measurement, and rejection of corrupted sessions and packets with the
 * firmware's error codes.
 */
#include "test.h"
#include "lkvm/sev-crypto.h"

#define CHECK_HEX(buf, hexstr) do {					\
	u8 __want[128];							\
	size_t __n = unhex((hexstr), __want, sizeof(__want));		\
	CHECK_MEM((buf), __want, __n);					\
} while (0)

static const u8 zero16[16];

/* test.h's REQUIRE evaluates its condition twice: call once, then require. */
#define OK(expr) do { int __ret = (expr); REQUIRE(__ret == 0); } while (0)

/* ---- test vectors (sev-facts 2.5, from virtee/sev, recomputed) ----------- */

static void test_vector_kdf_master(void)
{
	u8 master[16];

	OK(sev_kdf(zero16, 16, "sev-master-secret", zero16, 16, master, 16));
	CHECK_HEX(master, "ab4d269fcc62bedb4511d56c386ce706");
}

static void test_vector_kek_kik(void)
{
	u8 master[16], kek[16], kik[16], kek2[16], kik2[16];

	unhex("ab4d269fcc62bedb4511d56c386ce706", master, 16);
	OK(sev_kdf(master, 16, "sev-kek", NULL, 0, kek, 16));
	OK(sev_kdf(master, 16, "sev-kik", NULL, 0, kik, 16));
	CHECK_HEX(kek, "b6abfbfb75ea1ea74ed8750b8afdb973");
	CHECK_HEX(kik, "53b524bf5669a363f365c864acba8572");
	/* The combined derivation from Z gives the same keys. */
	OK(sev_session__derive(zero16, 16, zero16, kek2, kik2));
	CHECK_MEM(kek2, kek, 16);
	CHECK_MEM(kik2, kik, 16);
}

static void test_vector_kdf_multiblock(void)
{
	u8 a[48], b[16];

	/* Longer outputs are the concatenation of K(1), K(2)... each with L = 384. */
	OK(sev_kdf(zero16, 16, "x", NULL, 0, a, sizeof(a)));
	OK(sev_kdf(zero16, 16, "x", NULL, 0, b, sizeof(b)));
	CHECK(memcmp(a, b, 16) != 0);	/* L is part of the input */
	CHECK(sev_kdf(zero16, 16, "x", NULL, 0, a, 0) < 0);
}

static void test_vector_session_wrap(void)
{
	struct sev_tks tks = { { 0 }, { 0 } }, back;
	struct sev_session s;

	OK(sev_session__wrap_z(zero16, 16, 0, &tks, zero16, zero16, &s));
	CHECK_HEX(s.wrap_tk, "2137bc7f9bb8bd7c3e55a576a15d3454b3856b8ba27afadf46dcfee9f02c02c4");
	CHECK_HEX(s.wrap_mac, "3176c0752738bd9d5e86689534020f528c088f16238826b000b327dee6aeed7d");
	CHECK_HEX(s.policy_mac, "aa7855e13839dd767cd5da7c1ff5036540c9264b7a803029315e55375287b4af");
	CHECK_MEM(s.nonce, zero16, 16);
	CHECK_MEM(s.wrap_iv, zero16, 16);
	memset(&back, 0xa5, sizeof(back));
	CHECK_EQ(sev_session__unwrap_z(zero16, 16, 0, &s, &back), 0);
	CHECK_MEM(&back, &tks, sizeof(tks));
}

static void test_vector_measurement(void)
{
	u8 tik[16], digest[32], mnonce[16], m[32];
	struct sev_measure_blob blob;
	struct sev_digest d;

	unhex("66320db73158a35a255d051758e95ed4", tik, 16);
	unhex("4fbe0bedbad6c86ae8f68971d103e554", mnonce, 16);
	/* digest = SHA-256 of nothing, via the streaming digest. */
	OK(sev_digest__init(&d));
	OK(sev_digest__final(&d, digest));
	sev_digest__free(&d);
	CHECK_HEX(digest, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	OK(sev_measure__compute(tik, 0x00, 0x12, 0x0f, 0, digest, mnonce, m));
	CHECK_HEX(m, "6faab2daae389bcd3405a05d6cafe33c0414f7bedd0bae19ba5f38b7fd1664ea");

	memcpy(blob.measure, m, 32);
	memcpy(blob.mnonce, mnonce, 16);
	CHECK_EQ(sev_measure__verify(tik, 0, 0x12, 0x0f, 0, digest, &blob, sizeof(blob)), 0);
	CHECK_EQ(sev_measure__verify(tik, 0, 0x12, 0x0f, 1, digest, &blob, sizeof(blob)),
		 SEV_RET_BAD_MEASUREMENT);
	CHECK_EQ(sev_measure__verify(tik, 0, 0x13, 0x0f, 0, digest, &blob, sizeof(blob)),
		 SEV_RET_BAD_MEASUREMENT);
	CHECK_EQ(sev_measure__verify(tik, 0, 0x12, 0x10, 0, digest, &blob, sizeof(blob)),
		 SEV_RET_BAD_MEASUREMENT);
	CHECK_EQ(sev_measure__verify(tik, 0, 0x12, 0x0f, 0, digest, &blob, sizeof(blob) - 1),
		 SEV_RET_INVALID_LEN);
	blob.mnonce[15] ^= 1;
	CHECK_EQ(sev_measure__verify(tik, 0, 0x12, 0x0f, 0, digest, &blob, sizeof(blob)),
		 SEV_RET_BAD_MEASUREMENT);
	blob.mnonce[15] ^= 1;
	digest[0] ^= 0x80;
	CHECK_EQ(sev_measure__verify(tik, 0, 0x12, 0x0f, 0, digest, &blob, sizeof(blob)),
		 SEV_RET_BAD_MEASUREMENT);
}

static void test_measurement_old_api_omits_prefix(void)
{
	u8 tik[16] = { 1 }, digest[32] = { 2 }, mnonce[16] = { 3 }, m[32], want[32];
	u8 buf[4 + 32 + 16] = { 0 };

	memcpy(buf + 4, digest, 32);
	memcpy(buf + 36, mnonce, 16);
	OK(sev_hmac_sha256(tik, 16, buf, sizeof(buf), want));
	OK(sev_measure__compute(tik, 0, 16, 9, 0, digest, mnonce, m));
	CHECK_MEM(m, want, 32);
}

static void test_digest_streaming(void)
{
	static u8 data[10000];
	struct sev_digest d;
	u8 one[32], parts[32];
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (u8)(i * 7);
	OK(sev_digest__init(&d));
	OK(sev_digest__update(&d, data, sizeof(data)));
	OK(sev_digest__final(&d, one));
	sev_digest__free(&d);
	OK(sev_digest__init(&d));
	for (i = 0; i < sizeof(data); i += 4096)
		OK(sev_digest__update(&d, data + i, min(sizeof(data) - i, (size_t)4096)));
	OK(sev_digest__final(&d, parts));
	CHECK_MEM(one, parts, 32);
	OK(sev_digest__final(&d, parts));	/* final twice: same value */
	CHECK_MEM(one, parts, 32);
	sev_digest__free(&d);
}

static void test_aes_ctr_counter_carries_128bit(void)
{
	/* IV ...ffff: the second block's counter carries into the next byte. */
	u8 key[16] = { 0 }, iv[16], zero[32] = { 0 }, out[32], blk1[16], iv2[16] = { 0 };

	memset(iv, 0, 16);
	memset(iv + 8, 0xff, 8);
	OK(sev_aes128_ctr(key, iv, zero, out, 32));
	iv2[7] = 1;		/* iv + 1 with a carry out of the low 64 bits */
	OK(sev_aes128_ctr(key, iv2, zero, blk1, 16));
	CHECK_MEM(out + 16, blk1, 16);
}

/* ---- sessions ------------------------------------------------------------- */

static EVP_PKEY *pdh_a, *pdh_b, *owner;
static struct sev_cert cert_a, cert_b, cert_owner;

static void make_keys(void)
{
	pdh_a = sev_key__gen_ec();
	pdh_b = sev_key__gen_ec();
	owner = sev_key__gen_ec();
	if (!pdh_a || !pdh_b || !owner)
		abort();
	if (sev_cert__init(&cert_a, SEV_USAGE_PDH, SEV_ALGO_ECDH_SHA256, pdh_a, 0, 24) ||
	    sev_cert__init(&cert_b, SEV_USAGE_PDH, SEV_ALGO_ECDH_SHA256, pdh_b, 0, 24) ||
	    sev_cert__init(&cert_owner, SEV_USAGE_PDH, SEV_ALGO_ECDH_SHA256, owner, 0, 0))
		abort();
}

static void test_ecdh_symmetric(void)
{
	u8 z1[48], z2[48];

	OK(sev_ecdh(pdh_a, pdh_b, z1));
	OK(sev_ecdh(pdh_b, pdh_a, z2));
	CHECK_MEM(z1, z2, 48);
}

/* Owner makes a session for platform A's PDH; A's firmware opens it. */
static void test_owner_session_to_firmware(void)
{
	struct sev_tks tks, got;
	struct sev_session s;
	u32 policy = SEV_POLICY_NODBG | SEV_POLICY_NOKS | (0x18u << 24);

	OK(sev_session__create(owner, &cert_a, sizeof(cert_a), policy, &tks, &s));
	CHECK_EQ(sev_session__open(pdh_a, &cert_owner, sizeof(cert_owner), &s, sizeof(s),
				   policy, &got), 0);
	CHECK_MEM(&got, &tks, sizeof(tks));
	/* Platform B cannot open a session made for A. */
	CHECK_EQ(sev_session__open(pdh_b, &cert_owner, sizeof(cert_owner), &s, sizeof(s),
				   policy, &got), SEV_RET_BAD_MEASUREMENT);
}

/* SEND_START on A for target B; RECEIVE_START on B with A's PDH cert. */
static void test_send_start_to_receive_start(void)
{
	struct sev_tks tks, got;
	struct sev_session s;

	OK(sev_session__create(pdh_a, &cert_b, sizeof(cert_b), 0x1, &tks, &s));
	CHECK_EQ(sev_session__open(pdh_b, &cert_a, sizeof(cert_a), &s, sizeof(s), 0x1, &got), 0);
	CHECK_MEM(&got, &tks, sizeof(tks));
	/* fresh keys each time */
	{
		struct sev_tks tks2;
		struct sev_session s2;

		OK(sev_session__create(pdh_a, &cert_b, sizeof(cert_b), 0x1, &tks2, &s2));
		CHECK(memcmp(&tks2, &tks, sizeof(tks)));
		CHECK(memcmp(s2.nonce, s.nonce, 16));
	}
}

static void test_session_corruption_rejected(void)
{
	struct sev_tks tks, got;
	struct sev_session s, bad;
	struct sev_cert c;
	size_t i;

	OK(sev_session__create(owner, &cert_a, sizeof(cert_a), 0x5, &tks, &s));
	/* Every byte of the blob matters. */
	for (i = 0; i < sizeof(s); i++) {
		bad = s;
		((u8 *)&bad)[i] ^= 0x01;
		CHECK_EQ(sev_session__open(pdh_a, &cert_owner, sizeof(cert_owner), &bad,
					   sizeof(bad), 0x5, &got), SEV_RET_BAD_MEASUREMENT);
	}
	/* wrong policy: policy_mac fails */
	CHECK_EQ(sev_session__open(pdh_a, &cert_owner, sizeof(cert_owner), &s, sizeof(s), 0x1,
				   &got), SEV_RET_BAD_MEASUREMENT);
	/* wrong lengths */
	CHECK_EQ(sev_session__open(pdh_a, &cert_owner, sizeof(cert_owner), &s, sizeof(s) - 1,
				   0x5, &got), SEV_RET_INVALID_LEN);
	CHECK_EQ(sev_session__open(pdh_a, &cert_owner, sizeof(cert_owner) - 4, &s, sizeof(s),
				   0x5, &got), SEV_RET_INVALID_LEN);
	/* owner cert with the wrong usage / algo / a bad point */
	c = cert_owner;
	c.pub_usage = SEV_USAGE_PEK;
	CHECK_EQ(sev_session__open(pdh_a, &c, sizeof(c), &s, sizeof(s), 0x5, &got),
		 SEV_RET_INVALID_CERTIFICATE);
	c = cert_owner;
	c.pub_algo = SEV_ALGO_ECDH_SHA384;
	CHECK_EQ(sev_session__open(pdh_a, &c, sizeof(c), &s, sizeof(s), 0x5, &got),
		 SEV_RET_INVALID_CERTIFICATE);
	c = cert_owner;
	c.pubkey.ec.qy[0] ^= 1;
	CHECK_EQ(sev_session__open(pdh_a, &c, sizeof(c), &s, sizeof(s), 0x5, &got),
		 SEV_RET_INVALID_CERTIFICATE);
	/* a different, valid owner key: wrap_mac fails */
	c = cert_b;
	CHECK_EQ(sev_session__open(pdh_a, &c, sizeof(c), &s, sizeof(s), 0x5, &got),
		 SEV_RET_BAD_MEASUREMENT);
	/* and the good one still opens */
	CHECK_EQ(sev_session__open(pdh_a, &cert_owner, sizeof(cert_owner), &s, sizeof(s), 0x5,
				   &got), 0);
}

/* ---- packets -------------------------------------------------------------- */

static void test_packet_round_trip(void)
{
	static u8 page[4096], trans[4096], back[4096];
	struct sev_tks tks;
	struct sev_pkt_hdr hdr, hdr2;
	size_t i;

	for (i = 0; i < sizeof(page); i++)
		page[i] = (u8)(i ^ (i >> 8));
	OK(sev_random(&tks, sizeof(tks)));
	OK(sev_packet__seal(&tks, SEV_CTX_DATA, NULL, NULL, page, 4096, &hdr, trans));
	CHECK_EQ(hdr.flags, 0);
	CHECK(memcmp(trans, page, 4096));
	OK(sev_packet__open(&tks, SEV_CTX_DATA, NULL, &hdr, sizeof(hdr), trans, 4096, back));
	CHECK_MEM(back, page, 4096);
	/* fresh IV per packet */
	OK(sev_packet__seal(&tks, SEV_CTX_DATA, NULL, NULL, page, 4096, &hdr2, back));
	CHECK(memcmp(hdr.iv, hdr2.iv, 16));
	/* a longer header (hdr_len > 52) is fine for RECEIVE_UPDATE_DATA */
	{
		u8 big[64] = { 0 };

		memcpy(big, &hdr, sizeof(hdr));
		CHECK_EQ(sev_packet__open(&tks, SEV_CTX_DATA, NULL, big, sizeof(big), trans, 4096,
					  back), 0);
	}
}

static void test_packet_known_answer(void)
{
	/*
	 * Independent recomputation of the SEND_UPDATE_DATA format: ciphertext
	 * = AES-CTR(TEK, IV)(plain); MAC = HMAC(TIK, 02 || 00000000 || IV ||
	 * LE32(32) || LE32(32) || ct).
	 */
	struct sev_tks tks;
	u8 iv[16], plain[32], ct[32], ref_ct[32], mac_in[29 + 32], mac[32];
	struct sev_pkt_hdr hdr;

	memset(tks.tek, 0x11, 16);
	memset(tks.tik, 0x22, 16);
	memset(iv, 0x33, 16);
	memset(plain, 0x44, 32);
	OK(sev_packet__seal(&tks, SEV_CTX_DATA, NULL, iv, plain, 32, &hdr, ct));
	OK(sev_aes128_ctr(tks.tek, iv, plain, ref_ct, 32));
	CHECK_MEM(ct, ref_ct, 32);
	memset(mac_in, 0, sizeof(mac_in));
	mac_in[0] = 0x02;
	memcpy(mac_in + 5, iv, 16);
	mac_in[21] = 32;
	mac_in[25] = 32;
	memcpy(mac_in + 29, ct, 32);
	OK(sev_hmac_sha256(tks.tik, 16, mac_in, sizeof(mac_in), mac));
	CHECK_MEM(hdr.mac, mac, 32);
	CHECK_MEM(hdr.iv, iv, 16);
}

/* LAUNCH_SECRET: context 0x01 and the launch measure appended to the MAC input. */
static void test_secret_known_answer(void)
{
	struct sev_tks tks;
	u8 iv[16], plain[16], ct[16], measure[32], mac_in[29 + 16 + 32], mac[32];
	struct sev_pkt_hdr hdr;

	memset(tks.tek, 0x01, 16);
	memset(tks.tik, 0x02, 16);
	memset(iv, 0x03, 16);
	memset(plain, 0x04, 16);
	memset(measure, 0x05, 32);
	OK(sev_packet__seal(&tks, SEV_CTX_SECRET, measure, iv, plain, 16, &hdr, ct));
	memset(mac_in, 0, sizeof(mac_in));
	mac_in[0] = 0x01;
	memcpy(mac_in + 5, iv, 16);
	mac_in[21] = 16;
	mac_in[25] = 16;
	memcpy(mac_in + 29, ct, 16);
	memcpy(mac_in + 45, measure, 32);
	OK(sev_hmac_sha256(tks.tik, 16, mac_in, sizeof(mac_in), mac));
	CHECK_MEM(hdr.mac, mac, 32);
}

static void test_packet_in_place(void)
{
	static u8 page[4096], buf[4096];
	struct sev_tks tks;
	struct sev_pkt_hdr hdr;

	memset(page, 0x3c, sizeof(page));
	memcpy(buf, page, sizeof(buf));
	OK(sev_random(&tks, sizeof(tks)));
	OK(sev_packet__seal(&tks, SEV_CTX_DATA, NULL, NULL, buf, sizeof(buf), &hdr, buf));
	CHECK(memcmp(buf, page, sizeof(buf)));
	CHECK_EQ(sev_packet__open(&tks, SEV_CTX_DATA, NULL, &hdr, sizeof(hdr), buf, sizeof(buf),
				  buf), 0);
	CHECK_MEM(buf, page, sizeof(buf));
	CHECK_EQ(sev_packet__seal(&tks, SEV_CTX_DATA, NULL, NULL, buf, 0, &hdr, buf),
		 SEV_RET_INVALID_LEN);
}

static void test_packet_corruption_rejected(void)
{
	static u8 page[4096], trans[4096], back[4096], bad[4096];
	struct sev_tks tks, other;
	struct sev_pkt_hdr hdr, h;
	size_t i;

	memset(page, 0x5a, sizeof(page));
	OK(sev_random(&tks, sizeof(tks)));
	OK(sev_packet__seal(&tks, SEV_CTX_DATA, NULL, NULL, page, 4096, &hdr, trans));

	/* a flipped bit anywhere in the ciphertext */
	for (i = 0; i < 4096; i += 509) {
		memcpy(bad, trans, 4096);
		bad[i] ^= 0x10;
		memset(back, 0, sizeof(back));
		CHECK_EQ(sev_packet__open(&tks, SEV_CTX_DATA, NULL, &hdr, sizeof(hdr), bad, 4096,
					  back), SEV_RET_BAD_MEASUREMENT);
		CHECK_EQ(back[0], 0);	/* nothing written on failure */
	}
	/* in the IV, the MAC, the (non-compressed) flags */
	for (i = 0; i < sizeof(hdr); i++) {
		if (i == 0)
			continue;	/* bit 0 of flags is COMPRESSED: below */
		h = hdr;
		((u8 *)&h)[i] ^= 0x01;
		CHECK_EQ(sev_packet__open(&tks, SEV_CTX_DATA, NULL, &h, sizeof(h), trans, 4096,
					  back), SEV_RET_BAD_MEASUREMENT);
	}
	h = hdr;
	h.flags |= 0x2;
	CHECK_EQ(sev_packet__open(&tks, SEV_CTX_DATA, NULL, &h, sizeof(h), trans, 4096, back),
		 SEV_RET_BAD_MEASUREMENT);
	/* compressed: UNSUPPORTED before any MAC work */
	h = hdr;
	h.flags |= SEV_PKT_FLAG_COMPRESSED;
	CHECK_EQ(sev_packet__open(&tks, SEV_CTX_DATA, NULL, &h, sizeof(h), trans, 4096, back),
		 SEV_RET_UNSUPPORTED);
	/* short header, empty or truncated payload */
	CHECK_EQ(sev_packet__open(&tks, SEV_CTX_DATA, NULL, &hdr, sizeof(hdr) - 1, trans, 4096,
				  back), SEV_RET_INVALID_LEN);
	CHECK_EQ(sev_packet__open(&tks, SEV_CTX_DATA, NULL, &hdr, sizeof(hdr), trans, 0, back),
		 SEV_RET_INVALID_LEN);
	CHECK_EQ(sev_packet__open(&tks, SEV_CTX_DATA, NULL, &hdr, sizeof(hdr), trans, 4080, back),
		 SEV_RET_BAD_MEASUREMENT);
	/* wrong context byte, wrong keys */
	CHECK_EQ(sev_packet__open(&tks, SEV_CTX_VMSA, NULL, &hdr, sizeof(hdr), trans, 4096, back),
		 SEV_RET_BAD_MEASUREMENT);
	other = tks;
	other.tik[3] ^= 1;
	CHECK_EQ(sev_packet__open(&other, SEV_CTX_DATA, NULL, &hdr, sizeof(hdr), trans, 4096,
				  back), SEV_RET_BAD_MEASUREMENT);
}

static void test_secret_bound_to_measure(void)
{
	u8 secret[64], trans[64], back[64], measure[32], other[32];
	struct sev_tks tks;
	struct sev_pkt_hdr hdr;

	memset(secret, 's', sizeof(secret));
	memset(measure, 0x6f, 32);
	memcpy(other, measure, 32);
	other[31] ^= 1;
	OK(sev_random(&tks, sizeof(tks)));
	OK(sev_packet__seal(&tks, SEV_CTX_SECRET, measure, NULL, secret, 64, &hdr, trans));
	CHECK_EQ(sev_packet__open(&tks, SEV_CTX_SECRET, measure, &hdr, sizeof(hdr), trans, 64,
				  back), 0);
	CHECK_MEM(back, secret, 64);
	CHECK_EQ(sev_packet__open(&tks, SEV_CTX_SECRET, other, &hdr, sizeof(hdr), trans, 64,
				  back), SEV_RET_BAD_MEASUREMENT);
	CHECK_EQ(sev_packet__open(&tks, SEV_CTX_SECRET, NULL, &hdr, sizeof(hdr), trans, 64, back),
		 SEV_RET_BAD_MEASUREMENT);
	CHECK_EQ(sev_packet__open(&tks, SEV_CTX_DATA, measure, &hdr, sizeof(hdr), trans, 64,
				  back), SEV_RET_BAD_MEASUREMENT);
}

static void test_ret_names(void)
{
	CHECK(!strcmp(sev_ret__str(SEV_RET_BAD_MEASUREMENT), "BAD_MEASUREMENT"));
	CHECK(!strcmp(sev_ret__str(SEV_RET_INVALID_LEN), "INVALID_LENGTH"));
	CHECK(!strcmp(sev_ret__str(-12), "LOCAL_ERROR"));
	CHECK(!strcmp(sev_ret__str(1000), "UNKNOWN"));
}

TEST_MAIN_BEGIN("test-sev-crypto")
	make_keys();
	RUN(test_vector_kdf_master);
	RUN(test_vector_kek_kik);
	RUN(test_vector_kdf_multiblock);
	RUN(test_vector_session_wrap);
	RUN(test_vector_measurement);
	RUN(test_measurement_old_api_omits_prefix);
	RUN(test_digest_streaming);
	RUN(test_aes_ctr_counter_carries_128bit);
	RUN(test_ecdh_symmetric);
	RUN(test_owner_session_to_firmware);
	RUN(test_send_start_to_receive_start);
	RUN(test_session_corruption_rejected);
	RUN(test_packet_round_trip);
	RUN(test_packet_known_answer);
	RUN(test_secret_known_answer);
	RUN(test_packet_in_place);
	RUN(test_packet_corruption_rejected);
	RUN(test_secret_bound_to_measure);
	RUN(test_ret_names);
	EVP_PKEY_free(pdh_a);
	EVP_PKEY_free(pdh_b);
	EVP_PKEY_free(owner);
TEST_MAIN_END()
