#!/usr/bin/env bash
# make demo: boot the bundled guests, then live-migrate a running guest
# between two local lkvm instances.
set -u
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a guest that greets and powers off"
./lkvm run -k tests/guests/hello || exit 1

step "four vCPUs brought up with INIT-SIPI-SIPI, then a clean shutdown"
./lkvm run -k tests/guests/smp -c 4 -p cpus=4 || exit 1

step "live migration: a counting guest moves to a second lkvm mid-run, over a sealed stream"
LKVM_DIR=$(mktemp -d /tmp/lkvm-demo.XXXXXX)
export LKVM_DIR
# A port nothing listens on (a connection to it is refused).
for _ in $(seq 50); do
	port=$((10000 + RANDOM % 22000))	# below the ephemeral ports (32768 on)
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break
done
src_pid= dst_pid=
cleanup() {
	[ -n "$src_pid" ] && kill "$src_pid" 2>/dev/null
	[ -n "$dst_pid" ] && kill "$dst_pid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$LKVM_DIR"
}
trap cleanup EXIT

# The stream is sealed (AES-256-GCM) with a key both ends read: 32 random
# bytes that only their owner may read, as lkvm requires.
key="$LKVM_DIR/migration.key"
(umask 077 && head -c 32 /dev/urandom >"$key") || exit 1

# Each VMM's guest output and its own log lines, marked with where they come from.
./lkvm run -k tests/guests/counter --name demo-src -p delay=100000 \
	> >(sed -u 's/^/[source]      /') 2> >(sed -u 's/^/[source]      /' >&2) &
src_pid=$!
./lkvm run --name demo-dst --incoming 127.0.0.1:$port --incoming-key "$key" \
	> >(sed -u 's/^/[destination] /') 2> >(sed -u 's/^/[destination] /' >&2) &
dst_pid=$!
# Let the source count a little and the destination start listening (lkvm
# list shows it as "incoming" meanwhile).
for _ in $(seq 100); do
	[ -S "$LKVM_DIR/demo-src.sock" ] && break
	sleep 0.05
done
sleep 1
./lkvm list
if ! ./lkvm migrate --name demo-src --to 127.0.0.1:$port --key "$key"; then
	echo "demo: migration failed (the source guest keeps running)" >&2
	exit 1
fi
wait "$src_pid"; src_rc=$?; src_pid=
sleep 1
./lkvm stop --name demo-dst >/dev/null
wait "$dst_pid"; dst_rc=$?; dst_pid=
echo
echo "demo: source exited $src_rc after handing over, destination ran on and exited $dst_rc"
[ $src_rc -eq 0 ] && [ $dst_rc -eq 0 ]
