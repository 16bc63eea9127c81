#!/usr/bin/env bash
# The authenticated, encrypted stream (lkvm migrate --key, lkvm run
# --incoming-key; docs/migration-stream.md "Authentication").  A source
# with another key, or with none, is refused, its guest counts on, and
# the destination keeps waiting for the right one, which then moves the
# guest over one channel per CPU (--key's default) with no gap in its
# count and a matching memory crc.  A byte flipped on the wire fails the
# migration as "does not authenticate".  Key files open to others, too short, or given where they
# do not apply are refused with one line before anything starts.  A sealed
# stream cut into other frames, or into other TCP pieces, moves all the
# same; a HELLO altered in its second frame is refused as altered, not as
# another key; a data connection that is not the source's (clear, or
# keyed without the key) is ignored, named, and the migration goes on,
# without waiting on claimants that go silent.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
tests="key-file-checks wrong-key key-required no-key-destination keyed silent-stranger flipped-byte
	split-hello-altered split-hello rechunked clear-data-channel keyed-data-channel
	keyed-late-data-channel silent-data-channels stalled-data-channel data-claim-flood
	bounds-data-channel own-host-race"
need_kvm $tests
need_migrate $tests

MEM=16M
umask 077
head -c 32 /dev/urandom >"$T_TMP/key"
head -c 32 /dev/urandom >"$T_TMP/other.key"
head -c $((4 << 20)) /dev/urandom >"$T_TMP/random.img"

# 1. Key files: refused with the reason, before any VM or migration starts.
t=key-file-checks
why=""
cp "$T_TMP/key" "$T_TMP/open.key" && chmod 644 "$T_TMP/open.key"
head -c 15 /dev/urandom >"$T_TMP/short.key"
# expect_refusal WHAT REGEX CMD...: CMD exits 1 and says REGEX on one stderr line
expect_refusal() {
	local what=$1 re=$2 out rc; shift 2
	out=$("$@" 2>&1 >/dev/null); rc=$?
	if [ $rc -ne 1 ] || ! grep -Eq -e "$re" <<<"$out"; then
		why="$why [$what: rc=$rc '$out']"
	fi
}
expect_refusal "migrate open key" "key file '.*open.key' is open to other users \(mode 0644\): chmod 600" \
	"$LKVM" migrate --to 127.0.0.1:1 --key "$T_TMP/open.key"
expect_refusal "migrate short key" "holds 15 bytes; a key needs 32 to 4096" \
	"$LKVM" migrate --to 127.0.0.1:1 --key "$T_TMP/short.key"
expect_refusal "migrate missing key" "cannot read key file .*No such file" \
	"$LKVM" migrate --to 127.0.0.1:1 --key "$T_TMP/nosuch.key"
expect_refusal "migrate --key without --to" "--key goes with --to" \
	"$LKVM" migrate --cancel --key "$T_TMP/key"
expect_refusal "run open key" "^lkvm run: error: --incoming-key: key file .* is open to other users" \
	"$LKVM" run --incoming 127.0.0.1:1 --incoming-key "$T_TMP/open.key" --name kf1 -m $MEM
expect_refusal "run key without --incoming" "--incoming-key only applies with --incoming" \
	"$LKVM" run -k "$GUESTS/counter" --incoming-key "$T_TMP/key" --name kf2 -m $MEM
[ -z "$why" ] && pass $t || fail $t "$why"

bg_start SRC_PID "$LKVM" run -k "$GUESTS/counter" --name src -m $MEM -i "$T_TMP/random.img" \
	-p delay=2000 >"$T_TMP/src.out" 2>"$T_TMP/src.err"
PORT=$(pick_port)
if ! start_dst dst "$PORT" -m $MEM --incoming-key "$T_TMP/key" ||
   ! wait_for 30 grep -q "faulted in" "$T_TMP/dst.err" ||
   ! wait_for 30 counts_past "$T_TMP/src.out" 2; then
	for n in wrong-key key-required keyed flipped-byte; do
		fail $n "setup: $(tail -n 1 "$T_TMP/src.err" "$T_TMP/dst.err")"
	done
	t_done
