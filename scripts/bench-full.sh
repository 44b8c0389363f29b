#!/usr/bin/env bash
# `make bench-full`: full-copy speed of ferry against mariadb-dump | mariadb and mydumper/myloader,
# on a private source/target pair on this machine (sysbench tables, schema + data, each tool into a
# freshly emptied target). Prints rows/s, ferry's ratio to each tool and ferry's peak RSS.
#
# FLAVOR=mysql (`make bench-full FLAVOR=mysql`): two MySQL 9.7 servers (scripts/lab.sh), and the
# anchors are MySQL's mysqldump --single-transaction | mysql (both from the MySQL root, over TCP
# without TLS like ferry) and mydumper/myloader. FLAVOR=mariadb is the default.
#
# Environment: FLAVOR (mariadb), THREADS (2: mydumper/myloader threads and ferry's engine.parallelism),
# TABLES (4), TABLE_SIZE (250000), TOOLS ("dump mydumper ferry"), LAB_BUFFER_POOL (512M),
# BENCH_SOURCE_PORT (33071), BENCH_TARGET_PORT (33072).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LAB_BUFFER_POOL=${LAB_BUFFER_POOL:-512M}
export LAB_FLAVOR=${FLAVOR:-${LAB_FLAVOR:-mariadb}}
. scripts/lab.sh
lab_check_flavor || exit 2

THREADS=${THREADS:-2}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-250000}
TOOLS=${TOOLS:-dump mydumper ferry}
SRC_PORT=${BENCH_SOURCE_PORT:-33071}
DST_PORT=${BENCH_TARGET_PORT:-33072}
export PATH="$HOME/.cargo/bin:$PATH"
B=.bench
SRC=$B/source
DST=$B/target
ROWS=$((TABLES * TABLE_SIZE))
PW=$LAB_PASSWORD

say() { printf '\n== %s\n' "$*"; }
die() { echo "bench: $*" >&2; exit 1; }

say "dependencies and a release build of ferry"
scripts/install-deps.sh
if [[ " $TOOLS " == *" ferry "* ]]; then
  cargo build -q --release -p ferry-engine
fi
FERRY=$PWD/target/release/ferry

cleanup() {
  lab_discard "$SRC" 2>/dev/null || true
  lab_discard "$DST" 2>/dev/null || true
  rm -rf "$B/dump"
}
trap cleanup EXIT

lab_bench_pair "$SRC" "$SRC_PORT" "$DST" "$DST_PORT" "$B" || exit 1
SOURCE_DESC=$(lab_describe "$SRC")
TARGET_DESC=$(lab_describe "$DST")

say "sysbench prepare: $TABLES tables x $TABLE_SIZE rows on the source"
lab_sql "$SRC" -e "CREATE DATABASE sbtest"
t0=$(date +%s)
sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$SRC_PORT" \
  --mysql-user="$LAB_USER" --mysql-password="$PW" --mysql-db=sbtest \
  --tables="$TABLES" --table-size="$TABLE_SIZE" --threads="$THREADS" prepare >"$B/sysbench.log" 2>&1 ||
  { tail -5 "$B/sysbench.log"; die "sysbench prepare failed"; }
echo "prepared in $(($(date +%s) - t0)) s"

checksums() { # side -> "table checksum" lines of sbtest
  local tables
  tables=$(seq -s, -f "sbtest.sbtest%g" 1 "$TABLES")
  lab_sql "$1" --batch --skip-column-names -e "CHECKSUM TABLE $tables"
}
SOURCE_SUMS=$(checksums "$SRC")

reset_target() { # sbtest and ferry's metadata databases (ferry_meta, ferry_meta_s<hash>) dropped
  local db
  lab_sql "$DST" -e "DROP DATABASE IF EXISTS sbtest"
  for db in $(lab_sql "$DST" --batch --skip-column-names -e "SHOW DATABASES LIKE 'ferry\_meta%'"); do
    lab_sql "$DST" -e "DROP DATABASE \`$db\`"
  done
  rm -rf "$B/dump" "$B/state"
}

verify() { # tool name: row count and CHECKSUM TABLE of every table, against the source
  local n=0 i c
  for i in $(seq 1 "$TABLES"); do
    c=$(lab_sql "$DST" --batch --skip-column-names -e "SELECT COUNT(*) FROM sbtest.sbtest$i" 2>/dev/null) ||
      die "$1: table sbtest.sbtest$i missing on the target"
    n=$((n + c))
  done
  [ "$n" -eq "$ROWS" ] || die "$1: the target has $n rows, expected $ROWS"
  [ "$(checksums "$DST")" = "$SOURCE_SUMS" ] || die "$1: CHECKSUM TABLE differs from the source"
  echo "$1: $n rows, checksums equal to the source"
}

now() { date +%s.%N; }
names=()
secs=()
declare -A rate

