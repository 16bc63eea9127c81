/*
 * The control socket without a VM: message codec, the server loop on a
 * socketpair (good requests, every kind of bad message, custom handlers
 * with a progress stream), the socket directory rules, start/stop with
 * stale-socket and name-in-use detection, the peer uid check, a stalled
 * client not blocking others, and the capability drop.
 *
 * The VM calls ipc.c makes are replaced by fakes below, so the tests can
 * see that debug output is produced while the vCPUs are paused.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <dirent.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "lkvm/caps.h"
#include "lkvm/ipc.h"
#include "lkvm/kvm-cpu.h"
#include "lkvm/kvm.h"

/* REQUIRE() evaluates its argument twice: calls with side effects go here. */
#define REQUIRE_OK(call) do { int __r = (call); REQUIRE(__r == 0); } while (0)

/* ---- fakes for the VM side --------------------------------------------- */

static int nr_pause, nr_resume, paused_now, stop_status = -1;
static int dumped_while_running;
/* >= 0: the client's end, closed while the pause "waits for the vCPUs". */
static int close_during_pause = -1;

int kvm__pause_until(struct kvm *kvm, const atomic_bool *cancel, u32 timeout_ms, int *stuck)
{
	(void)cancel;
	(void)timeout_ms;
	(void)stuck;
	if (kvm->stopping)
		return -ESHUTDOWN;
	if (close_during_pause >= 0) {
		close(close_during_pause);
		close_during_pause = -1;
	}
	nr_pause++;
	paused_now++;
	kvm->paused = true;
	return 0;
}

void kvm__resume(struct kvm *kvm)
{
	nr_resume++;
	paused_now--;
	kvm->paused = paused_now > 0;
}

void kvm__request_stop(struct kvm *kvm, int status, const char *reason)
{
	pthread_mutex_lock(&kvm->run_lock);
	if (!kvm->stopping) {
		kvm->stopping = true;
		kvm->exit_status = status;
		stop_status = status;
	}
	pthread_mutex_unlock(&kvm->run_lock);
}

void kvm_cpu__dump(struct kvm_cpu *vcpu, FILE *out)
{
	if (!paused_now)
		dumped_while_running++;
	fprintf(out, "RIP=%016x cpu=%d\n", 0x1000 + vcpu->cpu_id, vcpu->cpu_id);
}

/* Stands in for page-map.c (ipc.c refers to it weakly). */
void page_map__dump(struct page_map *pm, FILE *out)
{
	if (!paused_now)
		dumped_while_running++;
	fprintf(out, "page map: fake %p\n", (void *)pm);
}

static struct kvm_cpu cpu0 = { .cpu_id = 0 }, cpu1 = { .cpu_id = 1 };
static struct kvm vm;

static void reset_vm(void)
{
	memset(&vm, 0, sizeof(vm));
	pthread_mutex_init(&vm.run_lock, NULL);
	pthread_cond_init(&vm.run_cond, NULL);
	vm.nr_cpus = 2;
	vm.cpus[0] = &cpu0;
	vm.cpus[1] = &cpu1;
	vm.ram_size = 64ULL << 20;
	nr_pause = nr_resume = paused_now = dumped_while_running = 0;
	stop_status = -1;
}

/* ---- a server thread on one end of a socketpair ------------------------ */

struct server {
	int sv[2];
	pthread_t th;
	volatile int done;
};

static void *serve_thread(void *arg)
{
	struct server *s = arg;

	ipc__serve(&vm, s->sv[1]);
	/* As the real connection thread does: the client then sees EOF. */
	close(s->sv[1]);
	s->done = 1;
	return NULL;
}

static int server_start(struct server *s)
{
	s->done = 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s->sv))
		return -1;
	return pthread_create(&s->th, NULL, serve_thread, s) ? -1 : 0;
}

static void server_end(struct server *s)
{
	shutdown(s->sv[0], SHUT_RDWR);
	pthread_join(s->th, NULL);
	close(s->sv[0]);
}

/* Did the server close its end (EOF within 2 s, after any answer)? */
static bool server_hung_up(struct server *s)
{
	char buf[256];
	u64 deadline = ipc__deadline(2000);

	for (;;) {
		size_t got;
		int ret = ipc__recv(s->sv[0], buf, sizeof(buf), deadline, &got);

		if (ret == -EPIPE)
			return true;
		if (ret)
			return false;
	}
}

struct collect {
	char text[4096];
	size_t len;
	int nr_data, nr_progress;
};

static int collect(u32 type, const void *p, u32 len, void *arg)
{
	struct collect *c = arg;
	size_t n = min((size_t)len, sizeof(c->text) - 1 - c->len);

	if (type == IPC_MSG_PROGRESS)
		c->nr_progress++;
	else
		c->nr_data++;
	memcpy(c->text + c->len, p, n);
	c->len += n;
	c->text[c->len] = 0;
	return 0;
}

/* Read one answer, which must be a REPLY; returns its status. */
static int read_reply(int fd, char *msg, size_t msg_len)
{
	struct ipc_hdr hdr;
	char buf[600];
	struct ipc_reply r;

	if (ipc__recv(fd, &hdr, sizeof(hdr), ipc__deadline(3000), NULL))
		return -1001;
	if (ipc__check_hdr(&hdr) || hdr.type != IPC_MSG_REPLY || hdr.len < sizeof(r) ||
	    hdr.len > sizeof(buf))
		return -1002;
	if (ipc__recv(fd, buf, hdr.len, ipc__deadline(3000), NULL))
		return -1003;
	memcpy(&r, buf, sizeof(r));
	snprintf(msg, msg_len, "%.*s", (int)(hdr.len - sizeof(r)), buf + sizeof(r));
	return r.status;
}

