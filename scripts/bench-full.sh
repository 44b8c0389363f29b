#!/usr/bin/env bash
# `make bench-full`: full-copy speed of ferry against mariadb-dump | mariadb and mydumper/myloader,
# on a private source/target pair on this machine (sysbench tables, schema + data, each tool into a
# freshly emptied target). Prints rows/s, ferry's ratio to each tool and ferry's peak RSS.
#
# ferry runs twice: with the target's local_infile ON (its LOAD DATA LOCAL path; the lab servers
# have it ON), and with local_infile OFF on the target (SET GLOBAL; MySQL's default and common on
# managed targets), where ferry copies with batched multi-row INSERTs. The second is printed beside
# the rest, with its ratio to the LOAD DATA path and to each tool.
#
# FLAVOR=mysql (`make bench-full FLAVOR=mysql`): two MySQL 9.7 servers (scripts/lab.sh), and the
# anchors are MySQL's mysqldump --single-transaction | mysql (both from the MySQL root, over TCP
# without TLS like ferry) and mydumper/myloader. FLAVOR=mariadb is the default.
#
# Environment: FLAVOR (mariadb), THREADS (2: mydumper/myloader threads and ferry's engine.parallelism),
# TABLES (4), TABLE_SIZE (250000), TOOLS ("dump mydumper ferry ferry-inserts ferry-link"; ferry-inserts
# is ferry with local_infile OFF on the target, ferry-link ferry with the source behind a long link:
# LINK_MS (30) ± LINK_JITTER_MS (5) added to every round trip by the harness's delaying proxy on
# BENCH_PROXY_PORT (33079), its rate printed against ferry's on loopback), BENCH_SOURCE_PORT (33071),
# BENCH_TARGET_PORT (33072), FERRY_BIN (default: a release build of this tree).
# Both servers: BUFFER_POOL (innodb_buffer_pool_size, 512M; e.g. 1G to hold the data in memory),
# FLUSH_LOG_AT_TRX_COMMIT (innodb_flush_log_at_trx_commit, 2), SYNC_BINLOG (sync_binlog, 0); the
# results name what the servers ran with.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LAB_BUFFER_POOL=${BUFFER_POOL:-${LAB_BUFFER_POOL:-512M}}
export LAB_FLUSH_LOG_AT_TRX_COMMIT=${FLUSH_LOG_AT_TRX_COMMIT:-${LAB_FLUSH_LOG_AT_TRX_COMMIT:-2}}
export LAB_SYNC_BINLOG=${SYNC_BINLOG:-${LAB_SYNC_BINLOG:-0}}
export LAB_FLAVOR=${FLAVOR:-${LAB_FLAVOR:-mariadb}}
. scripts/lab.sh
lab_check_flavor || exit 2

THREADS=${THREADS:-2}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-250000}
TOOLS=${TOOLS:-dump mydumper ferry ferry-inserts ferry-link}
LINK_MS=${LINK_MS:-30}
LINK_JITTER_MS=${LINK_JITTER_MS:-5}
PROXY_PORT=${BENCH_PROXY_PORT:-33079}
LAB_PROXY_PID=""
COPY_RATE=""
LOOP_COPY_RATE=""
LINK_COPY_RATE=""
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
FERRY=${FERRY_BIN:-$PWD/target/release/ferry}
if [[ " $TOOLS " == *" ferry"* ]]; then
  [ -n "${FERRY_BIN:-}" ] || cargo build -q --release -p ferry-engine
  [ -x "$FERRY" ] || die "no ferry binary at $FERRY"
fi

cleanup() {
  [ -n "${LAB_PROXY_PID:-}" ] && kill "$LAB_PROXY_PID" 2>/dev/null
  lab_discard "$SRC" 2>/dev/null || true
  lab_discard "$DST" 2>/dev/null || true
  rm -rf "$B/dump"
}
trap cleanup EXIT
FERRY_NAME="ferry, LOAD DATA (parallelism $THREADS)"
INSERTS_NAME="ferry, INSERTs (local_infile=OFF)"

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

