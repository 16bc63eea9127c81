#!/usr/bin/env bash
# Disk image locks: no two VMMs run on one image, and the lock moves with a
# migrated guest (docs/virtio.md "Disk locks").
#   second_writer_refused  a second lkvm on a running instance's image is
#                          refused (read-write or read-only), naming it
#   readers_share          two read-only users of one image both run
#   lock_moves_with_guest  after a migration the destination holds the image,
#                          and once it exits the image is free
#   taken_in_handover      another process takes the image between GO and the
#                          destination's claim: the destination does not run
#                          the guest, the source keeps it paused (outcome
#                          unknown, exit 3), `lkvm resume` refuses while the
#                          image is held and works once it is free
. "$(dirname "$0")/../lib.sh"
tests="second_writer_refused readers_share lock_moves_with_guest taken_in_handover"
need_kvm $tests
source "$(dirname "$0")/migrate-common.inc"
need_migrate $tests

img=$T_TMP/disk.img
truncate -s 1M "$img"

# refused_run NAME IMAGE[,ro]: an instance on a held image exits non-zero at
# once with the lock error (its stderr in $T_TMP/NAME.err)
refused_run() {
	local name=$1
	timeout 20 "$LKVM" run -k "$GUESTS/counter" --name "$name" -d "$2" >"$T_TMP/$name.out" 2>"$T_TMP/$name.err"
	local rc=$?
	[ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "disk ${2%,ro} is in use by another process" "$T_TMP/$name.err"
}

# hold_lock FILE: like another VMM, wait for and hold an OFD write lock on
# lkvm's lock byte of FILE; writes $T_TMP/holder.state.wait just before it
# blocks for the lock and $T_TMP/holder.state once it has it.
# Its pid in HOLDER_PID; killing it releases the lock.
hold_lock() {
	rm -f "$T_TMP/holder.state" "$T_TMP/holder.state.wait"
	python3 -c '
import fcntl, os, struct, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fl = struct.pack("hhqqixxxx", fcntl.F_WRLCK, os.SEEK_SET, 0x4c4b564d00000000, 1, 0)
open(sys.argv[2] + ".wait", "w").write("waiting\n")	# then blocks at once
fcntl.fcntl(fd, fcntl.F_OFD_SETLKW, fl)
open(sys.argv[2], "w").write("locked\n")
time.sleep(600)' "$1" "$T_TMP/holder.state" &
	HOLDER_PID=$!
}

bg_start SRC_PID "$LKVM" run -k "$GUESTS/counter" --name lsrc -d "$img" >"$T_TMP/lsrc.out" 2>"$T_TMP/lsrc.err"
if ! wait_for 30 counts_past "$T_TMP/lsrc.out" 2; then
	fail second_writer_refused "the first instance did not run: $(tail -n 2 "$T_TMP/lsrc.err")"
	t_done
fi
n=$(last_count "$T_TMP/lsrc.out")
if ! refused_run second "$img"; then
	fail second_writer_refused "read-write: $(tail -n 2 "$T_TMP/second.err")"
elif ! refused_run second-ro "$img,ro"; then
	fail second_writer_refused "read-only: $(tail -n 2 "$T_TMP/second-ro.err")"
elif ! wait_for 20 counts_past "$T_TMP/lsrc.out" "$n"; then
	fail second_writer_refused "the first instance stopped counting"
else
	pass second_writer_refused
	echo "second_writer_refused: $(grep -m 1 "in use" "$T_TMP/second.err")"
fi

t=readers_share
ro=$T_TMP/ro.img
truncate -s 1M "$ro"
bg_start R1_PID "$LKVM" run -k "$GUESTS/counter" --name r1 -d "$ro,ro" >"$T_TMP/r1.out" 2>"$T_TMP/r1.err"
bg_start R2_PID "$LKVM" run -k "$GUESTS/counter" --name r2 -d "$ro,ro" >"$T_TMP/r2.out" 2>"$T_TMP/r2.err"
if wait_for 30 counts_past "$T_TMP/r1.out" 2 && wait_for 30 counts_past "$T_TMP/r2.out" 2 &&
   refused_run rw-on-ro "$ro"; then
	pass $t
else
	fail $t "r1: $(tail -n 1 "$T_TMP/r1.err"); r2: $(tail -n 1 "$T_TMP/r2.err"); rw: $(tail -n 1 "$T_TMP/rw-on-ro.err")"
fi
"$LKVM" stop --name r1 >/dev/null 2>&1; "$LKVM" stop --name r2 >/dev/null 2>&1

t=lock_moves_with_guest
port=$(pick_port)
if ! start_dst ldst "$port" -d "$img"; then
	fail $t "destination did not listen: $(tail -n 2 "$T_TMP/ldst.err")"
else
	out=$("$LKVM" migrate --to "127.0.0.1:$port" --name lsrc --json 2>"$T_TMP/lmig.err"); rc=$?
	if [ $rc -ne 0 ] || ! wait_exit "$SRC_PID" 10; then
		fail $t "migrate rc $rc: $out $(tail -n 1 "$T_TMP/lmig.err")"
	elif ! wait_for 20 counts_past "$T_TMP/ldst.out" 2 || ! refused_run third "$img"; then
		fail $t "with the guest at the destination, a third instance: $(tail -n 1 "$T_TMP/third.err")"
	else
		"$LKVM" stop --name ldst >/dev/null 2>&1
		wait_exit "$DST_PID" 20
		bg_start FREE_PID "$LKVM" run -k "$GUESTS/counter" --name free -d "$img" >"$T_TMP/free.out" 2>"$T_TMP/free.err"
		if wait_for 30 counts_past "$T_TMP/free.out" 2; then
			pass $t
		else
			fail $t "the image stayed locked after the destination exited: $(tail -n 2 "$T_TMP/free.err")"
		fi
		"$LKVM" stop --name free >/dev/null 2>&1
		wait_exit "$FREE_PID" 20
	fi
fi

t=taken_in_handover
bg_start SRC_PID "$LKVM" run -k "$GUESTS/counter" --name hsrc -d "$img" >"$T_TMP/hsrc.out" 2>"$T_TMP/hsrc.err"
port=$(pick_port)
if ! wait_for 30 counts_past "$T_TMP/hsrc.out" 2 ||
   ! DST_WRAP="env LKVM_MIG_FAULT=hold-claim:2000" start_dst hdst "$port" -d "$img"; then
	fail $t "setup: $(tail -n 1 "$T_TMP/hsrc.err" "$T_TMP/hdst.err")"
else
	hold_lock "$img"	# waits: the source holds the image until GO
	# Python may take over a second to start on a loaded host: wait for it
	# to be about to block in F_OFD_SETLKW, not a fixed 0.5 s.
	wait_for 30 test -s "$T_TMP/holder.state.wait"
	out=$("$LKVM" migrate --to "127.0.0.1:$port" --name hsrc --json 2>"$T_TMP/hmig.err"); rc=$?
	echo "$t: $out"
	wait_exit "$DST_PID" 20; drc=$EXIT_RC
	n=$(last_count "$T_TMP/hsrc.out")
	if [ ! -e "$T_TMP/holder.state" ]; then
		fail $t "the other process never got the lock: rc $rc $out"
	elif [ $rc -ne 3 ] || ! grep -q '"guest":"paused-here-unknown"' <<<"$out" ||
	     ! grep -q "disk $img is in use by another process.*; the disks cannot be taken back: disk $img is in use" <<<"$out"; then
		fail $t "migrate rc $rc: $out"
	elif [ "$drc" = 0 ] || ! grep -q "the guest is not started" "$T_TMP/hdst.err" ||
	     grep -q "count" "$T_TMP/hdst.out"; then
		fail $t "destination exit $drc: $(tail -n 2 "$T_TMP/hdst.err")"
	elif ! no_counts_for "$T_TMP/hsrc.out" "$n" 1; then
		fail $t "the source guest ran on a disk another process holds"
	elif "$LKVM" resume --name hsrc >"$T_TMP/hres.out" 2>&1 ||
	     ! grep -q "not resumed: disk $img is in use by another process" "$T_TMP/hres.out"; then
		fail $t "lkvm resume with the image held: $(cat "$T_TMP/hres.out")"
	else
		kill "$HOLDER_PID"; wait "$HOLDER_PID" 2>/dev/null
		if ! "$LKVM" resume --name hsrc >"$T_TMP/hres.out" 2>&1 ||
		   ! wait_for 20 counts_past "$T_TMP/hsrc.out" "$n"; then
			fail $t "lkvm resume once the image was free: $(cat "$T_TMP/hres.out")"
		elif ! refused_run after "$img"; then
			fail $t "the source did not take the image back: $(tail -n 1 "$T_TMP/after.err")"
		else
			pass $t
		fi
	fi
	kill "$HOLDER_PID" 2>/dev/null; wait "$HOLDER_PID" 2>/dev/null
fi
"$LKVM" stop --name hsrc >/dev/null 2>&1
wait_exit "$SRC_PID" 20
t_done