/* Send raw bytes, then read one answer; returns its REPLY status. */
static int raw_exchange(int fd, const void *bytes, size_t len, char *msg, size_t msg_len)
{
	if (send(fd, bytes, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -1000;
	return read_reply(fd, msg, msg_len);
}

/* ---- tests ------------------------------------------------------------- */

static void test_header_check(void)
{
	struct ipc_hdr h;

	ipc__fill_hdr(&h, IPC_MSG_INFO, 0);
	CHECK_EQ(sizeof(h), 16);
	CHECK_EQ(ipc__check_hdr(&h), 0);
	h.len = IPC_MAX_PAYLOAD;
	CHECK_EQ(ipc__check_hdr(&h), 0);
	h.len = IPC_MAX_PAYLOAD + 1;
	CHECK_EQ(ipc__check_hdr(&h), -EMSGSIZE);
	h.len = 0xffffffff;
	CHECK_EQ(ipc__check_hdr(&h), -EMSGSIZE);
	ipc__fill_hdr(&h, IPC_MSG_INFO, 0);
	h.magic ^= 1;
	CHECK_EQ(ipc__check_hdr(&h), -EBADMSG);
	ipc__fill_hdr(&h, IPC_MSG_INFO, 0);
	h.version = IPC_VERSION + 1;
	CHECK_EQ(ipc__check_hdr(&h), -EPROTONOSUPPORT);
	ipc__fill_hdr(&h, IPC_MSG_INFO, 0);
	h.flags = 1;
	CHECK_EQ(ipc__check_hdr(&h), -EINVAL);
	/* Wire layout is part of the protocol (docs/ipc.md). */
	ipc__fill_hdr(&h, 0x01020304, 0x0a0b0c0d);
	CHECK_MEM(&h, "LKVM\x01\x00\x00\x00\x04\x03\x02\x01\x0d\x0c\x0b\x0a", 16);
	CHECK_EQ(sizeof(struct ipc_info), 24 + IPC_NAME_MAX);
	CHECK_EQ(sizeof(struct ipc_reply), 8);
}

static void test_names(void)
{
	char long_name[IPC_NAME_MAX + 2];

	CHECK(ipc__valid_name("guest-1"));
	CHECK(ipc__valid_name("a.b_c-D9"));
	CHECK(!ipc__valid_name(""));
	CHECK(!ipc__valid_name(".hidden"));
	CHECK(!ipc__valid_name("-x"));		/* lkvm stop --name -x reads an option */
	CHECK(!ipc__valid_name("../x"));
	CHECK(!ipc__valid_name("a/b"));
	CHECK(!ipc__valid_name("a b"));
	CHECK(!ipc__valid_name("a\nb"));
	/* Same limit as `lkvm run --name`: 64 characters. */
	memset(long_name, 'a', IPC_NAME_MAX + 1);
	long_name[IPC_NAME_MAX + 1] = 0;
	CHECK(!ipc__valid_name(long_name));
	long_name[IPC_NAME_MAX] = 0;
	CHECK(ipc__valid_name(long_name));
}

static void test_requests(void)
{
	struct server s;
	struct collect c = { 0 };
	struct ipc_info info;
	char msg[256];
	u32 flags;

	reset_vm();
	REQUIRE_OK(server_start(&s));

	memset(&info, 0, sizeof(info));
	memset(&c, 0, sizeof(c));
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_INFO, NULL, 0, 0, collect, &c, msg, sizeof(msg)), 0);
	CHECK_EQ(c.len, sizeof(info));
	memcpy(&info, c.text, sizeof(info));
	CHECK_EQ(info.pid, getpid());
	CHECK_EQ(info.nr_cpus, 2);
	CHECK_EQ(info.ram_size, 64ULL << 20);
	CHECK_EQ(info.state, IPC_STATE_RUNNING);

	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_PAUSE, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)), 0);
	CHECK_EQ(nr_pause, 1);
	CHECK_EQ(paused_now, 1);
	/* Pausing twice neither fails nor nests. */
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_PAUSE, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)), 0);
	CHECK(strstr(msg, "already paused"));
	CHECK_EQ(nr_pause, 1);
	memset(&c, 0, sizeof(c));
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_INFO, NULL, 0, 0, collect, &c, NULL, 0), 0);
	memcpy(&info, c.text, sizeof(info));
	CHECK_EQ(info.state, IPC_STATE_PAUSED);

	/* Debug while user-paused: no extra pause, and no resume behind the user's back. */
	memset(&c, 0, sizeof(c));
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_DEBUG, NULL, 0, 0, collect, &c, msg, sizeof(msg)), 0);
	CHECK(strstr(c.text, "vCPU 0") && strstr(c.text, "vCPU 1"));
	CHECK(strstr(c.text, "RIP=0000000000001001"));
	CHECK_EQ(nr_pause, 1);
	CHECK_EQ(paused_now, 1);

	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_RESUME, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)), 0);
	CHECK_EQ(paused_now, 0);
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_RESUME, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)), 0);
	CHECK(strstr(msg, "not paused"));
	CHECK_EQ(nr_resume, 1);

	/* Debug while running: paused around the dump, then resumed. */
	memset(&c, 0, sizeof(c));
	flags = IPC_DEBUG_REGS;
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_DEBUG, &flags, sizeof(flags), 0, collect, &c,
			      msg, sizeof(msg)), 0);
	CHECK(strstr(c.text, "vCPU 1"));
	CHECK_EQ(dumped_while_running, 0);
	CHECK_EQ(nr_pause, 2);
	CHECK_EQ(paused_now, 0);

	/* No page map in this build/VM: a clean refusal with the reason. */
	flags = IPC_DEBUG_PAGE_MAP;
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_DEBUG, &flags, sizeof(flags), 0, NULL, NULL,
			      msg, sizeof(msg)), -ENODEV);
	CHECK(strstr(msg, "page map not enabled"));
	flags = 0x81;
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_DEBUG, &flags, sizeof(flags), 0, NULL, NULL,
			      msg, sizeof(msg)), -EINVAL);
	CHECK(strstr(msg, "unknown debug flags 0x80"));
	flags = 0;
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_DEBUG, &flags, sizeof(flags), 0, NULL, NULL,
			      msg, sizeof(msg)), -EINVAL);
	CHECK(strstr(msg, "debug flags 0 ask for nothing"));
	/* Payload of the wrong size. */
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_DEBUG, msg, 3, 0, NULL, NULL, msg, sizeof(msg)),
		 -EINVAL);
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_PAUSE, msg, 1, 0, NULL, NULL, msg, sizeof(msg)),
		 -EINVAL);
	CHECK_EQ(paused_now, 0);

	/* With a page map: its dump alone, or after the registers. */
	vm.page_map = (struct page_map *)&cpu0;
	memset(&c, 0, sizeof(c));
	flags = IPC_DEBUG_PAGE_MAP;
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_DEBUG, &flags, sizeof(flags), 0, collect, &c,
			      msg, sizeof(msg)), 0);
	CHECK(strstr(c.text, "page map: fake") && !strstr(c.text, "vCPU 0"));
	memset(&c, 0, sizeof(c));
	flags = IPC_DEBUG_PAGE_MAP | IPC_DEBUG_REGS;
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_DEBUG, &flags, sizeof(flags), 0, collect, &c,
			      msg, sizeof(msg)), 0);
	CHECK(strstr(c.text, "vCPU 1") && strstr(c.text, "page map: fake"));
	CHECK(strstr(c.text, "vCPU 1") < strstr(c.text, "page map: fake"));
	CHECK_EQ(dumped_while_running, 0);
	CHECK_EQ(paused_now, 0);
	vm.page_map = NULL;

	/* STOP answers before stopping; the next request comes after it. */
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_STOP, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)), 0);
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_PAUSE, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)),
		 -ESHUTDOWN);
	CHECK_EQ(stop_status, 0);
	CHECK(!strcmp(msg, "instance is shutting down"));
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_DEBUG, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)),
		 -ESHUTDOWN);
	memset(&c, 0, sizeof(c));
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_INFO, NULL, 0, 0, collect, &c, NULL, 0), 0);
	memcpy(&info, c.text, sizeof(info));
	CHECK_EQ(info.state, IPC_STATE_STOPPING);
	server_end(&s);
}

