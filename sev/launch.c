/*
 * Launching an SEV guest: the sequence the core runs between "all loaders
 * placed the image" and "first vCPU instruction".
 *
 *   LAUNCH_START        policy, and the guest owner's DH cert + session
 *   LAUNCH_UPDATE_DATA  every range of kvm->loaded[] (see below)
 *   LAUNCH_MEASURE      to --sev-measure-out or stdout
 *   LAUNCH_SECRET       optional: owner's header + ciphertext at a GPA
 *   LAUNCH_FINISH
 *
 * The measured stream is defined once, in sev__for_each_measured(), and
 * used both here and by `lkvm sev measure`, so the prediction and the
 * launch cannot drift apart.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cpuid.h>

#include "crypto-internal.h"
#include "lkvm/cpuid.h"
#include "lkvm/sev-migration.h"
#include "lkvm/init.h"
#include "lkvm/out-files.h"
#include "lkvm/run-hooks.h"
#include "lkvm/sev.h"
#include "lkvm/sev-crypto.h"
#include "lkvm/virtio-devices.h"

struct span { u64 start, end; };

/*
 * Walk kvm->loaded[] in call order.  Each range is widened to 16 bytes
 * (the firmware's granule), then clipped against everything emitted
 * before, so every byte is measured once, at the position of the first
 * load that touched it.  On hardware LAUNCH_UPDATE_DATA encrypts in place:
 * handing it the same bytes twice would encrypt ciphertext, so the clipping
 * is required, not cosmetic.
 */
int sev__for_each_measured(struct kvm *kvm,
			   int (*cb)(void *opaque, void *host, u64 gpa, u64 len),
			   void *opaque)
{
	struct span *done, *todo;
	int nr_done = 0, nr_todo, i, j, ret = 0;

	if (!kvm->nr_loaded)
		return 0;
	/* Clipping one range by n spans leaves at most n + 1 pieces. */
	done = calloc(2 * (size_t)kvm->nr_loaded + 1, sizeof(*done));
	todo = calloc(2 * (size_t)kvm->nr_loaded + 2, sizeof(*todo));
	if (!done || !todo) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < kvm->nr_loaded; i++) {
		const struct kvm_loaded_range *r = &kvm->loaded[i];

		if (!r->len)
			continue;
		if (r->gpa + r->len < r->gpa) {
			ret = -EINVAL;
			goto out;
		}
		todo[0].start = ALIGN_DOWN(r->gpa, 16);
		todo[0].end = ALIGN_UP(r->gpa + r->len, 16);
		nr_todo = 1;
		for (j = 0; j < nr_done && nr_todo; j++) {
			struct span d = done[j];
			int k, n = nr_todo;

			for (k = 0; k < n; k++) {
				struct span t = todo[k];

				if (t.end <= d.start || t.start >= d.end)
					continue;
				/* Cut d out of t: up to two pieces remain. */
				todo[k].start = todo[k].end = 0;
				if (t.start < d.start)
					todo[k] = (struct span){ t.start, d.start };
				if (t.end > d.end) {
					if (todo[k].end)
						todo[nr_todo++] = (struct span){ d.end, t.end };
					else
						todo[k] = (struct span){ d.end, t.end };
				}
			}
			/* Drop emptied pieces, keeping order. */
			for (k = 0, n = 0; k < nr_todo; k++)
				if (todo[k].end > todo[k].start)
					todo[n++] = todo[k];
			nr_todo = n;
		}
		/* Pieces of one range in ascending address order. */
		for (j = 1; j < nr_todo; j++) {
			struct span t = todo[j];
			int k = j - 1;

			while (k >= 0 && todo[k].start > t.start) {
				todo[k + 1] = todo[k];
				k--;
			}
			todo[k + 1] = t;
		}
		for (j = 0; j < nr_todo; j++) {
			u64 len = todo[j].end - todo[j].start;
			void *host = guest_flat_to_host(kvm, todo[j].start, len);

			if (!host) {
				pr_err("SEV: loaded range 0x%llx+0x%llx is not inside one RAM bank",
				       (unsigned long long)todo[j].start, (unsigned long long)len);
				ret = -EFAULT;
				goto out;
			}
			ret = cb(opaque, host, todo[j].start, len);
			if (ret)
				goto out;
			done[nr_done++] = todo[j];
		}
		/* Merge adjacent/overlapping done spans to keep the list short. */
		if (nr_done > 1) {
			for (j = 1; j < nr_done; j++) {
				struct span t = done[j];
				int k = j - 1;

				while (k >= 0 && done[k].start > t.start) {
					done[k + 1] = done[k];
					k--;
				}
				done[k + 1] = t;
			}
			for (j = 1; j < nr_done; ) {
				if (done[j].start <= done[j - 1].end) {
					done[j - 1].end = max(done[j - 1].end, done[j].end);
					memmove(&done[j], &done[j + 1],
						(nr_done - j - 1) * sizeof(*done));
					nr_done--;
				} else {
					j++;
				}
			}
		}
	}
