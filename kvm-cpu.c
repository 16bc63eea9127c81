/*
 * vCPU threads: creation, boot register state, the KVM_RUN loop and exit
 * dispatch, and the run-state machine (stop, pause, resume).
 *
 * Race-free shutdown: whoever stops the VM sets kvm->stopping under
 * run_lock, then for each vCPU sets kvm_run->immediate_exit and sends
 * SIGLKVM_KICK.  A thread inside KVM_RUN is kicked out by the signal; a
 * thread about to enter KVM_RUN returns at once with EINTR because of
 * immediate_exit.  There is no window where a kick can be lost, which is
 * the hang kvmtool shows with several vCPUs.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/kvm.h>

#include "lkvm/cpuid.h"
#include "lkvm/ioport.h"
#include "lkvm/kvm.h"
#include "lkvm/kvm-cpu.h"
#include "lkvm/page-map.h"
#include "lkvm/tsc.h"

#define MSR_IA32_MISC_ENABLE		0x1a0
#define MISC_ENABLE_FAST_STRING		1

static kvm_exit_fn exit_handlers[128];
static int nr_parked;
static int pause_depth;
static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread struct kvm_cpu *current_vcpu;

int kvm_cpu__register_exit_handler(u32 exit_reason, kvm_exit_fn fn)
{
	if (exit_reason >= ARRAY_SIZE(exit_handlers))
		return -EINVAL;
	exit_handlers[exit_reason] = fn;
	return 0;
}

static void kick_handler(int sig)
{
	/*
	 * The point is that KVM_RUN returns with EINTR.  Atomic: a stopping
	 * thread may be setting the same byte in kick_locked() right now.
	 */
	if (current_vcpu)
		__atomic_store_n(&current_vcpu->kvm_run->immediate_exit, 1, __ATOMIC_SEQ_CST);
}

static int vcpu_create(struct kvm *kvm, int id)
{
	struct kvm_cpu *vcpu = calloc(1, sizeof(*vcpu));
	int ret;

	if (!vcpu)
		return -ENOMEM;
	vcpu->kvm = kvm;
	vcpu->cpu_id = id;
	vcpu->vcpu_fd = ioctl(kvm->vm_fd, KVM_CREATE_VCPU, id);
	if (vcpu->vcpu_fd < 0) {
		ret = -errno;
		pr_err("KVM_CREATE_VCPU %d: %s", id, strerror(errno));
		goto err_free;
	}
	vcpu->kvm_run = mmap(NULL, kvm->kvm_run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
			     vcpu->vcpu_fd, 0);
	if (vcpu->kvm_run == MAP_FAILED) {
		ret = -errno;
		pr_err("mmap kvm_run: %s", strerror(errno));
		goto err_close;
	}
	if (kvm->dirty_ring_bytes) {
		vcpu->dirty_ring_entries = kvm->dirty_ring_bytes / sizeof(struct kvm_dirty_gfn);
		vcpu->dirty_gfns = mmap(NULL, kvm->dirty_ring_bytes, PROT_READ | PROT_WRITE,
					MAP_SHARED, vcpu->vcpu_fd,
					KVM_DIRTY_LOG_PAGE_OFFSET * getpagesize());
		if (vcpu->dirty_gfns == MAP_FAILED) {
			ret = -errno;
			pr_err("mmap dirty ring: %s", strerror(errno));
			goto err_unmap;
		}
	}
	ret = cpuid__setup_vcpu(vcpu);
	if (!ret)
		ret = tsc__setup_vcpu(vcpu);
	if (ret)
		goto err_unmap_ring;
	kvm->cpus[id] = vcpu;
	return 0;

err_unmap_ring:
	free(vcpu->cpuid);	/* cpuid__setup_vcpu() keeps vCPU 0's even if TSC fails */
	if (vcpu->dirty_gfns)
		munmap(vcpu->dirty_gfns, kvm->dirty_ring_bytes);
err_unmap:
	munmap(vcpu->kvm_run, kvm->kvm_run_size);
err_close:
	close(vcpu->vcpu_fd);
err_free:
	free(vcpu);
	return ret;
}

