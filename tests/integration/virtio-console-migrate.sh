#!/usr/bin/env bash
# virtio-console input typed on the source's terminal that the guest has not
# read yet moves with the guest (section MIG_SEC_CONSOLE, stream feature
# CONSOLE_INPUT).  tests/guests/virtio-console-input offers no receive
# buffer until "go!" is in its disk's sector 0, then prints every line it
# reads until "end".
#
#   guest-alone          the guest reads typed lines without a migration
#   typed-input-migrates lines typed on the source before the migration
#                        (one of 1000 bytes) are read on the destination,
#                        exactly, once, then what was typed on the
#                        destination's own terminal; the source reads none
#   late-input-stays     nothing typed before, a line typed on the source
#                        after its state went (LKVM_MIG_FAULT=hold): the
#                        destination's guest does not get it, the source
#                        says how many bytes it dropped
# Across builds, with an lkvm from before CONSOLE_INPUT (LKVM_OLD_CONSOLE,
# or built from OLD_COMMIT by old_lkvm, migrate-common.inc):
#   old-source-new-dst   an old source's stream (no section) lands on this
#                        destination, whose guest then reads its own terminal
#   new-source-old-dst   this source with a console is refused at HELLO by
#                        the old destination, naming the stream features;
#                        its guest then reads what was typed on it
#   no-console-to-old-dst  this source without a console asks for no new
#                        feature: it migrates to the old destination
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
tests="guest-alone typed-input-migrates late-input-stays old-source-new-dst new-source-old-dst
       no-console-to-old-dst"
need_kvm $tests
need_migrate $tests