out:
	free(done);
	free(todo);
	return ret;
}

static int digest_cb(void *opaque, void *host, u64 gpa, u64 len)
{
	return sev_digest__update(opaque, host, len) ? -EIO : 0;
}

int sev__launch_digest(struct kvm *kvm, u8 digest[32])
{
	struct sev_digest d;
	int ret;

	if (sev_digest__init(&d))
		return -ENOMEM;
	ret = sev__for_each_measured(kvm, digest_cb, &d);
	if (!ret && sev_digest__final(&d, digest))
		ret = -EIO;
	sev_digest__free(&d);
	return ret;
}

/* ---------------------------------------------------------------- */

static void fw_fail(const char *what, int ret, u32 error, const char *hint)
{
	char buf[80];

	pr_err("SEV: %s failed: %s%s%s", what, sev_fw__strerror(ret, error, buf, sizeof(buf)),
	       hint ? ": " : "", hint ? hint : "");
}

static int read_blob(const char *what, const char *path, void **buf, size_t *len)
{
	int ret = read_file(path, buf, len, SEV_FW_BLOB_MAX);

	if (ret < 0)
		pr_err("SEV: cannot read %s %s: %s%s", what, path,
		       ret == -EINVAL ? "not a regular file" : strerror(-ret),
		       ret == -EFBIG ? " (larger than 16 KiB)" : "");
	return ret;
}

static const char *launch_start_hint(u32 error)
{
	switch (error) {
	case SEV_RET_INVALID_LEN:
		return "the DH certificate must be 0x824 bytes and the session 0x80";
	case SEV_RET_INVALID_CERTIFICATE:
		return "the guest owner's DH certificate (--sev-dh-cert) is malformed";
	case SEV_RET_BAD_MEASUREMENT:
		return "the session blob does not unwrap: made for another platform's PDH "
		       "or another policy";
	case SEV_RET_POLICY_FAILURE:
		return "the policy is refused (reserved bits, SEV-ES, or an API version above "
		       "the firmware's)";
	case SEV_RET_INVALID_PLATFORM_STATE:
		return "the platform is not initialised (see `lkvm sev status`)";
	}
	return NULL;
}

static int do_launch_start(struct kvm *kvm, struct sev_guest *sg)
{
	struct kvm_sev_launch_start start = { .policy = sev_options.policy };
	void *dh = NULL, *session = NULL;
	size_t dh_len = 0, session_len = 0;
	u32 error;
	int ret;

	if (sev_options.dh_cert) {	/* with the session: check_pairs() */
		ret = read_blob("DH certificate", sev_options.dh_cert, &dh, &dh_len);
		if (ret < 0)
			return ret;
		ret = read_blob("session", sev_options.session, &session, &session_len);
		if (ret < 0)
			goto out;
		start.dh_uaddr = (u64)(unsigned long)dh;
		start.dh_len = (u32)dh_len;
		start.session_uaddr = (u64)(unsigned long)session;
		start.session_len = (u32)session_len;
		if (!dh_len || !session_len) {
			pr_err("SEV: empty %s file", !dh_len ? "DH certificate" : "session");
			ret = -EINVAL;
			goto out;
		}
	}
	ret = sev_fw__guest(sg->fw, KVM_SEV_LAUNCH_START, &start, &error);
	if (ret == -EIO && error == SEV_RET_INVALID_LEN && dh) {
		char hint[PATH_MAX * 2 + 160];

		/* Which file, and what it holds: the firmware says only "a length". */
		snprintf_cut(hint, sizeof(hint), "the DH certificate must be 0x824 bytes "
			     "(--sev-dh-cert %s has 0x%zx) and the session 0x80 (--sev-session "
			     "%s has 0x%zx)", sev_options.dh_cert, dh_len, sev_options.session,
			     session_len);
		fw_fail("LAUNCH_START", ret, error, hint);
		goto out;
	}
	if (ret) {
		fw_fail("LAUNCH_START", ret, error, ret == -EIO ? launch_start_hint(error) : NULL);
		goto out;
	}
	sg->handle = start.handle;
	sg->policy = start.policy;
out:
	free(dh);
	free(session);
	return ret;
}

