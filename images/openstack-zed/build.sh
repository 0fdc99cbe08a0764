#!/bin/sh
# Builds `openstack-zed`: Debian bookworm with OpenStack Zed (nova 26, glance 25,
# placement 8; libvirt 9.0, QEMU 7.2). See images/openstack/openstack.sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
SUITE=bookworm RELEASE=zed
. "$here/openstack.sh"
