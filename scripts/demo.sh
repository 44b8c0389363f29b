#!/usr/bin/env bash
# `make demo`: two private MariaDB servers (source with binlog on 127.0.0.1:33061, target on
# 127.0.0.1:33062), the sample database examples/shop.sql in the source, then a live sync:
# `ferry run -f examples/demo.yaml` in the background (initial sync, then the binlog), changes made
# on the source while it runs, its status, `ferry verify`, and a source/target comparison. Leaves nothing running
# (the servers' folders stay in .demo/ until `make clean-lab`).
#
# FLAVOR=mysql (`make demo FLAVOR=mysql`): the same with two MySQL 9.7 servers (scripts/lab.sh,
# from the Debian sid root of scripts/install-mysql.sh). FLAVOR=mariadb is the default.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LAB_FLAVOR=${FLAVOR:-${LAB_FLAVOR:-mariadb}}
. scripts/lab.sh
lab_check_flavor || exit 2
PRODUCT=$(lab_product "$LAB_FLAVOR")

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

say "starting $PRODUCT: source on $SRC_PORT (binlog), target on $DST_PORT"
# Old demo servers (of either flavour) stopped and removed, with their folders in the MySQL root.
lab_remove "$SRC"
lab_remove "$DST"
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
echo "source: $(lab_describe "$SRC")"
echo "target: $(lab_describe "$DST")"

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

STATUS="$STATE_DIR/demo.status.yaml"
phase() { sed -n 's/^phase: //p' "$STATUS" 2>/dev/null; }
say "running in the background: ferry run -f examples/demo.yaml"
rm -f "$STATUS"
"$FERRY" run --no-progress -f examples/demo.yaml 2>.demo/ferry.log &
FERRY_PID=$!
cleanup() {
  kill -INT "$FERRY_PID" 2>/dev/null || true
  wait "$FERRY_PID" 2>/dev/null || true
  lab_stop "$SRC" 2>/dev/null || true
  lab_stop "$DST" 2>/dev/null || true
}
for _ in $(seq 1 120); do
  [ "$(phase)" = Synchronizing ] && break
  kill -0 "$FERRY_PID" 2>/dev/null || { cat .demo/ferry.log >&2; echo "demo: ferry stopped" >&2; exit 1; }
  sleep 0.5
done
echo "phase: $(phase) (initial sync done; now following the source's binlog)"

say "live changes on the source while ferry runs"
lab_sql "$SRC" shop <<'SQL'
INSERT INTO customers (email, full_name, country, balance, created_at)
  VALUES ('live@example.com', 'Live Demo 🚀', 'DE', 12.50, NOW(3));
INSERT INTO orders (customer_id, status, ordered_at, total)
  SELECT id, 'paid', NOW(), 99.90 FROM customers WHERE email = 'live@example.com';
UPDATE products SET price = price * 1.1 WHERE sku LIKE 'SKU-00%';
UPDATE orders SET status = 'shipped' WHERE status = 'paid' ORDER BY id LIMIT 25;
DELETE FROM page_views WHERE url LIKE '%/cart%' LIMIT 10;
INSERT INTO page_views VALUES (NULL, '/live', NOW(), 'demo'), (NULL, '/live', NOW(), 'demo');
ALTER TABLE customers ADD COLUMN loyalty_points INT NOT NULL DEFAULT 0 AFTER balance;
UPDATE customers SET loyalty_points = 10 WHERE email = 'live@example.com';
CREATE TABLE coupons (code VARCHAR(20) NOT NULL PRIMARY KEY, percent TINYINT NOT NULL);
INSERT INTO coupons VALUES ('WELCOME', 10), ('LIVE', 15);
SQL
echo "1 customer, 1 order inserted; prices and 25 orders updated; page views deleted and added;"
echo "schema changes: customers.loyalty_points added (and set), table coupons created (and filled)"
sleep 2

say "$STATUS"
if [ -f "$STATUS" ]; then cat "$STATUS"; else echo "(not written)"; fi

say "ferry verify -f examples/demo.yaml (every table, row by row where a range differs, while the task runs)"
verified=0
"$FERRY" verify --no-progress -f examples/demo.yaml || verified=$?
kill -INT "$FERRY_PID" 2>/dev/null || true
rc=0
wait "$FERRY_PID" || rc=$?
# Stopped by the demo's Ctrl-C: that is the expected end of a live sync.
[ "$rc" -eq 1 ] && grep -q interrupted .demo/ferry.log && rc=0
[ "$rc" -ne 0 ] && cat .demo/ferry.log >&2

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
if [ $status -ne 0 ] || [ $verified -ne 0 ]; then
  echo "demo: the target differs from the source" >&2
  exit 1
fi
echo "demo: done ($PRODUCT); the target matches the source. Servers stopped; their data stays in .demo/ (make clean-lab)."
