/*
 * Kernel loading: read the kernel and initrd files named on the command
 * line and hand them to the loader that recognises the image.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lkvm/kvm.h"
#include "lkvm/x86-boot.h"
#include "lkvm/x86-pvh.h"

#define MAX_KERNEL_SIZE	(256ULL << 20)

/*
 * read_file()'s -EPIPE: the file ended before the size stat() gave (it is
 * being rewritten, or a sysfs attribute): "Broken pipe" said nothing.
 */
static const char *short_why(const char *path)
{
	static char why[96];
	struct stat st;

	if (stat(path, &st) < 0)
		return "it ended before its size: changed while read?";
	snprintf(why, sizeof(why), "it ended before its size (%llu bytes): changed while read?",
		 (unsigned long long)st.st_size);
	return why;
}

int kvm__load_kernel(struct kvm *kvm)
{
	const struct kvm_config *cfg = &kvm->cfg;
	void *img = NULL, *initrd = NULL;
	size_t len = 0, initrd_len = 0;
	int ret;

	ret = read_file(cfg->kernel_filename, &img, &len, MAX_KERNEL_SIZE);
	if (ret) {
		pr_err("cannot read kernel '%s': %s", cfg->kernel_filename,
		       ret == -EFBIG ? "file larger than 256 MiB" :
		       ret == -EINVAL ? "not a regular file" :
		       ret == -EPIPE ? short_why(cfg->kernel_filename) : strerror(-ret));
		return ret;
	}
	if (cfg->initrd_filename) {
		ret = read_file_stoppable(cfg->initrd_filename, &initrd, &initrd_len,
					  kvm->ram_size, &kvm->stopping);
		if (ret == -EINTR) {
			pr_info("%s while reading the initrd", kvm->exit_reason);
			goto out;
		}
		if (ret) {
			pr_err("cannot read initrd '%s': %s", cfg->initrd_filename,
			       ret == -EFBIG ? "larger than guest memory" :
			       ret == -EINVAL ? "not a regular file" :
			       ret == -EPIPE ? short_why(cfg->initrd_filename) : strerror(-ret));
			goto out;
		}
		/* Most likely the wrong file (or one still being written). */
		if (!initrd_len) {
			pr_err("initrd '%s' is empty", cfg->initrd_filename);
			ret = -EINVAL;
			goto out;
		}
	}
	if (bzimage__is_bzimage(img, len))
		ret = bzimage__load(kvm, img, len, cfg->kernel_cmdline, initrd, initrd_len);
	else if (pvh__is_elf(img, len))
		ret = pvh__load(kvm, img, len, cfg->kernel_cmdline, initrd, initrd_len);
	else {
		pr_err("kernel '%s': not a bzImage or an ELF image", cfg->kernel_filename);
		ret = -ENOEXEC;
	}
out:
	free(img);
	free(initrd);
	return ret;
}