write_task() { # the task file of both ferry runs
  {
    lab_task_head "bench" "$SRC_PORT" "$DST_PORT"
    cat <<EOF
  objects:
  - database: sbtest
  incremental: false
  engine:
    parallelism: $THREADS
EOF
  } >"$B/bench.yaml"
}

ferry_run() { # name log rss-file: one ferry run into an emptied target, verified and recorded
  local name=$1 log=$2 rss=$3 t0 t1
  reset_target
  write_task
  t0=$(now)
  /usr/bin/time -f %M -o "$rss" "$FERRY" run -f "$B/bench.yaml" --state-dir "$B/state" >"$log" 2>&1 ||
    { tail -20 "$log"; die "ferry run failed (log: $log)"; }
  t1=$(now)
  verify "ferry"
  record "$name" "$t0" "$t1"
  COPY_RATE=$(copy_rate)
}

copy_rate() { # rows/s of the copy phase alone, as ferry's status says (without precheck and set-up)
  awk '/^fullSync:/ { f = 1 } f && /^  rowsPerSecond:/ { print $2; exit }' "$B/state/bench.status.yaml"
}

local_infile() { # the target's @@GLOBAL.local_infile: 1 or 0
  lab_sql "$DST" --batch --skip-column-names -e "SELECT @@GLOBAL.local_infile"
}

statements() { # -> "LOAD-DATA-count INSERT-count": the target's Com_load and Com_insert so far
  lab_sql "$DST" --batch --skip-column-names -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_load', 'Com_insert')" |
    awk '$1 == "Com_load" { l = $2 } $1 == "Com_insert" { i = $2 } END { print l + 0, i + 0 }'
}

ferry_path() { # LOAD|INSERT name: ferry's run just made took that path on the target (Com_* before: $STMTS)
  local loads inserts l0 i0 l1 i1
  read -r l0 i0 <<<"$STMTS"
  read -r l1 i1 < <(statements)
  loads=$((l1 - l0))
  inserts=$((i1 - i0))
  echo "$2: the target ran $loads LOAD DATA and $inserts INSERT statements"
  if [ "$1" = LOAD ]; then
    [ "$loads" -gt 0 ] || die "$2: no LOAD DATA ran on the target"
  else
    [ "$loads" -eq 0 ] && [ "$inserts" -gt 0 ] || die "$2: expected INSERTs and no LOAD DATA on the target"
  fi
}

RSS_MIB=""
if [[ " $TOOLS " == *" ferry "* ]]; then
  say "(c) ferry run (engine.parallelism: $THREADS), local_infile ON on the target: LOAD DATA LOCAL"
  lab_sql "$DST" -e "SET GLOBAL local_infile = ON"
  STMTS=$(statements)
  ferry_run "$FERRY_NAME" "$B/ferry.log" "$B/ferry.rss"
  LOOP_COPY_RATE=$COPY_RATE
  ferry_path LOAD ferry
  RSS_MIB=$(awk '{ printf "%.1f", $1 / 1024 }' "$B/ferry.rss" | tail -1)
fi

LINK_NAME="ferry over a ${LINK_MS} ms link (LOAD DATA)"
if [[ " $TOOLS " == *" ferry-link "* ]] && [ "$LINK_MS" -gt 0 ]; then
  say "(e) ferry run with the source behind a ${LINK_MS} ms ± ${LINK_JITTER_MS} ms link (a delaying proxy)"
  lab_delay_proxy "$PROXY_PORT" "$SRC_PORT" "$LINK_MS" "$LINK_JITTER_MS" "$B/proxy.log" || die "no delay proxy"
  reset_target
  write_task
  sed -i "s/^    port: $SRC_PORT\$/    port: $PROXY_PORT/" "$B/bench.yaml"
  grep -q "port: $PROXY_PORT" "$B/bench.yaml" || die "the link manifest does not name the proxy"
  t0=$(now)
  "$FERRY" run -f "$B/bench.yaml" --state-dir "$B/state" >"$B/ferry-link.log" 2>&1 ||
    { tail -20 "$B/ferry-link.log"; die "ferry run over the link failed (log: $B/ferry-link.log)"; }
  t1=$(now)
  verify "ferry over the link"
  record "$LINK_NAME" "$t0" "$t1"
  LINK_COPY_RATE=$(copy_rate)
  kill "$LAB_PROXY_PID" 2>/dev/null || true
  LAB_PROXY_PID=""
