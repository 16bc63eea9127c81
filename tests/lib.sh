# Helpers for integration tests (source this).  Each check prints one
# PASS/FAIL/SKIP line; the script's exit status is non-zero if any failed.
# T_PREFIX: set by tests/run-tests.sh for a second run of a script (asan/).
T_NAME=${T_PREFIX:-}$(basename "${BASH_SOURCE[1]}" .sh)
T_FAILED=0
T_TMP=$(mktemp -d /tmp/lkvm-t.XXXXXX)
export LKVM_DIR="$T_TMP/run"
mkdir -p "$LKVM_DIR" && chmod 700 "$LKVM_DIR"
# SEV model platform state: per test, never the user's ~/.lkvm.
export LKVM_SEV_STATE="$T_TMP/sev-state"
T_PIDS=()

pass() { echo "PASS: $T_NAME/$1"; }
fail() { echo "FAIL: $T_NAME/$1: ${2:-}"; T_FAILED=1; }
skip() { echo "SKIP: $T_NAME/$1: $2"; }

# check NAME CMD...: pass if CMD succeeds.
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n" "command failed: $*"; fi; }

# need_kvm NAME...: skip the listed tests and exit if /dev/kvm is unusable.
need_kvm() {
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		for n in "$@"; do skip "$n" "/dev/kvm missing or not accessible"; done
		exit 0
	fi
}

# bg_start VAR CMD...: start CMD in the background, its pid into VAR.
bg_start() { local __v=$1; shift; "$@" & T_PIDS+=($!); printf -v "$__v" %s $!; }

# wait_for TIMEOUT_S CMD...: poll until CMD succeeds (for at least
# TIMEOUT_S: $SECONDS counts whole seconds, so one more).
# (Odd local names: bash scoping is dynamic, and CMD may be a function
# that reads its caller's $t.)
wait_for() {
	local __wf_end=$((SECONDS + $1 + 1)); shift
	while [ $SECONDS -lt $__wf_end ]; do "$@" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}

t_cleanup() {
	local p
	for p in "${T_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T_TMP"
}
trap t_cleanup EXIT
t_done() { exit $T_FAILED; }

# need_fuzzer TEST BINARY: return if the libFuzzer BINARY was built; otherwise
# SKIP (saying why) where clang cannot build fuzzers, or FAIL where it can
# (then the build forgot it), and exit.
need_fuzzer() {
	local n=$1 bin=$2
	[ -x "$bin" ] && return 0
	if ! command -v clang >/dev/null; then
		skip "$n" "clang not installed (Debian: clang libclang-rt-14-dev)"
		exit 0
	fi
	if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n){return 0;}' |
	     clang -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
		skip "$n" "clang cannot link -fsanitize=fuzzer (libclang-rt-14-dev missing)"
		exit 0
	fi
	fail "$n" "clang can build fuzzers but $bin was not built (make check-extra)"
	exit 1
}

# fuzz_for TEST SECONDS BINARY LIBFUZZER-ARGS... (corpus directories last):
# a bounded libFuzzer run.  PASS after at least 1000 inputs with no crash,
# sanitizer report, leak or timeout; otherwise FAIL, with the log's end and
# the reproducer kept in $LKVM_BUILD/fuzz-crashes/.
fuzz_for() {
	local n=$1 secs=$2 bin=$3 log="$T_TMP/$1.fuzz.log" runs a rc; shift 3
	mkdir -p "$LKVM_BUILD/fuzz-crashes"
	rm -f "$LKVM_BUILD/fuzz-crashes/$n-"*	# only this run's reproducers below
	"$bin" -max_total_time="$secs" -runs=5000000 -timeout=10 -rss_limit_mb=1024 \
		-artifact_prefix="$LKVM_BUILD/fuzz-crashes/$n-" "$@" >"$log" 2>&1
	rc=$?
	runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*')
	if [ $rc -eq 0 ]; then
		echo "$n: ${runs:-0} inputs in ${secs}s"
		# It ran at all (inputs, not speed: a loaded host is slow).
		if [ -n "$runs" ] && [ "$runs" -ge $((secs * 10)) ]; then pass "$n"
		else fail "$n" "the fuzzer ran only ${runs:-0} inputs in ${secs}s"; fi
		return
	fi
	tail -n 30 "$log"
	for a in "$LKVM_BUILD/fuzz-crashes/$n-"*; do
		[ -f "$a" ] && echo "reproducer kept: $a"
	done
	if ls "$LKVM_BUILD/fuzz-crashes/$n-"* >/dev/null 2>&1; then
		fail "$n" "the fuzzer found a crash, sanitizer report, leak or timeout (see above)"
	else
		fail "$n" "libFuzzer exited $rc without a reproducer (see above)"
	fi
}