static void test_stop_wakes_paused(void)
{
	struct server s;
	char msg[64];

	reset_vm();
	REQUIRE_OK(server_start(&s));
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_PAUSE, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)), 0);
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_STOP, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)), 0);
	/* The server handles one request at a time: after this one, STOP is done. */
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_RESUME, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)), 0);
	/* Parked vCPUs must be released so they can see the stop. */
	CHECK_EQ(paused_now, 0);
	CHECK(vm.stopping);
	server_end(&s);
}

/*
 * A client that gave up before its answer came was told the request
 * failed: a queued request whose sender is gone is dropped, and a pause
 * that completed after the sender left is undone.
 */
static void test_sender_gone(void)
{
	struct ipc_hdr hdr;
	int sv[2];
	struct server s;

	reset_vm();
	REQUIRE_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ipc__fill_hdr(&hdr, IPC_MSG_STOP, 0);
	REQUIRE(send(sv[0], &hdr, sizeof(hdr), MSG_NOSIGNAL) == sizeof(hdr));
	close(sv[0]);
	CHECK(ipc__client_gone(sv[1]));
	ipc__serve(&vm, sv[1]);
	CHECK(!vm.stopping);
	CHECK_EQ(stop_status, -1);
	close(sv[1]);

	/* Half-closed (done sending, still reading): not gone, and served. */
	REQUIRE_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ipc__fill_hdr(&hdr, IPC_MSG_PAUSE, 0);
	REQUIRE(send(sv[0], &hdr, sizeof(hdr), MSG_NOSIGNAL) == sizeof(hdr));
	shutdown(sv[0], SHUT_WR);
	CHECK(!ipc__client_gone(sv[1]));
	ipc__serve(&vm, sv[1]);
	CHECK_EQ(paused_now, 1);
	close(sv[0]);
	close(sv[1]);
	REQUIRE_OK(server_start(&s));
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_RESUME, NULL, 0, 0, NULL, NULL, NULL, 0), 0);
	server_end(&s);

	reset_vm();
	REQUIRE_OK(server_start(&s));
	ipc__fill_hdr(&hdr, IPC_MSG_PAUSE, 0);
	close_during_pause = s.sv[0];
	REQUIRE(send(s.sv[0], &hdr, sizeof(hdr), MSG_NOSIGNAL) == sizeof(hdr));
	pthread_join(s.th, NULL);
	CHECK_EQ(close_during_pause, -1);
	CHECK_EQ(nr_pause, 1);
	CHECK_EQ(nr_resume, 1);
	CHECK_EQ(paused_now, 0);

	/* The user's own pause is not undone by a resume whose sender left. */
	REQUIRE_OK(server_start(&s));
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_PAUSE, NULL, 0, 0, NULL, NULL, NULL, 0), 0);
	server_end(&s);
	REQUIRE_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ipc__fill_hdr(&hdr, IPC_MSG_RESUME, 0);
	REQUIRE(send(sv[0], &hdr, sizeof(hdr), MSG_NOSIGNAL) == sizeof(hdr));
	close(sv[0]);
	ipc__serve(&vm, sv[1]);
	close(sv[1]);
	CHECK_EQ(paused_now, 1);
	/* Put the module's user_paused back for the tests after this one. */
	REQUIRE_OK(server_start(&s));
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_RESUME, NULL, 0, 0, NULL, NULL, NULL, 0), 0);
	server_end(&s);
	CHECK_EQ(paused_now, 0);
}