fi

# refused TEST REGEX ARGS...: the migration fails (exit 1) naming REGEX,
# the source counts on, and the destination still waits.
refused() {
	local t=$1 re=$2 rc; shift 2
	"$LKVM" migrate --name src --quiet --to "127.0.0.1:$PORT" "$@" >"$T_TMP/$t.out" 2>"$T_TMP/$t.err"
	rc=$?
	if [ $rc -ne 1 ]; then fail $t "exit $rc, not 1: $(cat "$T_TMP/$t.err")"; return 1; fi
	if ! grep -Eq "$re" "$T_TMP/$t.err"; then
		fail $t "reason not given (want /$re/): $(cat "$T_TMP/$t.err")"; return 1
	fi
	if ! still_counting "$T_TMP/src.out"; then
		fail $t "the source guest stopped counting"; return 1
	fi
	if ! kill -0 "$DST_PID" 2>/dev/null || grep -q count "$T_TMP/dst.out"; then
		fail $t "the destination did not go on waiting: $(tail -n 2 "$T_TMP/dst.err")"; return 1
	fi
	echo "$t: $(cat "$T_TMP/$t.err")"
}

# 2. Another key: the destination's reply does not authenticate at the
#    source, and the destination logs the source's stream as not authenticating.
t=wrong-key
refused $t "the destination's handshake reply does not authenticate: it was started with another --incoming-key than this --key" \
	--key "$T_TMP/other.key" &&
	if wait_for 10 grep -q "ignored a connection from .*does not authenticate with this destination's --incoming-key" "$T_TMP/dst.err"; then
		pass $t
	else
		fail $t "the destination did not log it: $(tail -n 2 "$T_TMP/dst.err")"
	fi

# 3. No key: refused in the clear, saying what to give.
t=key-required
refused $t "destination refused: this destination takes only an authenticated stream: give lkvm migrate --key FILE" &&
	pass $t

# 4. A key, and a destination without one.
t=no-key-destination
PORT2=$(pick_port)
DST_PID_KEYED=$DST_PID
if start_dst dst2 "$PORT2" -m $MEM; then
	SAVE=$PORT; PORT=$PORT2
	refused $t "destination refused \(unauthenticated reply\): the source asks for an authenticated stream \(lkvm migrate --key\), but this destination has no key: start it with --incoming-key FILE" \
		--key "$T_TMP/key" && pass $t
	PORT=$SAVE
	"$LKVM" stop --name dst2 >/dev/null 2>&1
else
	fail $t "second destination did not listen"
fi
DST_PID=$DST_PID_KEYED

# 4b. A stranger that asks for a sealed stream, sends a nonce, gets the
#     destination's, then says nothing more: it must hold up nobody.  It
#     is still connected while the real source migrates (5); it once held
#     the port for 60 s, and then ended the destination's wait.  The
#     destination drops it once the source's HELLO is taken.
t=silent-stranger
stranger=""
if exec 3<>"/dev/tcp/127.0.0.1/$PORT"; then
	printf 'LKVMMIG\0\x02\0\0\0\0\0\0\x80\x07\0\0\0\0\0\0\0' >&3	# control, sealed, session 7
	head -c 32 /dev/urandom >&3
	magic=$(timeout 10 head -c 8 <&3)
	[ "$magic" = LKVMAUTH ] || stranger="no LKVMAUTH reply to the stranger's nonce: '$magic'"
else
	stranger="cannot connect to the destination"
fi

# 5. The right key, to the destination that refused the others: the guest
#    moves over one sealed channel per CPU (the default with --key; 2 on
#    the CI host), counts on with no gap, memory crc matches.
t=keyed
want_ch=$(nproc); [ "$want_ch" -le 16 ] || want_ch=16
out=$("$LKVM" migrate --name src --to "127.0.0.1:$PORT" --key "$T_TMP/key" --verify \
	--json 2>"$T_TMP/$t.err"); rc=$?
