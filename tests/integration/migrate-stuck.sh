#!/usr/bin/env bash
# A source whose vCPU cannot stop: it is blocked in a device, here writing
# to a console nobody reads (stdout a FIFO held open and never drained, as
# a terminal under Ctrl-S or a stalled log pipe would), so the final
# round's pause never completes.  The migration must neither ignore
# --cancel nor freeze the guest for as long as the console stays full.
#
#   stuck-cancel   `lkvm migrate --cancel` while the final pause waits for
#                  the blocked vCPU: the migration ends at once (exit 1,
#                  "cancelled"), the destination hears why.  (The cancel
#                  answered "cancelling" and nothing happened: the engine
#                  waited in the pause until the console drained.)
#   stuck-timeout  no cancel: the pause gives up after 5 s, the migration
#                  fails saying which vCPU did not stop and why that may be
#                  (exit 1); once the console is read again, the guest has
#                  counted on with no gap or repeat and the same source
#                  migrates.
#   stuck-pause    `lkvm pause` and `lkvm debug --regs` while the vCPU is
#                  blocked: each gives up after 3 s saying which vCPU did not
#                  stop, the guest runs on, and a migration right after is
#                  not held up behind them.  (Both waited for as long as the
#                  console stayed full, holding the pause lock, and a
#                  migration's final pause waited behind them, deaf to
#                  --cancel.)
#   stuck-device-cancel  the same with a device: virtio-console's handler
#                  blocked in its write holds the device, so the final
#                  round's device pause waits; `--cancel` ends it at once
#                  (the cancel did nothing until the console drained; with
#                  no cancel it gives up after 5 s, naming virtio-console),
#                  and once the console is read again the device works on.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
tests="stuck-pause stuck-cancel stuck-timeout stuck-device-cancel"
need_kvm $tests
need_migrate $tests

fifo=$T_TMP/con.fifo
mkfifo "$fifo" && exec 7<>"$fifo"
# Shrunk to two pages: it fills within milliseconds.
python3 -c "import fcntl, os; fcntl.fcntl(os.open('$fifo', os.O_RDWR | os.O_NONBLOCK), 1031, 8192)"
bg_start SRC_PID "$LKVM" run -k "$GUESTS/counter" --name st-s -m 16M -p delay=0 >"$fifo" 2>"$T_TMP/st-s.err"
# The console is full: the vCPU is blocked in its write.
fifo_full() {
	python3 -c "import array, fcntl, os, sys, termios
n = array.array('i', [0]); fcntl.ioctl(os.open('$fifo', os.O_RDWR | os.O_NONBLOCK), termios.FIONREAD, n)
sys.exit(n[0] < 4096)"
}
wait_for 30 fifo_full

# migrate_stuck T: a destination T-d and `lkvm migrate` to it in the background ($MPID)
migrate_stuck() {
	PORT=$(pick_port)
	start_dst "$1-d" "$PORT" -m 16M "${@:2}" </dev/null || return 1
	"$LKVM" migrate --to "127.0.0.1:$PORT" --name st-s --quiet >"$T_TMP/$1.mig.out" 2>"$T_TMP/$1.mig.err" &
	MPID=$!
	wait_for 30 state_is st-s paused
}

t=stuck-pause
ok=1
for cmd in pause "debug --regs"; do
	t0=$(date +%s%N)
	# shellcheck disable=SC2086
	out=$(timeout 30 "$LKVM" $cmd --name st-s 2>&1); rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	if [ $rc != 1 ] || [ $ms -gt 9000 ] ||
	   ! grep -q "vCPU 0 did not stop within 3 s (blocked in a device: a console nobody reads?); the guest runs on" <<<"$out"; then
		fail $t "lkvm $cmd: rc $rc after $ms ms: $out"; ok=0; break
	fi
	if ! state_is st-s running; then
		fail $t "after lkvm $cmd gave up the guest is not running: $("$LKVM" list 2>&1 | grep st-s)"; ok=0; break
	fi
done
[ $ok = 1 ] && pass $t

t=stuck-cancel
if ! migrate_stuck $t; then
	fail $t "setup: $(tail -n 1 "$T_TMP/st-s.err" "$T_TMP/$t-d.err")"
