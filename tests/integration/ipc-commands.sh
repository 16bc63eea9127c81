#!/usr/bin/env bash
# lkvm list / pause / resume / debug / stop on running guests: the guest
# really stops making progress while paused, stop exits the VMM with 0,
# names in use and stale sockets are handled, errors are one clear line.
. "$(dirname "$0")/../lib.sh"
need_kvm list list_json list_not_responding pause_stops_progress resume_continues debug_regs wait_ready_not_sev debug_page_map debug_page_map_on \
	 name_in_use stop_exits_zero stop_unknown stale_socket stale_only_sockets stop_all all_skips_dead console_stuck_stop \
	 console_stuck_pause console_stuck_pause_then_stop usage_errors
G=$GUESTS

lines() { wc -l < "$1" 2>/dev/null || echo 0; }
listed() { $LKVM list --json 2>/dev/null | grep -q "\"name\": \"$1\", \"pid\": [0-9]*, \"state\": \"$2\""; }
grows() { local a; a=$(lines "$1"); sleep 0.3; [ "$(lines "$1")" -gt "$a" ]; }

bg_start VM $LKVM run -k $G/counter --name ipc-a -p delay=2000 >$T_TMP/a.out 2>$T_TMP/a.err
if wait_for 20 listed ipc-a running && wait_for 20 grows $T_TMP/a.out; then pass list
else fail list "instance never listed as running: $($LKVM list 2>&1) / $(cat $T_TMP/a.err)"; fi

json=$($LKVM list --json)
if echo "$json" | grep -q "\"name\": \"ipc-a\", \"pid\": $VM, \"state\": \"running\", \"cpus\": 1, \"mem_bytes\": [1-9]" &&
   [ "$(echo "$json" | head -1)" = "[" ] && [ "$(echo "$json" | tail -1)" = "]" ]; then pass list_json
else fail list_json "$json"; fi

# A stopped (SIGSTOP) VMM is listed as not responding, with no made-up
# figures but its pid (from its lock file: the process to look at); a
# listing that fails prints nothing on stdout (no "[]" first).
kill -STOP $VM
json=$($LKVM list --json 2>&1); text=$($LKVM list 2>&1)
kill -CONT $VM
out=$(LKVM_DIR=/etc/passwd $LKVM list --json 2>/dev/null; LKVM_DIR=/etc/passwd $LKVM list 2>/dev/null)
if echo "$json" | grep -q "\"name\": \"ipc-a\", \"pid\": $VM, \"state\": \"not-responding\", \"cpus\": null, \"mem_bytes\": null}" &&
   echo "$json" | python3 -c 'import json,sys; json.load(sys.stdin)' &&
   echo "$text" | grep -Eq "^ipc-a +$VM +not-responding +- +-\$" && [ -z "$out" ]
then pass list_not_responding
else fail list_not_responding "json: $json / text: $text / bad dir: '$out'"; fi

# Paused: no new guest output for a whole second, and list says so.
out=$($LKVM pause --name ipc-a 2>&1); rc=$?
sleep 0.2
n1=$(lines $T_TMP/a.out); sleep 1; n2=$(lines $T_TMP/a.out)
if [ $rc -eq 0 ] && [ "$out" = "ipc-a: paused" ] && [ "$n1" -eq "$n2" ] && [ "$n1" -gt 0 ] && listed ipc-a paused
then pass pause_stops_progress
else fail pause_stops_progress "rc=$rc out='$out' lines $n1 -> $n2, list: $($LKVM list)"; fi

out=$($LKVM resume --name ipc-a 2>&1); rc=$?
if [ $rc -eq 0 ] && [ "$out" = "ipc-a: resumed" ] && wait_for 10 grows $T_TMP/a.out && listed ipc-a running
then pass resume_continues
else fail resume_continues "rc=$rc out='$out' lines $(lines $T_TMP/a.out)"; fi