fi

INSERTS_RSS_MIB=""
if [[ " $TOOLS " == *" ferry-inserts "* ]]; then
  say "(d) ferry run (engine.parallelism: $THREADS), local_infile OFF on the target: batched INSERTs"
  lab_sql "$DST" -e "SET GLOBAL local_infile = OFF"
  [ "$(local_infile)" = 0 ] || die "could not turn local_infile OFF on the target"
  STMTS=$(statements)
  ferry_run "$INSERTS_NAME" "$B/ferry-inserts.log" "$B/ferry-inserts.rss"
  ferry_path INSERT "ferry (local_infile OFF)"
  lab_sql "$DST" -e "SET GLOBAL local_infile = ON"
  INSERTS_RSS_MIB=$(awk '{ printf "%.1f", $1 / 1024 }' "$B/ferry-inserts.rss" | tail -1)
fi

say "results: $ROWS rows in $TABLES tables, schema + data, same machine"
echo "flavour: $LAB_FLAVOR"
echo "source: $SOURCE_DESC"
echo "target: $TARGET_DESC"
ferry_rate=${rate["$FERRY_NAME"]:-}
inserts_rate=${rate["$INSERTS_NAME"]:-}
ratio() { # a b -> a / b as 1.23x, or nothing
  if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; fi
}
printf '%-38s %9s %10s %10s %12s\n' TOOL SECONDS ROWS/S "FERRY IS" "INSERTS ARE"
for i in "${!names[@]}"; do
  n=${names[$i]}
  printf '%-38s %9s %10s %10s %12s\n' "$n" "${secs[$i]}" "${rate[$n]}" "$(ratio "$ferry_rate" "${rate[$n]}")" \
    "$(ratio "$inserts_rate" "${rate[$n]}")"
done
[ -n "$ferry_rate$inserts_rate" ] && echo "(FERRY IS: ferry's LOAD DATA LOCAL path / that row; INSERTS ARE: ferry with local_infile=OFF on the target / that row)"
if [ -n "$inserts_rate" ]; then
  line="ferry with local_infile=OFF on the target (batched INSERTs): $inserts_rate rows/s"
  [ -n "$ferry_rate" ] && line="$line, $(ratio "$inserts_rate" "$ferry_rate") its LOAD DATA path"
  my=${rate["mydumper/myloader -t $THREADS"]:-}
  [ -n "$my" ] && line="$line, $(ratio "$inserts_rate" "$my") mydumper/myloader"
  echo "$line"
fi
link_rate=${rate["$LINK_NAME"]:-}
if [ -n "$link_rate" ] && [ -n "$ferry_rate" ]; then
  echo "ferry with the source behind a ${LINK_MS} ms ± ${LINK_JITTER_MS} ms link: $link_rate rows/s, $(ratio "$link_rate" "$ferry_rate") its rate on loopback end to end (precheck and set-up included)"
  if [ -n "$LINK_COPY_RATE" ] && [ -n "$LOOP_COPY_RATE" ]; then
    echo "  the copy phase alone (status fullSync.rowsPerSecond): $LINK_COPY_RATE rows/s over the link, $LOOP_COPY_RATE on loopback: $(ratio "$LINK_COPY_RATE" "$LOOP_COPY_RATE") (goal: 0.80x)"
  fi
fi
[ -n "$RSS_MIB" ] && echo "ferry peak RSS: $RSS_MIB MiB (LOAD DATA)"
[ -n "$INSERTS_RSS_MIB" ] && echo "ferry peak RSS: $INSERTS_RSS_MIB MiB (INSERTs)"
exit 0
