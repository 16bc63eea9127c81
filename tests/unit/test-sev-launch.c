/*
 * sev/launch.c without /dev/kvm: the measured byte stream (call order,
 * 16-byte widening, each byte once), and a whole launch against the model
 * whose measurement the guest owner verifies with the offline digest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "lkvm/sev-model.h"
#include "test.h"

#define OK(expr) do { int __ok = (expr); REQUIRE(__ok == 0); } while (0)

struct rec {
	u64 gpa[32], len[32];
	int n;
};

static int record(void *opaque, void *host, u64 gpa, u64 len)
{
	struct rec *r = opaque;

	if (r->n < 32) {
		r->gpa[r->n] = gpa;
		r->len[r->n] = len;
	}
	r->n++;
	return 0;
}

static int mem_kvm(struct kvm *kvm)
{
	memset(kvm, 0, sizeof(*kvm));
	kvm->cfg.ram_size = 4 << 20;
	kvm->nr_cpus = 1;
	return kvm__init_memory(kvm);
}

static void measured_ranges_are_widened_and_each_byte_measured_once(void)
{
	static const u64 want_gpa[] = { 0x1000, 0x2000, 0x1ff0, 0x2100, 0x3000, 0x5000,
					0x4ff0, 0x5010 };
	static const u64 want_len[] = { 0x10, 0x100, 0x10, 0x20, 0x10, 0x10, 0x10, 0x10 };
	u8 buf[0x100] = { 1 };
	struct kvm kvm;
	struct rec r = { .n = 0 };
	int i;

	OK(mem_kvm(&kvm));
	OK(kvm__load_bytes(&kvm, 0x1003, buf, 5));	/* -> 0x1000+0x10 */
	OK(kvm__load_bytes(&kvm, 0x1100, buf, 0));	/* empty: nothing */
	OK(kvm__load_bytes(&kvm, 0x1008, buf, 4));	/* covered already */
	OK(kvm__load_bytes(&kvm, 0x2000, buf, 0x100));
	OK(kvm__load_bytes(&kvm, 0x1ff8, buf, 0x10));	/* only 0x1ff0..0x2000 is new */
	OK(kvm__load_bytes(&kvm, 0x20f8, buf, 0x20));	/* only 0x2100..0x2120 */
	OK(kvm__load_mark(&kvm, 0x3000, 0x10));
	OK(kvm__load_bytes(&kvm, 0x5000, buf, 0x10));
	OK(kvm__load_bytes(&kvm, 0x4ff0, buf, 0x30));	/* around it: two pieces, in order */
	OK(sev__for_each_measured(&kvm, record, &r));
	CHECK_EQ(r.n, (int)ARRAY_SIZE(want_gpa));
	for (i = 0; i < r.n && i < (int)ARRAY_SIZE(want_gpa); i++) {
		if (r.gpa[i] != want_gpa[i] || r.len[i] != want_len[i])
			printf("# piece %d: 0x%llx+0x%llx, want 0x%llx+0x%llx\n", i,
			       (unsigned long long)r.gpa[i], (unsigned long long)r.len[i],
			       (unsigned long long)want_gpa[i], (unsigned long long)want_len[i]);
		CHECK_EQ(r.gpa[i], want_gpa[i]);
		CHECK_EQ(r.len[i], want_len[i]);
	}
	kvm__exit(&kvm);
}

static void a_range_outside_ram_is_refused(void)
{
	struct kvm kvm;
	struct rec r = { .n = 0 };

	OK(mem_kvm(&kvm));
	/* The loaders cannot record it (kvm__load_mark checks), so forge one. */
	kvm.loaded = calloc(1, sizeof(*kvm.loaded));
	REQUIRE(kvm.loaded);
	kvm.loaded[0].gpa = kvm.cfg.ram_size - 8;
	kvm.loaded[0].len = 16;
	kvm.nr_loaded = 1;
	CHECK_EQ(sev__for_each_measured(&kvm, record, &r), -EFAULT);
	kvm__exit(&kvm);
}

static int write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600), ret;

	if (fd < 0)
		return -errno;
	ret = write_full(fd, buf, len);
	close(fd);
	return ret;
}