# Register dump of a running guest (paused around the dump, running after).
$LKVM debug --name ipc-a >$T_TMP/dbg 2>$T_TMP/dbg.err; rc=$?
if [ $rc -eq 0 ] && grep -q -- "--- vCPU 0 ---" $T_TMP/dbg && grep -q "rip 0000000000" $T_TMP/dbg &&
   grep -q "cr3 " $T_TMP/dbg && wait_for 10 grows $T_TMP/a.out && listed ipc-a running
then pass debug_regs
else fail debug_regs "rc=$rc $(head -3 $T_TMP/dbg) $(cat $T_TMP/dbg.err)"; fi

# --wait-ready is for SEV guests: refused for this one, not ignored.
out=$($LKVM migrate --name ipc-a --to 127.0.0.1:9 --wait-ready 5 2>&1); rc=$?
if [ $rc -eq 1 ] && [ "$out" = "lkvm migrate: error: ipc-a: --wait-ready applies to SEV guests only" ] &&
   listed ipc-a running
then pass wait_ready_not_sev
else fail wait_ready_not_sev "rc=$rc: $out"; fi

# Without a page map: one clean line, non-zero.
$LKVM debug --name ipc-a --page-map >/dev/null 2>$T_TMP/pm.err; rc=$?
if [ $rc -ne 0 ] && [ "$(cat $T_TMP/pm.err)" = "lkvm debug: error: ipc-a: page map not enabled" ]
then pass debug_page_map
else fail debug_page_map "rc=$rc: $(cat $T_TMP/pm.err)"; fi

# With the page map on (--page-map), its dump comes through the same socket.
bg_start VMP $LKVM run -k $G/counter --name ipc-pm --page-map -p delay=20000 >/dev/null 2>$T_TMP/pm.vm
if wait_for 20 listed ipc-pm running && $LKVM debug --name ipc-pm --page-map >$T_TMP/pm 2>$T_TMP/pm.err &&
   grep -q "^page map: [0-9]* pages" $T_TMP/pm && ! grep -q -- "--- vCPU 0 ---" $T_TMP/pm &&
   grep -q "^migration control: msr 0x1, ready from the start; became ready 0 time(s), withdrawn 0 time(s)$" $T_TMP/pm &&
   $LKVM debug --name ipc-pm --regs --page-map | grep -q -- "--- vCPU 0 ---"
then pass debug_page_map_on
else fail debug_page_map_on "$(head -3 $T_TMP/pm) $(cat $T_TMP/pm.err) $(cat $T_TMP/pm.vm)"; fi
$LKVM stop --name ipc-pm >/dev/null; wait $VMP

# A second instance under the same name is refused; the first keeps running.
$LKVM run -k $G/hello --name ipc-a >/dev/null 2>$T_TMP/dup.err; rc=$?
if [ $rc -ne 0 ] && grep -q "instance name 'ipc-a' is in use" $T_TMP/dup.err && listed ipc-a running
then pass name_in_use
else fail name_in_use "rc=$rc: $(cat $T_TMP/dup.err)"; fi

# Stop: the VMM exits 0 on its own, its socket is gone, list no longer shows it.
out=$($LKVM stop --name ipc-a 2>&1); rc=$?
wait $VM; vrc=$?
if [ $rc -eq 0 ] && [ "$out" = "ipc-a: stopped" ] && [ $vrc -eq 0 ] && [ ! -e $LKVM_DIR/ipc-a.sock ] &&
   ! $LKVM list | grep -q ipc-a
then pass stop_exits_zero
else fail stop_exits_zero "rc=$rc out='$out' vmm rc=$vrc $(ls $LKVM_DIR) $(tail -2 $T_TMP/a.err)"; fi

$LKVM stop --name ipc-a >/dev/null 2>$T_TMP/err; rc=$?
if [ $rc -ne 0 ] && [ "$(cat $T_TMP/err)" = "lkvm stop: error: ipc-a: no such instance" ]; then pass stop_unknown
else fail stop_unknown "rc=$rc: $(cat $T_TMP/err)"; fi

