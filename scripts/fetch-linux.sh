#!/bin/sh
# Fetch the Debian cloud kernel the bzImage tests boot and inspect, into
# $O/linux (default build/linux): vmlinuz there is the bzImage.  The
# package linux-image-cloud-amd64 is a metapackage, so the real image
# package is its dependency.  Prints one line saying why on failure.
set -u
cd "$(dirname "$0")/.."
dir=${O:-build}/linux
[ -s "$dir/vmlinuz" ] && exit 0
mkdir -p "$dir" || exit 1

meta=linux-image-cloud-amd64
command -v apt-get >/dev/null 2>&1 || { echo "fetch-linux: apt-get not available"; exit 1; }

resolve() {
	apt-cache depends "$meta" 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1
}
pkg=$(resolve)
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
	apt-get update -qq >/dev/null 2>&1
	pkg=$(resolve)
fi
[ -n "$pkg" ] || { echo "fetch-linux: apt does not know $meta (no Debian package lists?)"; exit 1; }

tmp=$(mktemp -d "$dir/fetch.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
# apt drops privileges to _apt for downloads; let it write here.
chmod 777 "$tmp" 2>/dev/null
if ! (cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1); then
	echo "fetch-linux: apt-get download $pkg failed (offline?)"
	exit 1
fi
dpkg-deb -x "$tmp"/*.deb "$tmp/x" || { echo "fetch-linux: cannot unpack $pkg"; exit 1; }
img=$(ls "$tmp"/x/boot/vmlinuz-* 2>/dev/null | head -n 1)
[ -n "$img" ] || { echo "fetch-linux: $pkg holds no /boot/vmlinuz-*"; exit 1; }
cp "$img" "$dir/vmlinuz.tmp" && mv "$dir/vmlinuz.tmp" "$dir/vmlinuz" &&
	echo "$pkg" > "$dir/package"