static void set_seg(struct kvm_segment *s, u16 sel, u8 type, bool code)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = 0;
	s->db = 1;
	s->s = 1;
	s->l = 0;
	s->g = 1;
	(void)code;
}

/* PVH: 32-bit flat protected mode, paging off, EBX = start_info. */
static int reset_pvh(struct kvm_cpu *vcpu, struct kvm_sregs *sregs, struct kvm_regs *regs)
{
	set_seg(&sregs->cs, 0x10, 0xb, true);
	set_seg(&sregs->ds, 0x18, 0x3, false);
	sregs->es = sregs->fs = sregs->gs = sregs->ss = sregs->ds;
	memset(&sregs->tr, 0, sizeof(sregs->tr));
	sregs->tr.selector = 0x20;
	sregs->tr.limit = 0x67;
	sregs->tr.type = 0xb;		/* 32-bit busy TSS */
	sregs->tr.present = 1;
	sregs->cr0 = 0x11;		/* PE | ET */
	sregs->cr4 = 0;
	sregs->efer = 0;
	regs->rflags = 0x2;
	regs->rip = vcpu->kvm->boot_entry;
	regs->rbx = vcpu->kvm->boot_info;
	return 0;
}

/* Linux real-mode boot protocol: all segments = the setup segment. */
static int reset_real(struct kvm_cpu *vcpu, struct kvm_sregs *sregs, struct kvm_regs *regs)
{
	struct kvm *kvm = vcpu->kvm;
	struct kvm_segment *segs[] = { &sregs->cs, &sregs->ds, &sregs->es, &sregs->fs,
				       &sregs->gs, &sregs->ss };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(segs); i++) {
		segs[i]->selector = kvm->boot_cs;
		segs[i]->base = (u64)kvm->boot_cs << 4;
	}
	regs->rflags = 0x2;
	regs->rip = kvm->boot_ip;
	regs->rsp = regs->rbp = kvm->boot_sp;
	return 0;
}

