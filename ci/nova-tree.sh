#!/usr/bin/env bash
# A Nova tree for the branch-code checks: the image's own python3-nova (the exact version
# its packages.txt names) unpacked as a source tree, and a visible change made in it.
#   ci/nova-tree.sh fetch RELEASE DIR   DIR/nova: the package of openstack-RELEASE's Nova
#   ci/nova-tree.sh mark DIR CHANGE     the API's responses carry X-Vstage-Branch: CHANGE
# Zed's Nova comes from this host's bookworm sources; Epoxy's from trixie, read through a
# temporary apt configuration of its own (the host's sources are left alone).
set -euo pipefail
vstage=${VSTAGE:-vstage}

fetch() {
  local release=$1 dir=$2 hash want work suite
  "$vstage" image build "openstack-$release" >/dev/null
  hash=$("$vstage" image ls -o json | python3 -c 'import json, sys
print(next(i["hash"] for i in json.load(sys.stdin) if i["name"] == sys.argv[1] and i["current"]))' "openstack-$release")
  want=$(sed -n 's/^python3-nova=//p' "${VSTAGE_CACHE:-$HOME/.cache/vstage}/images/openstack-$release-$hash/packages.txt")
  [ -n "$want" ] || { echo "openstack-$release's packages.txt names no python3-nova" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  case $release in
    zed) (cd "$work" && apt-get download -q "python3-nova=$want" >/dev/null) ;;
    epoxy)
      suite=trixie
      mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
      printf 'deb http://deb.debian.org/debian %s main\ndeb http://deb.debian.org/debian %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
        "$suite" "$suite" "$suite" > "$work/sources.list"
      local o=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Architecture=amd64 -o APT::Sandbox::User=root)
      apt-get "${o[@]}" update -q >/dev/null
      (cd "$work" && apt-get "${o[@]}" download -q "python3-nova=$want" >/dev/null) ;;
    *) echo "release $release: zed or epoxy" >&2; exit 2 ;;
  esac
  dpkg-deb -x "$work"/python3-nova_*.deb "$work/deb"
  mkdir -p "$dir"
  rm -rf "$dir/nova"
  cp -a "$work/deb/usr/lib/python3/dist-packages/nova" "$dir/"
}

mark() {
  python3 - "$1/nova/api/openstack/wsgi.py" "$2" <<'PY'
import re, sys
path, change = sys.argv[1], sys.argv[2]
s = open(path).read()
s = re.sub(r"\n            response.headers\['X-Vstage-Branch'\] = '[^']*'", "", s)
anchor = "                response.headers.add('Vary', LEGACY_API_VERSION_REQUEST_HEADER)\n"
assert s.count(anchor) == 1, "nova/api/openstack/wsgi.py changed upstream"
s = s.replace(anchor, anchor + f"            response.headers['X-Vstage-Branch'] = '{change}'\n")
open(path, "w").write(s)
PY
}

case ${1:-} in
  fetch) fetch "${2:?release}" "${3:?dir}" ;;
  mark) mark "${2:?dir}" "${3:?change}" ;;
  *) echo "usage: $0 fetch RELEASE DIR | mark DIR CHANGE" >&2; exit 2 ;;
esac