echo "$t: $out"
if [ $rc -ne 0 ] || ! grep -q '"status":"completed"' <<<"$out"; then
	fail $t "migrate failed (rc $rc): $out $(tail -n 2 "$T_TMP/$t.err")"
elif ! grep -q '"verified":true' <<<"$out" || ! grep -q '"sealed":true' <<<"$out"; then
	fail $t "not verified, or not said to be sealed: $out"
elif ! grep -q "\"channels\":$want_ch," <<<"$out"; then
	fail $t "not over $want_ch channels (one per CPU): $out"
elif ! wait_for 10 grep -q "MB sealed (--incoming-key) in" "$T_TMP/dst.err"; then
	fail $t "the destination does not say the stream was sealed: $(tail -n 1 "$T_TMP/dst.err")"
elif ! wait_for 30 counts_past "$T_TMP/dst.out" 3; then
	fail $t "the guest does not count at the destination: $(tail -n 2 "$T_TMP/dst.err")"
elif ! m=$(check_sequence "$T_TMP/src.out" "$T_TMP/dst.out"); then
	fail $t "$m"
else
	pass $t
fi
t=silent-stranger
if [ -n "$stranger" ]; then
	fail $t "$stranger"
elif ! grep -q "ignored a connection from .*: another source while a migration is being received" "$T_TMP/dst.err"; then
	fail $t "the source was not taken while the stranger waited: $(grep 'ignored a connection' "$T_TMP/dst.err" | tail -n 1)"
else
	pass $t
fi
exec 3>&- 2>/dev/null
"$LKVM" stop --name dst >/dev/null 2>&1

# 6. A byte flipped on data channel 1 (under the seal): the destination
#    finds the frame does not authenticate; the source's guest counts on.
t=flipped-byte
bg_start SRC_PID env LKVM_MIG_FAULT=flip:300000 "$LKVM" run -k "$GUESTS/counter" --name src3 \
	-m $MEM -i "$T_TMP/random.img" -p delay=2000 >"$T_TMP/src3.out" 2>"$T_TMP/src3.err"
PORT=$(pick_port)
if start_dst dst3 "$PORT" -m $MEM --incoming-key "$T_TMP/key" &&
   wait_for 30 counts_past "$T_TMP/src3.out" 2; then
	"$LKVM" migrate --name src3 --quiet --to "127.0.0.1:$PORT" --key "$T_TMP/key" \
		>"$T_TMP/$t.out" 2>"$T_TMP/$t.err"; rc=$?
	if [ $rc -ne 1 ] || ! grep -q "destination says: data channel.*: does not authenticate" "$T_TMP/$t.err"; then
		fail $t "rc $rc: $(cat "$T_TMP/$t.err")"
	elif ! still_counting "$T_TMP/src3.out"; then
		fail $t "the source guest stopped counting"
	elif ! wait_exit "$DST_PID" 15 || [ "$EXIT_RC" = 0 ] || grep -q count "$T_TMP/dst3.out"; then
		fail $t "destination: exit $EXIT_RC, $(tail -n 1 "$T_TMP/dst3.err")"
	else
		echo "$t: $(cat "$T_TMP/$t.err")"
		pass $t
	fi
else
	fail $t "setup: $(tail -n 1 "$T_TMP/src3.err" "$T_TMP/dst3.err")"
fi
"$LKVM" stop --name src3 >/dev/null 2>&1

# keyed_pair NAME [VAR=VALUE...]: a counting source NAME-src (the VARs in
# its environment) and a keyed destination NAME-dst on $PORT, both ready.
keyed_pair() {
	local n=$1; shift
	bg_start SRC_PID env "$@" "$LKVM" run -k "$GUESTS/counter" --name "$n-src" -m $MEM \
		-p delay=2000 >"$T_TMP/$n-src.out" 2>"$T_TMP/$n-src.err"
	PORT=$(pick_port)
	start_dst "$n-dst" "$PORT" -m $MEM --incoming-key "$T_TMP/key" &&
		wait_for 30 counts_past "$T_TMP/$n-src.out" 2
}