int kvm_cpu__reset(struct kvm_cpu *vcpu)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[1];
	} msrs = { .hdr.nmsrs = 1, .e = { { .index = MSR_IA32_MISC_ENABLE,
					     .data = MISC_ENABLE_FAST_STRING } } };
	struct kvm_lapic_state lapic;
	int ret;

	/* APs wait for INIT/SIPI from the BSP, as on real hardware. */
	if (vcpu->cpu_id != 0)
		return 0;
	if (ioctl(vcpu->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	switch (vcpu->kvm->boot_mode) {
	case KVM_BOOT_PVH:
		ret = reset_pvh(vcpu, &sregs, &regs);
		break;
	case KVM_BOOT_BZIMAGE:
		ret = reset_real(vcpu, &sregs, &regs);
		break;
	default:
		pr_err("no kernel loaded");
		return -EINVAL;
	}
	if (ret)
		return ret;
	if (ioctl(vcpu->vcpu_fd, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(vcpu->vcpu_fd, KVM_SET_REGS, &regs) < 0 ||
	    ioctl(vcpu->vcpu_fd, KVM_SET_FPU, &fpu) < 0 ||
	    ioctl(vcpu->vcpu_fd, KVM_SET_MSRS, &msrs) != 1)
		return -errno ? -errno : -EIO;

	/* LINT0 = ExtINT so PIC interrupts reach the BSP, LINT1 = NMI. */
	if (ioctl(vcpu->vcpu_fd, KVM_GET_LAPIC, &lapic) == 0) {
		u32 *lint0 = (u32 *)&lapic.regs[0x350], *lint1 = (u32 *)&lapic.regs[0x360];

		*lint0 = (*lint0 & ~0x700u & ~0x10000u) | 0x700;
		*lint1 = (*lint1 & ~0x700u & ~0x10000u) | 0x400;
		if (ioctl(vcpu->vcpu_fd, KVM_SET_LAPIC, &lapic) < 0)
			return -errno;
	}
	return 0;
}

int kvm_cpu__init_all(struct kvm *kvm)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	int i, ret;

	/* No SA_RESTART: KVM_RUN must return EINTR when kicked. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGLKVM_KICK, &sa, NULL);

	for (i = 0; i < kvm->nr_cpus; i++) {
		ret = vcpu_create(kvm, i);
		if (ret)
			return ret;
	}
	return 0;
}

void kvm_cpu__exit_all(struct kvm *kvm)
{
	int i;

	kvm__throttle(kvm, 0);		/* its thread kicks vCPUs: gone before they are */
	for (i = 0; i < kvm->nr_cpus; i++) {
		struct kvm_cpu *vcpu;

		/*
		 * Out of cpus[] under run_lock before it is freed: a stop can
		 * still come (lkvm-signals, a second SIGTERM or Ctrl-C), and
		 * kick_all() kicks whatever cpus[] holds.
		 */
		pthread_mutex_lock(&kvm->run_lock);
		vcpu = kvm->cpus[i];
		kvm->cpus[i] = NULL;
		pthread_mutex_unlock(&kvm->run_lock);
		if (!vcpu)
			continue;
		if (vcpu->dirty_gfns)
			munmap(vcpu->dirty_gfns, kvm->dirty_ring_bytes);
		munmap(vcpu->kvm_run, kvm->kvm_run_size);
		close(vcpu->vcpu_fd);
		free(vcpu->cpuid);
		free(vcpu);
	}
}

/*
 * immediate_exit is set on every vCPU, started or not, so a thread that
 * has not entered KVM_RUN yet leaves it at once; only threads that have
 * published their pthread_t (under run_lock) get the signal, and only
 * until they say they are done (also under run_lock): a thread past that
 * may already be joined by kvm_cpu__wait_all(), and pthread_kill() on a
 * joined thread reads its freed descriptor.  (It did: the last vCPU to
 * leave kicked the others and segfaulted, one stop in ten with 8 vCPUs.)
 */
static void kick_locked(struct kvm_cpu *vcpu)
{
	__atomic_store_n(&vcpu->kvm_run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (vcpu->thread_started && !vcpu->thread_done)
		pthread_kill(vcpu->thread, SIGLKVM_KICK);
}

static void kick_all(struct kvm *kvm)
{
	int i;

	pthread_mutex_lock(&kvm->run_lock);
	for (i = 0; i < kvm->nr_cpus; i++)
		if (kvm->cpus[i])
			kick_locked(kvm->cpus[i]);
	pthread_mutex_unlock(&kvm->run_lock);
}

void kvm__request_stop(struct kvm *kvm, int status, const char *reason)
{
	void (*notify)(struct kvm *kvm);

	pthread_mutex_lock(&kvm->run_lock);
	if (!kvm->stopping) {
		kvm->exit_status = status;
		kvm->exit_reason = reason;
		/*
		 * Last, with release: kvm__stopping() looks from outside the
		 * lock, and who sees the stop there reads its reason next.
		 */
		__atomic_store_n(&kvm->stopping, true, __ATOMIC_RELEASE);
	}
	notify = kvm->stop_notify;
	pthread_cond_broadcast(&kvm->run_cond);
	pthread_mutex_unlock(&kvm->run_lock);
	kick_all(kvm);
	if (notify)
		notify(kvm);
}

/* A CLOCK_MONOTONIC deadline (now_ns()) for run_cond's timed waits. */
static struct timespec ns_to_ts(u64 ns)
{
	return (struct timespec){ .tv_sec = ns / 1000000000ull, .tv_nsec = ns % 1000000000ull };
}

/*
 * Park every vCPU outside KVM_RUN.  Nested pauses (debug during a
 * migration) are counted; only the outermost resume lets vCPUs go.
 * It can give up: when *cancel is set (kvm__pause_wake()
 * makes the wait look) or after timeout_ms (0: never), the pause is
 * undone, *stuck (if given) names the first vCPU that had not parked, and
 * it returns -ECANCELED or -ETIMEDOUT.  A vCPU blocked in a device (its
 * write to a console nobody reads) parks only once that returns: a
 * migration's final pause must not freeze the rest of the guest, nor
 * ignore its cancel, for as long as that lasts.
 */
int kvm__pause_until(struct kvm *kvm, const atomic_bool *cancel, u32 timeout_ms, int *stuck)
{
	u64 until = timeout_ms ? now_ns() + timeout_ms * 1000000ull : 0;
	int running = 0, i, ret = 0;

	pthread_mutex_lock(&pause_lock);
	pthread_mutex_lock(&kvm->run_lock);
	if (kvm->stopping) {
		pthread_mutex_unlock(&kvm->run_lock);
		pthread_mutex_unlock(&pause_lock);
		return -ESHUTDOWN;
	}
	if (pause_depth++) {
		pthread_mutex_unlock(&kvm->run_lock);
		pthread_mutex_unlock(&pause_lock);
		return 0;
	}
	kvm->paused = true;
	pthread_cond_broadcast(&kvm->run_cond);		/* cuts a throttle sleep short */
	for (i = 0; i < kvm->nr_cpus; i++)
		running += kvm->cpus[i] && kvm->cpus[i]->thread_started &&
			   !kvm->cpus[i]->thread_done;
	pthread_mutex_unlock(&kvm->run_lock);
	kick_all(kvm);
	pthread_mutex_lock(&kvm->run_lock);
	while (nr_parked < running && !kvm->stopping) {
		struct timespec ts;

		if (cancel && atomic_load(cancel)) {
			ret = -ECANCELED;
			break;
		}
		if (!until) {
			pthread_cond_wait(&kvm->run_cond, &kvm->run_lock);
			continue;
		}
		if (now_ns() >= until) {
			ret = -ETIMEDOUT;
			break;
		}
		ts = ns_to_ts(until);
		pthread_cond_timedwait(&kvm->run_cond, &kvm->run_lock, &ts);
	}
	if (ret) {
		for (i = 0; stuck && i < kvm->nr_cpus; i++) {
			struct kvm_cpu *c = kvm->cpus[i];

			if (c && c->thread_started && !c->thread_done && !c->parked) {
				*stuck = i;
				break;
			}
		}
		/* Undone: the vCPUs that parked run on. */
		if (--pause_depth == 0) {
			kvm->paused = false;
			pthread_cond_broadcast(&kvm->run_cond);
		}
	}
	if (!ret && kvm->stopping)
		ret = -ESHUTDOWN;
	pthread_mutex_unlock(&kvm->run_lock);
	pthread_mutex_unlock(&pause_lock);
	return ret;
}

/* A kvm__pause_until() waiting now looks at its cancel flag again. */
void kvm__pause_wake(struct kvm *kvm)
{
	pthread_mutex_lock(&kvm->run_lock);
	pthread_cond_broadcast(&kvm->run_cond);
	pthread_mutex_unlock(&kvm->run_lock);
}

/*
 * Under run_lock: the migration thread refuses while an lkvm resume may be
 * reading, and a resume that got in first has finished before the refusal.
 */
void kvm__refuse_run(struct kvm *kvm, const char *why)
{
	pthread_mutex_lock(&kvm->run_lock);
	kvm->run_refused = why;
	pthread_mutex_unlock(&kvm->run_lock);
}

void kvm__resume(struct kvm *kvm)
{
	pthread_mutex_lock(&pause_lock);
	pthread_mutex_lock(&kvm->run_lock);
	if (kvm->run_refused) {
		pr_err("%s: not resuming", kvm->run_refused);
	} else if (pause_depth > 0 && --pause_depth == 0) {
		kvm->paused = false;
		pthread_cond_broadcast(&kvm->run_cond);
	}
	pthread_mutex_unlock(&kvm->run_lock);
	pthread_mutex_unlock(&pause_lock);
}

bool kvm__is_paused(struct kvm *kvm)
{
	return __atomic_load_n(&kvm->paused, __ATOMIC_SEQ_CST);
}

/*
 * Throttling, for a migration's auto-converge: a guest that dirties memory
 * faster than the link moves it gets less CPU until pre-copy catches up.
 * QEMU's scheme: at P%, a vCPU runs one THROTTLE_SLICE_NS slice, then sleeps
 * P/(100-P) slices (at 50% it runs 10 ms, sleeps 10 ms; at 99% it sleeps
 * about a second).  The lkvm-throttle thread kicks every vCPU out once per
 * period and sets how long it sleeps; the vCPU sleeps on run_cond, so a
 * pause, a stop or the end of the throttle cuts the sleep short.  The sleep
 * happens where a kick is handled, after KVM_RUN completed the last exit.
 */
#define THROTTLE_SLICE_NS	10000000ull
#define THROTTLE_MAX_PCT	99

static struct {
	pthread_mutex_t lock;		/* serialises kvm__throttle() (starts, joins) */
	pthread_cond_t cond;		/* wakes the thread: pct changed (CLOCK_MONOTONIC) */
	pthread_once_t once;
	pthread_t thread;
	bool running;
	u32 pct;			/* under run_lock */
} thr = { .lock = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT };

static void thr_init(void)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&thr.cond, &attr);
	pthread_condattr_destroy(&attr);
}

