#!/usr/bin/env bash
# `make demo`: two private MariaDB servers (source with binlog on 127.0.0.1:33061, target on
# 127.0.0.1:33062), the sample database examples/shop.sql in the source, then
# `ferry run -f examples/demo.yaml`, its status, and a source/target comparison. Leaves nothing
# running (the servers' folders stay in .demo/ until `make clean-lab`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lab.sh

SRC_PORT=33061
DST_PORT=33062
SRC=.demo/source
DST=.demo/target
STATE_DIR=.ferry
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "dependencies"
scripts/install-deps.sh

say "building ferry (debug)"
cargo build -q -p ferry-engine
FERRY=target/debug/ferry

cleanup() {
  lab_stop "$SRC" 2>/dev/null || true
  lab_stop "$DST" 2>/dev/null || true
}
trap cleanup EXIT

say "starting MariaDB: source on $SRC_PORT (binlog), target on $DST_PORT"
lab_stop "$SRC"
lab_stop "$DST"
for port in $SRC_PORT $DST_PORT; do
  if lab_port_busy "$port"; then
    echo "demo: port $port is busy; examples/demo.yaml needs 33061 and 33062 free." >&2
    echo "      Stop what listens there (\`make clean-lab\` stops old demo servers) and retry." >&2
    exit 1
  fi
done
rm -rf .demo
lab_start "$SRC" $SRC_PORT binlog
lab_start "$DST" $DST_PORT nobinlog

say "loading examples/shop.sql into the source"
lab_sql "$SRC" <examples/shop.sql

# What one side holds: base tables with their row counts, then other objects.
inventory() {
  lab_sql "$1" --batch --skip-column-names -e "
    SELECT CONCAT('table ', TABLE_NAME) FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = 'shop' AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME;
    SELECT CONCAT('view ', TABLE_NAME) FROM information_schema.VIEWS
      WHERE TABLE_SCHEMA = 'shop' ORDER BY TABLE_NAME;
    SELECT CONCAT(LOWER(ROUTINE_TYPE), ' ', ROUTINE_NAME) FROM information_schema.ROUTINES
      WHERE ROUTINE_SCHEMA = 'shop' ORDER BY ROUTINE_TYPE, ROUTINE_NAME;
    SELECT CONCAT('trigger ', TRIGGER_NAME) FROM information_schema.TRIGGERS
      WHERE TRIGGER_SCHEMA = 'shop' ORDER BY TRIGGER_NAME;" 2>/dev/null
}
rows() { lab_sql "$1" --batch --skip-column-names -e "SELECT COUNT(*) FROM shop.\`$2\`" 2>/dev/null || echo "-"; }
checksum() { lab_sql "$1" --batch --skip-column-names -e "CHECKSUM TABLE shop.\`$2\`" 2>/dev/null | cut -f2 || echo "-"; }

say "running: ferry run -f examples/demo.yaml"
rm -f "$STATE_DIR/demo.status.yaml"
set +e
"$FERRY" run -f examples/demo.yaml
rc=$?
set -e

say "$STATE_DIR/demo.status.yaml"
if [ -f "$STATE_DIR/demo.status.yaml" ]; then cat "$STATE_DIR/demo.status.yaml"; else echo "(not written)"; fi

say "source vs target"
status=0
printf '%-36s %8s %8s  %s\n' OBJECT SOURCE TARGET ""
target_objects=$(inventory "$DST" || true)
while read -r kind name; do
  [ -n "$kind" ] || continue
  present=no
  grep -qx "$kind $name" <<<"$target_objects" && present=yes
  if [ "$kind" = table ]; then
    s=$(rows "$SRC" "$name")
    t=$([ $present = yes ] && rows "$DST" "$name" || echo "-")
    note=""
    if [ "$s" != "$t" ]; then
      note="DIFFERENT"
      status=1
    elif [ "$(checksum "$SRC" "$name")" != "$(checksum "$DST" "$name")" ]; then
      note="same count, DIFFERENT checksum"
      status=1
    else
      note="ok (CHECKSUM TABLE equal)"
    fi
    printf '%-36s %8s %8s  %s\n' "table $name" "$s" "$t" "$note"
  else
    note=""
    if [ $present = no ]; then
      note="missing"
      [ "$kind" = trigger ] && note="not created (deferred: see schemaSync.deferredTriggers)"
      [ "$kind" != trigger ] && status=1
    fi
    printf '%-36s %8s %8s  %s\n' "$kind $name" yes $present "$note"
  fi
done <<<"$(inventory "$SRC")"

echo
if [ $rc -ne 0 ]; then
  echo "demo: ferry exited with code $rc" >&2
  exit $rc
fi
if [ $status -ne 0 ]; then
  echo "demo: the target differs from the source" >&2
  exit 1
fi
echo "demo: done; the target matches the source. Servers stopped; their data stays in .demo/ (make clean-lab)."