else
	sleep 0.5
	c=$("$LKVM" migrate --cancel --name st-s 2>&1)
	if ! wait_exit "$MPID" 3; then
		fail $t "lkvm migrate still running 3 s after '$c'"
	elif [ "$EXIT_RC" != 1 ] || ! grep -q "^migration failed: cancelled (lkvm migrate --cancel); the guest runs on here$" "$T_TMP/$t.mig.err"; then
		fail $t "rc $EXIT_RC: $(cat "$T_TMP/$t.mig.err")"
	elif ! wait_exit "$DST_PID" 10 || [ "$EXIT_RC" = 0 ] || ! grep -q "source aborted: cancelled" "$T_TMP/$t-d.err"; then
		fail $t "the destination: exit $EXIT_RC: $(tail -n 1 "$T_TMP/$t-d.err")"
	else
		pass $t
	fi
fi

t=stuck-timeout
if ! migrate_stuck $t; then
	fail $t "setup: $(tail -n 1 "$T_TMP/st-s.err" "$T_TMP/$t-d.err")"
else
	wait_exit "$MPID" 15; rc=$EXIT_RC
	cat "$fifo" >"$T_TMP/st-s.out" & CAT=$!
	if [ "$rc" != 1 ] || ! grep -q "^migration failed: vCPU 0 did not stop within 5 s (.*console nobody reads.*); the guest runs on here$" "$T_TMP/$t.mig.err"; then
		fail $t "rc $rc: $(cat "$T_TMP/$t.mig.err")"
	elif ! wait_exit "$DST_PID" 10 || [ "$EXIT_RC" = 0 ]; then
		fail $t "the destination: exit $EXIT_RC: $(tail -n 1 "$T_TMP/$t-d.err")"
	elif ! wait_for 10 counts_past "$T_TMP/st-s.out" 1000 || ! check_sequence "$T_TMP/st-s.out" >/dev/null ||
	     ! start_dst st-d2 "$(pick_port)" -m 16M; then
		fail $t "the source does not count on in sequence: $(check_sequence "$T_TMP/st-s.out")"
	else
		port=$(sed -n 's/.*waiting for the source on 127.0.0.1:\([0-9]*\).*/\1/p' "$T_TMP/st-d2.err")
		if ! "$LKVM" migrate --to "127.0.0.1:$port" --name st-s --quiet 2>"$T_TMP/$t.mig2.err"; then
			fail $t "then the migration failed: $(cat "$T_TMP/$t.mig2.err")"
		else
			pass $t
		fi
	fi
	kill "$CAT" 2>/dev/null
fi
"$LKVM" stop --all >/dev/null 2>&1
wait_exit "$SRC_PID" 10
timeout 2 cat "$fifo" >/dev/null	# what the counter left

t=stuck-device-cancel
bg_start SRC_PID "$LKVM" run -k "$GUESTS/virtio-console" --name st-s -m 16M --console virtio \
	-p repeat=0 >"$fifo" 2>"$T_TMP/st-v.err" </dev/null
# Migrated at once: the guest's own wait for the stuck queue times out in a second or two.
if ! wait_for 30 fifo_full || ! DST_WRAP="env" migrate_stuck $t --console virtio; then
	fail $t "setup: $(tail -n 1 "$T_TMP/st-v.err" "$T_TMP/$t-d.err")"
else
	c=$("$LKVM" migrate --cancel --name st-s 2>&1)
	if ! wait_exit "$MPID" 3; then
		fail $t "lkvm migrate still running 3 s after '$c'"
	elif [ "$EXIT_RC" != 1 ] || ! grep -q "^migration failed: cancelled (lkvm migrate --cancel); the guest runs on here$" "$T_TMP/$t.mig.err"; then
		fail $t "rc $EXIT_RC: $(cat "$T_TMP/$t.mig.err")"
	else
		cat "$fifo" >"$T_TMP/st-v.out" & CAT=$!
		# The device was paused and let go: it writes on.
		if ! wait_for 10 bash -c "[ \$(grep -c 'hello through virtio-console' '$T_TMP/st-v.out') -gt 1000 ]"; then
			fail $t "the console does not go on: $(tail -c 200 "$T_TMP/st-v.out") $(tail -n 2 "$T_TMP/st-v.err")"
		else
			pass $t
		fi
		kill "$CAT" 2>/dev/null
	fi
fi
"$LKVM" stop --all >/dev/null 2>&1
exec 7>&-
t_done