/* run_lock held.  run_cond and the deadlines are CLOCK_MONOTONIC (now_ns()). */
static void throttle_sleep(struct kvm_cpu *vcpu)
{
	struct kvm *kvm = vcpu->kvm;

	while (!kvm->paused && !kvm->stopping && thr.pct && vcpu->throttle_until) {
		u64 now = now_ns();
		struct timespec ts;

		if (now >= vcpu->throttle_until)
			break;
		ts = ns_to_ts(vcpu->throttle_until);
		pthread_cond_timedwait(&kvm->run_cond, &kvm->run_lock, &ts);
	}
	vcpu->throttle_until = 0;
}

static void *throttle_thread(void *arg)
{
	struct kvm *kvm = arg;
	int i;

	pthread_setname_np(pthread_self(), "lkvm-throttle");
	pthread_mutex_lock(&kvm->run_lock);
	while (thr.pct && !kvm->stopping) {
		u32 pct = thr.pct;
		u64 sleep = THROTTLE_SLICE_NS * pct / (100 - pct), now = now_ns(), next;
		struct timespec ts;

		for (i = 0; i < kvm->nr_cpus; i++) {
			struct kvm_cpu *vcpu = kvm->cpus[i];

			if (!vcpu || vcpu->parked)
				continue;
			vcpu->throttle_until = now + sleep;
			kick_locked(vcpu);
		}
		/* Next period: after the sleep and one slice of running; sooner on a change. */
		next = now + sleep + THROTTLE_SLICE_NS;
		ts = ns_to_ts(next);
		while (thr.pct == pct && !kvm->stopping && now_ns() < next)
			pthread_cond_timedwait(&thr.cond, &kvm->run_lock, &ts);
	}
	pthread_mutex_unlock(&kvm->run_lock);
	return NULL;
}

