#!/usr/bin/env bash
# The PCI and RTC state a guest writes moves with it (sections MIG_SEC_PCI
# and MIG_SEC_RTC, stream features PCI_STATE and RTC_STATE):
# tests/guests/pci-state writes a virtio device's interrupt line, cache
# line / latency, the host bridge's line, the virtio PCI_CFG window and all
# ones into BAR0, two CMOS bytes (the RTC's index left on the second),
# latches 0xcf8, and waits on the UART; it is migrated there, then the byte
# goes to the destination.
#
#   guest-alone          the guest's checks pass without a migration
#   latch-and-config     migrated between its OUT to 0xcf8 and its IN from
#                        0xcfc: the IN reads the device's id, the IN from
#                        0x71 the CMOS byte the index was left on, and every
#                        written value reads back on the destination
#   old-source-new-dst   (LKVM_OLD=an lkvm built before the feature, or
#                        one built here from commit OLD_COMMIT) an old
#                        source's stream, without the section, still lands:
#                        the counting guest counts on in sequence
#   new-source-old-dst   (LKVM_OLD) an old destination refuses this source
#                        in the handshake, naming the feature bits, before
#                        any page moves; the source counts on
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
tests="guest-alone latch-and-config old-source-new-dst new-source-old-dst"
need_kvm $tests
need_migrate $tests

G=$GUESTS/pci-state
out=$(timeout 30 "$LKVM" run -k "$G" --rng -m 16M -p nowait 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "pci-state: ok" <<<"$out"; then
	pass guest-alone
else
	fail guest-alone "rc=$rc: $(tr '\n' ' ' <<<"$out")"
fi

t=latch-and-config
port=$(pick_port)
fifo=$T_TMP/dst-in
mkfifo "$fifo" && exec 7<>"$fifo"
bg_start SRC_PID "$LKVM" run -k "$G" --rng -m 16M --name $t-s >"$T_TMP/$t-s.out" 2>"$T_TMP/$t-s.err"
# (A background job's stdin is /dev/null unless the job itself redirects it.)
bg_start DST_PID bash -c 'exec "$@" <"$0"' "$fifo" "$LKVM" run --name $t-d \
	--incoming "127.0.0.1:$port" --rng -m 16M >"$T_TMP/$t-d.out" 2>"$T_TMP/$t-d.err"
if ! wait_for 30 grep -q "waiting for the source" "$T_TMP/$t-d.err" ||
   ! wait_for 30 grep -q "pci-state: latched" "$T_TMP/$t-s.out"; then
	fail $t "setup: $(tail -n 2 "$T_TMP/$t-s.err" "$T_TMP/$t-d.err" | tr '\n' ' ')"
else
	"$LKVM" migrate --to "127.0.0.1:$port" --name $t-s >"$T_TMP/$t.mig" 2>&1; rc=$?
	[ $rc -eq 0 ] && printf g >&7
	wait_exit "$DST_PID" 20
	if [ $rc -ne 0 ]; then
		fail $t "migrate rc=$rc: $(tail -n 2 "$T_TMP/$t.mig" | tr '\n' ' ')"
	elif [ "$EXIT_RC" != 0 ] || ! grep -q "pci-state: ok" "$T_TMP/$t-d.out"; then
		fail $t "destination rc=$EXIT_RC: $(grep -a "pci-state" "$T_TMP/$t-d.out" | tr '\n' ' ') $(tail -n 2 "$T_TMP/$t-d.err" | tr '\n' ' ')"
	elif grep -q "pci-state: ok\|FAIL" "$T_TMP/$t-s.out"; then
		fail $t "the guest went on on the source: $(tr '\n' ' ' <"$T_TMP/$t-s.out")"
	else
		pass $t
	fi
fi
exec 7>&-
"$LKVM" stop --name $t-s >/dev/null 2>&1

# Across builds: LKVM_OLD is an lkvm from before the PCI_STATE feature.
# Without it, one is built from this repository's history (old_lkvm in
# migrate-common.inc): OLD_COMMIT, the last commit before the feature.  A
# checkout without that commit (a shallow clone) or without git skips
# these two, saying so.
OLD_COMMIT=5770216
old_why=""
if [ -z "${LKVM_OLD:-}" ]; then
	if old_lkvm $OLD_COMMIT PCI_STATE; then
		LKVM_OLD=$OLD_BIN
	elif [ -n "$OLD_FAIL" ]; then
		fail old-source-new-dst "$OLD_FAIL"
		fail new-source-old-dst "building $OLD_COMMIT failed (above)"
		t_done
	else
		old_why="$OLD_SKIP, and LKVM_OLD (an lkvm built before PCI_STATE) not given"
	fi
elif [ ! -x "$LKVM_OLD" ]; then
	old_why="LKVM_OLD=$LKVM_OLD is not an executable"
fi
if [ -n "$old_why" ]; then
	skip old-source-new-dst "$old_why"
	skip new-source-old-dst "$old_why"
	t_done
fi

# An old source to this destination: no section, defaults kept, the guest runs on.
counting_across old-source-new-dst "$LKVM_OLD" "$LKVM" --rng

# This source to an old destination: refused at HELLO, the guest stays here.
t=new-source-old-dst
port=$(pick_port)
bg_start SRC_PID "$LKVM" run -k "$GUESTS/counter" --rng -m 16M -p delay=2000 --name $t-s \
	>"$T_TMP/$t-s.out" 2>"$T_TMP/$t-s.err"
bg_start DST_PID "$LKVM_OLD" run --name $t-d --incoming "127.0.0.1:$port" --rng -m 16M \
	>"$T_TMP/$t-d.out" 2>"$T_TMP/$t-d.err"
if ! wait_for 30 grep -q "waiting for the source" "$T_TMP/$t-d.err" ||
   ! wait_for 30 counts_past "$T_TMP/$t-s.out" 2; then
	fail $t "setup: $(tail -n 2 "$T_TMP/$t-s.err" "$T_TMP/$t-d.err" | tr '\n' ' ')"
else
	"$LKVM" migrate --to "127.0.0.1:$port" --name $t-s --json >"$T_TMP/$t.mig" 2>&1; rc=$?
	echo "$t: $(cat "$T_TMP/$t.mig")"
	n0=$(last_count "$T_TMP/$t-s.out")
	if [ $rc -ne 1 ] || ! grep -q 'destination refused: .*stream features 0x[0-9a-f]*.*older lkvm' "$T_TMP/$t.mig" ||
	   ! grep -q '"rounds":0' "$T_TMP/$t.mig"; then
		fail $t "rc=$rc: $(cat "$T_TMP/$t.mig")"
	elif ! wait_for 20 counts_past "$T_TMP/$t-s.out" "$n0"; then
		fail $t "the source stopped counting"
	else
		pass $t
	fi
fi
"$LKVM" stop --name $t-s >/dev/null 2>&1
t_done