# moved T SRC DST TO: SRC's guest, migrated with the key to TO, arrives
# verified at DST and counts on there with no gap.  MOVED_JSON: what
# lkvm migrate --json said.
moved() {
	local t=$1 src=$2 dst=$3 to=$4 out rc
	out=$("$LKVM" migrate --name "$src" --to "$to" --key "$T_TMP/key" --verify --json \
		2>"$T_TMP/$t.err"); rc=$?
	MOVED_JSON=$out
	if [ $rc -ne 0 ] || ! grep -q '"status":"completed"' <<<"$out" ||
	   ! grep -q '"verified":true' <<<"$out" || ! grep -q '"sealed":true' <<<"$out"; then
		fail $t "migrate failed (rc $rc): $(grep -v '"event"' "$T_TMP/$t.err" | tail -n 2) $(
			tail -n 2 "$T_TMP/$dst.err")"
	elif ! wait_for 30 counts_past "$T_TMP/$dst.out" 3; then
		fail $t "the guest does not count at the destination: $(tail -n 2 "$T_TMP/$dst.err")"
	elif ! m=$(check_sequence "$T_TMP/$src.out" "$T_TMP/$dst.out"); then
		fail $t "$m"
	else
		return 0
	fi
	return 1
}

# start_relay MODE: tests/integration/migrate-key-relay.py from $RPORT to $PORT.
start_relay() {
	RPORT=$(pick_port)
	bg_start RELAY_PID python3 "$(dirname "$0")/migrate-key-relay.py" "$RPORT" "$PORT" "$1" \
		"$DST_PID" >"$T_TMP/relay-$1.out" 2>&1
	wait_for 10 grep -q "relay ready" "$T_TMP/relay-$1.out"
}

# pair_failed T NAME: keyed_pair NAME or its relay did not start.
pair_failed() {
	fail "$1" "setup: $(tail -n 1 "$T_TMP/$2-src.err" "$T_TMP/$2-dst.err")"
}

# relay_pair_end NAME: the relay and both instances of keyed_pair NAME go.
relay_pair_end() {
	kill "$RELAY_PID" 2>/dev/null
	"$LKVM" stop --name "$1-dst" >/dev/null 2>&1
	"$LKVM" stop --name "$1-src" >/dev/null 2>&1
}

# 7. The source seals its HELLO in 64-byte frames (LKVM_MIG_FAULT=frame:64),
#    and a byte of the second frame is flipped on the way (flip:150c: the
#    control preamble and nonce are 56 bytes, the first frame 84).  The
#    first frame opens, so the keys match: both ends must say the stream
#    was altered, not that the keys differ (they did, before), the source
#    counts on, and the destination waits on.  Then a source that seals in
#    64-byte frames, unaltered, moves its guest to that same destination:
#    a record may span frames.
t=split-hello-altered
if keyed_pair split LKVM_MIG_FAULT=frame:64,flip:150c; then
	"$LKVM" migrate --name split-src --quiet --to "127.0.0.1:$PORT" --key "$T_TMP/key" \
		>"$T_TMP/$t.out" 2>"$T_TMP/$t.err"; rc=$?
	want="altered on the way: it spans sealed frames, and a later one does not authenticate though the first did"
	if [ $rc -ne 1 ] || ! grep -q "destination refused: the source's HELLO was $want" "$T_TMP/$t.err"; then
		fail $t "rc $rc: $(cat "$T_TMP/$t.err")"
	elif ! wait_for 10 grep -q "ignored a connection from .*HELLO was $want" "$T_TMP/split-dst.err"; then
		fail $t "the destination did not log it: $(tail -n 2 "$T_TMP/split-dst.err")"
	elif ! still_counting "$T_TMP/split-src.out"; then
		fail $t "the source guest stopped counting"
	elif ! kill -0 "$DST_PID" 2>/dev/null; then
		fail $t "the destination did not go on waiting: $(tail -n 2 "$T_TMP/split-dst.err")"
	else
		echo "$t: $(cat "$T_TMP/$t.err")"
		pass $t
	fi
	"$LKVM" stop --name split-src >/dev/null 2>&1
	t=split-hello
	bg_start SRC_PID env LKVM_MIG_FAULT=frame:64 "$LKVM" run -k "$GUESTS/counter" --name split2 \
		-m $MEM -p delay=2000 >"$T_TMP/split2.out" 2>"$T_TMP/split2.err"
	if ! wait_for 30 counts_past "$T_TMP/split2.out" 2; then
		fail $t "setup: $(tail -n 1 "$T_TMP/split2.err")"
	elif moved $t split2 split-dst "127.0.0.1:$PORT"; then
		pass $t
	fi
