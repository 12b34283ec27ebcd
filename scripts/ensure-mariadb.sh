#!/usr/bin/env bash
# Start the local MariaDB when it is installed but not running, so the SQL
# connector tests against it run. Does nothing where MariaDB is not installed:
# those tests then skip with a reason (or fail, under CI=true).
set -u
command -v mariadb-admin >/dev/null 2>&1 || exit 0
[ -x /etc/init.d/mariadb ] || exit 0
if mariadb-admin --user=root --host=127.0.0.1 --connect-timeout=2 ping >/dev/null 2>&1; then
  exit 0
fi
echo "Starting MariaDB ..."
/etc/init.d/mariadb start >/dev/null 2>&1 || {
  echo "Could not start MariaDB; its tests will skip (or fail under CI=true)." >&2
  exit 0
}
for _ in $(seq 1 30); do
  mariadb-admin --user=root --host=127.0.0.1 --connect-timeout=2 ping >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "MariaDB did not become ready in 30 s." >&2
