#!/bin/sh
# Creates the OpenStack databases and their schemas in the image at ROOT ($1), with a
# MariaDB started in the chroot for the duration: nova_api, nova_cell0 and the cell1
# mapping, nova, placement and glance (with its metadata definitions). Only the controller's own services use these
# databases (over 127.0.0.1); the cell mapping's message queue is `controller`, the
# template's hostname for that node, the same in every env.
set -eu
root=${1:?}
pw=vstage
run() { chroot "$root" "$@"; }

mkdir -p "$root/run/mysqld"
run chown mysql:mysql /run/mysqld
run /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 --skip-log-bin \
  --socket=/run/mysqld/mysqld.sock >"$root/tmp/mariadbd.log" 2>&1 &
db_pid=$!
stop_db() {
  run mariadb-admin --socket=/run/mysqld/mysqld.sock shutdown 2>/dev/null || kill "$db_pid" 2>/dev/null || true
  wait "$db_pid" 2>/dev/null || true
}
trap stop_db EXIT
tries=0
until run mariadb --socket=/run/mysqld/mysqld.sock -e 'select 1' >/dev/null 2>&1; do
  tries=$((tries + 1))
  [ "$tries" -lt 120 ] || { cat "$root/tmp/mariadbd.log" >&2; echo "mariadb did not start" >&2; exit 1; }
  sleep 0.5
done

run mariadb --socket=/run/mysqld/mysqld.sock <<SQL
CREATE DATABASE nova_api; CREATE DATABASE nova; CREATE DATABASE nova_cell0;
CREATE DATABASE placement; CREATE DATABASE glance;
CREATE USER 'nova'@'localhost' IDENTIFIED BY '$pw';
CREATE USER 'nova'@'127.0.0.1' IDENTIFIED BY '$pw';
CREATE USER 'placement'@'127.0.0.1' IDENTIFIED BY '$pw';
CREATE USER 'glance'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL ON nova_api.* TO 'nova'@'127.0.0.1'; GRANT ALL ON nova.* TO 'nova'@'127.0.0.1';
GRANT ALL ON nova_cell0.* TO 'nova'@'127.0.0.1';
GRANT ALL ON nova_api.* TO 'nova'@'localhost'; GRANT ALL ON nova.* TO 'nova'@'localhost';
GRANT ALL ON nova_cell0.* TO 'nova'@'localhost';
GRANT ALL ON placement.* TO 'placement'@'127.0.0.1';
GRANT ALL ON glance.* TO 'glance'@'127.0.0.1';
SQL

db() { echo "mysql+pymysql://$1:$pw@127.0.0.1/$2"; }
mq="rabbit://guest:guest@controller:5672/"
cat > "$root/tmp/nova-schema.conf" <<CONF
[DEFAULT]
transport_url = $mq
[api_database]
connection = $(db nova nova_api)
[database]
connection = $(db nova nova)
CONF
cat > "$root/tmp/placement-schema.conf" <<CONF
[placement_database]
connection = $(db placement placement)
CONF
cat > "$root/tmp/glance-schema.conf" <<CONF
[database]
connection = $(db glance glance)
CONF

nova() { run nova-manage --config-file /tmp/nova-schema.conf "$@"; }
nova api_db sync
nova cell_v2 map_cell0 --database_connection "$(db nova nova_cell0)"
nova cell_v2 create_cell --name cell1 --database_connection "$(db nova nova)" --transport-url "$mq"
nova db sync
run placement-manage --config-file /tmp/placement-schema.conf db sync
run glance-manage --config-file /tmp/glance-schema.conf db_sync
# Glance's metadata definitions (what Horizon and Tempest's metadefs tests list), as
# `glance-manage db load_metadefs` would load them on a deployed Glance; Debian ships
# them outside Glance's default path.
run glance-manage --config-file /tmp/glance-schema.conf db load_metadefs \
  --path /usr/share/glance-common/metadefs

rm -f "$root"/tmp/*-schema.conf "$root/tmp/mariadbd.log"
# Files the manage commands wrote as root, for services that run as their own users.
run chown -R nova:nova /var/log/nova 2>/dev/null || true
run chown -R glance:glance /var/log/glance 2>/dev/null || true
run chown -R placement:placement /var/log/placement 2>/dev/null || true
