#!/usr/bin/env bash
# Builds the stock-KVM baseline (issue 14 item 7): an initramfs for the bare machine in which
# Debian's cloud kernel loads Debian's kvm_intel and QEMU from Debian's package
# (qemu-system-x86_64-microvm, -M microvm -enable-kvm) boots the same kernel as a KVM guest that
# runs scripts/linux-workload.sh and powers off.
#
# Usage: scripts/build-stock-kvm-initrd.sh [OUT_DIR]     (default: <repo>/.cache/stock-kvm)
#
# Uses the guest of scripts/fetch-linux-guest.sh (.cache/guest, or $HYPERLOCK_GUEST_DIR; fetched
# first when missing) and fetches with `apt-get download`: the linux-image package of the same
# version (for kvm.ko, kvm-intel.ko and their dependencies), qemu-system-x86, qemu-system-data
# (Debian's microvm firmware: bios-microvm.bin is qboot.rom there, and the linuxboot_dma.bin
# option ROM that -kernel uses) and the library packages QEMU's binary needs, resolved from its ELF NEEDED
# entries (readelf) against the extracted packages, following package dependencies until every
# library is found. The .debs stay in OUT_DIR/debs.
#
# Result (idempotent: nothing is done when OUT_DIR/stamp matches the inputs):
#   OUT_DIR/vmlinuz      the host kernel (a copy of the guest's vmlinuz)
#   OUT_DIR/rootfs/      the host's initramfs tree: /init, busybox, kvm modules, QEMU with its
#                        libraries and firmware, /guest/vmlinuz and /guest/initrd.cpio (the KVM
#                        guest's initramfs: busybox, /init, /workload.sh)
#   OUT_DIR/append       the host kernel's command line
#   OUT_DIR/versions     kernel, QEMU and library package versions
# Run it with:  hyperlock run --stock-kvm OUT_DIR   (or --kernel OUT_DIR/vmlinuz --initrd-dir
#               OUT_DIR/rootfs --append "$(cat OUT_DIR/append)")
#
# Exit status as scripts/fetch-linux-guest.sh: 0 done; 1 failure; 2 a required tool (apt-get,
# apt-cache, dpkg-deb, readelf) is missing; 3 the package lists lack a package; 4 a download
# was refused.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$repo/.cache/stock-kvm}"
guest="${HYPERLOCK_GUEST_DIR:-$repo/.cache/guest}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

