#!/bin/sh
# The OpenStack images (`openstack-zed` on bookworm, `openstack-epoxy` on trixie): one
# root file system for every node role of templates/openstack.yaml. Debian's OpenStack
# packages without their recommends, debconf preseeded so that no package configures a
# database, registers an endpoint or starts a service; every service disabled, for the
# template's cloud-init to start what a node's role runs.
#
# What does not depend on the env is done here, natively, because under TCG every
# minute of work at boot costs ten (DESIGN §4): the databases and their schemas exist
# (the addresses they name are the template's fixed hostnames, the same in every env),
# and the cell mappings point at `controller`.
#
# Sourced by a release's build.sh with SUITE and RELEASE set; OUT and WORK come from
# `vstage image build`.
set -eu
: "${OUT:?}" "${WORK:?}" "${SUITE:?}" "${RELEASE:?}"

need() { command -v "$1" >/dev/null 2>&1 || { echo "missing $1: run 'make setup' ($2)" >&2; exit 1; }; }
need mmdebstrap mmdebstrap
need mkfs.ext4 e2fsprogs
need qemu-img qemu-utils
[ "$(id -u)" = 0 ] || { echo "the OpenStack images are built as root (mmdebstrap root mode, ownership in the image)" >&2; exit 1; }

base=systemd,systemd-sysv,udev,dbus,ifupdown,cloud-init,openssh-server,qemu-guest-agent,iproute2,iputils-ping,sudo,python3,curl,jq,linux-image-cloud-amd64,initramfs-tools,ca-certificates,bridge-utils,busybox-static
# genisoimage writes Nova's config drive: trixie's nova-compute depends on it, bookworm's
# only recommends it (without it every zed server ended in ERROR: "No such file or
# directory: 'genisoimage'").
openstack=nova-api,nova-conductor,nova-scheduler,nova-compute-kvm,placement-api,glance,mariadb-server,rabbitmq-server,libvirt-daemon-system,qemu-system-x86,python3-openstackclient,python3-pymysql,genisoimage

# Answers for every package that would otherwise set up a database (dbconfig-common),
# talk to Keystone or RabbitMQ while installing.
cat > "$WORK/preseed" <<'SEED'
nova-common nova/configure_db boolean false
nova-common nova/configure_rabbit boolean false
nova-common nova/configure_ksat boolean false
nova-api nova/register-endpoint boolean false
nova-api nova/configure_db boolean false
placement-common placement/configure_db boolean false
placement-api placement/register-endpoint boolean false
glance-common glance/configure_db boolean false
glance-common glance/configure_rabbit boolean false
glance-common glance/configure_ksat boolean false
glance-api glance/register-endpoint boolean false
SEED

root=$WORK/root
mmdebstrap --mode=root --variant=apt --format=directory \
  --include="$base,$openstack" \
  --aptopt='APT::Install-Recommends "false"' \
  --essential-hook="chroot \"\$1\" debconf-set-selections < '$WORK/preseed'" \
  --customize-hook="cp '$here/cloud.cfg' \"\$1/etc/cloud/cloud.cfg.d/90-vstage.cfg\"" \
  --customize-hook='echo "/dev/vda / ext4 defaults,errors=remount-ro 0 1" > "$1/etc/fstab"' \
  --customize-hook='rm -f "$1/etc/hostname" "$1/etc/machine-id" && touch "$1/etc/machine-id"' \
  --customize-hook="sh '$here/schemas.sh' \"\$1\"" \
  --customize-hook="sh '$here/tenant.sh' \"\$1\"" \
  "$SUITE" "$root"

# Every OpenStack and infrastructure service off: a node's role starts its own. Also
# off: what a throwaway VM has no use for and TCG makes slow (e2scrub_reap alone took
# 4 min 43 s of a 5 min 48 s first boot of this image). nova-api-metadata is off too:
# its unit Wants mysql and rabbitmq-server, which started them on every node.
for unit in nova-api nova-api-metadata nova-conductor nova-scheduler nova-compute \
    nova-novncproxy nova-serialproxy nova-spicehtml5proxy placement-api glance-api \
    mariadb mysql rabbitmq-server epmd.socket libvirtd virtlogd virtlockd \
    libvirt-guests iscsid.socket open-iscsi apache2 \
    e2scrub_reap.service e2scrub_all.timer apt-daily.timer apt-daily-upgrade.timer \
    man-db.timer fstrim.timer; do
  chroot "$root" systemctl disable "$unit" >/dev/null 2>&1 || true
done

# Under TCG these Python and Erlang services take longer to start than their units
# allow (nova-conductor and nova-compute failed with "a timeout was exceeded" at about
# 6 min after boot): a node's role starts them with --no-block, and readiness gates,
# not systemd's start timeout, say when the deployment is usable.
for unit in nova-api nova-conductor nova-scheduler nova-compute placement-api glance-api \
    mariadb rabbitmq-server libvirtd virtlogd; do
  mkdir -p "$root/etc/systemd/system/$unit.service.d"
  printf '[Service]\nTimeoutStartSec=infinity\n' > "$root/etc/systemd/system/$unit.service.d/vstage-tcg.conf"
done
# Debian's uWSGI apps start a process per core or more; under TCG each one is a minute
# of imports, and two serve a test run.
for ini in "$root"/etc/*/*-uwsgi.ini; do
  [ -f "$ini" ] && sed -i -E 's/^(processes|workers)[[:space:]]*=.*/\1 = 2/' "$ini"
done
# RabbitMQ's guest user, reachable over the env's network: the env is isolated, and a
# user made at boot would have to wait minutes for RabbitMQ under TCG first. The cell
# mapping made at build time names it (schemas.sh).
mkdir -p "$root/etc/rabbitmq"
echo 'loopback_users = none' >> "$root/etc/rabbitmq/rabbitmq.conf"

chroot "$root" dpkg-query -W -f '${Package}=${Version}\n' | LC_ALL=C sort > "$OUT/packages.txt"
echo "$RELEASE" > "$OUT/release"
kernel=$(ls "$root"/boot/vmlinuz-* | head -n 1)
initrd=$(ls "$root"/boot/initrd.img-* | head -n 1)
cp "$kernel" "$OUT/vmlinuz"
cp "$initrd" "$OUT/initrd.img"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

mkfs.ext4 -q -L root -d "$root" "$WORK/root.img" 8G
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
