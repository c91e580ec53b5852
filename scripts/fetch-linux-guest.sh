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
# Needs root (apt-get update) unless the package lists are already current; without root it
# uses `sudo -n` (never prompts).
#
# Exit status: 0 done; 1 failure; 2 a required tool (apt-get, apt-cache, dpkg-deb) is missing;
# 3 the package lists cannot be obtained (not root, no passwordless sudo, or the archive has no
# such package); 4 the download was refused. The test fixture (tests/HyperLock.Emulator.Tests/
# Machine/LinuxGuestFetch.cs) reports 2-4 as a skipped test with this script's message.
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
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq || { echo "fetch-linux-guest: apt-get update failed" >&2; exit 4; }
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n apt-get update -qq || { echo "fetch-linux-guest: apt-get update failed" >&2; exit 4; }
    else
        echo "fetch-linux-guest: the package lists lack linux-image-cloud-amd64 and updating them needs root (run as root, or 'sudo apt-get update' once)" >&2
        exit 3
    fi
fi

# The exact kernel package: what the linux-image-cloud-amd64 metapackage currently depends on
# (the newest linux-image-6.1.0-N-cloud-amd64 in the archive).
kpkg="$(apt-cache depends linux-image-cloud-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-cloud-amd64\)$/\1/p' | head -n1)"
if [[ -z "$kpkg" ]]; then
    kpkg="$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null | grep -E '^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' \
            | sort -t- -k5,5n | tail -n1)"
fi
[[ -n "$kpkg" ]] || { echo "fetch-linux-guest: no linux-image-6.1.0-*-cloud-amd64 package found in the package lists" >&2; exit 3; }
kver="${kpkg#linux-image-}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(
    cd "$work"
    # apt-get download drops root privileges to _apt; let it write here.
    chmod 0777 "$work" 2>/dev/null || true
    apt-get download -qq "$kpkg" busybox-static
) || { echo "fetch-linux-guest: apt-get download of $kpkg busybox-static failed" >&2; exit 4; }
mkdir -p "$work/x"
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/x"; done

install -m 0644 "$work/x/boot/vmlinuz-$kver" "$cache/vmlinuz"
install -m 0755 "$work/x/bin/busybox" "$cache/busybox"
echo "$kver" > "$cache/kernel-version"
echo "guest fetched into $cache ($kver)"