G=$GUESTS/virtio-console-input
out=$(printf 'one\nend\n' | timeout 30 "$LKVM" run -k "$G" --console virtio -m 16M -p nowait 2>&1); rc=$?
if [ $rc -eq 0 ] && [ "$(grep "console-input: line" <<<"$out")" = "console-input: line 'one'
console-input: line 'end'" ]; then
	pass guest-alone
else
	fail guest-alone "rc=$rc: $(tr '\n' ' ' <<<"$out")"
fi

# Bytes written into FIFO that no one has read yet (the VMM's terminal reader).
fifo_pending() {
	python3 -c 'import array, fcntl, os, sys, termios
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
n = array.array("i", [0]); fcntl.ioctl(fd, termios.FIONREAD, n); print(n[0])' "$1"
}
fifo_drained() { [ "$(fifo_pending "$1")" = 0 ]; }

# pair_start T: a source T-s (lkvm $S_LKVM, default $LKVM) running the guest
# and a destination T-d ($D_LKVM) on $PORT, each with a FIFO as its terminal
# (fds 7 and 8) and the same disk; returns once both wait.  Sets WHY.
pair_start() {
	local t=$1 s=${S_LKVM:-$LKVM} d=${D_LKVM:-$LKVM}
	PORT=$(pick_port)
	truncate -s 64K "$T_TMP/$t.img"
	mkfifo "$T_TMP/$t-s.in" "$T_TMP/$t-d.in"
	exec 7<>"$T_TMP/$t-s.in" 8<>"$T_TMP/$t-d.in"
	# (A background job's stdin is /dev/null unless the job itself redirects it.)
	bg_start SRC_PID env ${LATE:+LKVM_MIG_FAULT=hold:3000} bash -c 'exec "$@" <"$0"' \
		"$T_TMP/$t-s.in" "$s" run -k "$G" --console virtio -d "$T_TMP/$t.img" -m 16M \
		--name $t-s >"$T_TMP/$t-s.out" 2>"$T_TMP/$t-s.err"
	bg_start DST_PID bash -c 'exec "$@" <"$0"' "$T_TMP/$t-d.in" "$d" run --name $t-d \
		--incoming "127.0.0.1:$PORT" --console virtio -d "$T_TMP/$t.img" -m 16M \
		>"$T_TMP/$t-d.out" 2>"$T_TMP/$t-d.err"
	if ! wait_for 30 grep -q "waiting for the source" "$T_TMP/$t-d.err" ||
	   ! wait_for 30 grep -q "console-input: waiting" "$T_TMP/$t-s.out"; then
		WHY="setup: $(tail -n 2 "$T_TMP/$t-s.err" "$T_TMP/$t-d.err" | tr '\n' ' ')"
		return 1
	fi
}

# type_on_source T TEXT: TEXT into the source's terminal, and taken by its reader
type_on_source() {
	printf '%s' "$2" >&7
	wait_for 10 fifo_drained "$T_TMP/$1-s.in" ||
		{ WHY="the source's terminal reader did not take the typed bytes"; return 1; }
}

# run_case T SRC_TEXT LATE_TEXT EXPECTED_LINES: pair_start, then SRC_TEXT
# typed on the source before the migration, LATE_TEXT while the source
# holds after END, "dst\nend\n" on the destination's terminal before the
# guest arrives; then "go!" into the disk.  Sets WHY on failure.
run_case() {
	local t=$1 src_text=$2 late_text=$3 want=$4 rc got
	WHY=""
	LATE=$late_text pair_start $t || return 1
	printf 'dst\nend\n' >&8		# read there only once the guest has arrived
	if [ -n "$src_text" ]; then
		type_on_source $t "$src_text" || return 1
	fi
	"${S_LKVM:-$LKVM}" migrate --to "127.0.0.1:$PORT" --name $t-s >"$T_TMP/$t.mig" 2>&1 &
	local mig=$!
	if [ -n "$late_text" ]; then
		if ! wait_for 20 grep -q "test hook: END sent" "$T_TMP/$t-s.err"; then
			WHY="the source never held after END: $(tail -n 2 "$T_TMP/$t-s.err" | tr '\n' ' ')"
			wait $mig; return 1
		fi
		printf '%s' "$late_text" >&7
	fi
	wait $mig; rc=$?
	if [ $rc -ne 0 ]; then
		WHY="migrate rc=$rc: $(tail -n 2 "$T_TMP/$t.mig" | tr '\n' ' ')"
		return 1
	fi
	printf 'go!' | dd of="$T_TMP/$t.img" conv=notrunc status=none
	wait_exit "$DST_PID" 30
	local drc=$EXIT_RC
	wait_exit "$SRC_PID" 20
	got=$(grep -a "console-input: line" "$T_TMP/$t-d.out")
	if [ "$got" != "$want" ]; then
		WHY="the destination's guest (rc=$drc) read: $(head -c 300 <<<"$got" | tr '\n' '|') (wanted $(head -c 300 <<<"$want" | tr '\n' '|')); $(tail -n 2 "$T_TMP/$t-d.err" | tr '\n' ' ')"
	elif [ "$drc" != 0 ]; then
		WHY="destination exited $drc: $(tail -n 2 "$T_TMP/$t-d.err" | tr '\n' ' ')"
	elif [ "$EXIT_RC" != 0 ]; then
		WHY="the source exited $EXIT_RC after the migration: $(tail -n 2 "$T_TMP/$t-s.err" | tr '\n' ' ')"
	elif grep -q "console-input: line" "$T_TMP/$t-s.out"; then
		WHY="the source's guest read input: $(grep "console-input: line" "$T_TMP/$t-s.out" | tr '\n' '|')"
	fi
	exec 7>&- 8>&-
	[ -z "$WHY" ]
}

t=typed-input-migrates
long=$(head -c 2000 /dev/urandom | base64 -w0 | head -c 1000)
if run_case $t "first line
$long
" "" "console-input: line 'first line'
console-input: line '$long'
console-input: line 'dst'
console-input: line 'end'"; then
	if grep -q "were not sent" "$T_TMP/$t-s.err"; then
		fail $t "the source says bytes were dropped: $(grep "were not sent" "$T_TMP/$t-s.err")"
	else
		pass $t
	fi
else
	fail $t "$WHY"
fi
"$LKVM" stop --name $t-s >/dev/null 2>&1; "$LKVM" stop --name $t-d >/dev/null 2>&1

t=late-input-stays
if run_case $t "" "late
" "console-input: line 'dst'
console-input: line 'end'"; then
	if grep -q "virtio-console: 5 bytes typed here after the guest's state was sent to the destination were not sent" "$T_TMP/$t-s.err"; then
		pass $t
	else
		fail $t "the source did not say it dropped 5 bytes: $(tail -n 3 "$T_TMP/$t-s.err" | tr '\n' ' ')"
	fi
else
	fail $t "$WHY"
fi
"$LKVM" stop --name $t-s >/dev/null 2>&1; "$LKVM" stop --name $t-d >/dev/null 2>&1

# Across builds.  OLD_COMMIT: the last commit before CONSOLE_INPUT, which
# knows every stream feature before it (PCI_STATE, RTC_STATE).
OLD_COMMIT=5c4bc36
old_tests="old-source-new-dst new-source-old-dst no-console-to-old-dst"
OLD=${LKVM_OLD_CONSOLE:-}
if [ -z "$OLD" ] && ! old_lkvm $OLD_COMMIT CONSOLE_INPUT; then
	for n in $old_tests; do
		if [ -n "$OLD_FAIL" ]; then fail $n "$OLD_FAIL"
		else skip $n "$OLD_SKIP, and LKVM_OLD_CONSOLE (an lkvm built before it) not given"; fi
	done
	t_done
fi
OLD=${OLD:-$OLD_BIN}

t=old-source-new-dst
if S_LKVM=$OLD run_case $t "" "" "console-input: line 'dst'
console-input: line 'end'"; then
	pass $t
else
	fail $t "$WHY"
fi
"$OLD" stop --name $t-s >/dev/null 2>&1; "$LKVM" stop --name $t-d >/dev/null 2>&1

# Refused before any page moves; the guest, its typed line with it, stays.
t=new-source-old-dst
if D_LKVM=$OLD pair_start $t && type_on_source $t "kept
end
"; then
	"$LKVM" migrate --to "127.0.0.1:$PORT" --name $t-s --json >"$T_TMP/$t.mig" 2>&1; rc=$?
	echo "$t: $(cat "$T_TMP/$t.mig")"
	printf 'go!' | dd of="$T_TMP/$t.img" conv=notrunc status=none
	wait_exit "$SRC_PID" 30
	got=$(grep -a "console-input: line" "$T_TMP/$t-s.out" | tr '\n' '|')
	if [ $rc -ne 1 ] || ! grep -q 'destination refused: .*stream features 0x[0-9a-f]*.*older lkvm' "$T_TMP/$t.mig" ||
	   ! grep -q '"rounds":0' "$T_TMP/$t.mig"; then
		fail $t "rc=$rc: $(cat "$T_TMP/$t.mig")"
	elif [ "$EXIT_RC" != 0 ] || [ "$got" != "console-input: line 'kept'|console-input: line 'end'|" ]; then
		fail $t "the source's guest, rc=$EXIT_RC, read: $got"
	else
		pass $t
	fi
else
	fail $t "$WHY"
fi
exec 7>&- 8>&-
"$LKVM" stop --name $t-s >/dev/null 2>&1; "$OLD" stop --name $t-d >/dev/null 2>&1

# No virtio-console: no new feature asked for, the old destination takes it.
counting_across no-console-to-old-dst "$LKVM" "$OLD"
t_done
