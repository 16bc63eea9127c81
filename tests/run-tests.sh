#!/usr/bin/env bash
# Runs every test and prints one line per test, then the summary
#   N passed, N failed[, N skipped]
# Unit test binaries (plain and ASan/UBSan builds) and integration scripts
# all speak the same protocol: lines "PASS: name", "FAIL: name: why",
# "SKIP: name: reason".  A program that exits non-zero without a FAIL line
# counts as one failure, so a crash is never lost.
#
#   T=regex tests/run-tests.sh     run only tests whose file matches regex
#   LKVM_BIN=build/san/lkvm T=integration tests/run-tests.sh
#                                  the integration tests against the VMM
#                                  built with ASan/UBSan (make build/san/lkvm)
set -u
cd "$(dirname "$0")/.."
O=${O:-build}
export LKVM="$(realpath "${LKVM_BIN:-lkvm}")" LKVM_SRC="$PWD" LKVM_BUILD="$PWD/$O"
export GUESTS="$PWD/tests/guests"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1
pattern=${T:-.}
timeout_s=${TEST_TIMEOUT:-300}

passed=0 failed=0 skipped=0
failures=()
logdir=$(mktemp -d /tmp/lkvm-tests.XXXXXX)

run_one() {		# $1 = label, rest = command
	local label=$1; shift
	local log="$logdir/$(echo "$label" | tr '/ ' '__').log"
	local start=$SECONDS rc p f s
	timeout --kill-after=10 "$timeout_s" "$@" >"$log" 2>&1 </dev/null
	rc=$?
	p=$(grep -c '^PASS: ' "$log")
	f=$(grep -c '^FAIL: ' "$log")
	s=$(grep -c '^SKIP: ' "$log")
	grep -E '^(PASS|FAIL|SKIP): ' "$log"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "FAIL: $label: timed out after ${timeout_s}s"
		else
			echo "FAIL: $label: exited with status $rc and no FAIL line"
		fi
		f=1
	fi
	if [ "$rc" -eq 0 ] && [ $((p + f + s)) -eq 0 ]; then
		echo "FAIL: $label: ran no test"
		f=1
	fi
	if [ "$f" -ne 0 ]; then
		failures+=("$label")
		echo "----- $label output (last 40 lines) -----"
		tail -n 40 "$log"
		echo "-----"
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	echo "# $label: ${p} passed, ${f} failed, ${s} skipped ($((SECONDS - start))s)"
}

for t in "$O"/tests/unit/test-* "$O"/san/tests/unit/test-*; do
	[ -x "$t" ] || continue
	[[ "$t" =~ $pattern ]] || continue
	run_one "${t#$O/}" "$t"
done

fuzz_scripts=()
for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	[[ "$t" =~ $pattern ]] || continue
	case "$t" in *fuzz*) fuzz_scripts+=("$t"); continue;; esac
	run_one "$t" bash "$t"
done

# The fuzz scripts each give libFuzzer a fixed time (max_total_time) and
# keep one core busy for it: run two at once, a lane per core, and their
# wall time halves while every fuzzer still gets the same CPU time.  Each
# lane takes the next script nobody has claimed (mkdir is atomic), so the
# lanes stay even whatever the scripts' lengths; a lane prints its lines
# when it ends, so lines are grouped by lane, not in file order.
fuzz_lane() {		# prints its lines, then "counts p f s [failed labels]"
	local i
	passed=0 failed=0 skipped=0 failures=()
	for i in "${!fuzz_scripts[@]}"; do
		mkdir "$logdir/claim.$i" 2>/dev/null || continue
		run_one "${fuzz_scripts[$i]}" bash "${fuzz_scripts[$i]}"
	done
	echo "counts $passed $failed $skipped ${failures[*]}"
}
if [ ${#fuzz_scripts[@]} -ne 0 ]; then
	lanes=${FUZZ_LANES:-2}
	for ((l = 1; l <= lanes; l++)); do
		fuzz_lane >"$logdir/lane.$l" 2>&1 &
	done
	wait
	for ((l = 1; l <= lanes; l++)); do
		grep -v '^counts ' "$logdir/lane.$l"
		read -r _ p f s names < <(grep '^counts ' "$logdir/lane.$l") || {
			echo "FAIL: fuzz lane $l: ended without its counts"
			p=0 f=1 s=0 names="fuzz-lane-$l"
		}
		passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
		[ -n "$names" ] && failures+=($names)
	done
fi

# The migration and control-socket tests again, against the whole VMM built
# with ASan/UBSan (make builds it for make check): a use-after-free in a
# race, a leak or undefined behaviour fails the test that hit it.  The
# bad-input and start-up scripts too (about 40 s): error paths are where
# leaks hide, and their one-line checks fail on a leak report.
ASAN_SCRIPTS=${ASAN_SCRIPTS:-"ipc-bad-messages ipc-commands ipc-security migrate-basic migrate-converge migrate-commit migrate-strays migrate-fail migrate-auth migrate-pci virtio-migrate virtio-console-migrate virtio-disk-lock migrate-set core-badinput core-run linux-boot pagemap-guest virtio-devices sev-launch sevmig-fail"}
san="$O/san/lkvm"
if [ -z "${LKVM_BIN:-}" ] && [[ "asan/integration" =~ $pattern ]]; then
	if [ -x "$san" ]; then
		for s in $ASAN_SCRIPTS; do
			LKVM="$(realpath "$san")" T_PREFIX=asan/ run_one "asan/tests/integration/$s.sh" \
				bash "tests/integration/$s.sh"
		done
	else
		echo "SKIP: asan/integration: $san not built (make $san)"
		skipped=$((skipped + 1))
	fi
fi

echo
if [ ${#failures[@]} -ne 0 ]; then
	echo "failed: ${failures[*]}"
	echo "logs: $logdir"
else
	rm -rf "$logdir"
fi
if [ "$skipped" -ne 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ $((passed + skipped)) -gt 0 ]
