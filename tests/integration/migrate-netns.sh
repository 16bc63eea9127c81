#!/usr/bin/env bash
# Migration between two network namespaces joined by a veth pair (issue 5,
# "what it must show" 3): the source runs in one namespace, the destination
# listens on the other's address, so the stream crosses a real (virtual)
# link instead of loopback.  Skips with the reason where namespaces cannot
# be created (no root, no CAP_NET_ADMIN, no iproute2).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/migrate-common.inc"
t=veth-namespaces
need_kvm $t
need_migrate $t

if ! command -v ip >/dev/null; then
	skip $t "iproute2 'ip' is not installed"; t_done
fi
ns_a="lkvm-mig-a-$$" ns_b="lkvm-mig-b-$$"
cleanup_ns() { ip netns del "$ns_a" 2>/dev/null; ip netns del "$ns_b" 2>/dev/null; }
trap 'cleanup_ns; t_cleanup' EXIT
if ! err=$(ip netns add "$ns_a" 2>&1 && ip netns add "$ns_b" 2>&1); then
	skip $t "cannot create network namespaces: $err"; t_done
fi
if ! err=$( { ip link add "vm$$a" type veth peer name "vm$$b" &&
	ip link set "vm$$a" netns "$ns_a" && ip link set "vm$$b" netns "$ns_b" &&
	ip -n "$ns_a" addr add 10.231.0.1/24 dev "vm$$a" &&
	ip -n "$ns_b" addr add 10.231.0.2/24 dev "vm$$b" &&
	ip -n "$ns_a" link set "vm$$a" up && ip -n "$ns_b" link set "vm$$b" up &&
	ip -n "$ns_a" link set lo up && ip -n "$ns_b" link set lo up; } 2>&1); then
	skip $t "cannot set up the veth pair: $err"; t_done
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
t_done