/* After a migration whose outcome is unknown (migrate.c holds the state). */
static int unknown_resumed;
static bool disks_elsewhere;	/* the destination holds the disks: it runs the guest */

static int fake_unknown_resume(struct kvm *kvm, char *why, size_t n)
{
	if (disks_elsewhere) {
		snprintf(why, n, "disk d.img is in use by another process");
		return -EBUSY;
	}
	unknown_resumed++;
	kvm__resume(kvm);
	return 0;
}

/*
 * The outcome of the last migration is unknown: --all must neither resume
 * (two copies) nor stop (maybe the only copy) it; by name, resume settles
 * it; list says so.
 */
static void test_unknown_outcome(void)
{
	struct server s;
	struct collect c = { 0 };
	struct ipc_info info;
	u32 all = IPC_FLAG_ALL, bad = 2;
	char msg[256];

	reset_vm();
	unknown_resumed = 0;
	REQUIRE_OK(kvm__pause_until(&vm, NULL, 0, NULL));		/* the migration's own pause */
	kvm_ipc__hold_run_state();
	kvm_ipc__hold_unknown(fake_unknown_resume);
	REQUIRE_OK(server_start(&s));
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_INFO, NULL, 0, 0, collect, &c, NULL, 0), 0);
	memcpy(&info, c.text, sizeof(info));
	CHECK_EQ(info.state, IPC_STATE_UNKNOWN);
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_RESUME, &all, sizeof(all), 0, NULL, NULL, msg,
			      sizeof(msg)), -EBUSY);
	CHECK(strstr(msg, "not resumed by --all"));
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_STOP, &all, sizeof(all), 0, NULL, NULL, msg,
			      sizeof(msg)), -EBUSY);
	CHECK(!vm.stopping);
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_PAUSE, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)),
		 -EBUSY);
	CHECK(strstr(msg, "outcome is unknown"));
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_RESUME, &bad, sizeof(bad), 0, NULL, NULL, msg,
			      sizeof(msg)), -EINVAL);
	CHECK_EQ(unknown_resumed, 0);
	/* A resume that cannot take the disks back refuses, and the state stays held. */
	disks_elsewhere = true;
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_RESUME, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)),
		 -EBUSY);
	CHECK(strstr(msg, "not resumed: disk d.img is in use by another process; if the "
		      "destination runs the guest, 'lkvm stop' here"));
	CHECK(kvm_ipc__outcome_unknown());
	CHECK_EQ(paused_now, 1);
	disks_elsewhere = false;
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_RESUME, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)), 0);
	CHECK(strstr(msg, "resumed here"));
	CHECK_EQ(unknown_resumed, 1);
	CHECK_EQ(paused_now, 0);
	CHECK(!kvm_ipc__outcome_unknown());
	server_end(&s);
}

/* Every malformed message: an error reply, then a clean hang-up (or not). */
static void test_bad_messages(void)
{
	struct {
		const char *what;
		struct ipc_hdr hdr;
		int status;
		bool hangs_up;
	} cases[] = {
		{ "bad magic", { 0x12345678, IPC_VERSION, 0, IPC_MSG_INFO, 0 }, -EBADMSG, true },
		{ "bad version", { IPC_MAGIC, 99, 0, IPC_MSG_INFO, 0 }, -EPROTONOSUPPORT, true },
		{ "flags", { IPC_MAGIC, IPC_VERSION, 4, IPC_MSG_INFO, 0 }, -EINVAL, true },
		{ "huge length", { IPC_MAGIC, IPC_VERSION, 0, IPC_MSG_INFO, 0xfffffff0 }, -EMSGSIZE, true },
		{ "just too long", { IPC_MAGIC, IPC_VERSION, 0, 5, IPC_MAX_PAYLOAD + 1 }, -EMSGSIZE, true },
		{ "unknown type", { IPC_MAGIC, IPC_VERSION, 0, 0x7777, 0 }, -EOPNOTSUPP, false },
		{ "type zero", { IPC_MAGIC, IPC_VERSION, 0, 0, 0 }, -EOPNOTSUPP, false },
		{ "reply as request", { IPC_MAGIC, IPC_VERSION, 0, IPC_MSG_REPLY, 0 }, -EOPNOTSUPP, false },
		{ "info with payload", { IPC_MAGIC, IPC_VERSION, 0, IPC_MSG_INFO, 0 }, -EINVAL, false },
	};
	size_t i;

	reset_vm();
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct server s;
		char msg[256], buf[sizeof(struct ipc_hdr) + 4];
		size_t len = sizeof(struct ipc_hdr);
		int st;

		REQUIRE_OK(server_start(&s));
		memcpy(buf, &cases[i].hdr, sizeof(cases[i].hdr));
		if (!strcmp(cases[i].what, "info with payload")) {
			((struct ipc_hdr *)buf)->len = 4;
			memcpy(buf + len, "abcd", 4);
			len += 4;
		}
		st = raw_exchange(s.sv[0], buf, len, msg, sizeof(msg));
		if (st != cases[i].status)
			printf("# %s: status %d, text '%s'\n", cases[i].what, st, msg);
		CHECK_EQ(st, cases[i].status);
		if (cases[i].hangs_up) {
			CHECK(server_hung_up(&s));
		} else {
			/* Still in step: a good request works on the same connection. */
			CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_RESUME, NULL, 0, 0, NULL, NULL,
					      msg, sizeof(msg)), 0);
		}
		server_end(&s);
		CHECK(s.done);
	}
}

