#!/bin/sh
# Builds the `debian-12` image: a Debian 12 (bookworm) root file system from Debian's
# packages, as a qcow2 of one ext4 file system (no partition table) booted directly
# with the kernel and initrd taken from the image itself. Run by `vstage image build`
# with OUT (renamed into the cache only if this succeeds) and WORK (scratch).
set -eu
: "${OUT:?}" "${WORK:?}"
here=$(cd "$(dirname "$0")" && pwd)

need() { command -v "$1" >/dev/null 2>&1 || { echo "missing $1: run 'make setup' ($2)" >&2; exit 1; }; }
need mmdebstrap mmdebstrap
need mkfs.ext4 e2fsprogs
need qemu-img qemu-utils
[ "$(id -u)" = 0 ] || { echo "debian-12 is built as root (mmdebstrap root mode, file ownership in the image)" >&2; exit 1; }

packages=systemd,systemd-sysv,udev,dbus,ifupdown,cloud-init,openssh-server,qemu-guest-agent,iproute2,iputils-ping,sudo,python3,linux-image-cloud-amd64,initramfs-tools,ca-certificates
root=$WORK/root
mmdebstrap --mode=root --variant=apt --format=directory --include="$packages" \
  --customize-hook="cp '$here/cloud.cfg' \"\$1/etc/cloud/cloud.cfg.d/90-vstage.cfg\"" \
  --customize-hook='echo "/dev/vda / ext4 defaults,errors=remount-ro 0 1" > "$1/etc/fstab"' \
  --customize-hook='rm -f "$1/etc/hostname" "$1/etc/machine-id" && touch "$1/etc/machine-id"' \
  bookworm "$root"

chroot "$root" dpkg-query -W -f '${Package}=${Version}\n' | LC_ALL=C sort > "$OUT/packages.txt"
kernel=$(ls "$root"/boot/vmlinuz-* | head -n 1)
initrd=$(ls "$root"/boot/initrd.img-* | head -n 1)
cp "$kernel" "$OUT/vmlinuz"
cp "$initrd" "$OUT/initrd.img"
# Clear apt's caches from the image; keep everything else.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

mkfs.ext4 -q -L root -d "$root" "$WORK/root.img" 3G
qemu-img convert -f raw -O qcow2 "$WORK/root.img" "$OUT/disk.qcow2"

# no_timer_check: see images/tiny/build.sh (the IO-APIC timer check fails under load).
cat > "$OUT/image.json" <<JSON
{
  "kernel": "vmlinuz",
  "initrd": "initrd.img",
  "disk": "disk.qcow2",
  "append": "root=/dev/vda rw console=ttyS0 no_timer_check",
  "agent": true,
  "cloud_init": true
}
JSON
