#!/bin/sh
# Baseline for `make bench`: the same tiny guests vstage boots (same kernel, initrd,
# seed, devices and memory), started by a plain script and waited for by polling their
# serial logs for the init's ready line. No supervisor, switch, journal or agent round trip.
#   baseline.sh KERNEL INITRD COUNT WORKDIR  -> prints milliseconds to all-ready
set -eu
kernel=$1 initrd=$2 count=$3 work=$4
mkdir -p "$work"
start=$(date +%s%N)
pids=""
i=1
while [ "$i" -le "$count" ]; do
  printf 'hostname n%s\nnic 52:54:00:00:00:%02x 10.0.0.%s/24\n' "$i" "$i" "$((10 + i))" > "$work/seed$i"
  : > "$work/serial$i"
  qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot \
    -machine q35 -accel tcg -m 256 -smp 1 \
    -kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 quiet panic=-1" \
    -serial "file:$work/serial$i" -fw_cfg "name=opt/vstage/seed,file=$work/seed$i" \
    -chardev "socket,id=qga,server=on,wait=off,path=$work/qga$i" \
    -device virtio-serial-pci -device virtserialport,chardev=qga,name=org.qemu.guest_agent.0 \
    -netdev "dgram,id=nic0,local.type=unix,local.path=$work/nic$i,remote.type=unix,remote.path=$work/sw" \
    -device "virtio-net-pci,netdev=nic0,mac=52:54:00:00:00:$(printf %02x "$i")" &
  pids="$pids $!"
  i=$((i + 1))
done
ready=0
deadline=$(( $(date +%s) + 180 ))
while [ "$ready" -lt "$count" ] && [ "$(date +%s)" -lt "$deadline" ]; do
  ready=0
  i=1
  while [ "$i" -le "$count" ]; do
    grep -q vstage-ready "$work/serial$i" && ready=$((ready + 1))
    i=$((i + 1))
  done
  sleep 0.02
done
end=$(date +%s%N)
kill $pids 2>/dev/null || true
wait 2>/dev/null || true
[ "$ready" -eq "$count" ] || { echo "baseline: only $ready of $count ready" >&2; exit 1; }
echo $(( (end - start) / 1000000 ))
