#!/bin/sh
# Make sure the Debian packages lkvm builds (and, with "test", tests) with
# are installed.  As root, install what is missing; otherwise print the
# exact command to run as root, and fail.
#   scripts/deps.sh         what make demo needs: build lkvm and the guests
#   scripts/deps.sh test    what make check needs besides: libFuzzer (clang),
#                           network namespaces (iproute2), the TCP relay and
#                           checksum helper (python3), setpriv (util-linux)
set -u
PKGS="gcc make libc6-dev linux-libc-dev libfdt-dev zlib1g-dev libcap-dev libssl-dev binutils"
[ "${1:-}" = test ] && PKGS="$PKGS clang libclang-rt-14-dev iproute2 python3 util-linux"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	echo "deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null &&
		apt-get install -y -qq $missing >/dev/null ||
		{ echo "deps: apt-get install failed for:$missing" >&2; exit 1; }
	exit 0
fi
echo "deps: missing Debian packages:$missing" >&2
echo "deps: as root, run: apt-get update && apt-get install -y$missing" >&2
exit 1
