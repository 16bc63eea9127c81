#!/usr/bin/env bash
# Migration between two network namespaces joined by a veth pair (issue 5,
# "what it must show" 3): the source runs in one namespace, the destination
# listens on the other's address, so the stream crosses a real (virtual)
# link instead of loopback.  Skips with the reason where namespaces cannot
# be created (no root, no CAP_NET_ADMIN, no iproute2).
#
#   veth-namespaces  the counting guest moves across the veth link
#   virtio-net-moves a guest that ARPs for 10.0.0.1 through virtio-net over
#                    and over moves from a host whose tap answers to one
#                    whose own tap (same address, other namespace) does:
#                    the device state arrives, the destination's tap
#                    carries on, every exchange after the move is answered,
#                    and the destination announced the guest's MAC (mac=)
#                    from its tap with 5 RARP frames, as QEMU does
#   mac-differs      a destination whose device would give the guest another
#                    MAC is refused in the handshake; the source counts on
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
t=veth-namespaces
tests="veth-namespaces virtio-net-moves mac-differs"
need_kvm $tests
need_migrate $tests

if ! command -v ip >/dev/null; then
	for n in $tests; do skip $n "iproute2 'ip' is not installed"; done; t_done
fi
ns_a="lkvm-mig-a-$$" ns_b="lkvm-mig-b-$$"
cleanup_ns() { ip netns del "$ns_a" 2>/dev/null; ip netns del "$ns_b" 2>/dev/null; }
trap 'cleanup_ns; t_cleanup' EXIT
if ! err=$(ip netns add "$ns_a" 2>&1 && ip netns add "$ns_b" 2>&1); then
	for n in $tests; do skip $n "cannot create network namespaces: $err"; done; t_done
fi
if ! err=$( { ip link add "vm$$a" type veth peer name "vm$$b" &&
	ip link set "vm$$a" netns "$ns_a" && ip link set "vm$$b" netns "$ns_b" &&
	ip -n "$ns_a" addr add 10.231.0.1/24 dev "vm$$a" &&
	ip -n "$ns_b" addr add 10.231.0.2/24 dev "vm$$b" &&
	ip -n "$ns_a" link set "vm$$a" up && ip -n "$ns_b" link set "vm$$b" up &&
	ip -n "$ns_a" link set lo up && ip -n "$ns_b" link set lo up; } 2>&1); then
	for n in $tests; do skip $n "cannot set up the veth pair: $err"; done; t_done
fi

port=$(pick_port)
bg_start SRC_PID ip netns exec "$ns_a" "$LKVM" run -k "$GUESTS/counter" --name ns-src -m 16M \
	-p "delay=20000" >"$T_TMP/ns-src.out" 2>"$T_TMP/ns-src.err"
DST_WRAP="ip netns exec $ns_b" DST_ADDR=10.231.0.2 start_dst ns-dst "$port" -m 16M ||
	{ fail $t "destination did not listen: $(cat "$T_TMP/ns-dst.err")"; t_done; }
wait_for 30 counts_past "$T_TMP/ns-src.out" 2 ||
	{ fail $t "source guest did not count: $(cat "$T_TMP/ns-src.err")"; t_done; }
# The client talks to the source over its unix socket; the stream goes over the veth.
if ! out=$("$LKVM" migrate --name ns-src --to 10.231.0.2:"$port" --verify --json 2>"$T_TMP/mig.err"); then
	fail $t "migrate failed: $(cat "$T_TMP/mig.err")"; t_done
fi
echo "$out"
last=$(last_count "$T_TMP/ns-src.out")
if wait_for 30 counts_past "$T_TMP/ns-dst.out" $((last + 2)) &&
	check_sequence "$T_TMP/ns-src.out" "$T_TMP/ns-dst.out"; then
	pass $t
else
	fail $t "destination did not continue: $(tail -n 3 "$T_TMP/ns-dst.err")"
fi
"$LKVM" stop --name ns-dst >/dev/null 2>&1

# virtio-net: each host has its own tap with the same address, as two
# hosts on one network would; the guest's MAC comes with the device.
t=virtio-net-moves
if ! err=$( { ip -n "$ns_a" tuntap add dev lkvmtap mode tap && ip -n "$ns_b" tuntap add dev lkvmtap mode tap &&
	ip -n "$ns_a" addr add 10.0.0.1/24 dev lkvmtap && ip -n "$ns_b" addr add 10.0.0.1/24 dev lkvmtap &&
	ip -n "$ns_a" link set lkvmtap up && ip -n "$ns_b" link set lkvmtap up; } 2>&1); then
	skip $t "cannot create the tap devices: $err"; t_done
fi
mac=02:1c:aa:00:00:2f
net="mode=tap,tapif=lkvmtap,mac=$mac"
port=$(pick_port)
bg_start SRC_PID ip netns exec "$ns_a" "$LKVM" run -k "$GUESTS/virtio-net" --name net-src -m 16M \
	-n "$net" -p "loop=1 delay=2000" >"$T_TMP/net-src.out" 2>"$T_TMP/net-src.err"
if ! wait_for 60 counts_past "$T_TMP/net-src.out" 2; then
	fail $t "the guest's ARP exchanges did not start: $(tail -n 2 "$T_TMP/net-src.out" "$T_TMP/net-src.err")"; t_done
fi
if ! grep -aq "virtio-net: mac 2:1c:aa:0:0:2f" "$T_TMP/net-src.out"; then
	fail $t "the guest did not get mac=$mac: $(grep -a 'mac' "$T_TMP/net-src.out")"; t_done