int kvm__throttle(struct kvm *kvm, u32 pct)
{
	bool join = false;
	int i, ret = 0;

	if (pct > THROTTLE_MAX_PCT)
		return -EINVAL;
	pthread_once(&thr.once, thr_init);
	pthread_mutex_lock(&thr.lock);
	pthread_mutex_lock(&kvm->run_lock);
	if (pct && kvm->stopping) {
		ret = -ESHUTDOWN;
	} else {
		thr.pct = pct;
		pthread_cond_broadcast(&thr.cond);
		if (!pct) {
			/* Sleepers wake now, not at the end of their period. */
			for (i = 0; i < kvm->nr_cpus; i++)
				if (kvm->cpus[i])
					kvm->cpus[i]->throttle_until = 0;
			pthread_cond_broadcast(&kvm->run_cond);
			join = thr.running;
		}
	}
	pthread_mutex_unlock(&kvm->run_lock);
	if (!ret && pct && !thr.running) {
		ret = -pthread_create(&thr.thread, NULL, throttle_thread, kvm);
		thr.running = !ret;
	}
	if (join) {
		pthread_join(thr.thread, NULL);
		thr.running = false;
	}
	pthread_mutex_unlock(&thr.lock);
	return ret;
}

/* Returns true if the thread should leave its run loop. */
static bool handle_kick(struct kvm_cpu *vcpu)
{
	struct kvm *kvm = vcpu->kvm;
	bool stop;

	pthread_mutex_lock(&kvm->run_lock);
	throttle_sleep(vcpu);
	if (kvm->paused && !kvm->stopping) {
		vcpu->parked = true;
		nr_parked++;
		pthread_cond_broadcast(&kvm->run_cond);
		while (kvm->paused && !kvm->stopping)
			pthread_cond_wait(&kvm->run_cond, &kvm->run_lock);
		nr_parked--;
		vcpu->parked = false;
	}
	stop = kvm->stopping;
	/* Cleared under run_lock: a stop/pause after this re-sets it. */
	if (!stop)
		vcpu->kvm_run->immediate_exit = 0;
	pthread_mutex_unlock(&kvm->run_lock);
	return stop;
}

