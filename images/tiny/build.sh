#!/bin/sh
# Builds the `tiny` image: Debian's cloud kernel plus a busybox initramfs with the
# QEMU guest agent. Run by `vstage image build tiny` with OUT (an empty directory that
# vstage renames into the cache only when this script succeeds) and WORK (scratch).
# Inputs come from Debian's packages only: the kernel is downloaded and unpacked,
# never installed; busybox-static and qemu-guest-agent are the host's (make setup).
set -eu
: "${OUT:?}" "${WORK:?}"
here=$(cd "$(dirname "$0")" && pwd)

need() { command -v "$1" >/dev/null 2>&1 || { echo "missing $1: run 'make setup' ($2)" >&2; exit 1; }; }
need apt-get apt
need dpkg-deb dpkg
need cpio cpio
need gzip gzip
busybox=/bin/busybox
[ -x "$busybox" ] && "$busybox" --list | grep -qx modprobe || { echo "missing busybox-static: run 'make setup'" >&2; exit 1; }
qga=/usr/sbin/qemu-ga
[ -x "$qga" ] || { echo "missing qemu-guest-agent: run 'make setup'" >&2; exit 1; }

# 1. Kernel: the concrete package behind the linux-image-cloud-amd64 meta package.
cd "$WORK"
kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
[ -n "$kpkg" ] || { echo "apt-cache knows no linux-image-cloud-amd64: run 'apt-get update'" >&2; exit 1; }
apt-get download "$kpkg" >/dev/null 2>&1 || apt-get download "$kpkg"
dpkg-deb -x ./"$kpkg"_*.deb kernel
kver=$(ls kernel/lib/modules)
moddir=kernel/lib/modules/$kver
cp kernel/boot/vmlinuz-"$kver" "$OUT/vmlinuz"

# 2. Initramfs tree.
root=$WORK/root
mkdir -p "$root/bin" "$root/sbin" "$root/etc" "$root/lib/modules" "$root/usr/sbin" \
         "$root/proc" "$root/sys" "$root/dev" "$root/run" "$root/tmp" "$root/var"
cp "$busybox" "$root/bin/busybox"
cp "$here/init" "$root/init"
chmod 0755 "$root/init"
# qemu-ga runs `shutdown -P +0` for guest-shutdown; busybox has no `shutdown`.
printf '#!/bin/sh\nexec /bin/busybox poweroff -f\n' > "$root/sbin/shutdown"
chmod 0755 "$root/sbin/shutdown"

# qemu-ga with the libraries ldd lists (and the dynamic loader).
cp "$qga" "$root/usr/sbin/qemu-ga"
ldd "$qga" | awk '/=>/ {print $3} /^\t\/lib64/ {print $1}' | while read -r lib; do
  [ -n "$lib" ] || continue
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

# Kernel modules: the dependency closure of what init loads, in load order, read from
# each module's own `depends=` (the package ships no modules.dep).
modpath() { find "$moddir/kernel" -name "$1.ko" | head -n 1; }
deps() { tr '\0' '\n' < "$(modpath "$1")" | sed -n 's/^depends=//p' | tr ',' ' '; }
: > "$WORK/order"
visit() {
  grep -qx "$1" "$WORK/order" && return 0
  for d in $(deps "$1"); do visit "$d"; done
  echo "$1" >> "$WORK/order"
}
for m in virtio_pci virtio_net virtio_console qemu_fw_cfg button evdev virtiofs; do
  [ -n "$(modpath "$m")" ] || { echo "module $m not in $kpkg" >&2; exit 1; }
  visit "$m"
done
while read -r m; do cp "$(modpath "$m")" "$root/lib/modules/$m.ko"; done < "$WORK/order"
cp "$WORK/order" "$root/lib/modules/load"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9 -n) > "$OUT/initrd.img"

# 3. What was built, from which package versions.
kver_pkg=$(dpkg-deb -f ./"$kpkg"_*.deb Version)
bb_pkg=$(dpkg-query -W -f '${Version}' busybox-static)
qga_pkg=$(dpkg-query -W -f '${Version}' qemu-guest-agent)
printf '%s=%s\n' "$kpkg" "$kver_pkg" busybox-static "$bb_pkg" qemu-guest-agent "$qga_pkg" \
  | LC_ALL=C sort > "$OUT/packages.txt"
# no_timer_check: under TCG on a loaded host the kernel's IO-APIC timer check can fail
# and panic the guest ("IO-APIC + timer doesn't work!"), seen with 16 guests on 2 cores.
cat > "$OUT/image.json" <<JSON
{
  "kernel": "vmlinuz",
  "initrd": "initrd.img",
  "append": "console=ttyS0 quiet panic=-1 no_timer_check",
  "agent": true
}
JSON
