#!/usr/bin/env bash
# Start the local PostgreSQL cluster when it is installed but not running, so the
# PostgreSQL tests run. Does nothing where PostgreSQL is not installed: those
# tests then skip with a reason (or fail, under CI=true).
set -u
command -v pg_ctlcluster >/dev/null 2>&1 || exit 0
[ -d /etc/postgresql ] || exit 0
if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
  exit 0
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
echo "Starting PostgreSQL $version ..."
pg_ctlcluster --skip-systemctl-redirect "$version" main start || {
  echo "Could not start PostgreSQL; its tests will skip (or fail under CI=true)." >&2
  exit 0
}
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
  sleep 1
done
echo "PostgreSQL did not become ready in 30 s." >&2
