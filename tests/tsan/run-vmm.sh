#!/usr/bin/env bash
# make tsan-vmm: integration scripts against the whole VMM built with
# ThreadSanitizer ($O/tsan/lkvm), every lkvm process of them (VMMs and
# clients) writing its reports to one directory.  Fails on any report not
# in tests/tsan/vmm.supp (which lists only races shown to be by design,
# each with its reason) and on any FAIL line.  TSan's own exit status is
# turned off (exitcode=0) so the scripts see lkvm's; the log files carry
# the reports.  About 2.5 minutes on 2 CPUs: TSan runs lkvm 5-15x slower.
#   TSAN_SCRIPTS="a b" make tsan-vmm     other scripts of tests/integration
# Some scripts cannot pass under TSan whatever lkvm does: ipc-security's
# caps_dropped and migrate-fail's waiting-destination-listed read every
# thread's capabilities in /proc and find the runtime's own thread (which
# caps.c leaves alone in a TSan build), core-run's vcpu_threads_all_or_none
# caps the address space below what TSan maps, and core-smp takes 5
# minutes.  The default list has none of them.
set -u
cd "$(dirname "$0")/../.."
O=${O:-build}
bin="$PWD/$O/tsan/lkvm"
if [ ! -x "$bin" ]; then
	echo "FAIL: tsan-vmm: $bin not built (make $O/tsan/lkvm)"
	exit 1
fi
scripts=${TSAN_SCRIPTS:-"virtio-console-migrate migrate-commit migrate-set ipc-commands sevmig-basic"}
logs=$(mktemp -d /tmp/lkvm-tsan.XXXXXX)
export LKVM="$bin" LKVM_SRC="$PWD" LKVM_BUILD="$PWD/$O" GUESTS="$PWD/tests/guests"
# history_size: a sender thread reads many pages between two looks at one
# ring page; with the default history TSan loses the read's stack ("failed
# to restore the stack") and no suppression can match it.
export TSAN_OPTIONS="log_path=$logs/tsan halt_on_error=0 exitcode=0 second_deadlock_stack=1 history_size=5 suppressions=$PWD/tests/tsan/vmm.supp"
failed=0
for s in $scripts; do
	out=$(T_PREFIX=tsan/ timeout --kill-after=10 600 bash "tests/integration/$s.sh" </dev/null 2>&1)
	rc=$?
	echo "$out" | grep -E '^(PASS|FAIL|SKIP): '
	if [ $rc -ne 0 ] && ! echo "$out" | grep -q '^FAIL: '; then
		echo "FAIL: tsan/$s: exited $rc without a FAIL line"
	fi
	[ $rc -ne 0 ] && failed=1
done
reports=$(cat "$logs"/tsan.* 2>/dev/null | grep -c '^WARNING: ThreadSanitizer')
if [ "$reports" -ne 0 ]; then
	echo "FAIL: tsan-vmm: $reports ThreadSanitizer report(s), in $logs:"
	cat "$logs"/tsan.* | grep '^SUMMARY: ThreadSanitizer' | sort | uniq -c | sort -rn
	exit 1
fi
rm -rf "$logs"
[ $failed -eq 0 ] || exit 1
echo "PASS: tsan-vmm: no ThreadSanitizer report ($scripts)"