static const char *exit_reason_name(u32 r)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "UNKNOWN", [KVM_EXIT_EXCEPTION] = "EXCEPTION",
		[KVM_EXIT_IO] = "IO", [KVM_EXIT_HYPERCALL] = "HYPERCALL",
		[KVM_EXIT_DEBUG] = "DEBUG", [KVM_EXIT_HLT] = "HLT",
		[KVM_EXIT_MMIO] = "MMIO", [KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
		[KVM_EXIT_SHUTDOWN] = "SHUTDOWN", [KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
		[KVM_EXIT_INTR] = "INTR", [KVM_EXIT_SET_TPR] = "SET_TPR",
		[KVM_EXIT_TPR_ACCESS] = "TPR_ACCESS", [KVM_EXIT_NMI] = "NMI",
		[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR", [KVM_EXIT_OSI] = "OSI",
		[KVM_EXIT_WATCHDOG] = "WATCHDOG", [KVM_EXIT_EPR] = "EPR",
		[KVM_EXIT_SYSTEM_EVENT] = "SYSTEM_EVENT", [KVM_EXIT_IOAPIC_EOI] = "IOAPIC_EOI",
		[KVM_EXIT_HYPERV] = "HYPERV", [KVM_EXIT_X86_RDMSR] = "X86_RDMSR",
		[KVM_EXIT_X86_WRMSR] = "X86_WRMSR", [KVM_EXIT_DIRTY_RING_FULL] = "DIRTY_RING_FULL",
	};

	if (r < ARRAY_SIZE(names) && names[r])
		return names[r];
	return "?";
}

static const char *internal_suberror_name(u32 s)
{
	switch (s) {
	case KVM_INTERNAL_ERROR_EMULATION: return "emulation failure (instruction not emulated)";
	case KVM_INTERNAL_ERROR_SIMUL_EX: return "simultaneous exceptions";
	case KVM_INTERNAL_ERROR_DELIVERY_EV: return "exception during event delivery";
	case 4: return "unexpected exit reason";
	default: return "unknown suberror";
	}
}

/*
 * A failing exit: say what happened with everything needed to diagnose it,
 * then stop the VM with a non-zero status.
 */
static void vcpu_fail(struct kvm_cpu *vcpu, int status, const char *reason)
{
	struct kvm_run *run = vcpu->kvm_run;
	u32 i;

	pr_err("vCPU %d: %s (exit reason %u %s)", vcpu->cpu_id, reason, run->exit_reason,
	       exit_reason_name(run->exit_reason));
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
		fprintf(stderr, "  suberror %u: %s\n", run->internal.suberror,
			internal_suberror_name(run->internal.suberror));
		for (i = 0; i < run->internal.ndata && i < ARRAY_SIZE(run->internal.data); i++)
			fprintf(stderr, "  data[%u] = 0x%016llx\n", i,
				(unsigned long long)run->internal.data[i]);
	} else if (run->exit_reason == KVM_EXIT_FAIL_ENTRY) {
		fprintf(stderr, "  hardware entry failure reason 0x%llx on cpu %u\n",
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason,
			run->fail_entry.cpu);
	}
	kvm_cpu__dump(vcpu, stderr);
	kvm__request_stop(vcpu->kvm, status, reason);
}