static void test_truncated(void)
{
	struct server s;
	struct ipc_hdr h;
	char msg[256];

	reset_vm();
	/* Half a header, then EOF. */
	REQUIRE_OK(server_start(&s));
	ipc__fill_hdr(&h, IPC_MSG_INFO, 0);
	CHECK_EQ(send(s.sv[0], &h, 7, MSG_NOSIGNAL), 7);
	shutdown(s.sv[0], SHUT_WR);
	CHECK(server_hung_up(&s));
	pthread_join(s.th, NULL);
	CHECK(s.done);
	close(s.sv[0]);

	/* A header promising 100 bytes, 10 sent, then EOF. */
	REQUIRE_OK(server_start(&s));
	ipc__fill_hdr(&h, IPC_MSG_DEBUG, 100);
	CHECK_EQ(send(s.sv[0], &h, sizeof(h), MSG_NOSIGNAL), (ssize_t)sizeof(h));
	CHECK_EQ(send(s.sv[0], "0123456789", 10, MSG_NOSIGNAL), 10);
	shutdown(s.sv[0], SHUT_WR);
	CHECK(server_hung_up(&s));
	pthread_join(s.th, NULL);
	CHECK(s.done);
	close(s.sv[0]);
	(void)msg;
}

/* A module's request with a progress stream, as migration/ will add. */
static int progress_handler(struct kvm *kvm, int fd, const void *p, u32 len)
{
	u32 n, i;

	if (len != sizeof(n))
		return -EINVAL;
	memcpy(&n, p, sizeof(n));
	if (n > 100)
		return ipc__reply(fd, -ERANGE, "at most 100 steps, not %u", n) ?: IPC_REPLIED;
	for (i = 0; i < n; i++)
		if (ipc__send(fd, IPC_MSG_PROGRESS, &i, sizeof(i)))
			return -EPIPE;
	return 0;
}

static int big_handler(struct kvm *kvm, int fd, const void *p, u32 len)
{
	static char big[3 * IPC_MAX_PAYLOAD + 17];

	memset(big, 'x', sizeof(big));
	return ipc__send_data(fd, big, sizeof(big));
}

struct count { size_t bytes; int msgs; };
static int count_data(u32 type, const void *p, u32 len, void *arg)
{
	struct count *c = arg;

	c->bytes += len;
	c->msgs++;
	return 0;
}

static void test_registered_handlers(void)
{
	struct server s;
	struct collect c = { 0 };
	struct count cnt = { 0 };
	char msg[256];
	u32 n = 5;

	CHECK_EQ(ipc__register_handler(IPC_MSG_FIRST_FREE, progress_handler), 0);
	CHECK_EQ(ipc__register_handler(IPC_MSG_FIRST_FREE + 1, big_handler), 0);
	CHECK_EQ(ipc__register_handler(IPC_MSG_FIRST_FREE, big_handler), -EEXIST);
	CHECK_EQ(ipc__register_handler(IPC_MSG_REPLY, big_handler), -EINVAL);
	CHECK_EQ(ipc__register_handler(0, big_handler), -EINVAL);

	reset_vm();
	REQUIRE_OK(server_start(&s));
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_FIRST_FREE, &n, sizeof(n), 0, collect, &c,
			      msg, sizeof(msg)), 0);
	CHECK_EQ(c.nr_progress, 5);
	CHECK_EQ(c.nr_data, 0);
	n = 1000;
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_FIRST_FREE, &n, sizeof(n), 0, NULL, NULL,
			      msg, sizeof(msg)), -ERANGE);
	CHECK(!strcmp(msg, "at most 100 steps, not 1000"));
	CHECK_EQ(ipc__request(s.sv[0], IPC_MSG_FIRST_FREE + 1, NULL, 0, 0, count_data, &cnt,
			      msg, sizeof(msg)), 0);
	CHECK_EQ(cnt.bytes, 3 * IPC_MAX_PAYLOAD + 17);
	CHECK_EQ(cnt.msgs, 4);
	server_end(&s);
}