struct update_ctx {
	struct sev_guest *sg;
	u64 bytes;
	int calls;
};

static int update_cb(void *opaque, void *host, u64 gpa, u64 len)
{
	struct update_ctx *c = opaque;
	struct kvm_sev_launch_update_data u;
	char what[64];
	u32 error;
	int ret;

	/* The struct's len is 32-bit: feed huge ranges in 1 GiB pieces. */
	while (len) {
		u64 n = min(len, SZ_1G);

		u.uaddr = (u64)(unsigned long)host;
		u.len = (u32)n;
		ret = sev_fw__guest(c->sg->fw, KVM_SEV_LAUNCH_UPDATE_DATA, &u, &error);
		if (ret) {
			snprintf(what, sizeof(what), "LAUNCH_UPDATE_DATA of 0x%llx+0x%llx",
				 (unsigned long long)gpa, (unsigned long long)n);
			fw_fail(what, ret, error, NULL);
			return ret;
		}
		c->bytes += n;
		c->calls++;
		host = (u8 *)host + n;
		gpa += n;
		len -= n;
	}
	return 0;
}

/*
 * A FIFO (an owner's agent reading the measurement) blocks open() until a
 * reader comes, and set-up does not see signals: the signal thread only
 * turns them into a stop request.  A reader that never came left SIGTERM
 * and `lkvm stop` waiting for ever.  So open without blocking, look at the
 * stop every 50 ms, and write through the descriptor that found the
 * reader (closing it and opening again would hand that reader an EOF).
 * 1: not a FIFO, the caller writes the file.
 */
