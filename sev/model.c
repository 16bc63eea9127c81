/*
 * The software SEV firmware model: platform side.
 *
 * One struct sev_model is one "host": a platform state machine
 * (UNINIT/INIT/WORKING), up to 1024 guest contexts, and an identity (OCA,
 * PEK, PDH, CEK keys and certificates) that persists in a state directory
 * so that a PDH exported today still works tomorrow, and so that two lkvm
 * processes with two directories are two platforms a guest can migrate
 * between.  The AMD root (ARK/ASK) that certifies the CEK is shared by all
 * model platforms: the built-in test root of sev-crypto, or one kept in a
 * root directory (--sev-root / LKVM_SEV_ROOT).
 *
 * It also plays the part of the ccp driver for platform commands (length
 * queries, automatic INIT), so callers see what they would see through
 * /dev/sev.  It never encrypts guest memory: memory stays plaintext, and
 * opening it says so loudly.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lkvm/sev-model.h"

static pthread_mutex_t models_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sev_model *models;
static bool warned;

/* ---------------------------------------------------------------- */
/* State directory                                                    */

/*
 * Create @path (mode 0700) and at most @max_new missing directories
 * leading to it: 1 for a directory the user named (a typo in --sev-state
 * must not quietly make a new platform somewhere), 2 for the default
 * ~/.lkvm/LEAF (but never HOME itself), 0 for the AMD root.
 */
static int mkdir_private(const char *path, int max_new)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t i, n = strlen(path);
	int missing = 0;

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	/* Count the components that do not exist yet, creating nothing. */
	for (i = 1; i <= n; i++) {
		if ((buf[i] != '/' && buf[i] != '\0') || buf[i - 1] == '/')
			continue;
		buf[i] = '\0';
		if (missing || (stat(buf, &st) < 0 && errno == ENOENT))
			missing++;
		buf[i] = path[i];
	}
	if (missing > max_new)
		return -ENOENT;
	for (i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = path[i];
	}
	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != geteuid() || (st.st_mode & 077)) {
		pr_err("SEV model: %s must be a directory owned by you with mode 0700 "
		       "(it holds private keys); it is mode %03o", path, st.st_mode & 0777);
		return -EPERM;
	}
	return 0;
}

static char *default_dir(const char *env, const char *leaf)
{
	const char *v = getenv(env), *home;
	char *s;

	if (v && *v)
		return strdup(v);
	home = getenv("HOME");
	if (!home || !*home)
		return NULL;
	if (asprintf(&s, "%s/.lkvm/%s", home, leaf) < 0)
		return NULL;
	return s;
}