# A killed instance leaves its socket and lock file; list removes both (the
# lock files used to pile up), a new one may take the name.
bg_start VM2 $LKVM run -k $G/counter --name ipc-b -p delay=20000 >/dev/null 2>&1
wait_for 20 listed ipc-b running
kill -9 $VM2; wait $VM2 2>/dev/null
had=$([ -S $LKVM_DIR/ipc-b.sock ] && echo yes)
out=$($LKVM list)
gone=$([ -e $LKVM_DIR/ipc-b.sock ] || [ -e $LKVM_DIR/ipc-b.lock ] || echo yes)
bg_start VM3 $LKVM run -k $G/counter --name ipc-b -p delay=20000 >/dev/null 2>$T_TMP/b.err
if [ "$had" = yes ] && [ "$gone" = yes ] && ! echo "$out" | grep -q ipc-b &&
   wait_for 20 listed ipc-b running
then pass stale_socket
else fail stale_socket "socket left: '$had', removed: '$gone', list: $out, restart: $(cat $T_TMP/b.err)"; fi

# Only a socket is cleaned up: a regular file named like one stays.
echo keep >$LKVM_DIR/plain.sock
$LKVM list >/dev/null 2>&1; $LKVM stop --name plain >/dev/null 2>&1
if [ "$(cat $LKVM_DIR/plain.sock 2>/dev/null)" = keep ]; then pass stale_only_sockets
else fail stale_only_sockets "a regular file plain.sock was removed"; fi
rm -f $LKVM_DIR/plain.sock

# --all: both instances stop, the paused one too.
bg_start VM4 $LKVM run -k $G/counter --name ipc-c -p delay=20000 >/dev/null 2>&1
wait_for 20 listed ipc-c running
$LKVM pause --name ipc-c >/dev/null
out=$($LKVM stop --all 2>&1); rc=$?
wait $VM3; r3=$?; wait $VM4; r4=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "ipc-b: stopped" && echo "$out" | grep -q "ipc-c: stopped" &&
   [ $r3 -eq 0 ] && [ $r4 -eq 0 ] && [ -z "$(ls $LKVM_DIR)" ]
then pass stop_all
else fail stop_all "rc=$rc out='$out' vmm rcs $r3 $r4, left: $(ls $LKVM_DIR)"; fi
# --all with nothing left: says so, and it is not an error.
out=$($LKVM stop --all 2>&1); rc=$?
if [ $rc -eq 0 ] && [ "$out" = "no instances: nothing to stop" ]; then pass stop_all_none
else fail stop_all_none "rc=$rc out='$out'"; fi
# --all after an instance was killed (its socket left behind, no list run
# since): the dead one is no instance, not a failure.  (Each --all said
# "NAME: no such instance" for it and exited 1, until a client had removed
# the socket.)
bg_start VM5 $LKVM run -k $G/counter --name ipc-d -p delay=20000 >/dev/null 2>&1
bg_start VM6 $LKVM run -k $G/counter --name ipc-e -p delay=20000 >/dev/null 2>&1
wait_for 20 listed ipc-d running; wait_for 20 listed ipc-e running
kill -9 $VM6; wait $VM6 2>/dev/null
echo keep >$LKVM_DIR/plain.sock
out=$($LKVM pause --all 2>$T_TMP/err); rc=$?
out2=$($LKVM stop --all 2>>$T_TMP/err); rc2=$?
wait $VM5; r5=$?
if [ $rc -eq 0 ] && [ "$out" = "ipc-d: paused" ] && [ $rc2 -eq 0 ] && [ "$out2" = "ipc-d: stopped" ] &&
   [ $r5 -eq 0 ] && [ ! -s $T_TMP/err ]
then pass all_skips_dead
else fail all_skips_dead "pause rc=$rc '$out', stop rc=$rc2 '$out2', vmm rc $r5: $(tr '\n' '|' <$T_TMP/err)"; fi
rm -f $LKVM_DIR/plain.sock