/* LAUNCH_* through sev__launch(), checked by the guest owner's verification. */
static void launch_measurement_verifies_against_the_offline_digest(void)
{
	struct sev_user_data_pdh_cert_export e;
	struct sev_measure_blob blob;
	u8 pdh[SEV_CERT_SIZE], chain[SEV_CHAIN_SIZE], digest[32], image[0x3000];
	char dir[] = "/tmp/lkvm-sev-launch.XXXXXX", state[80], f_dh[80], f_sess[80], f_meas[80];
	struct kvm_sev_guest_status st;
	struct sev_cert cert;
	struct sev_session session;
	struct sev_tks tks;
	EVP_PKEY *key;
	struct kvm kvm;
	void *m = NULL;
	size_t mlen = 0;
	u32 err, policy = SEV_POLICY_NODBG | SEV_POLICY_NOKS;
	unsigned int i;

	REQUIRE(mkdtemp(dir));
	snprintf(state, sizeof(state), "%s/platform", dir);
	snprintf(f_dh, sizeof(f_dh), "%s/dh.cert", dir);
	snprintf(f_sess, sizeof(f_sess), "%s/session.bin", dir);
	snprintf(f_meas, sizeof(f_meas), "%s/measure.bin", dir);

	OK(mem_kvm(&kvm));
	kvm.cfg.sev_mode = SEV_MODE_EMULATED;
	sev_options.state_dir = state;
	sev_options.policy = policy;
	for (i = 0; i < sizeof(image); i++)
		image[i] = (u8)(i * 13);
	OK(kvm__load_bytes(&kvm, 0x100000, image, sizeof(image)));
	OK(kvm__load_bytes(&kvm, 0x6000, image, 100));
	OK(sev__vm_init(&kvm));
	REQUIRE(kvm.sev && kvm.sev->fw);

	/* The owner's session for this platform's PDH. */
	e = (struct sev_user_data_pdh_cert_export){
		.pdh_cert_address = (u64)(unsigned long)pdh, .pdh_cert_len = sizeof(pdh),
		.cert_chain_address = (u64)(unsigned long)chain, .cert_chain_len = sizeof(chain) };
	OK(sev_fw__platform(kvm.sev->fw, SEV_PDH_CERT_EXPORT, &e, &err));
	key = sev_key__gen_ec();
	REQUIRE(key);
	OK(sev_cert__init(&cert, SEV_USAGE_PDH, SEV_ALGO_ECDH_SHA256, key, 0, 0));
	OK(sev_session__create(key, pdh, sizeof(pdh), policy, &tks, &session));
	EVP_PKEY_free(key);
	OK(write_file(f_dh, &cert, sizeof(cert)));
	OK(write_file(f_sess, &session, sizeof(session)));
	sev_options.dh_cert = f_dh;
	sev_options.session = f_sess;
	sev_options.measure_out = f_meas;

	OK(sev__launch(&kvm));
	CHECK(kvm.sev->launched);
	OK(sev_fw__guest(kvm.sev->fw, KVM_SEV_GUEST_STATUS, &st, &err));
	CHECK_EQ(st.state, SEV_GSTATE_RUNNING);
	CHECK_EQ(st.policy, policy);

	OK(read_file(f_meas, &m, &mlen, 4096));
	REQUIRE(mlen == sizeof(blob));
	memcpy(&blob, m, sizeof(blob));
	free(m);
	OK(sev__launch_digest(&kvm, digest));
	CHECK_EQ(sev_measure__verify(tks.tik, SEV_MODEL_API_MAJOR, SEV_MODEL_API_MINOR,
				     SEV_MODEL_BUILD, policy, digest, &blob, sizeof(blob)), 0);
	/* One byte more in the image is another measurement. */
	OK(kvm__load_bytes(&kvm, 0x200000, image, 1));
	OK(sev__launch_digest(&kvm, digest));
	CHECK_EQ(sev_measure__verify(tks.tik, SEV_MODEL_API_MAJOR, SEV_MODEL_API_MINOR,
				     SEV_MODEL_BUILD, policy, digest, &blob, sizeof(blob)),
		 SEV_RET_BAD_MEASUREMENT);

	sev__exit(&kvm);
	kvm__exit(&kvm);
	sev_options.dh_cert = sev_options.session = sev_options.measure_out = NULL;
	sev_options.state_dir = NULL;
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		CHECK_EQ(system(cmd), 0);
	}
}

static void cpuid_leaf_reports_sev_and_the_c_bit(void)
{
	struct kvm kvm;
	u32 a, b, c, d;

	memset(&kvm, 0, sizeof(kvm));
	sev__cpuid_8000001f(&kvm, &a, &b, &c, &d);
	CHECK_EQ(a, 0);
	kvm.cfg.sev_mode = SEV_MODE_EMULATED;
	sev__cpuid_8000001f(&kvm, &a, &b, &c, &d);
	CHECK_EQ(a, 2);
	CHECK_EQ(b & 0x3f, SEV_MODEL_CBIT);
	CHECK_EQ((b >> 6) & 0x3f, SEV_MODEL_PHYS_REDUCTION);
}

TEST_MAIN_BEGIN("test-sev-launch")
	unsetenv("LKVM_SEV_ROOT");
	RUN(measured_ranges_are_widened_and_each_byte_measured_once);
	RUN(a_range_outside_ram_is_refused);
	RUN(launch_measurement_verifies_against_the_offline_digest);
	RUN(cpuid_leaf_reports_sev_and_the_c_bit);
TEST_MAIN_END()