static int lock_dir(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/lock", dir);
	fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int write_private(const char *path, const void *buf, size_t len)
{
	char tmp[PATH_MAX];
	int fd, ret;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = write_full(fd, buf, len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

static bool exists(const char *dir, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* ---- the shared AMD root ---- */

static int load_amd_cert(const char *dir, const char *name, struct sev_amd_cert *cert)
{
	char path[PATH_MAX];
	size_t len, used;
	void *buf;
	int ret;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ret = read_file(path, &buf, &len, SEV_AMD_CERT_MAX_SIZE);
	if (ret < 0)
		return ret;
	ret = sev_amd_cert__parse(buf, len, cert, &used);
	if (!ret && used != len)
		ret = -EINVAL;
	free(buf);
	return ret ? -EINVAL : 0;
}

static int save_amd_cert(const char *dir, const char *name, const struct sev_amd_cert *cert)
{
	u8 buf[SEV_AMD_CERT_MAX_SIZE];
	char path[PATH_MAX];
	size_t used;

	if (sev_amd_cert__write(cert, buf, sizeof(buf), &used))
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return write_private(path, buf, used);
}

static int root_load_or_create(struct sev_model *m)
{
	const char *dir = m->root_dir;
	char path[PATH_MAX];
	int lfd, ret;

	if (!dir)
		return sev_amd_root__test(&m->root) ? -EINVAL : 0;
	/*
	 * Never made here: a typo in --sev-root must not become a new trust
	 * anchor (that an existing platform would not match either, leaving
	 * the new root behind).  Making the directory is how to ask for one.
	 */
	ret = mkdir_private(dir, 0);
	if (ret == -ENOENT) {
		pr_err("SEV model: AMD root directory %s does not exist (create it, mode 0700, "
		       "for a new root)", dir);
		return ret;
	}
	if (ret < 0) {
		if (ret != -EPERM)
			pr_err("SEV model: cannot use %s as the AMD root directory: %s", dir,
			       strerror(-ret));
		return ret;
	}
	/*
	 * A root made now cannot have certified a platform made before: say
	 * so before generating one (and before the lock file) in @dir.
	 */
	if (!exists(dir, "ark.cert") && exists(m->state_dir, "pdh.cert")) {
		pr_err("SEV model: the platform in %s was certified by an AMD root that %s "
		       "does not hold (check --sev-root / LKVM_SEV_ROOT)", m->state_dir, dir);
		return -EINVAL;
	}
	lfd = lock_dir(dir);
	if (lfd < 0) {
		pr_err("SEV model: cannot lock %s: %s", dir, strerror(-lfd));
		return lfd;
	}
	if (exists(dir, "ark.cert")) {
		snprintf(path, sizeof(path), "%s/ark.pem", dir);
		ret = sev_key__load(path, &m->root.ark);
		snprintf(path, sizeof(path), "%s/ask.pem", dir);
		if (!ret)
			ret = sev_key__load(path, &m->root.ask);
		if (!ret)
			ret = load_amd_cert(dir, "ark.cert", &m->root.ark_cert);
		if (!ret)
			ret = load_amd_cert(dir, "ask.cert", &m->root.ask_cert);
		if (!ret && sev_amd_cert__verify(&m->root.ask_cert, &m->root.ark_cert))
			ret = -EINVAL;
		if (ret)
			pr_err("SEV model: AMD root in %s is unreadable or inconsistent", dir);
	} else {
		pr_info("SEV model: creating a test AMD root (ARK/ASK) in %s", dir);
		ret = sev_amd_root__generate(&m->root, 2048) ? -EINVAL : 0;
		snprintf(path, sizeof(path), "%s/ark.pem", dir);
		if (!ret)
			ret = sev_key__save(m->root.ark, path);
		snprintf(path, sizeof(path), "%s/ask.pem", dir);
		if (!ret)
			ret = sev_key__save(m->root.ask, path);
		if (!ret)
			ret = save_amd_cert(dir, "ask.cert", &m->root.ask_cert);
		/* ark.cert last: its presence means the root is complete */
		if (!ret)
			ret = save_amd_cert(dir, "ark.cert", &m->root.ark_cert);
		if (ret)
			pr_err("SEV model: cannot create the AMD root in %s", dir);
	}
	close(lfd);
	return ret < 0 ? ret : (ret ? -EINVAL : 0);
}

/* ---- the platform identity ---- */

/* Everything in a state directory is 0600, public certificates included. */
static int tighten(const char *dir, const char *const *names)
{
	char path[PATH_MAX];

	for (; *names; names++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *names);
		if (chmod(path, 0600) < 0 && errno != ENOENT)
			return -errno;
	}
	return 0;
}

static const char *const key_files[] = {
	"cek.pem", "oca.pem", "pek.pem", "pdh.pem",
	"cek.cert", "oca.cert", "pek.cert", "pdh.cert", NULL };

int sev_model__save_keys(struct sev_model *m)
{
	int ret = sev_platform_keys__save(&m->keys, m->state_dir);

	if (!ret)
		ret = tighten(m->state_dir, key_files);
	if (ret)
		pr_err("SEV model: cannot save the platform identity to %s", m->state_dir);
	return ret ? -EIO : 0;
}

static int identity_load_or_create(struct sev_model *m)
{
	EVP_PKEY *ask_pub = NULL;
	int lfd, ret;

	lfd = lock_dir(m->state_dir);
	if (lfd < 0) {
		pr_err("SEV model: cannot lock %s: %s", m->state_dir, strerror(-lfd));
		return lfd;
	}
	if (exists(m->state_dir, "pdh.cert")) {
		ret = sev_platform_keys__load(&m->keys, m->state_dir);
		if (ret) {
			pr_err("SEV model: platform identity in %s is unreadable or inconsistent "
			       "(remove the directory to make a new platform)", m->state_dir);
			goto out;
		}
	} else {
		ret = sev_platform_keys__generate(&m->keys, &m->root, SEV_MODEL_API_MAJOR,
						  SEV_MODEL_API_MINOR);
		if (ret) {
			pr_err("SEV model: cannot generate platform keys");
			goto out;
		}
		ret = sev_model__save_keys(m);
		if (ret)
			goto out;
	}
	/* The CEK must come from the root we trust, or chains never verify. */
	ret = sev_amd_cert__pubkey(&m->root.ask_cert, &ask_pub);
	if (!ret)
		ret = sev_cert__verify_with(&m->keys.cek_cert, SEV_USAGE_ASK, ask_pub);
	EVP_PKEY_free(ask_pub);
	if (ret)
		pr_err("SEV model: the platform in %s was certified by a different AMD root "
		       "(check --sev-root / LKVM_SEV_ROOT)", m->state_dir);
out:
	close(lfd);
	return ret ? (ret < 0 ? ret : -EINVAL) : 0;
}

/* ---------------------------------------------------------------- */
/* Platform commands (what /dev/sev answers)                          */

void sev_model__auto_init(struct sev_model *m)
{
	/* The ccp driver INITs the platform on demand. */
	if (m->pstate == SEV_PSTATE_UNINIT)
		m->pstate = SEV_PSTATE_INIT;
}

int sev_model__platform_state(struct sev_model *m)
{
	return m->pstate;
}

static void *uptr(u64 addr)
{
	return (void *)(unsigned long)addr;
}

static int cmd_status(struct sev_model *m, struct sev_user_data_status *st, u32 *error)
{
	memset(st, 0, sizeof(*st));
	st->api_major = SEV_MODEL_API_MAJOR;
	st->api_minor = SEV_MODEL_API_MINOR;
	st->state = m->pstate;
	st->flags = 0;
	st->build = SEV_MODEL_BUILD;
	st->guest_count = m->guest_count;
	return 0;
}

static int cmd_pek_gen(struct sev_model *m, u32 *error)
{
	sev_model__auto_init(m);
	if (m->pstate != SEV_PSTATE_INIT)
		return sev_model__fail(error, SEV_RET_INVALID_PLATFORM_STATE);
	if (sev_platform_keys__regen_pek(&m->keys, SEV_MODEL_API_MAJOR, SEV_MODEL_API_MINOR))
		return sev_model__fail(error, SEV_RET_HWSEV_RET_PLATFORM);
	return sev_model__save_keys(m) ? sev_model__fail(error, SEV_RET_HWSEV_RET_PLATFORM) : 0;
}

static int cmd_pdh_gen(struct sev_model *m, u32 *error)
{
	sev_model__auto_init(m);
	if (sev_platform_keys__regen_pdh(&m->keys, SEV_MODEL_API_MAJOR, SEV_MODEL_API_MINOR))
		return sev_model__fail(error, SEV_RET_HWSEV_RET_PLATFORM);
	return sev_model__save_keys(m) ? sev_model__fail(error, SEV_RET_HWSEV_RET_PLATFORM) : 0;
}

static int cmd_pdh_cert_export(struct sev_model *m, struct sev_user_data_pdh_cert_export *e,
			       u32 *error)
{
	u8 pdh[SEV_CERT_SIZE], chain[SEV_CHAIN_SIZE];
	bool query = !e->pdh_cert_address || !e->pdh_cert_len || !e->cert_chain_address;

	sev_model__auto_init(m);
	if (!query && (e->pdh_cert_len > SEV_FW_BLOB_MAX || e->cert_chain_len > SEV_FW_BLOB_MAX))
		return -EFAULT;		/* the driver's bounce-buffer limit */
	if (query || e->pdh_cert_len < SEV_CERT_SIZE || e->cert_chain_len < SEV_CHAIN_SIZE) {
		e->pdh_cert_len = SEV_CERT_SIZE;
		e->cert_chain_len = SEV_CHAIN_SIZE;
		return sev_model__fail(error, SEV_RET_INVALID_LEN);
	}
	sev_platform_keys__export(&m->keys, pdh, chain);
	memcpy(uptr(e->pdh_cert_address), pdh, SEV_CERT_SIZE);
	memcpy(uptr(e->cert_chain_address), chain, SEV_CHAIN_SIZE);
	e->pdh_cert_len = SEV_CERT_SIZE;
	e->cert_chain_len = SEV_CHAIN_SIZE;
	return 0;
}

/* The chip id: stable per platform, derived from the CEK public key. */
static void chip_id(struct sev_model *m, u8 id[SEV_FW_ID_LEN])
{
	const struct sev_cert_ec *ec = &m->keys.cek_cert.pubkey.ec;
	u8 in[96];

	memcpy(in, ec->qx, 48);
	memcpy(in + 48, ec->qy, 48);
	SHA512(in, sizeof(in), id);
}

static int cmd_get_id2(struct sev_model *m, struct sev_user_data_get_id2 *g, u32 *error)
{
	u8 id[SEV_FW_ID_LEN];

	if (!g->address || g->length < SEV_FW_ID_LEN) {
		g->length = SEV_FW_ID_LEN;	/* one socket */
		return sev_model__fail(error, SEV_RET_INVALID_LEN);
	}
	chip_id(m, id);
	memcpy(uptr(g->address), id, SEV_FW_ID_LEN);
	g->length = SEV_FW_ID_LEN;
	return 0;
}

static int cmd_factory_reset(struct sev_model *m, u32 *error)
{
	/* The driver refuses while guests run; the firmware keeps the CEK. */
	if (m->pstate == SEV_PSTATE_WORKING)
		return -EBUSY;
	if (sev_platform_keys__regen_pek(&m->keys, SEV_MODEL_API_MAJOR, SEV_MODEL_API_MINOR))
		return sev_model__fail(error, SEV_RET_HWSEV_RET_PLATFORM);
	m->pstate = SEV_PSTATE_UNINIT;
	return sev_model__save_keys(m) ? sev_model__fail(error, SEV_RET_HWSEV_RET_PLATFORM) : 0;
}

static int model_platform_cmd(struct sev_fw *fw, struct sev_issue_cmd *cmd)
{
	struct sev_model *m = fw->model;
	void *data = uptr(cmd->data);
	u32 err = 0, *error = &err;	/* sev_issue_cmd is packed */
	int ret;

	pthread_mutex_lock(&m->lock);
	switch (cmd->cmd) {
	case SEV_FACTORY_RESET:
		ret = cmd_factory_reset(m, error);
		break;
	case SEV_PEK_GEN:
		ret = cmd_pek_gen(m, error);
		break;
	case SEV_PDH_GEN:
		ret = cmd_pdh_gen(m, error);
		break;
	case SEV_PLATFORM_STATUS:
		ret = data ? cmd_status(m, data, error) : -EFAULT;
		break;
	case SEV_PDH_CERT_EXPORT:
		ret = data ? cmd_pdh_cert_export(m, data, error) : -EFAULT;
		break;
	case SEV_GET_ID2:
		ret = data ? cmd_get_id2(m, data, error) : -EFAULT;
		break;
	case SEV_GET_ID: {
		struct sev_user_data_get_id *g = data;

		if (!g) {
			ret = -EFAULT;
			break;
		}
		memset(g, 0, sizeof(*g));
		chip_id(m, g->socket1);
		ret = 0;
		break;
	}
	case SEV_PEK_CSR:
	case SEV_PEK_CERT_IMPORT:
		/* Taking ownership with an external OCA is not modelled. */
		ret = sev_model__fail(error, SEV_RET_UNSUPPORTED);
		break;
	default:
		ret = -EINVAL;
	}
	pthread_mutex_unlock(&m->lock);
	cmd->error = err;
	return ret;
}

int sev_model__shutdown(struct sev_model *m, u32 *error)
{
	unsigned int h;

	pthread_mutex_lock(&m->lock);
	for (h = 1; h <= SEV_FW_MAX_GUESTS; h++)
		if (m->guests[h].used)
			sev_model__guest_free(&m->guests[h]);
	m->guest_count = 0;
	m->pstate = SEV_PSTATE_UNINIT;
	pthread_mutex_unlock(&m->lock);
	if (error)
		*error = 0;
	return 0;
}

/* ---------------------------------------------------------------- */
/* The VM side: what KVM does around the guest commands                */

/* The model keeps no VM fd; the type is always the default one. */
static int model_vm_type(struct sev_fw *fw, int sys_fd)
{
	fw->vm_type = KVM_X86_DEFAULT_VM;
	return fw->vm_type;
}

static int model_vm_init(struct sev_fw *fw, int vm_fd)
{
	struct sev_model *m = fw->model;

	if (fw->sev_enabled)
		return -EINVAL;		/* KVM: SEV already initialised */
	pthread_mutex_lock(&m->lock);
	sev_model__auto_init(m);	/* sev_platform_init() */
	pthread_mutex_unlock(&m->lock);
	fw->vm_fd = vm_fd;
	fw->sev_enabled = true;
	return 0;
}

static int model_reg_region(struct sev_fw *fw, u64 addr, u64 size)
{
	if (!fw->sev_enabled)
		return -ENOTTY;
	if (!size || addr + size < addr)
		return -EINVAL;
	if (fw->nr_regions >= (int)ARRAY_SIZE(fw->regions))
		return -ENOSPC;
	fw->regions[fw->nr_regions].addr = addr;
	fw->regions[fw->nr_regions].size = size;
	fw->nr_regions++;
	return 0;
}

bool sev_model__in_region(struct sev_fw *fw, u64 uaddr, u64 len)
{
	int i;

	if (uaddr + len < uaddr)
		return false;
	for (i = 0; i < fw->nr_regions; i++)
		if (uaddr >= fw->regions[i].addr &&
		    uaddr + len <= fw->regions[i].addr + fw->regions[i].size)
			return true;
	return false;
}

int sev_model__decommission(struct sev_fw *fw, u32 *error)
{
	struct sev_model *m = fw->model;
	struct sev_model_guest *g;
	int ret = 0;

	*error = 0;
	pthread_mutex_lock(&m->lock);
	if (!fw->handle || fw->handle > SEV_FW_MAX_GUESTS || !m->guests[fw->handle].used) {
		ret = sev_model__fail(error, SEV_RET_INVALID_GUEST);
		goto out;
	}
	g = &m->guests[fw->handle];
	sev_model__guest_free(g);
	m->guest_count--;
	if (!m->guest_count && m->pstate == SEV_PSTATE_WORKING)
		m->pstate = SEV_PSTATE_INIT;
	fw->handle = 0;
	fw->active = false;
out:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

int sev_model__guest_status(struct sev_model *m, u32 handle,
			    struct kvm_sev_guest_status *st, u32 *error)
{
	struct sev_model_guest *g;

	*error = 0;
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&m->lock);
	st->handle = handle;
	if (handle && handle <= SEV_FW_MAX_GUESTS && m->guests[handle].used) {
		g = &m->guests[handle];
		st->policy = g->policy;
		st->state = g->state;
	}
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static void model_release(struct sev_model *m)
{
	struct sev_model **p;

	pthread_mutex_lock(&models_lock);
	if (--m->refs > 0) {
		pthread_mutex_unlock(&models_lock);
		return;
	}
	for (p = &models; *p; p = &(*p)->next)
		if (*p == m) {
			*p = m->next;
			break;
		}
	pthread_mutex_unlock(&models_lock);
	sev_model__shutdown(m, NULL);
	sev_platform_keys__free(&m->keys);
	sev_amd_root__free(&m->root);
	pthread_mutex_destroy(&m->lock);
	free(m->state_dir);
	free(m->root_dir);
	free(m);
}

static void model_close(struct sev_fw *fw)
{
	u32 error;

	/* KVM decommissions the VM's guest when the VM goes away. */
	if (fw->handle)
		sev_model__decommission(fw, &error);
	model_release(fw->model);
	fw->model = NULL;
}

static const struct sev_fw_ops model_ops = {
	.name = "model",
	.platform_cmd = model_platform_cmd,
	.vm_type = model_vm_type,
	.vm_init = model_vm_init,
	.guest_cmd = sev_model__guest_cmd,
	.reg_region = model_reg_region,
	.close = model_close,
};

static int model_get(const char *state_arg, const char *root_arg, struct sev_model **out)
{
	char *state = state_arg ? strdup(state_arg) : default_dir("LKVM_SEV_STATE", "sev-model");
	const char *root_env = getenv("LKVM_SEV_ROOT"), *state_env = getenv("LKVM_SEV_STATE");
	char *root = NULL;
	char real[PATH_MAX];
	struct sev_model *m;
	int ret;

	/* No --sev-root / LKVM_SEV_ROOT: the built-in test root (root == NULL). */
	if (root_arg && *root_arg)
		root = strdup(root_arg);
	else if (root_env && *root_env)
		root = strdup(root_env);
	if (!state) {
		pr_err("SEV model: no state directory (set --sev-state, LKVM_SEV_STATE or HOME)");
		free(root);
		return -EINVAL;
	}
	ret = mkdir_private(state, state_arg || (state_env && *state_env) ? 1 : 2);
	if (ret < 0) {
		if (ret != -EPERM)
			pr_err("SEV model: cannot create state directory %s: %s%s", state,
			       strerror(-ret), ret == -ENOENT ? " (its parent does not exist)" : "");
		goto err;
	}
	if (!realpath(state, real)) {
		ret = -errno;
		goto err;
	}

	pthread_mutex_lock(&models_lock);
	for (m = models; m; m = m->next)
		if (!strcmp(m->state_dir, real))
			break;
	if (m) {
		m->refs++;
		pthread_mutex_unlock(&models_lock);
		free(state);
		free(root);
		*out = m;
		return 0;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		pthread_mutex_unlock(&models_lock);
		ret = -ENOMEM;
		goto err;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->state_dir = strdup(real);
	m->root_dir = root;
	root = NULL;
	ret = root_load_or_create(m);
	if (!ret)
		ret = identity_load_or_create(m);
	if (ret) {
		pthread_mutex_unlock(&models_lock);
		sev_platform_keys__free(&m->keys);
		sev_amd_root__free(&m->root);
		free(m->state_dir);
		free(m->root_dir);
		free(m);
		goto err;
	}
	m->refs = 1;
	m->next = models;
	models = m;
	pthread_mutex_unlock(&models_lock);
	free(state);
	*out = m;
	return 0;
err:
	free(state);
	free(root);
	return ret;
}

int sev_model__open(struct sev_fw *fw, const struct sev_model_paths *paths)
{
	struct sev_model *m;
	int ret;

	ret = model_get(paths ? paths->state_dir : NULL, paths ? paths->root_dir : NULL, &m);
	if (ret < 0)
		return ret;
	if (!__atomic_exchange_n(&warned, true, __ATOMIC_RELAXED))
		pr_warn("SEV: using the SOFTWARE FIRMWARE MODEL: guest memory is NOT encrypted "
			"and the host can read all of it; for testing only");
	fw->model = m;
	fw->ops = &model_ops;
	return 0;
}