say() { echo "build-stock-kvm-initrd: $*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { say "$1 is required"; exit 2; }; }
need apt-get
need apt-cache
need dpkg-deb
need readelf

if [[ ! -s "$guest/vmlinuz" || ! -x "$guest/busybox" || ! -s "$guest/kernel-version" ]]; then
    if [[ -n "${HYPERLOCK_GUEST_DIR:-}" ]]; then
        say "HYPERLOCK_GUEST_DIR=$guest lacks vmlinuz, busybox or kernel-version"; exit 1
    fi
    bash "$repo/scripts/fetch-linux-guest.sh" "$guest" >&2
fi
kver="$(cat "$guest/kernel-version")"
workload="$repo/scripts/linux-workload.sh"

# The KVM guest's command line is the bare benchmark's; the host's keeps kernel messages quiet
# so that the console shows the KVM guest's output.
guest_append="console=ttyS0 reboot=k panic=-1 nokaslr"
host_append="console=ttyS0 reboot=k panic=-1 nokaslr"
guest_memory="128M"

stamp_text="$(printf '%s\n' "$kver" "$guest_append" "$host_append" "$guest_memory"; cat "$workload" "${BASH_SOURCE[0]}")"
stamp_sum="$(printf '%s' "$stamp_text" | md5sum | cut -d' ' -f1)"
if [[ -f "$out/stamp" && "$(cat "$out/stamp")" == "$stamp_sum" && -x "$out/rootfs/init" && -s "$out/vmlinuz" ]]; then
    echo "stock-KVM initramfs already in $out ($kver)"
    exit 0
fi

debs="$out/debs"
mkdir -p "$debs"
chmod 0777 "$debs" 2>/dev/null || true   # apt-get download drops root privileges to _apt

# download PKG...: fetches the packages missing from $debs (exact names; the candidate version).
download() {
    local missing=() p
    for p in "$@"; do
        compgen -G "$debs/${p}_*.deb" >/dev/null || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    for p in "${missing[@]}"; do
        apt-cache show "$p" >/dev/null 2>&1 || { say "the package lists have no $p (run 'apt-get update' as root)"; exit 3; }
    done
    (cd "$debs" && apt-get download -qq "${missing[@]}") || { say "apt-get download of ${missing[*]} failed"; exit 4; }
}
deb_of() { compgen -G "$debs/${1}_*.deb" | head -n1; }
# lib_depends PKG: the package's Depends that carry shared libraries (lib*, zlib1g).
lib_depends() {
    apt-cache depends "$1" 2>/dev/null | sed -n 's/^ *Depends: \([^<> ]*\)$/\1/p' | grep -E '^(lib|zlib1g$)' | sort -u || true
}

download "linux-image-$kver" qemu-system-x86 qemu-system-data

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pool="$work/pool"            # one directory per extracted package
mkdir -p "$pool"
extract() { [[ -d "$pool/$1" ]] || { mkdir -p "$pool/$1"; dpkg-deb -x "$(deb_of "$1")" "$pool/$1"; }; }
extract qemu-system-x86
extract qemu-system-data
extract "linux-image-$kver"

qemu="$pool/qemu-system-x86/usr/bin/qemu-system-x86_64-microvm"
[[ -x "$qemu" ]] || { say "qemu-system-x86 has no usr/bin/qemu-system-x86_64-microvm"; exit 1; }
firmware="$pool/qemu-system-data/usr/share/qemu"
for f in bios-microvm.bin linuxboot_dma.bin; do
    [[ -s "$firmware/$f" ]] || { say "qemu-system-data has no usr/share/qemu/$f"; exit 1; }
done

# --- QEMU's shared libraries: the closure of DT_NEEDED, each soname found in an extracted package.
needed() { readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
# find_lib SONAME: the path of SONAME in an extracted library package (multiarch directories).
find_lib() {
    local d
    for d in "$pool"/*/lib/x86_64-linux-gnu "$pool"/*/usr/lib/x86_64-linux-gnu; do
        [[ -e "$d/$1" ]] && { echo "$d/$1"; return 0; }
    done
    return 1
}
declare -A libpath=()
frontier=(libc6 $(lib_depends qemu-system-x86))
searched=()
for round in 1 2 3 4 5; do
    download "${frontier[@]}"
    for p in "${frontier[@]}"; do extract "$p"; done
    searched+=("${frontier[@]}")
    todo=("$qemu"); unresolved=()
    declare -A seen=()
    while ((${#todo[@]})); do
        elf="${todo[0]}"; todo=("${todo[@]:1}")
        for so in $(needed "$elf"); do
            [[ -n "${seen[$so]:-}" ]] && continue
            seen[$so]=1
            if path="$(find_lib "$so")"; then libpath[$so]="$path"; todo+=("$(readlink -f "$path")")
            else unresolved+=("$so"); fi
        done
    done
    unset seen
    ((${#unresolved[@]} == 0)) && break
    # Not found yet: look in the library dependencies of the packages whose libraries QEMU loads
    # (a missing soname is a dependency of a library found so far), else of all searched so far.
    owners=()
    for path in "${libpath[@]}"; do
        p="${path#"$pool"/}"; p="${p%%/*}"
        [[ " ${owners[*]} " == *" $p "* ]] || owners+=("$p")
    done
    next=()
    for p in "${owners[@]}"; do
        for q in $(lib_depends "$p"); do
            [[ " ${searched[*]} ${next[*]} " == *" $q "* ]] || next+=("$q")
        done
    done
    ((${#next[@]})) || for p in "${searched[@]}"; do
        for q in $(lib_depends "$p"); do
            [[ " ${searched[*]} ${next[*]} " == *" $q "* ]] || next+=("$q")
        done
    done
    ((${#next[@]})) || { say "no package provides ${unresolved[*]}"; exit 1; }
    frontier=("${next[@]}")
done
((${#unresolved[@]} == 0)) || { say "unresolved libraries of QEMU: ${unresolved[*]}"; exit 1; }
loader="$(find_lib ld-linux-x86-64.so.2)" || { say "libc6 has no ld-linux-x86-64.so.2"; exit 1; }

# --- kvm-intel.ko and the modules it depends on (modinfo's depends=, read from .modinfo).
moddir="$pool/linux-image-$kver/lib/modules/$kver"
modpath() { find "$moddir/kernel" -name "$1.ko" -o -name "${1//_/-}.ko" | head -n1; }
moddeps() { tr '\0' '\n' < "$1" | sed -n 's/^depends=//p' | tr ',' '\n' | sed '/^$/d'; }
modules=()
add_module() {
    local ko dep
    ko="$(modpath "$1")"; [[ -n "$ko" ]] || { say "linux-image-$kver has no module $1"; exit 1; }
    for dep in $(moddeps "$ko"); do add_module "$dep"; done
    [[ " ${modules[*]} " == *" $(basename "$ko") "* ]] || modules+=("$(basename "$ko")")
    install -D -m 0644 "$ko" "$stage/lib/modules/$(basename "$ko")"
}

# --- The KVM guest's initramfs (busybox cpio: no device nodes, so its /init mounts devtmpfs).
stage="$work/rootfs"
inner="$work/inner"
mkdir -p "$inner/bin" "$inner/proc" "$inner/sys" "$inner/dev" "$inner/tmp"
chmod 1777 "$inner/tmp"
install -m 0755 "$guest/busybox" "$inner/bin/busybox"
install -m 0644 "$workload" "$inner/workload.sh"
cat > "$inner/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
dmesg -n 1
echo "=== kvm guest start ==="
echo "kernel $(uname -r)"
echo "--- workload"
sh /workload.sh
echo "=== kvm guest end ==="
poweroff -f
EOF
chmod 0755 "$inner/init"

mkdir -p "$stage/bin" "$stage/usr/bin" "$stage/guest" "$stage/proc" "$stage/sys" "$stage/dev" "$stage/tmp" \
         "$stage/lib64" "$stage/lib/x86_64-linux-gnu" "$stage/usr/share/qemu"
chmod 1777 "$stage/tmp"
(cd "$inner" && find . -mindepth 1 | LC_ALL=C sort | "$guest/busybox" cpio -o -H newc 2>/dev/null) > "$stage/guest/initrd.cpio"
install -m 0644 "$guest/vmlinuz" "$stage/guest/vmlinuz"
install -m 0755 "$guest/busybox" "$stage/bin/busybox"
add_module kvm_intel
install -m 0755 "$qemu" "$stage/usr/bin/qemu-system-x86_64-microvm"
for f in bios-microvm.bin linuxboot_dma.bin; do install -m 0644 "$(readlink -f "$firmware/$f")" "$stage/usr/share/qemu/$f"; done
install -m 0755 "$(readlink -f "$loader")" "$stage/lib64/ld-linux-x86-64.so.2"
for so in "${!libpath[@]}"; do
    [[ "$so" == ld-linux-x86-64.so.2 ]] && continue   # the interpreter, in /lib64
    install -m 0755 "$(readlink -f "${libpath[$so]}")" "$stage/lib/x86_64-linux-gnu/$so"
done

insmods=""
for m in "${modules[@]}"; do insmods+="insmod /lib/modules/$m"$'\n'; done
cat > "$stage/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
dmesg -n 1
echo "=== stock-kvm host start ==="
${insmods}echo "--- qemu"
qemu-system-x86_64-microvm -M microvm -enable-kvm -cpu host -m $guest_memory -smp 1 \\
    -nodefaults -no-user-config -display none -serial stdio -no-reboot -L /usr/share/qemu \\
    -kernel /guest/vmlinuz -initrd /guest/initrd.cpio -append "$guest_append" </dev/null
status=\$?
# On failure, the kernel's side of the story (KVM's messages are kept off the console).
[ \$status -eq 0 ] || dmesg | grep -i -E -A3 'kvm|vmx' | tail -n 30
echo "=== stock-kvm host end (qemu status \$status) ==="
poweroff -f
EOF
chmod 0755 "$stage/init"

{
    echo "kernel linux-image-$kver"
    for d in "$debs"/*.deb; do dpkg-deb -f "$d" Package Version | paste -sd' '; done
} > "$work/versions"

rm -rf "$out/rootfs"
mv "$stage" "$out/rootfs"
install -m 0644 "$guest/vmlinuz" "$out/vmlinuz"
echo "$host_append" > "$out/append"
mv "$work/versions" "$out/versions"
echo "$stamp_sum" > "$out/stamp"
echo "stock-KVM initramfs built in $out ($kver, $(du -sh "$out/rootfs" | cut -f1))"