static void handle_system_event(struct kvm_cpu *vcpu)
{
	struct kvm_run *run = vcpu->kvm_run;

	switch (run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		kvm__request_stop(vcpu->kvm, 0, "guest powered off");
		break;
	case KVM_SYSTEM_EVENT_RESET:
		page_map__guest_reset(vcpu->kvm);
		kvm__request_stop(vcpu->kvm, 0, "guest reset");
		break;
	case KVM_SYSTEM_EVENT_CRASH:
		vcpu_fail(vcpu, 2, "guest reported a crash");
		break;
	default:
		vcpu_fail(vcpu, 2, "unknown system event");
	}
}

/* Returns false when the vCPU must stop. */
static bool handle_exit(struct kvm_cpu *vcpu)
{
	struct kvm_run *run = vcpu->kvm_run;
	u32 r = run->exit_reason;
	int ret;

	switch (r) {
	case KVM_EXIT_IO:
		kvm__emulate_io(vcpu, run->io.port, (u8 *)run + run->io.data_offset,
				run->io.direction == KVM_EXIT_IO_OUT, run->io.size,
				run->io.count);
		return true;
	case KVM_EXIT_MMIO:
		kvm__emulate_mmio(vcpu, run->mmio.phys_addr, run->mmio.data, run->mmio.len,
				  run->mmio.is_write);
		return true;
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return true;
	case KVM_EXIT_HLT:
		/* Only seen without an in-kernel LAPIC: a halted CPU with nothing to wait for. */
		vcpu_fail(vcpu, 2, "guest halted with interrupts it cannot receive");
		return false;
	case KVM_EXIT_SHUTDOWN:
		vcpu_fail(vcpu, 2, "guest triple fault (shutdown)");
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vcpu);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_fail(vcpu, 2, "KVM internal error");
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		vcpu_fail(vcpu, 2, "KVM could not enter the guest");
		return false;
	}
	if (r < ARRAY_SIZE(exit_handlers) && exit_handlers[r]) {
		ret = exit_handlers[r](vcpu);
		if (ret == 0)
			return true;
		vcpu_fail(vcpu, 2, "exit handler failed");
		return false;
	}
	vcpu_fail(vcpu, 2, "unhandled exit");
	return false;
}