record() { # name start end
  local s r
  s=$(awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2f", b - a }')
  r=$(awk -v n="$ROWS" -v s="$s" 'BEGIN { printf "%d", n / s }')
  names+=("$1")
  secs+=("$s")
  rate["$1"]=$r
}

if [[ " $TOOLS " == *" dump "* ]]; then
  lab_tcp_client "$LAB_FLAVOR"
  if [ "$LAB_FLAVOR" = mysql ]; then
    DUMP_NAME="mysqldump"
    say "(a) mysqldump --single-transaction | mysql (MySQL's, from $LAB_MYSQL_ROOT)"
    dump=(lab_mysql_tool mysqldump --no-defaults -h127.0.0.1 -u"$LAB_USER" -p"$PW" --ssl-mode=DISABLED
      --get-server-public-key --set-gtid-purged=OFF)
  else
    DUMP_NAME="mariadb-dump"
    say "(a) mariadb-dump --single-transaction | mariadb"
    dump=(mariadb-dump --no-defaults -h127.0.0.1 -u"$LAB_USER" -p"$PW")
  fi
  reset_target
  lab_sql "$DST" -e "CREATE DATABASE sbtest"
  t0=$(now)
  "${dump[@]}" -P"$SRC_PORT" --single-transaction sbtest 2> >(grep -v 'Using a password' >&2) |
    "${LAB_TCP_CLIENT[@]}" -P"$DST_PORT" sbtest 2> >(grep -v 'Using a password' >&2)
  t1=$(now)
  verify "$DUMP_NAME"
  if [ "$LAB_FLAVOR" = mysql ]; then
    record "mysqldump | mysql" "$t0" "$t1"
  else
    record "mariadb-dump | mariadb" "$t0" "$t1"
  fi
fi

if [[ " $TOOLS " == *" mydumper "* ]]; then
  say "(b) mydumper -t $THREADS + myloader -t $THREADS"
  reset_target
  t0=$(now)
  mydumper -h 127.0.0.1 -P "$SRC_PORT" -u "$LAB_USER" -p "$PW" -B sbtest -t "$THREADS" -o "$B/dump" -v 1
  myloader -h 127.0.0.1 -P "$DST_PORT" -u "$LAB_USER" -p "$PW" -d "$B/dump" -t "$THREADS" -v 1
  t1=$(now)
  verify "mydumper/myloader"
  record "mydumper/myloader -t $THREADS" "$t0" "$t1"
fi

RSS_MIB=""
if [[ " $TOOLS " == *" ferry "* ]]; then
  say "(c) ferry run (engine.parallelism: $THREADS)"
  reset_target
  cat >"$B/bench.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: bench-source
stringData:
  username: $LAB_USER
  password: '$PW'
---
apiVersion: v1
kind: Secret
metadata:
  name: bench-target
stringData:
  username: $LAB_USER
  password: '$PW'
---
apiVersion: ferry.dev/v1alpha1
kind: SyncTask
metadata:
  name: bench
spec:
  source:
    host: 127.0.0.1
    port: $SRC_PORT
    credentialsSecret: bench-source
    tls:
      mode: disabled
  target:
    host: 127.0.0.1
    port: $DST_PORT
    credentialsSecret: bench-target
    tls:
      mode: disabled
  objects:
  - database: sbtest
  incremental: false
  engine:
    parallelism: $THREADS
EOF
  t0=$(now)
  /usr/bin/time -f %M -o "$B/ferry.rss" "$FERRY" run -f "$B/bench.yaml" --state-dir "$B/state" >"$B/ferry.log" 2>&1 ||
    { tail -20 "$B/ferry.log"; die "ferry run failed (log: $B/ferry.log)"; }
  t1=$(now)
  verify "ferry"
  record "ferry run (parallelism $THREADS)" "$t0" "$t1"
  RSS_MIB=$(awk '{ printf "%.1f", $1 / 1024 }' "$B/ferry.rss" | tail -1)
fi

say "results: $ROWS rows in $TABLES tables, schema + data, same machine"
echo "flavour: $LAB_FLAVOR"
echo "source: $SOURCE_DESC"
echo "target: $TARGET_DESC"
ferry_rate=${rate["ferry run (parallelism $THREADS)"]:-}
printf '%-32s %9s %10s %12s\n' TOOL SECONDS ROWS/S "FERRY IS"
for i in "${!names[@]}"; do
  n=${names[$i]}
  ratio=""
  if [ -n "$ferry_rate" ]; then
    ratio=$(awk -v f="$ferry_rate" -v r="${rate[$n]}" 'BEGIN { printf "%.2fx", f / r }')
  fi
  printf '%-32s %9s %10s %12s\n' "$n" "${secs[$i]}" "${rate[$n]}" "$ratio"
done
[ -n "$RSS_MIB" ] && echo "ferry peak RSS: $RSS_MIB MiB"
exit 0
