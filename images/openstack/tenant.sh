#!/bin/sh
# The tenant test image in the OpenStack image at ROOT ($1), for the env to register in
# Glance: the image's own kernel (AKI), a busybox initramfs with tenant-init (ARI) and a
# 1 MiB empty raw root disk, in /var/lib/vstage/tenant/. Nova's libvirt driver boots
# such a server with the kernel and initramfs directly, so nothing needs a bootloader.
set -eu
root=${1:?}
here=$(cd "$(dirname "$0")" && pwd)
out=$root/var/lib/vstage/tenant
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
kver=$(ls "$root/lib/modules" | head -n 1)
mkdir -p "$out" "$tmp/bin" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/lib/modules"
cp "$root/bin/busybox" "$tmp/bin/busybox"
cp "$here/tenant-init" "$tmp/init"
chmod 0755 "$tmp/init"
# Modules in load order (modprobe resolves the dependencies), for the NIC, the disks
# and the config drive (ISO 9660 on a CD-ROM, or FAT on a disk).
: > "$tmp/lib/modules/load"
for m in virtio_pci virtio_blk virtio_net ata_piix ahci sr_mod iso9660 vfat nls_cp437 nls_utf8 nls_ascii; do
  chroot "$root" modprobe -S "$kver" --show-depends "$m" 2>/dev/null | sed -n 's/^insmod \([^ ]*\).*/\1/p'
done | awk '!seen[$0]++' | while read -r path; do
  name=$(basename "$path")
  cp "$root$path" "$tmp/lib/modules/$name"
  echo "/lib/modules/$name" >> "$tmp/lib/modules/load"
done
(cd "$tmp" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9 -n) > "$out/initrd.img"
cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz"
truncate -s 1M "$out/disk.raw"
echo "$kver" > "$out/kernel-version"