fi

# mac-differs: refused before any page moves; the guest goes on here.
t=mac-differs
DST_WRAP="ip netns exec $ns_b" DST_ADDR=10.231.0.2 start_dst net-bad "$port" -m 16M \
	-n mode=tap,tapif=lkvmtap,mac=02:1c:aa:00:00:30 ||
	{ fail $t "destination did not listen: $(cat "$T_TMP/net-bad.err")"; t_done; }
"$LKVM" migrate --name net-src --to 10.231.0.2:"$port" >/dev/null 2>"$T_TMP/bad-mig.err"; rc=$?
if [ $rc -eq 0 ] || ! grep -q "devices differ: .*net0=02:1c:aa:00:00:2f.*net0=02:1c:aa:00:00:30" "$T_TMP/bad-mig.err"; then
	fail $t "rc=$rc: $(tail -n 1 "$T_TMP/bad-mig.err")"
elif ! still_counting "$T_TMP/net-src.out"; then
	fail $t "the source stopped counting: $(tail -n 1 "$T_TMP/net-src.out")"
elif ! wait_exit "$DST_PID" 15 || [ "$EXIT_RC" = 0 ] || grep -aq count "$T_TMP/net-bad.out"; then
	fail $t "destination: exit $EXIT_RC, $(tail -n 1 "$T_TMP/net-bad.err")"
else
	pass $t
fi

t=virtio-net-moves
port=$(pick_port)
DST_WRAP="ip netns exec $ns_b" DST_ADDR=10.231.0.2 start_dst net-dst "$port" -m 16M -n "$net" ||
	{ fail $t "destination did not listen: $(cat "$T_TMP/net-dst.err")"; t_done; }
# Every RARP frame the destination's tap carries, one hex line each.
bg_start CAP_PID ip netns exec "$ns_b" python3 -c '
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x8035))
s.bind(("lkvmtap", 0))
print("ready", flush=True)
while True:
    print(s.recv(2048).hex(), flush=True)
' >"$T_TMP/rarp.cap" 2>"$T_TMP/rarp.err"
if ! wait_for 10 grep -q ready "$T_TMP/rarp.cap"; then
	fail $t "cannot capture on the destination's tap: $(cat "$T_TMP/rarp.err")"; t_done
fi
rx_a=$(ip -n "$ns_a" -s link show lkvmtap | awk '/RX:/ { getline; print $2 }')
if ! out=$("$LKVM" migrate --name net-src --to 10.231.0.2:"$port" --json 2>"$T_TMP/net-mig.err"); then
	fail $t "migrate failed: $(tail -n 1 "$T_TMP/net-mig.err")"; t_done
fi
last=$(last_count "$T_TMP/net-src.out")
rx_b0=$(ip -n "$ns_b" -s link show lkvmtap | awk '/RX:/ { getline; print $2 }')
if ! wait_for 60 counts_past "$T_TMP/net-dst.out" $((last + 3)); then
	fail $t "the guest does not go on at the destination: $(tail -n 2 "$T_TMP/net-dst.out" "$T_TMP/net-dst.err")"
elif ! m=$(check_sequence "$T_TMP/net-src.out" "$T_TMP/net-dst.out"); then
	fail $t "count sequence broken: $m"
elif grep -aq "FAILED\|timed out" "$T_TMP/net-src.out" "$T_TMP/net-dst.out"; then
	fail $t "an exchange failed: $(grep -ah 'FAILED\|timed out' "$T_TMP/net-src.out" "$T_TMP/net-dst.out" | head -n 1)"
else
	# The exchanges after the move went through the destination's tap.
	rx_b=$(ip -n "$ns_b" -s link show lkvmtap | awk '/RX:/ { getline; print $2 }')
	after=$(complete_lines "$T_TMP/net-dst.out" | grep -ac 'arp ok')
	# ff..ff, the MAC, RARP; Ethernet/IPv4 6/4, op 3 (request reverse), sender and target MAC.
	want="ffffffffffff${mac//:/}80350001080006040003${mac//:/}00000000${mac//:/}00000000$(printf '0%.0s' {1..36})"
	nr_rarp() { grep -c "^$want\$" "$T_TMP/rarp.cap"; }
	wait_for 5 bash -c "[ \$(grep -c '^$want\$' '$T_TMP/rarp.cap') -ge 5 ]"
	sleep 0.5	# a sixth would come within this
	nr_rarp=$(nr_rarp)
	if [ "$((rx_b - rx_b0))" -lt 3 ]; then
		fail $t "the destination's tap saw $((rx_b - rx_b0)) frames from the guest"
	elif [ "$nr_rarp" -ne 5 ] || [ "$(grep -vc '^ready$' "$T_TMP/rarp.cap")" -ne 5 ] ||
		! grep -q "announced $mac (5 of 5 RARP frames taken by the tap)" "$T_TMP/net-dst.err"; then
		fail $t "$nr_rarp announcements of $mac on the destination's tap, want 5: $(head -c 300 "$T_TMP/rarp.cap"); $(grep announced "$T_TMP/net-dst.err")"
	else
		pass $t
		echo "$t: $m; $after exchanges answered at the destination ($((rx_b - rx_b0)) frames on its tap, $rx_a on the source's before the move); resent: $(grep -aho '([0-9]* resent)' "$T_TMP/net-dst.out" | sort | uniq -c | tr '\n' ' ')"
	fi
fi
"$LKVM" stop --name net-dst >/dev/null 2>&1
t_done