static int write_fifo(struct kvm *kvm, const char *path, const u8 *blob, size_t len)
{
	struct stat st;
	bool said = false;
	int fd, ret;

	if (stat(path, &st) < 0 || !S_ISFIFO(st.st_mode))
		return 1;
	while ((fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		if (errno != ENXIO)		/* ENXIO: no reader yet */
			return -errno;
		if (kvm__stopping(kvm)) {
			pr_err("SEV: stopped while waiting for a reader of %s (the measurement)",
			       path);
			return -EINTR;
		}
		if (!said) {
			pr_info("SEV: waiting for a reader of the FIFO %s to take the measurement",
				path);
			said = true;
		}
		usleep(50 * 1000);
	}
	/* 48 bytes, less than PIPE_BUF: one write, all or nothing. */
	ret = fcntl(fd, F_SETFL, 0) < 0 ? -errno : write_full(fd, blob, len);
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}

/*
 * PATH is this process's own stdout (/dev/stdout, /proc/self/fd/1, or the
 * file stdout was redirected to): the blob goes down fd 1, where the
 * guest's console follows it.  Staged and renamed, it replaced the file
 * under fd 1, and the console went on into the old, unlinked one.
 */
static bool is_stdout(const char *path)
{
	struct stat a, b;

	return !stat(path, &a) && !fstat(STDOUT_FILENO, &b) && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

static int write_measurement(struct kvm *kvm, const u8 *blob, size_t len)
{
	const char *path = sev_options.measure_out;
	int ret;

	if (!path || !strcmp(path, "-")) {
		size_t i;

		clearerr(stdout);
		printf("SEV measurement: ");
		for (i = 0; i < len; i++)
			printf("%02x", blob[i]);
		printf("\n");
		/* Lost, it fails the launch as a --sev-measure-out file would. */
		if (fflush(stdout) || ferror(stdout)) {
			ret = errno ? -errno : -EIO;
			pr_err("SEV: cannot write the measurement to stdout: %s", strerror(-ret));
			return ret;
		}
		return 0;
	}
	if (is_stdout(path)) {
		ret = fflush(stdout) ? -errno : write_full(STDOUT_FILENO, blob, len);
		if (!ret)
			return 0;
		pr_err("SEV: cannot write the measurement to %s: %s", path, strerror(-ret));
		return ret;
	}
	ret = write_fifo(kvm, path, blob, len);
	if (ret == -EINTR)
		return ret;
	/* Write then rename, so a waiting guest owner never reads half a file. */
	if (ret > 0)
		ret = sev__write_public_file(path, blob, len);
	if (!ret)
		return 0;
	pr_err("SEV: cannot write the measurement to %s: %s", path, strerror(-ret));
	return ret;
}

static int do_measure(struct kvm *kvm, struct sev_guest *sg)
{
	struct kvm_sev_launch_measure m = { 0 };
	u32 error;
	int ret;

	/* Length query first, as on hardware (the size may grow one day). */
	ret = sev_fw__guest(sg->fw, KVM_SEV_LAUNCH_MEASURE, &m, &error);
	if (!(ret == -EIO && error == SEV_RET_INVALID_LEN) || m.len != SEV_MEASURE_BLOB_SIZE) {
		fw_fail("LAUNCH_MEASURE length query", ret ? ret : -EPROTO, error, NULL);
		return ret ? ret : -EPROTO;
	}
	m.uaddr = (u64)(unsigned long)sg->measure;
	ret = sev_fw__guest(sg->fw, KVM_SEV_LAUNCH_MEASURE, &m, &error);
	if (ret) {
		fw_fail("LAUNCH_MEASURE", ret, error, NULL);
		return ret;
	}
	return write_measurement(kvm, sg->measure, SEV_MEASURE_BLOB_SIZE);
}

/* -1: not there (yet); -2: there but not a regular file (never will be). */
static off_t file_size(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -1;
	return S_ISREG(st.st_mode) ? st.st_size : -2;
}

/*
 * The owner can only wrap the secret after seeing the measurement (its
 * MAC covers it), so wait for both files, then until their size is stable.
 */
#define SEV_SECRET_WAIT_S	60

static int wait_secret_files(struct kvm *kvm)
{
	const char *h = sev_options.secret_header, *s = sev_options.secret;
	int wait_s = sev_options.secret_wait_s < 0 ? SEV_SECRET_WAIT_S : sev_options.secret_wait_s;
	u64 deadline = now_ns() + (u64)wait_s * 1000000000ULL;
	off_t lh = -3, ls = -3;
	bool said = false;

	for (;;) {
		off_t ch = file_size(h), cs = file_size(s);

		if (ch == -2 || cs == -2) {	/* a FIFO or a device: no waiting helps */
			pr_err("SEV: the guest owner's secret file %s is not a regular file",
			       ch == -2 ? h : s);
			return -EINVAL;
		}
		if (ch > 0 && cs > 0 && ch == lh && cs == ls)
			return 0;
		lh = ch;
		ls = cs;
		if (kvm__stopping(kvm)) {
			pr_err("SEV: stopped while waiting for the launch secret");
			return -EINTR;
		}
		if (now_ns() > deadline) {
			if (ch == 0 || cs == 0)
				pr_err("SEV: the guest owner's secret file %s is still empty after %d s",
				       ch == 0 ? h : s, wait_s);
			else
				pr_err("SEV: the guest owner's secret (%s, %s) did not appear within "
				       "%d s", h, s, wait_s);
			return -ETIMEDOUT;
		}
		if (!said && (ch < 0 || cs < 0)) {
			pr_info("SEV: waiting up to %d s for the secret files %s and %s",
				wait_s, h, s);
			said = true;
		}
		usleep(50 * 1000);
	}
}

static const char *secret_hint(u32 error)
{
	switch (error) {
	case SEV_RET_BAD_MEASUREMENT:
		return "the secret's MAC does not verify (wrapped for another launch or corrupted)";
	case SEV_RET_INVALID_LEN:
		return "the header must be 52 bytes and the secret a multiple of 16, at most 0x5000";
	case SEV_RET_UNSUPPORTED:
		return "compressed secrets are not supported";
	case SEV_RET_INVALID_ADDRESS:
		return "--sev-secret-gpa must be 16-byte aligned";
	}
	return NULL;
}

static int do_secret(struct kvm *kvm, struct sev_guest *sg)
{
	struct kvm_sev_launch_secret p = { 0 };
	void *hdr = NULL, *trans = NULL, *guest;
	size_t hdr_len, trans_len;
	u32 error;
	int ret;

	ret = wait_secret_files(kvm);
	if (ret)
		return ret;
	ret = read_blob("secret header", sev_options.secret_header, &hdr, &hdr_len);
	if (ret < 0)
		return ret;
	ret = read_blob("secret", sev_options.secret, &trans, &trans_len);
	if (ret < 0)
		goto out;
	/*
	 * KVM pins the destination and needs it physically contiguous, which
	 * guest RAM is only within a page: say so instead of the bare EINVAL.
	 */
	if ((sev_options.secret_gpa & (SEV_SECRET_PAGE - 1)) + trans_len > SEV_SECRET_PAGE) {
		pr_err("SEV: the secret (%zu bytes at --sev-secret-gpa 0x%llx) crosses a 4 KiB "
		       "page; KVM injects it into one page", trans_len,
		       (unsigned long long)sev_options.secret_gpa);
		ret = -EINVAL;
		goto out;
	}
	guest = guest_flat_to_host(kvm, sev_options.secret_gpa, trans_len);
	if (!guest) {
		pr_err("SEV: --sev-secret-gpa 0x%llx+%zu is not guest RAM",
		       (unsigned long long)sev_options.secret_gpa, trans_len);
		ret = -EINVAL;
		goto out;
	}
	p.hdr_uaddr = (u64)(unsigned long)hdr;
	p.hdr_len = (u32)hdr_len;
	p.trans_uaddr = (u64)(unsigned long)trans;
	p.trans_len = (u32)trans_len;
	p.guest_uaddr = (u64)(unsigned long)guest;
	p.guest_len = (u32)trans_len;
	ret = sev_fw__guest(sg->fw, KVM_SEV_LAUNCH_SECRET, &p, &error);
	if (ret)
		fw_fail("LAUNCH_SECRET", ret, error,
			ret == -EIO ? secret_hint(error) :
			ret == -EINVAL ? "the secret must not cross a 4 KiB page" : NULL);
out:
	free(hdr);
	free(trans);
	return ret;
}

static struct sev_model_paths model_paths(void)
{
	return (struct sev_model_paths){ .state_dir = sev_options.state_dir,
					 .root_dir = sev_options.root_dir };
}

static int sev_open(struct kvm *kvm)
{
	struct sev_model_paths paths = model_paths();
	struct sev_guest *sg;
	int ret;

	if (kvm->sev)
		return 0;
	sg = calloc(1, sizeof(*sg));
	if (!sg)
		return -ENOMEM;
	ret = sev_fw__open(&sg->fw, kvm->cfg.sev_mode, &paths);
	if (ret) {
		free(sg);
		return ret;
	}
	if (kvm->cfg.sev_mode == SEV_MODE_HARDWARE) {
		struct sev_user_data_status st;
		char why[80];
		u32 error;

		/* A firmware that does not answer is the last thing to rule out. */
		ret = sev_fw__platform(sg->fw, SEV_PLATFORM_STATUS, &st, &error);
		if (ret) {
			pr_err("SEV: the firmware does not answer PLATFORM_STATUS: %s",
			       sev_fw__strerror(ret, error, why, sizeof(why)));
			sev_fw__close(sg->fw);
			free(sg);
			return ret;
		}
		pr_debug("SEV: firmware API %u.%u build %u, platform %s, %u guests",
			 st.api_major, st.api_minor, st.build, sev_fw__pstate_name(st.state),
			 st.guest_count);
	}
	kvm->sev = sg;
	return 0;
}

/*
 * Called by `lkvm run` before the VM exists: opening the back end here
 * makes a host without SEV fail first, with one line saying why.  The VM
 * type needs KVM_CHECK_EXTENSION, so /dev/kvm is opened just for that
 * (kvm__init() reports any problem with it properly).
 */
/*
 * --sev-ark and --sev-amd-chain are used only when a migration needs them,
 * which may be hours later: parse and verify them now, so that a wrong file
 * fails the start and not the migration.
 */
static int check_mig_file(const char *opt, const char *path, bool chain)
{
	struct sev_amd_cert *c;
	size_t len;
	u8 *buf;
	int ret;

	if (!path)
		return 0;
	ret = sev_mig__read_file(path, chain ? SEV_MIG_AMD_MAX : SEV_AMD_CERT_MAX_SIZE, &buf, &len);
	if (ret) {
		pr_err("SEV: cannot read %s %s: %s", opt, path, sev_mig__file_error(ret));
		return ret;
	}
	c = calloc(2, sizeof(*c));
	if (!c) {
		free(buf);
		return -ENOMEM;
	}
	ret = chain ? sev_amd_chain__check(buf, len, NULL, &c[0], &c[1]) :
		      sev_amd_ark__check(buf, len, &c[0]);
	if (ret)
		pr_err("SEV: %s %s is not %s: %s", opt, path,
		       chain ? "an AMD ASK || ARK chain (ASK signed by a self-signed ARK)" :
			       "one self-signed AMD ARK certificate",
		       sev_ret__str(ret));
	free(c);
	free(buf);
	return ret ? -EINVAL : 0;
}

/*
 * Launch options that go together, checked before the firmware is opened
 * and the VM built: one line, not the model's notice and a socket first.
 * An incoming guest takes none of them (the launch hook says so).
 */
static int check_pairs(const struct sev_options *o)
{
	if (!!o->dh_cert != !!o->session) {
		pr_err("SEV: --sev-dh-cert and --sev-session go together (both come from "
		       "`lkvm sev session`)");
		return -EINVAL;
	}
	if (!!o->secret != !!o->secret_header || !!o->secret != o->secret_gpa_set) {
		pr_err("SEV: a launch secret needs --sev-secret, --sev-secret-header and "
		       "--sev-secret-gpa together");
		return -EINVAL;
	}
	return 0;
}

/*
 * --sev-measure-out must not name a file this run reads: it used to
 * replace the kernel (or a disk, the owner's session ...) with the
 * 48-byte measurement once the guest was measured.  Refused here, before
 * anything is opened or built.  The secret files may not be there yet:
 * the same name is enough.
 */
static int check_measure_out(const struct kvm_config *cfg)
{
	const struct sev_options *o = &sev_options;
	struct out_file f[9 + VIRTIO_MAX_DISKS] = {
		{ .opt = "--sev-measure-out", .path = o->measure_out },
		OUT_FILE_INPUT("-k/--kernel", cfg->kernel_filename),
		OUT_FILE_INPUT("-i/--initrd", cfg->initrd_filename),
		OUT_FILE_INPUT("--sev-dh-cert", o->dh_cert),
		OUT_FILE_INPUT("--sev-session", o->session),
		OUT_FILE_INPUT("--sev-secret-header", o->secret_header),
		OUT_FILE_INPUT("--sev-secret", o->secret),
		OUT_FILE_INPUT("--sev-amd-chain", sev_mig_options.amd_chain),
		OUT_FILE_INPUT("--sev-ark", sev_mig_options.ark),
	};
	const char *disk;
	int n = 9, bad, clash, ret;

	if (!o->measure_out || !strcmp(o->measure_out, "-"))
		return 0;
	while (n < (int)ARRAY_SIZE(f) && (disk = virtio_blk__disk_path(n - 9)))
		f[n++] = (struct out_file)OUT_FILE_INPUT("-d/--disk", disk);
	ret = out_files__check(f, n, &bad, &clash);
	if (ret == -ENOTUNIQ) {
		pr_err("SEV: %s", out_files__clash_msg(f, bad, clash));
		return ret;
	}
	/* Any other problem with the path is said when it is written, as before. */
	return 0;
}

int sev__vm_type(struct kvm *kvm)
{
	const struct sev_options *o = &sev_options;
	int ret, fd;

	if (kvm->cfg.sev_mode == SEV_MODE_NONE) {
		if (o->policy_set || o->dh_cert || o->session || o->measure_out ||
		    o->secret_header || o->secret || o->secret_gpa_set || o->state_dir ||
		    o->root_dir || o->secret_wait_s >= 0 || sev_mig_options.ark ||
		    sev_mig_options.amd_chain) {
			pr_err("SEV: --sev-* options need --sev (hardware) or --sev=emulated");
			return -EINVAL;
		}
		return KVM_X86_DEFAULT_VM;
	}
	if (o->secret_wait_s >= 0 && !o->secret) {
		pr_err("SEV: --sev-secret-wait needs --sev-secret and --sev-secret-header");
		return -EINVAL;
	}
	ret = (kvm->cfg.incoming ? 0 : check_pairs(o) ?: check_measure_out(&kvm->cfg)) ?:
	      check_mig_file("--sev-ark", sev_mig_options.ark, false) ?:
	      check_mig_file("--sev-amd-chain", sev_mig_options.amd_chain, true);
	if (ret)
		return ret;
	if (kvm->cfg.sev_mode == SEV_MODE_EMULATED && (sev_mig_options.ark || sev_mig_options.amd_chain))
		pr_warn("SEV: the firmware model uses its own AMD root (--sev-root); "
			"--sev-ark and --sev-amd-chain are checked but not used");
	ret = sev_open(kvm);
	if (ret)
		return ret;
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return KVM_X86_DEFAULT_VM;
	ret = sev_fw__vm_type(kvm->sev->fw, fd);
	close(fd);
	return ret;
}

int sev__vm_init(struct kvm *kvm)
{
	int i, ret;

	if (kvm->cfg.sev_mode == SEV_MODE_NONE)
		return 0;
	ret = sev_open(kvm);
	if (ret)
		return ret;
	ret = sev_fw__vm_init(kvm->sev->fw, kvm->vm_fd);
	if (ret)
		return ret;
	for (i = 0; i < kvm->nr_mem_banks; i++) {
		struct kvm_mem_bank *b = &kvm->mem_banks[i];

		if (b->type != KVM_MEM_TYPE_RAM)
			continue;
		ret = sev_fw__reg_region(kvm->sev->fw, (u64)(unsigned long)b->host_addr, b->size);
		if (ret)
			return ret;
	}
	return 0;
}

int sev__launch(struct kvm *kvm)
{
	struct sev_guest *sg = kvm->sev;
	struct kvm_sev_guest_status st;
	struct update_ctx uc = { 0 };
	u64 t0;
	u32 error;
	int ret;

	if (kvm->cfg.sev_mode == SEV_MODE_NONE)
		return 0;
	if (kvm->cfg.incoming) {
		/* A migrated guest arrives by RECEIVE_START..FINISH instead. */
		pr_debug("SEV: incoming migration: no launch");
		if (sev_options.policy_set || sev_options.dh_cert || sev_options.session ||
		    sev_options.measure_out || sev_options.secret)
			pr_warn("SEV: --incoming: the guest's policy and keys come from the source; "
				"the launch options (--sev-policy, --sev-dh-cert, --sev-session, "
				"--sev-measure-out, --sev-secret*) are not used");
		return 0;
	}
	if (!sg || !sg->fw->sev_enabled) {
		pr_err("SEV: launch before sev__vm_init() (core wiring bug)");
		return -EINVAL;
	}
	/* Refused now, not after the owner has been made to wrap a secret. */
	if (sev_options.secret && (sev_options.secret_gpa & 15)) {
		pr_err("SEV: --sev-secret-gpa 0x%llx is not 16-byte aligned",
		       (unsigned long long)sev_options.secret_gpa);
		return -EINVAL;
	}
	if (sev_options.secret && !guest_flat_to_host(kvm, sev_options.secret_gpa, 16)) {
		pr_err("SEV: --sev-secret-gpa 0x%llx is not guest RAM",
		       (unsigned long long)sev_options.secret_gpa);
		return -EINVAL;
	}

	ret = do_launch_start(kvm, sg);
	if (ret)
		return ret;
	t0 = now_ns();
	uc.sg = sg;
	ret = sev__for_each_measured(kvm, update_cb, &uc);
	if (ret)
		return ret;
	pr_debug("SEV: LAUNCH_UPDATE_DATA: %llu bytes in %d calls, %llu us",
		 (unsigned long long)uc.bytes, uc.calls,
		 (unsigned long long)((now_ns() - t0) / 1000));
	ret = do_measure(kvm, sg);
	if (ret)
		return ret;
	if (sev_options.secret) {
		ret = do_secret(kvm, sg);
		if (ret)
			return ret;
	}
	ret = sev_fw__guest(sg->fw, KVM_SEV_LAUNCH_FINISH, NULL, &error);
	if (ret) {
		fw_fail("LAUNCH_FINISH", ret, error, NULL);
		return ret;
	}
	ret = sev_fw__guest(sg->fw, KVM_SEV_GUEST_STATUS, &st, &error);
	if (ret || st.state != SEV_GSTATE_RUNNING) {
		pr_err("SEV: guest not RUNNING after LAUNCH_FINISH (state %s)",
		       sev_fw__gstate_name(ret ? -1 : (int)st.state));
		return ret ? ret : -EPROTO;
	}
	sg->launched = true;
	pr_info("SEV: guest launched (%s firmware, handle %u, policy 0x%x, %llu bytes measured)",
		sg->fw->ops->name, sg->handle, sg->policy, (unsigned long long)uc.bytes);
	return 0;
}

void sev__exit(struct kvm *kvm)
{
	if (!kvm->sev)
		return;
	sev_fw__close(kvm->sev->fw);
	free(kvm->sev);
	kvm->sev = NULL;
}

void sev__cpuid_8000001f(struct kvm *kvm, u32 *eax, u32 *ebx, u32 *ecx, u32 *edx)
{
	unsigned int a, b, c, d;
	u32 cbit = SEV_MODEL_CBIT, reduction = SEV_MODEL_PHYS_REDUCTION;

	if (kvm->cfg.sev_mode == SEV_MODE_NONE) {
		*eax = *ebx = *ecx = *edx = 0;
		return;
	}
	if (kvm->cfg.sev_mode == SEV_MODE_HARDWARE &&
	    __get_cpuid(0x8000001f, &a, &b, &c, &d) && (a & 2)) {
		cbit = b & 0x3f;
		reduction = (b >> 6) & 0x3f;
	}
	/* EAX bit 1 = SEV (no SME, no ES for the guest); EBX C-bit | reduction. */
	*eax = 1u << 1;
	*ebx = (cbit & 0x3f) | ((reduction & 0x3f) << 6);
	*ecx = 0;	/* number of encrypted guests: not the guest's business */
	*edx = 0;
}

/* ---------------------------------------------------------------- */
/* Wiring into the core                                               */

/* KVM_SEV_INIT(2) + REG_REGION: after the VM and RAM exist, before vCPUs. */
static int sev__core_init(struct kvm *kvm)
{
	return sev__vm_init(kvm);
}

static int sev__core_exit(struct kvm *kvm)
{
	sev__exit(kvm);
	return 0;
}
core_init(sev__core_init, sev__core_exit);

static struct run_hook sev_launch_hook = {
	.name = "sev-launch",
	.prio = RUN_HOOK_SEV_LAUNCH,
	.fn = sev__launch,
};
run_hook_register(sev_launch_hook);

static void sev_cpuid_hook(struct kvm *kvm, struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e, *max;

	if (kvm->cfg.sev_mode == SEV_MODE_NONE)
		return;
	e = cpuid__find(c, 0x8000001f, 0);
	if (!e) {
		if (c->nent >= CPUID_MAX_NENT)
			return;
		e = &c->entries[c->nent++];
		memset(e, 0, sizeof(*e));
		e->function = 0x8000001f;
	}
	sev__cpuid_8000001f(kvm, &e->eax, &e->ebx, &e->ecx, &e->edx);
	max = cpuid__find(c, 0x80000000, 0);
	if (max && max->eax < 0x8000001f)
		max->eax = 0x8000001f;
}

static void __attribute__((constructor)) sev_register_cpuid(void)
{
	cpuid__register_hook(sev_cpuid_hook);
}