else
	pair_failed $t split
	fail split-hello "setup failed (see $t)"
fi
"$LKVM" stop --name split-dst >/dev/null 2>&1

# 8. Through a relay that re-cuts the first 16 KiB of every connection,
#    both ways, into pieces of 1 to 11 bytes: preambles, nonces, length
#    words and frames arrive in many reads, as TCP may deliver them.
t=rechunked
if keyed_pair chunk && start_relay rechunk; then
	moved $t chunk-src chunk-dst "127.0.0.1:$RPORT" && pass $t
else
	pair_failed $t chunk
fi
relay_pair_end chunk

# 9. Someone who reads the control preamble on the way (its session id is
#    in clear) opens a data connection for channel 1 of that session
#    before the source's own: with a clear preamble (clear-data-channel),
#    or with the keyed flag and a made-up frame (keyed-data-channel).  The
#    destination ignores it, saying which channel it claimed, and takes
#    the source's own: the guest moves.  (The keyed one used to be taken
#    as channel 1: its first frame failed, and then the real channel 1
#    was "unexpected", ending the migration and the destination's wait.)
#    keyed-late-data-channel claims channel 1 again once the source's own
#    is in (that was "unexpected" too).
for mode in clear keyed keyed-late; do
	t=$mode-data-channel
	rmode=${mode%-late}-data${mode#${mode%-late}}		# keyed-late: keyed-data-late
	if [ $mode = clear ]; then
		logged="a data connection for channel 1 of this migration, not authenticated"
	else
		logged="a data connection for channel 1 of this migration: its first frame does not authenticate"
	fi
	if keyed_pair $mode && start_relay $rmode; then
		if moved $t $mode-src $mode-dst "127.0.0.1:$RPORT"; then
			if ! grep -q "^injected" "$T_TMP/relay-$rmode.out"; then
				fail $t "the relay did not inject its connection"
			elif ! grep -q "ignored a connection from .*: $logged" "$T_TMP/$mode-dst.err"; then
				fail $t "not logged as wanted (/$logged/): $(grep 'ignored' "$T_TMP/$mode-dst.err")"
			else
				grep "ignored" "$T_TMP/$mode-dst.err"
				pass $t
			fi
		fi
	else
		pair_failed $t $mode
	fi
	relay_pair_end $mode
done

# 10. Keyed claims to channel 1 that hold still, all made before the
#     source's own data connection: three that send their preamble and
#     nothing more (silent-data-channels), or one that sends the length
#     word of a 256 KiB frame and half the frame (stalled-data-channel).
#     First frames are read side by side, so the source's channel is its
#     own as soon as its first frame opens: the whole migration (0.3 s:
#     the relay pauses that long after its claims) must take less than
#     5 s, half of one claimant's PREAMBLE_WAIT_MS.  Read one at a time,
#     each claimant held the channel for its 10 s in turn (30 s and 10 s,
#     measured).  Once the source's connections are all in, the claimants
#     are dropped and named, with what they had sent.  data-claim-flood:
#     48 stalled claims from another address (twice the destination's
#     24 pending places): they push out one another, not the source's
#     own, hold at most 24 half frames, and the destination logs at most
#     the 10 lines per 10 s of its rate limit about them.
for mode in silent stalled flood; do
	t=$mode-data-channel
	[ $mode = silent ] && t=$t"s"
	[ $mode = flood ] && t=data-claim-flood
	if keyed_pair $mode && start_relay $mode-data; then
		if moved $t $mode-src $mode-dst "127.0.0.1:$RPORT"; then
			ms=$(sed -n 's/.*"total_ms":\([0-9]*\).*/\1/p' <<<"$MOVED_JSON")
			logged="a data connection for channel 1 of this migration: still pending"
			# the stalled one's half frame was read while the source's came
			[ $mode = stalled ] && logged="$logged .*its preamble and 131076 of its first frame's 262164 bytes"
			# the flood: which of its lines the rate limit lets through
			# depends on timing: claims pushed out or claims dropped
			[ $mode = flood ] && logged="\(a data connection for channel 1 of this migration: \|more than 24 connections at once\)"
			n=$(grep -c "ignored a connection" "$T_TMP/$mode-dst.err")
			if ! grep -q "^injected" "$T_TMP/relay-$mode-data.out"; then
				fail $t "the relay did not inject its connections"
			elif [ $mode = flood ] && [ "$n" -gt 10 ]; then
				fail $t "$n lines about the claims (10 at most)"
			elif [ -z "$ms" ] || [ "$ms" -ge 5000 ]; then
				fail $t "the migration took ${ms:-?} ms (5000 at most): the claimants held it up"
			elif ! wait_for 10 grep -q "ignored a connection from .*: $logged" \
				"$T_TMP/$mode-dst.err"; then
				fail $t "not logged as wanted (/$logged/): $(grep 'ignored' "$T_TMP/$mode-dst.err")"
			else
				echo "$t: migrated in $ms ms"
				grep "ignored" "$T_TMP/$mode-dst.err"
				pass $t
			fi
		fi
	else
		pair_failed $t $mode
	fi
	relay_pair_end $mode
done

# 11. Keyed claims to channel 1, before the source's own, whose first
#     frames are whole by their length words: 0 and 256 KiB + 1 (no
#     frame has those; dropped on the length alone), 1 and 256 KiB (the
#     bounds: read whole, and made up, so they do not authenticate).
#     Each is named for what it is and the guest moves.
t=bounds-data-channel
if keyed_pair bounds && start_relay bounds-data; then
	if moved $t bounds-src bounds-dst "127.0.0.1:$RPORT"; then
		why=""
		pre="a data connection for channel 1 of this migration: its first frame"
		for re in "'s length \(0\) is no frame's \(1\.\.262144\)" \
			  "'s length \(262145\) is no frame's \(1\.\.262144\)" \
			  " does not authenticate.*\n.* does not authenticate"; do
			grep -Pzq "ignored a connection from [^\n]*: $pre$re" "$T_TMP/bounds-dst.err" ||
				why="$why [/$re/ not logged]"
		done
		if ! grep -q "^injected" "$T_TMP/relay-bounds-data.out"; then
			fail $t "the relay did not inject its connections"
		elif [ -n "$why" ]; then
			fail $t "$why: $(grep 'ignored' "$T_TMP/bounds-dst.err")"
		else
			grep "ignored" "$T_TMP/bounds-dst.err"
			pass $t
		fi
	fi
else
	pair_failed $t bounds
fi
relay_pair_end bounds

# 12. Strangers on the source's own host (here every connection's), 23 of
#     them with one byte sent each, fill the pending places but one; the
#     source's first data connection and a 24th stranger are then
#     accepted in one go (the relay stops the destination while both
#     connect), before the source's preamble is read.  The source's has
#     sent more, so it is not the one pushed out: the guest moves.  (It
#     was: ranked by bytes read, none yet, it came last, was dropped as
#     "more than 24 connections at once", and the migration failed.)
t=own-host-race
if keyed_pair race && start_relay own-race; then
	if moved $t race-src race-dst "127.0.0.1:$RPORT"; then
		if ! grep -q "^injected 24 one-byte" "$T_TMP/relay-own-race.out"; then
			fail $t "the relay did not inject its connections: $(cat "$T_TMP/relay-own-race.out")"
		else
			grep "ignored" "$T_TMP/race-dst.err"
			pass $t
		fi
	fi
else
	pair_failed $t race
fi
relay_pair_end race
t_done
