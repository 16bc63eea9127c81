/*
 * Host terminal handling.  stdin goes raw while the guest owns it; the
 * original mode is restored by atexit() and by every signal that ends lkvm,
 * so a crash or a kill never leaves the user's shell unusable.
 * Ctrl-A x stops the guest, Ctrl-A Ctrl-A sends a literal Ctrl-A.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "lkvm/kvm.h"
#include "lkvm/term.h"

static struct termios orig;
static bool raw_on;
/*
 * in_lock is held while lkvm-stdin calls input_fn, so once
 * term__set_input() returns the old function is not running and never
 * will: the console it fed may be freed (virtio-console's exit).
 */
static void (*input_fn)(struct kvm *kvm, const char *buf, size_t len);
static pthread_mutex_t in_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t input_thread;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kvm *term_kvm;

void term__restore(void)
{
	if (raw_on) {
		tcsetattr(STDIN_FILENO, TCSANOW, &orig);
		raw_on = false;
	}
}

static void fatal_signal(int sig)
{
	term__restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

void term__set_input(void (*fn)(struct kvm *kvm, const char *buf, size_t len))
{
	pthread_mutex_lock(&in_lock);
	input_fn = fn;
	pthread_mutex_unlock(&in_lock);
}

static bool term_stopping(void)
{
	return term_kvm && kvm__stopping(term_kvm);
}

/*
 * Output blocks while stdout is full (a pipe nobody drains): the guest
 * waits rather than lose its console.  A stop must still get through, so
 * the wait is a poll that looks at the stop every 200 ms (a kick alone
 * could land just before the write and be missed), and what the console
 * cannot take then is dropped.  A pause still waits: `lkvm pause` gives
 * up after its timeout and the pause is undone.
 *
 * A pipe whose reader has gone (`lkvm run ... | head`) takes nothing ever
 * again.  SIGPIPE is ignored for the sockets' sake, so without this the
 * guest would run on with its output thrown away and the pipeline would
 * never end: stop it as SIGPIPE stops any program, with 128 + SIGPIPE.
 */
void term__write(const void *buf, size_t len)
{
	const char *p = buf;

	pthread_mutex_lock(&out_lock);
	while (len && !term_stopping()) {
		struct pollfd pfd = { .fd = STDOUT_FILENO, .events = POLLOUT };
		int ready = poll(&pfd, 1, 200);
		ssize_t n;

		if (ready == 0 || (ready < 0 && errno == EINTR))
			continue;
		n = write(STDOUT_FILENO, p, len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno == EPIPE && term_kvm)
				kvm__request_stop(term_kvm, 128 + SIGPIPE, "stopped: the console's "
						  "output (stdout) was closed by its reader");
			break;
		}
		p += n;
		len -= n;
	}
	pthread_mutex_unlock(&out_lock);
}

static void *input_loop(void *arg)
{
	struct kvm *kvm = arg;
	bool escape = false;
	char buf[64], out[64];
	ssize_t n, i;
	size_t o;

	pthread_setname_np(pthread_self(), "lkvm-stdin");
	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;	/* EOF: the guest just gets no more input */
		for (i = 0, o = 0; i < n; i++) {
			if (escape) {
				escape = false;
				if (buf[i] == 'x') {
					kvm__request_stop(kvm, 0, "stopped from the console (Ctrl-A x)");
					return NULL;
				}
				if (buf[i] != 0x01)
					continue;
			} else if (buf[i] == 0x01 && raw_on) {
				escape = true;
				continue;
			}
			out[o++] = buf[i];
		}
		pthread_mutex_lock(&in_lock);
		if (o && input_fn)
			input_fn(kvm, out, o);
		pthread_mutex_unlock(&in_lock);
	}
}

void term__setup(struct kvm *kvm)
{
	/*
	 * Every signal whose default action ends lkvm, but those the signal
	 * thread turns into a clean stop (INT, TERM, HUP) and SIGPIPE (ignored):
	 * a SIGQUIT or SIGUSR1 from another shell, a CPU or file-size limit.
	 */
	static const int sigs[] = { SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL, SIGQUIT, SIGUSR1,
				    SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ,
				    SIGSYS, SIGIO, SIGPWR, SIGSTKFLT };
	struct termios t;
	size_t i;

	term_kvm = kvm;
	/*
	 * Started in the background (`lkvm run ... &` from an interactive
	 * shell): changing the terminal's mode stops us with SIGTTOU and
	 * reading it with SIGTTIN, so leave the terminal to the shell.  The
	 * guest's output still shows; its console gets no input.
	 */
	if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) != getpgrp())
		return;
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &orig) == 0) {
		t = orig;
		cfmakeraw(&t);
		t.c_oflag |= OPOST;	/* keep \n -> \r\n for the host side */
		if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) {
			raw_on = true;
			atexit(term__restore);
			for (i = 0; i < ARRAY_SIZE(sigs); i++)
				signal(sigs[i], fatal_signal);
		}
	}
	if (pthread_create(&input_thread, NULL, input_loop, kvm) == 0)
		pthread_detach(input_thread);
}
