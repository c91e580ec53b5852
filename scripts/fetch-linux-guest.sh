#!/usr/bin/env bash
# Fetches the Linux guest used by the Linux boot test: Debian 12's cloud kernel
# (linux-image-6.1.0-*-cloud-amd64) and busybox-static, with `apt-get download` from the
# Debian registry, and extracts them with dpkg-deb into a cache directory.
#
# Usage: scripts/fetch-linux-guest.sh [CACHE_DIR]      (default: <repo>/.cache/guest)
#
# Result (idempotent: a second run with the files present does nothing):
#   CACHE_DIR/vmlinuz          the kernel (bzImage)
#   CACHE_DIR/busybox          the static busybox binary
#   CACHE_DIR/kernel-version   the kernel package's version string (e.g. 6.1.0-37-cloud-amd64)
# Needs root (apt-get update) unless the package lists are already current.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${1:-$repo/.cache/guest}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"

if [[ -s "$cache/vmlinuz" && -x "$cache/busybox" && -s "$cache/kernel-version" ]]; then
    echo "guest already in $cache ($(cat "$cache/kernel-version"))"
    exit 0
fi

need() { command -v "$1" >/dev/null 2>&1 || { echo "fetch-linux-guest: $1 is required" >&2; exit 2; }; }
need apt-get
need apt-cache
need dpkg-deb

# Package lists: refresh when the kernel metapackage is unknown (fresh machine) or when asked.
if [[ "${FETCH_GUEST_UPDATE:-0}" == 1 ]] || ! apt-cache show linux-image-cloud-amd64 >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]]; then apt-get update -qq; else sudo apt-get update -qq; fi
fi

# The exact kernel package: what the linux-image-cloud-amd64 metapackage currently depends on
# (the newest linux-image-6.1.0-N-cloud-amd64 in the archive).
kpkg="$(apt-cache depends linux-image-cloud-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-cloud-amd64\)$/\1/p' | head -n1)"
if [[ -z "$kpkg" ]]; then
    kpkg="$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null | grep -E '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' \
            | sort -t- -k5,5n | tail -n1)"
fi
[[ -n "$kpkg" ]] || { echo "fetch-linux-guest: no linux-image-6.1.0-*-cloud-amd64 package found" >&2; exit 1; }
kver="${kpkg#linux-image-}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(
    cd "$work"
    # apt-get download drops root privileges to _apt; let it write here.
    chmod 0777 "$work" 2>/dev/null || true
    apt-get download -qq "$kpkg" busybox-static
)
mkdir -p "$work/x"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done

install -m 0644 "$work/x/boot/vmlinuz-$kver" "$cache/vmlinuz"
install -m 0755 "$work/x/bin/busybox" "$cache/busybox"
echo "$kver" > "$cache/kernel-version"
echo "guest fetched into $cache ($kver)"