static void *vcpu_thread(void *arg)
{
	struct kvm_cpu *vcpu = arg;
	struct kvm *kvm = vcpu->kvm;
	char name[16];
	sigset_t set;

	snprintf(name, sizeof(name), "lkvm-vcpu%d", vcpu->cpu_id);
	pthread_setname_np(pthread_self(), name);
	current_vcpu = vcpu;

	/*
	 * Publish ourselves and look at the stop flag in one locked step: a stop
	 * requested before this point is seen here, one after it kicks us.
	 */
	pthread_mutex_lock(&kvm->run_lock);
	vcpu->thread = pthread_self();
	vcpu->thread_started = true;
	/* No vCPU runs before every thread exists (kvm_cpu__start_all). */
	while (!kvm->vcpus_go && !kvm->stopping)
		pthread_cond_wait(&kvm->run_cond, &kvm->run_lock);
	if (kvm->stopping) {
		vcpu->thread_done = true;
		pthread_mutex_unlock(&kvm->run_lock);
		return NULL;
	}
	pthread_mutex_unlock(&kvm->run_lock);
	sigemptyset(&set);
	sigaddset(&set, SIGLKVM_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	for (;;) {
		if (ioctl(vcpu->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				if (handle_kick(vcpu))
					break;
				continue;
			}
			pr_err("vCPU %d: KVM_RUN: %s", vcpu->cpu_id, strerror(errno));
			kvm_cpu__dump(vcpu, stderr);
			kvm__request_stop(kvm, 2, "KVM_RUN failed");
			break;
		}
		/*
		 * Always go back into KVM_RUN, even when a stop or pause is
		 * pending: KVM completes an I/O, MMIO or MSR exit (IN data into
		 * RAX, RIP past OUT) only there.  With immediate_exit set it then
		 * returns EINTR without running the guest, and we park or leave
		 * on that path with the vCPU state consistent and saveable.
		 */
		if (!handle_exit(vcpu))
			break;
	}
	/* Whoever leaves first makes sure the others follow. */
	kvm__request_stop(kvm, kvm->exit_status, NULL);
	pthread_mutex_lock(&kvm->run_lock);
	vcpu->thread_done = true;
	pthread_cond_broadcast(&kvm->run_cond);
	pthread_mutex_unlock(&kvm->run_lock);
	return NULL;
}

int kvm_cpu__start_all(struct kvm *kvm)
{
	sigset_t set, old;
	int i, ret;

	/*
	 * Threads start with the kick signal blocked and unblock it themselves
	 * once current_vcpu is set, so the handler always knows its vCPU.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGLKVM_KICK);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	for (i = 0; i < kvm->nr_cpus; i++) {
		struct kvm_cpu *vcpu = kvm->cpus[i];
		pthread_t t;

		ret = pthread_create(&t, NULL, vcpu_thread, vcpu);
		if (ret) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			pr_err("cannot start the thread of vCPU %d of %d: %s", i, kvm->nr_cpus,
			       strerror(ret));
			/* The others wait for the go: they leave without running. */
			kvm__request_stop(kvm, 1, "thread creation failed");
			kvm_cpu__wait_all(kvm);
			return -ret;
		}
		vcpu->join = t;
		vcpu->joinable = true;
	}
	/*
	 * All threads exist: let them run.  (vCPU 0 used to run as soon as its
	 * thread did, so a failure to create a later one came after guest
	 * output.)  The main thread keeps the kick signal blocked.
	 */
	pthread_mutex_lock(&kvm->run_lock);
	kvm->vcpus_go = true;
	pthread_cond_broadcast(&kvm->run_cond);
	pthread_mutex_unlock(&kvm->run_lock);
	return 0;
}

int kvm_cpu__wait_all(struct kvm *kvm)
{
	int i;

	pthread_mutex_lock(&kvm->run_lock);
	while (!kvm->stopping)
		pthread_cond_wait(&kvm->run_cond, &kvm->run_lock);
	pthread_mutex_unlock(&kvm->run_lock);
	for (i = 0; i < kvm->nr_cpus; i++)
		if (kvm->cpus[i] && kvm->cpus[i]->joinable) {
			pthread_join(kvm->cpus[i]->join, NULL);
			kvm->cpus[i]->joinable = false;
		}
	return kvm->exit_status;
}
