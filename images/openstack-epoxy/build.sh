#!/bin/sh
# Builds `openstack-epoxy`: Debian trixie with OpenStack 2025.1 Epoxy (nova 31, glance
# 30, placement 13; libvirt 11.3, QEMU 10.0). See images/openstack/openstack.sh.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
SUITE=trixie RELEASE=epoxy
. "$here/openstack.sh"