/* A client that does not read its (large) answer: the server gives up, bounded. */
static void test_client_not_reading(void)
{
	struct server s;
	struct ipc_hdr h;
	u64 t0;
	int sz = 4096;

	reset_vm();
	REQUIRE_OK(server_start(&s));
	setsockopt(s.sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(s.sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	t0 = now_ns();
	for (int i = 0; i < 40; i++) {
		ipc__fill_hdr(&h, IPC_MSG_FIRST_FREE + 1, 0);
		if (send(s.sv[0], &h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			break;
	}
	while (!s.done && now_ns() - t0 < 3ULL * IPC_TIMEOUT_MS * 1000000)
		usleep(20000);
	CHECK(s.done);
	CHECK(now_ns() - t0 < 3ULL * IPC_TIMEOUT_MS * 1000000);
	server_end(&s);
}

/* ---- directory, start/stop, peer check --------------------------------- */

static char tmpdir[64], rundir[128];

static void make_dirs(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/lkvm-test-ipc.XXXXXX");
	if (!mkdtemp(tmpdir))
		abort();
	snprintf(rundir, sizeof(rundir), "%s/run", tmpdir);
	setenv("LKVM_DIR", rundir, 1);
}

static void test_dir_rules(void)
{
	char buf[256], why[512], link[160];
	struct stat st;

	CHECK_EQ(ipc__dir(buf, sizeof(buf), false, why, sizeof(why)), -ENOENT);
	/* Neither variable: named, and not the "nothing started" -ENOENT. */
	{
		char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;

		unsetenv("LKVM_DIR");
		unsetenv("HOME");
		CHECK_EQ(ipc__dir(buf, sizeof(buf), false, why, sizeof(why)), -EDESTADDRREQ);
		CHECK(strstr(why, "set HOME or LKVM_DIR"));
		setenv("LKVM_DIR", rundir, 1);
		if (home)
			setenv("HOME", home, 1);
		free(home);
	}
	CHECK_EQ(ipc__dir(buf, sizeof(buf), true, why, sizeof(why)), 0);
	CHECK(!strcmp(buf, rundir));
	REQUIRE_OK(stat(rundir, &st));
	CHECK_EQ(st.st_mode & 07777, 0700);

	chmod(rundir, 0755);
	CHECK_EQ(ipc__dir(buf, sizeof(buf), true, why, sizeof(why)), -EACCES);
	CHECK(strstr(why, "mode 0755"));
	chmod(rundir, 0700);

	snprintf(link, sizeof(link), "%s/link", tmpdir);
	CHECK(!symlink(rundir, link));
	setenv("LKVM_DIR", link, 1);
	CHECK_EQ(ipc__dir(buf, sizeof(buf), true, why, sizeof(why)), -ENOTDIR);
	CHECK(strstr(why, "is a symlink"));
	unlink(link);
	setenv("LKVM_DIR", rundir, 1);

	if (geteuid() == 0) {
		CHECK(!chown(rundir, 65534, 65534));
		CHECK_EQ(ipc__dir(buf, sizeof(buf), true, why, sizeof(why)), -EACCES);
		CHECK(strstr(why, "owned by uid 65534"));
		CHECK(!chown(rundir, 0, 0));
	}
	CHECK_EQ(ipc__dir(buf, sizeof(buf), false, why, sizeof(why)), 0);
}

static int connect_path(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (snprintf(a.sun_path, sizeof(a.sun_path), "%s", path) >= (int)sizeof(a.sun_path))
		return -ENAMETOOLONG;
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/* Leave a socket file nobody listens on, as a crashed instance would. */
static void make_stale(const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (snprintf(a.sun_path, sizeof(a.sun_path), "%s/%s.sock", rundir, name) >=
	    (int)sizeof(a.sun_path))
		abort();
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
}

static int count_one(const char *name, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void test_start_stop(void)
{
	char path[256], msg[128];
	struct stat st;
	int fd, n = 0;
	pid_t pid;
	int status;

	reset_vm();
	vm.cfg.name = "../evil";
	CHECK_EQ(kvm_ipc__start(&vm), -EINVAL);

	/* A stale socket under the name is replaced, not an error. */
	make_stale("t1");
	snprintf(path, sizeof(path), "%s/t1.sock", rundir);
	CHECK(!stat(path, &st));
	vm.cfg.name = "t1";
	REQUIRE_OK(kvm_ipc__start(&vm));
	CHECK(!strcmp(kvm_ipc__name(), "t1"));
	REQUIRE_OK(lstat(path, &st));
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK(ipc__instance_alive("t1"));
	CHECK(!ipc__instance_alive("nope"));

	fd = ipc__connect("t1");
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK_EQ(ipc__request(fd, IPC_MSG_RESUME, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)), 0);
		close(fd);
	}
	CHECK_EQ(ipc__connect("nope"), -ENOENT);

	/*
	 * The name is held against other processes: a second lkvm opening
	 * the lock file (its own open file description) cannot take it.
	 * (The integration test starts a real second instance.)
	 */
	pid = fork();
	if (pid == 0) {
		char lock[256];
		int lk;

		snprintf(lock, sizeof(lock), "%s/t1.lock", rundir);
		lk = open(lock, O_RDWR);
		_exit(lk >= 0 && flock(lk, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK ? 0 : 1);
	}
	REQUIRE(pid > 0);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* A stale socket of another name is detected and removed by the client. */
	make_stale("dead");
	CHECK_EQ(ipc__connect("dead"), -ENOENT);
	snprintf(path, sizeof(path), "%s/dead.sock", rundir);
	CHECK(lstat(path, &st) < 0 && errno == ENOENT);

	CHECK_EQ(ipc__for_each_instance(count_one, &n), 0);
	CHECK_EQ(n, 1);

	CHECK_EQ(kvm_ipc__stop(&vm), 0);
	snprintf(path, sizeof(path), "%s/t1.sock", rundir);
	CHECK(lstat(path, &st) < 0);
	CHECK(!ipc__instance_alive("t1"));
	CHECK_EQ(ipc__connect("t1"), -ENOENT);
}

/* A client that connects and sends nothing must not delay another one. */
static void test_stalled_client(void)
{
	char msg[64];
	int idle, fd;
	u64 t0;

	reset_vm();
	vm.cfg.name = "t2";
	REQUIRE_OK(kvm_ipc__start(&vm));
	idle = ipc__connect("t2");
	CHECK(idle >= 0);
	/* Half a header from the idle one, too. */
	CHECK_EQ(send(idle, "LKV", 3, MSG_NOSIGNAL), 3);
	t0 = now_ns();
	fd = ipc__connect("t2");
	CHECK(fd >= 0);
	CHECK_EQ(ipc__request(fd, IPC_MSG_RESUME, NULL, 0, 1000, NULL, NULL, msg, sizeof(msg)), 0);
	CHECK(now_ns() - t0 < 1000000000ULL);
	close(fd);
	/* Stopping does not wait for the idle client's timeout either. */
	t0 = now_ns();
	CHECK_EQ(kvm_ipc__stop(&vm), 0);
	CHECK(now_ns() - t0 < 1500000000ULL);
	close(idle);
}

static int handler_entered;

/* Holds its request until the server stops reading (kvm_ipc__stop() began). */
static int until_closing_handler(struct kvm *kvm, int fd, const void *p, u32 len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };

	__atomic_store_n(&handler_entered, 1, __ATOMIC_RELEASE);
	return poll(&pfd, 1, 3000) == 1 && (pfd.revents & POLLRDHUP) ? 0 : -ETIMEDOUT;
}

static void *stopper(void *arg)
{
	kvm_ipc__stop(arg);
	return NULL;
}

/*
 * A request still queued when the VMM begins to exit is answered "not done:
 * the instance is exiting", and one being handled still gets its answer:
 * the old stop hung up on both, and the client could only say "instance
 * closed the connection", not knowing whether its request was carried out.
 */
static void test_stop_answers_queued(void)
{
	struct ipc_hdr h[2];
	pthread_t th;
	char msg[128];
	int fd, pauses = nr_pause;
	u64 t0;

	CHECK_EQ(ipc__register_handler(IPC_MSG_FIRST_FREE + 2, until_closing_handler), 0);
	reset_vm();
	vm.cfg.name = "t4";
	REQUIRE_OK(kvm_ipc__start(&vm));
	fd = ipc__connect("t4");
	REQUIRE(fd >= 0);
	ipc__fill_hdr(&h[0], IPC_MSG_FIRST_FREE + 2, 0);
	ipc__fill_hdr(&h[1], IPC_MSG_PAUSE, 0);
	CHECK_EQ(send(fd, h, sizeof(h), MSG_NOSIGNAL), (ssize_t)sizeof(h));
	/* Accepted and at work: a connection still in the backlog would just be cut. */
	t0 = now_ns();
	while (!__atomic_load_n(&handler_entered, __ATOMIC_ACQUIRE) && now_ns() - t0 < 3000000000ULL)
		usleep(1000);
	REQUIRE(handler_entered);
	t0 = now_ns();
	REQUIRE(!pthread_create(&th, NULL, stopper, &vm));
	CHECK_EQ(read_reply(fd, msg, sizeof(msg)), 0);
	CHECK_EQ(read_reply(fd, msg, sizeof(msg)), -ESHUTDOWN);
	CHECK(strstr(msg, "instance is exiting") != NULL);
	pthread_join(th, NULL);
	CHECK(now_ns() - t0 < 1500000000ULL);
	/* The pause was not carried out. */
	CHECK_EQ(nr_pause, pauses);
	close(fd);
}

/*
 * A client that does not read its answers (its socket is full) is hung up
 * on at once when the VMM exits: it used to cost every exit the whole 2 s
 * grace, the handler stuck sending until then.
 */
static void test_stop_client_not_reading(void)
{
	int saved = ipc_timeout_ms, fd, i, queued = 0;
	struct ipc_hdr h[8];
	u64 t0;

	ipc_timeout_ms = 5000;		/* the server's own give-up must not end it */
	reset_vm();
	vm.cfg.name = "t5";
	REQUIRE_OK(kvm_ipc__start(&vm));
	fd = ipc__connect("t5");
	REQUIRE(fd >= 0);
	for (i = 0; i < 8; i++)		/* 8 x 192 KiB of answers: more than a socket holds */
		ipc__fill_hdr(&h[i], IPC_MSG_FIRST_FREE + 1, 0);
	CHECK_EQ(send(fd, h, sizeof(h), MSG_NOSIGNAL), (ssize_t)sizeof(h));
	t0 = now_ns();
	while (queued < 128 * 1024 && now_ns() - t0 < 3000000000ULL) {
		usleep(5000);
		if (ioctl(fd, FIONREAD, &queued) < 0)
			break;
	}
	REQUIRE(queued >= 128 * 1024);
	t0 = now_ns();
	CHECK_EQ(kvm_ipc__stop(&vm), 0);
	CHECK(now_ns() - t0 < 1000000000ULL);
	close(fd);
	ipc_timeout_ms = saved;
}

/*
 * A hung instance whose connection queue is full: the client says "not
 * responding" at once instead of blocking in connect() (lkvm list hung
 * forever behind a SIGSTOPped VMM after 17 earlier lists).
 */
static void test_full_queue(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0), fds[64], n = 0, ret = 0, i;
	u64 t0;

	REQUIRE(lfd >= 0);
	REQUIRE(snprintf(a.sun_path, sizeof(a.sun_path), "%s/full.sock", rundir) <
		(int)sizeof(a.sun_path));
	REQUIRE(!bind(lfd, (struct sockaddr *)&a, sizeof(a)) && !listen(lfd, 1));
	alarm(10);		/* the old client blocks here forever */
	t0 = now_ns();
	while (n < 64) {
		ret = ipc__connect("full");
		if (ret < 0)
			break;
		fds[n++] = ret;
	}
	alarm(0);
	CHECK_EQ(ret, -ETIMEDOUT);
	CHECK(n >= 1 && n < 64);
	CHECK(now_ns() - t0 < 1000000000ULL);
	CHECK(!strcmp(ipc__strerror(ret), "instance not responding"));
	for (i = 0; i < n; i++)
		close(fds[i]);
	close(lfd);
	unlink(a.sun_path);
}

/* Default name, and the peer uid check for a socket someone made reachable. */
static void test_peer_uid(void)
{
	char path[256], msg[128];
	pid_t pid;
	int status;

	reset_vm();
	vm.cfg.name = NULL;
	REQUIRE_OK(kvm_ipc__start(&vm));
	snprintf(msg, sizeof(msg), "guest-%d", (int)getpid());
	CHECK(!strcmp(kvm_ipc__name(), msg));
	if (geteuid() != 0) {
		kvm_ipc__stop(&vm);
		SKIP("needs root to connect as another uid");
	}
	snprintf(path, sizeof(path), "%s/%s.sock", rundir, kvm_ipc__name());
	/* Simulate a careless admin: the fences on the path are opened. */
	chmod(tmpdir, 0711);
	chmod(rundir, 0711);
	chmod(path, 0666);
	pid = fork();
	if (pid == 0) {
		char m[128];
		int fd, st;

		if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
			_exit(2);
		fd = connect_path(path);
		if (fd < 0)
			_exit(3);
		/* Refused before anything is read: just read the answer. */
		st = read_reply(fd, m, sizeof(m));
		_exit(st == -EACCES && strstr(m, "permission denied") ? 0 : 4);
	}
	REQUIRE(pid > 0);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	chmod(rundir, 0700);
	chmod(tmpdir, 0700);
	CHECK_EQ(kvm_ipc__stop(&vm), 0);
}

/* Value of a "Key:\t..." line of /proc/self/status, or "". */
static const char *status_field(const char *key, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/status", "r");
	size_t klen = strlen(key);

	buf[0] = 0;
	while (f && fgets(buf, len, f)) {
		if (!strncmp(buf, key, klen) && buf[klen] == ':') {
			char *v = buf + klen + 1;

			while (*v == '\t' || *v == ' ')
				v++;
			v[strcspn(v, "\n")] = 0;
			fclose(f);
			return v;
		}
	}
	if (f)
		fclose(f);
	buf[0] = 0;
	return buf;
}

static int idle_pipe[2];
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;

static void *idle_in_poll(void *arg)
{
	struct pollfd p = { .fd = idle_pipe[0], .events = POLLIN };

	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	return NULL;
}

static void *idle_in_cond(void *arg)
{
	pthread_mutex_lock(&idle_lock);
	pthread_cond_wait(&idle_cond, &idle_lock);
	pthread_mutex_unlock(&idle_lock);
	return NULL;
}

/* Every thread of this process: no CapEff/CapPrm beyond want (hex string). */
static bool all_threads_are(const char *want)
{
	char path[300], line[128];
	struct dirent *de;
	bool ok = true;
	int n = 0;
	DIR *d = opendir("/proc/self/task");

	while (d && (de = readdir(d))) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", de->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if ((!strncmp(line, "CapEff:", 7) || !strncmp(line, "CapPrm:", 7)) &&
			    strncmp(line + 8, want, 16))
				ok = false;
		if (f)
			fclose(f);
		n++;
	}
	if (d)
		closedir(d);
	return ok && n >= 3;
}

/* Run the drop in a child (it cannot be undone) and check /proc/self/status there. */
static int caps_child(bool keep_bind)
{
	pthread_t t1, t2;

	int keep[] = { CAP_NET_BIND_SERVICE };
	bool root = caps__effective() & (1ULL << CAP_SETPCAP);
	const char *want = root && keep_bind ? "0000000000000400" : "0000000000000000";
	char buf[256];
	int ret;

	/* Threads started before the drop, blocked in a system call. */
	if (pipe(idle_pipe) || pthread_create(&t1, NULL, idle_in_poll, NULL) ||
	    pthread_create(&t2, NULL, idle_in_cond, NULL))
		return 9;
	usleep(20000);
	ret = keep_bind ? caps__drop_except(keep, 1) : caps__drop_all();
	if (ret)
		return 10;
	if (!all_threads_are(want))
		return 17;
	if (caps__effective() != (root && keep_bind ? 1ULL << CAP_NET_BIND_SERVICE : 0))
		return 11;
	if (strcmp(status_field("CapEff", buf, sizeof(buf)), want))
		return 12;
	if (strcmp(status_field("CapPrm", buf, sizeof(buf)), want))
		return 13;
	if (strcmp(status_field("CapInh", buf, sizeof(buf)), "0000000000000000"))
		return 14;
	if (root && strcmp(status_field("CapBnd", buf, sizeof(buf)), want))
		return 15;
	if (strcmp(status_field("NoNewPrivs", buf, sizeof(buf)), "1"))
		return 16;
	return 0;
}

static void test_caps_drop(void)
{
	for (int keep = 0; keep < 2; keep++) {
		int status;
		pid_t pid = fork();

		REQUIRE(pid >= 0);
		if (pid == 0)
			_exit(caps_child(keep));
		waitpid(pid, &status, 0);
		CHECK(WIFEXITED(status));
		CHECK_EQ(WEXITSTATUS(status), 0);
	}
	if (!(caps__effective() & (1ULL << CAP_SETPCAP)))
		SKIP("not privileged: only checked that nothing is left to drop");
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/*
 * A same-uid process answering on an instance's socket (a fake VMM): the
 * REPLY's text, which every client prints, keeps no escape sequence.
 */
static void test_reply_for_terminal(void)
{
	int sv[2];
	char msg[256];

	REQUIRE_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	/* The answer is queued before the request: the client reads it all the same. */
	CHECK_EQ(ipc__reply(sv[1], -EIO, "\x1b]0;owned\x07\x1b[2Jgone\r\n\xc3\xa9"), 0);
	CHECK_EQ(ipc__request(sv[0], IPC_MSG_PAUSE, NULL, 0, 0, NULL, NULL, msg, sizeof(msg)),
		 -EIO);
	CHECK(!strcmp(msg, "?]0;owned??[2Jgone??\xc3\xa9"));
	close(sv[0]);
	close(sv[1]);
}

TEST_MAIN_BEGIN("test-ipc")
	signal(SIGPIPE, SIG_IGN);
	ipc_timeout_ms = 400;		/* timeouts are under test, not the clock */
	make_dirs();
	RUN(test_header_check);
	RUN(test_names);
	RUN(test_requests);
	RUN(test_stop_wakes_paused);
	RUN(test_sender_gone);
	RUN(test_unknown_outcome);
	RUN(test_bad_messages);
	RUN(test_truncated);
	RUN(test_registered_handlers);
	RUN(test_client_not_reading);
	RUN(test_dir_rules);
	RUN(test_start_stop);
	RUN(test_stalled_client);
	RUN(test_stop_answers_queued);
	RUN(test_stop_client_not_reading);
	RUN(test_full_queue);
	RUN(test_peer_uid);
	RUN(test_caps_drop);
	RUN(test_reply_for_terminal);
	cleanup();
TEST_MAIN_END()