# A console nobody reads: stdout is a FIFO held open but never drained
# (shrunk to two pages so it fills fast), so the vCPU blocks in its write.
# A pause that cannot finish within the client's timeout is withdrawn,
# not done once the console drains; a stop gets through regardless.
fifo=$T_TMP/con.fifo
mkfifo $fifo && exec 7<>$fifo
fifo_py() { python3 - "$fifo" "$1" <<'PY'
import array, fcntl, os, sys, termios
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK)
if sys.argv[2] == "shrink":
    fcntl.fcntl(fd, 1031, 8192)             # F_SETPIPE_SZ
    sys.exit(0)
n = array.array("i", [0])
fcntl.ioctl(fd, termios.FIONREAD, n)
sys.exit(0 if n[0] >= 4096 else 1)
PY
}
fifo_py shrink
bg_start VMC $LKVM run -k $G/counter --name ipc-con -p delay=0 >$fifo 2>$T_TMP/con.err
if wait_for 30 fifo_py full; then
	out=$($LKVM stop --name ipc-con 2>&1); rc=$?
	if [ $rc -eq 0 ] && [ "$out" = "ipc-con: stopped" ] && wait $VMC
	then pass console_stuck_stop
	else fail console_stuck_stop "rc=$rc out='$out' / $(cat $T_TMP/con.err)"; fi
else
	fail console_stuck_stop "the console FIFO never filled: $(cat $T_TMP/con.err)"
fi
timeout 1 cat $fifo >/dev/null		# what the first guest left

bg_start VMC $LKVM run -k $G/counter --name ipc-con -p delay=0 >$fifo 2>$T_TMP/con.err
if wait_for 30 fifo_py full; then
	out=$($LKVM pause --name ipc-con 2>&1); rc=$?
	timeout 2 cat $fifo >/dev/null
	if [ $rc -ne 0 ] && [ "$out" = "lkvm pause: error: ipc-con: vCPU 0 did not stop within 3 s (blocked in a device: a console nobody reads?); the guest runs on" ] &&
	   listed ipc-con running && grep -q "pause given up: vCPU 0 did not stop within 3 s" $T_TMP/con.err
	then pass console_stuck_pause
	else fail console_stuck_pause "rc=$rc out='$out' list: $($LKVM list 2>&1) / $(cat $T_TMP/con.err)"; fi
else
	fail console_stuck_pause "the console FIFO never filled: $(cat $T_TMP/con.err)"
fi
cat $fifo >/dev/null & drain=$!
$LKVM stop --name ipc-con >/dev/null 2>&1; wait $VMC
kill $drain; wait $drain 2>/dev/null
timeout 1 cat $fifo >/dev/null

# And a stop right after such a withdrawn pause, the console still full:
# the stop used to wait for the lock the stuck pause held, forever.
bg_start VMC $LKVM run -k $G/counter --name ipc-con2 -p delay=0 >$fifo 2>$T_TMP/con2.err
if wait_for 30 fifo_py full; then
	$LKVM pause --name ipc-con2 >/dev/null 2>&1; prc=$?
	out=$($LKVM stop --name ipc-con2 2>&1); rc=$?
	if [ $prc -ne 0 ] && [ $rc -eq 0 ] && [ "$out" = "ipc-con2: stopped" ] && wait $VMC
	then pass console_stuck_pause_then_stop
	else fail console_stuck_pause_then_stop "pause rc=$prc, stop rc=$rc out='$out' / $(cat $T_TMP/con2.err)"; kill -9 $VMC; fi
else
	fail console_stuck_pause_then_stop "the console FIFO never filled: $(cat $T_TMP/con2.err)"
fi
exec 7>&-

ok=1
for args in "stop" "pause --name a --all" "resume --name ../x" "debug" "stop extra" "list --bogus"; do
	$LKVM $args >/dev/null 2>$T_TMP/err && ok=0
	[ "$(wc -l < $T_TMP/err)" -eq 1 ] && grep -q "^lkvm ${args%% *}: error: " $T_TMP/err || ok=0
	[ $ok -eq 1 ] || { echo "# '$args': $(cat $T_TMP/err)"; break; }
done
[ $ok -eq 1 ] && pass usage_errors || fail usage_errors "a bad command line was not one error line"
t_done
