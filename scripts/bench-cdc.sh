#!/usr/bin/env bash
# `make bench-cdc`: incremental (binlog) apply speed of ferry against the server's own replica
# (MariaDB's, or MySQL's with FLAVOR=mysql), on a private source/target pair on this machine, plus
# ferry's lag under a steady load.
#
#  1. sysbench prepare (TABLES x TABLE_SIZE rows) on the source; a dump of it (the base); the source
#     position (SHOW MASTER STATUS, or SHOW BINARY LOG STATUS on MySQL) at that point.
#  2. sysbench oltp_write_only --events=EVENTS --threads=THREADS --rand-type=uniform on the source,
#     then a marker row. Row changes between the two positions are counted in the binlog.
#  3. (a) the base loaded into the target; ferry as an incremental-only task from the position
#     (initialSync schema/data false, startPosition file/position), timed until the marker row is
#     on the target and CHECKSUM TABLE of every sysbench table equals the source's.
#  4. Lag: with the same ferry still running, sysbench at a fixed --rate (half of what ferry just
#     applied per second) for LAG_SECONDS while a heartbeat row (NOW(6)) goes into the source every
#     100 ms; on the target a poller stamps each heartbeat row when it first sees it. p50/p90/p99.
#  5. (b) the server's own replica, once per REPLICA_THREADS entry, each time from the base loaded
#     again into the target, timed from START until the end of step 2 is applied, checksums checked:
#     - MariaDB: CHANGE MASTER TO the same file/position (MASTER_USE_GTID=no), slave_parallel_threads
#       N (0: the serial applier; N > 0: N threads, slave_parallel_mode=optimistic), START SLAVE UNTIL
#       the end position, timed until Exec_Master_Log_Pos reaches it.
#     - MySQL: its multi-threaded replica, replica_parallel_workers N (1: one applier; MySQL 9 has no
#       0), replica_preserve_commit_order=ON. The source tracks dependencies by WRITESET (set
#       through binlog_transaction_dependency_tracking where that variable still exists; MySQL 9.x
#       has only WRITESET), and the script prints how much parallelism the binlog offers
#       (last_committed/sequence_number). The target (gtid_mode=ON, MySQL 9.7's default) gets
#       gtid_purged = the source's GTIDs at the start position; CHANGE REPLICATION SOURCE TO ...
#       SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1 (caching_sha2_password without TLS); START
#       REPLICA UNTIL SQL_AFTER_GTIDS = the source's GTIDs at the end position (works with parallel
#       workers on 9.x; a warning from the server is printed), timed by WAIT_FOR_EXECUTED_GTID_SET.
#  6. (a') ferry resumed with the source behind a long link (LINK_MS ± LINK_JITTER_MS added to every
#     round trip by the harness's delaying proxy, scripts/lab.sh lab_delay_proxy), and the lag run
#     of step 4 again at the same rate.
# Before step 3 `ferry precheck --state-dir` records a passed precheck of the task's spec, as the
# operator's precheck Job does in a cluster: the timed run starts without one, and the script
# prints its start-up (process start to the first applied row change, from ferry's log).
# Prints row changes/s of each, ferry's ratio to each and to the best native applier, the servers'
# buffer pool and durability settings, ferry's peak RSS, the start-up and the lag percentiles
# (on loopback and over the link).
#
# FLAVOR=mysql (`make bench-cdc FLAVOR=mysql`): two MySQL 9.7 servers (scripts/lab.sh); the base is
# dumped with MySQL's mysqldump and row changes are counted with its mysqlbinlog (both from the
# MySQL root). FLAVOR=mariadb is the default.
#
# Environment: FLAVOR (mariadb), TABLES (4), TABLE_SIZE (250000), EVENTS (50000), THREADS (2: sysbench
# threads), LAG_SECONDS (30), PARALLELISM (4: ferry's apply lanes, engine.parallelism), LAG_RATE
# (default: half of ferry's measured transactions/s), REPLICA_THREADS (the native appliers to time,
# a list: MariaDB "0", its serial applier, e.g. "0 4" to add optimistic parallel with 4 threads;
# MySQL "1 4": one applier, then 4 WRITESET workers), TOOLS ("ferry replica"), BENCH_SOURCE_PORT
# (33073), BENCH_TARGET_PORT (33074), FERRY_BIN (default: a release build of this tree), LINK_MS (30;
# 0 skips the run over the link), LINK_JITTER_MS (5), BENCH_PROXY_PORT (33079).
# Both servers: BUFFER_POOL (innodb_buffer_pool_size, 512M; e.g. 1G to hold the data in memory),
# FLUSH_LOG_AT_TRX_COMMIT (innodb_flush_log_at_trx_commit, 2), SYNC_BINLOG (sync_binlog, 0).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LAB_BUFFER_POOL=${BUFFER_POOL:-${LAB_BUFFER_POOL:-512M}}
export LAB_FLUSH_LOG_AT_TRX_COMMIT=${FLUSH_LOG_AT_TRX_COMMIT:-${LAB_FLUSH_LOG_AT_TRX_COMMIT:-2}}
export LAB_SYNC_BINLOG=${SYNC_BINLOG:-${LAB_SYNC_BINLOG:-0}}
export LAB_FLAVOR=${FLAVOR:-${LAB_FLAVOR:-mariadb}}
. scripts/lab.sh
lab_check_flavor || exit 2

TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-250000}
EVENTS=${EVENTS:-50000}
THREADS=${THREADS:-2}
LAG_SECONDS=${LAG_SECONDS:-30}
if [ "$LAB_FLAVOR" = mysql ]; then REPLICA_THREADS=${REPLICA_THREADS:-1 4}; else REPLICA_THREADS=${REPLICA_THREADS:-0}; fi
for n in $REPLICA_THREADS; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "bench-cdc: REPLICA_THREADS=\"$REPLICA_THREADS\": expected numbers" >&2; exit 2; }
  if [ "$LAB_FLAVOR" = mysql ] && [ "$n" -lt 1 ]; then
    echo "bench-cdc: REPLICA_THREADS: MySQL 9 has no replica_parallel_workers=0 (1 is its single applier)" >&2
    exit 2
  fi
done
PARALLELISM=${PARALLELISM:-4}
LINK_MS=${LINK_MS:-30}
LINK_JITTER_MS=${LINK_JITTER_MS:-5}
PROXY_PORT=${BENCH_PROXY_PORT:-33079}
TOOLS=${TOOLS:-ferry replica}
SRC_PORT=${BENCH_SOURCE_PORT:-33073}
DST_PORT=${BENCH_TARGET_PORT:-33074}
export PATH="$HOME/.cargo/bin:$PATH"
B=.bench
SRC=$B/cdc-source
DST=$B/cdc-target
W=$B/cdc
PW=$LAB_PASSWORD
TASK=bench-cdc
STATUS=$W/state/$TASK.status.yaml

say() { printf '\n== %s\n' "$*"; }
die() { echo "bench-cdc: $*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

want() { [[ " $TOOLS " == *" $1 "* ]]; }

say "dependencies and a release build of ferry"
scripts/install-deps.sh
FERRY=${FERRY_BIN:-$PWD/target/release/ferry}
if want ferry; then
  [ -n "${FERRY_BIN:-}" ] || cargo build -q --release -p ferry-engine
  [ -x "$FERRY" ] || die "no ferry binary at $FERRY"
fi

# Background processes this script started, by pid.
TIME_PID=""
SB_PID=""
stop_pid() { # pid: SIGTERM it if it still runs (only our own children are ever passed)
  [ -n "$1" ] && ! lab_exited "$1" && kill "$1" 2>/dev/null
  return 0
}
ferry_pid() { # the ferry process under /usr/bin/time
  [ -n "$TIME_PID" ] && pgrep -P "$TIME_PID" ferry 2>/dev/null | head -1
}
cleanup() {
  local fp
  fp=$(ferry_pid || true)
  stop_pid "$fp"
  lab_lag_stop
  for p in "$SB_PID" "$TIME_PID" "${LAB_PROXY_PID:-}"; do stop_pid "$p"; done
  lab_discard "$SRC" 2>/dev/null || true
  lab_discard "$DST" 2>/dev/null || true
  rm -rf "$W/base.sql"
}
trap cleanup EXIT

lab_bench_pair "$SRC" "$SRC_PORT" "$DST" "$DST_PORT" "$W" || exit 1

sb() { # sysbench against the source: sb TEST [args...]
  local test=$1
  shift
  sysbench "$test" --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$SRC_PORT" \
    --mysql-user="$LAB_USER" --mysql-password="$PW" --mysql-db=sbtest \
    --tables="$TABLES" --table-size="$TABLE_SIZE" "$@"
}
q() { # side sql: one value
  lab_sql "$1" --batch --skip-column-names -e "$2"
}
checksums() { # side -> "table checksum" lines of the sysbench tables
  q "$1" "CHECKSUM TABLE $(seq -s, -f "sbtest.sbtest%g" 1 "$TABLES")"
}
master_status() { # -> "file position" (MySQL: "file position gtid-set")
  if [ "$LAB_FLAVOR" = mysql ]; then
    # Executed_Gtid_Set is the 5th column; --batch writes the newlines of a long set as \n.
    q "$SRC" "SHOW BINARY LOG STATUS" | awk -F'\t' '{ gsub(/\\n/, "", $5); print $1, $2, $5 }'
  else
    q "$SRC" "SHOW MASTER STATUS" | awk '{ print $1, $2 }'
  fi
}
nopw() { grep -v 'Using a password' >&2; } # stderr filter for MySQL's tools

DEPENDENCY_NOTE=""
if [ "$LAB_FLAVOR" = mysql ]; then
  # The source writes the dependencies the replica's workers schedule by: WRITESET.
  if [ -n "$(q "$SRC" "SHOW GLOBAL VARIABLES LIKE 'binlog_transaction_dependency_tracking'")" ]; then
    lab_sql "$SRC" -e "SET GLOBAL binlog_transaction_dependency_tracking = WRITESET"
    DEPENDENCY_NOTE="binlog_transaction_dependency_tracking=WRITESET"
  else
    DEPENDENCY_NOTE="WRITESET dependency tracking (no binlog_transaction_dependency_tracking: MySQL 9's only tracking)"
  fi
  echo "source: $DEPENDENCY_NOTE"
fi
SOURCE_DESC=$(lab_describe "$SRC")
TARGET_DESC=$(lab_describe "$DST")

say "sysbench prepare: $TABLES tables x $TABLE_SIZE rows on the source"
lab_sql "$SRC" -e "CREATE DATABASE sbtest"
t0=$(now)
sb oltp_read_write --threads=2 prepare >"$W/sysbench-prepare.log" 2>&1 ||
  { tail -5 "$W/sysbench-prepare.log"; die "sysbench prepare failed"; }
echo "prepared in $(secs "$t0" "$(now)") s"
# The marker ends the measured stretch; the heartbeat measures lag (arrival stamped on the target).
lab_sql "$SRC" -e "CREATE TABLE sbtest.bench_marker (id INT PRIMARY KEY);"
lab_lag_table "$SRC" sbtest.heartbeat

say "the base: a dump of the source, and its binlog position"
if [ "$LAB_FLAVOR" = mysql ]; then
  # Without SET @@GLOBAL.gtid_purged: the target starts with no GTIDs of the source.
  lab_mysql_tool mysqldump --no-defaults -h127.0.0.1 -P"$SRC_PORT" -u"$LAB_USER" -p"$PW" --ssl-mode=DISABLED \
    --get-server-public-key --single-transaction --set-gtid-purged=OFF --databases sbtest >"$W/base.sql" 2> >(nopw)
else
  mariadb-dump --no-defaults -h127.0.0.1 -P"$SRC_PORT" -u"$LAB_USER" -p"$PW" --single-transaction \
    --databases sbtest >"$W/base.sql"
fi
START_GTIDS=""
read -r START_FILE START_POS START_GTIDS < <(master_status)
echo "start position: $START_FILE:$START_POS${START_GTIDS:+ (GTIDs $START_GTIDS)}"

say "sysbench oltp_write_only: $EVENTS events, $THREADS threads, uniform"
t0=$(now)
sb oltp_write_only --threads="$THREADS" --events="$EVENTS" --time=0 --rand-type=uniform run \
  >"$W/sysbench-run.log" 2>&1 || { tail -5 "$W/sysbench-run.log"; die "sysbench run failed"; }
echo "source: $EVENTS transactions in $(secs "$t0" "$(now)") s ($(grep -E 'transactions:' "$W/sysbench-run.log" | sed 's/^ *//'))"
# What the source itself sustains (alone): the lag run never asks sysbench for more, since its
# event queue overflows (and it exits) when the workers fall behind the asked rate.
SOURCE_TPS=$(awk '/transactions:/ { gsub(/[(]/, "", $3); printf "%d", $3 }' "$W/sysbench-run.log")
lab_sql "$SRC" -e "INSERT INTO sbtest.bench_marker VALUES (1)"
END_GTIDS=""
read -r END_FILE END_POS END_GTIDS < <(master_status)
SOURCE_SUMS=$(checksums "$SRC")
echo "end position: $END_FILE:$END_POS${END_GTIDS:+ (GTIDs $END_GTIDS)}"
if [ "$LAB_FLAVOR" = mysql ] && { [ -z "$START_GTIDS" ] || [ -z "$END_GTIDS" ]; }; then
  die "the source reports no GTIDs (gtid_mode must be ON for MySQL's replica run)"
fi

# Row changes between the two positions, as the binlog has them (rows of row events).
files=()
while read -r f _; do
  if [[ "$f" > "$START_FILE" || "$f" == "$START_FILE" ]] && [[ "$f" < "$END_FILE" || "$f" == "$END_FILE" ]]; then
    if [ "$LAB_FLAVOR" = mysql ]; then
      files+=("$(lab_inner "$(lab_datadir "$SRC")")/$f") # as mysqlbinlog in the root sees it
    else
      files+=("$(lab_datadir "$SRC")/$f")
    fi
  fi
done < <(q "$SRC" "SHOW BINARY LOGS")
if [ "$LAB_FLAVOR" = mysql ]; then
  binlog_reader=(lab_mysql_tool mysqlbinlog --no-defaults)
else
  binlog_reader=(mariadb-binlog --no-defaults)
fi
# MySQL's GTID events also carry last_committed/sequence_number: a transaction may be applied beside
# every one after its last_committed (what WRITESET tracking found independent of it). The share of
# transactions independent of the WORKERS-1 before them says how much room WORKERS workers have.
WORKERS=1
for n in $REPLICA_THREADS; do [ "$n" -gt "$WORKERS" ] && WORKERS=$n; done
read -r ROWS DEP_TRX DEP_FREE < <("${binlog_reader[@]}" --base64-output=decode-rows -v --start-position="$START_POS" \
  --stop-position="$END_POS" "${files[@]}" | awk -v k=$((WORKERS - 1)) '
    /^### (INSERT INTO|UPDATE|DELETE FROM) / { rows++ }
    /last_committed=[0-9]+/ {
      lc = $0; sub(/.*last_committed=/, "", lc); sub(/[^0-9].*/, "", lc)
      sn = $0; sub(/.*sequence_number=/, "", sn); sub(/[^0-9].*/, "", sn)
      trx++; if (sn - lc - 1 >= k) free++
    }
    END { printf "%d %d %.1f\n", rows, trx, trx ? 100 * free / trx : 0 }')
echo "row changes: $ROWS, counted in the binlog (sysbench's $EVENTS events x 4 = $((EVENTS * 4)), plus the marker)"
DEP_LINE=""
if [ "$LAB_FLAVOR" = mysql ] && [ "$DEP_TRX" -gt 0 ] && [ "$WORKERS" -gt 1 ]; then
  DEP_LINE="binlog dependencies: $DEP_FREE % of its $DEP_TRX transactions are independent of the $((WORKERS - 1)) before them (room for $WORKERS workers; last_committed/sequence_number)"
  echo "$DEP_LINE"
fi
[ "$ROWS" -gt 0 ] || die "no row changes found in the binlog"

load_base() {
  lab_sql "$DST" -e "DROP DATABASE IF EXISTS sbtest; DROP DATABASE IF EXISTS ferry_meta"
  lab_sql "$DST" <"$W/base.sql"
}

wait_caught_up() { # name timeout-seconds alive-check-command on-failure-command -> sets T_END
  local name=$1 limit=$2 alive=$3 on_fail=$4 start seen=""
  start=$(now)
  while :; do
    if [ -z "$seen" ] && [ "$(q "$DST" "SELECT COUNT(*) FROM sbtest.bench_marker" 2>/dev/null || echo 0)" = 1 ]; then
      seen=$(now)
    fi
    if [ -n "$seen" ] && [ "$(checksums "$DST")" = "$SOURCE_SUMS" ]; then
      T_END=$seen
      return 0
    fi
    $alive || { $on_fail; die "$name stopped before catching up"; }
    if awk -v a="$start" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
      $on_fail
      [ -n "$seen" ] && die "$name: the marker arrived but CHECKSUM TABLE still differs after ${limit}s"
      die "$name did not catch up within ${limit}s"
    fi
    # Checksums agree only once everything is applied; until the marker, a cheap poll.
    sleep 0.05
  done
}

# lag_run NAME: sysbench at --rate=$RATE for LAG_SECONDS against the running ferry, with the
# heartbeat; sets LAG_LINE, REACHED, RATE_NOTE and max_status_lag (status lagSeconds after 3 s).
lag_run() {
  local l el lag_t0
  say "lag ($1): sysbench at --rate=$RATE (ferry applied $FERRY_TPS tps) for ${LAG_SECONDS}s, heartbeat every 100 ms"
  lab_lag_begin "$SRC" "$DST" sbtest.heartbeat "$W"
  sb oltp_write_only --threads="$THREADS" --rate="$RATE" --time="$LAG_SECONDS" --events=0 --rand-type=uniform run \
    >"$W/sysbench-lag.log" 2>&1 &
  SB_PID=$!
  # lagSeconds from the status file once a second (the first seconds may still show the catch-up).
  max_status_lag=0
  lag_t0=$(now)
  : >"$W/status-lag.samples"
  while ! lab_exited "$SB_PID"; do
    l=$(awk '/^lagSeconds:/ { print $2 }' "$STATUS" 2>/dev/null || true)
    el=$(secs "$lag_t0" "$(now)")
    echo "$el ${l:-none}" >>"$W/status-lag.samples"
    if [ -n "$l" ] && awk -v e="$el" 'BEGIN { exit !(e >= 3) }' && [ "$l" -gt "$max_status_lag" ]; then
      max_status_lag=$l
    fi
    ferry_alive || { ferry_died; die "ferry stopped during the lag run"; }
    sleep 1
  done
  wait "$SB_PID" || { tail -5 "$W/sysbench-lag.log"; die "sysbench (lag run) failed"; }
  SB_PID=""
  REACHED=$(awk '/transactions:/ { gsub(/[(]/, "", $3); printf "%d", $3 }' "$W/sysbench-lag.log")
  RATE_NOTE="sysbench reached $REACHED tps"
  if [ "${REACHED:-0}" -lt $((RATE * 95 / 100)) ]; then
    RATE_NOTE="$RATE_NOTE: the source could not sustain $RATE tps next to ferry on this machine, so the lag is measured at its limit (LAG_RATE sets the rate)"
  fi
  echo "$RATE_NOTE"
  lab_lag_end "$SRC" "$DST" sbtest.heartbeat
  LAG_LINE=$LAB_LAG_LINE
  echo "lag ($1): $LAG_LINE; status lagSeconds at most $max_status_lag"
}

FERRY_SECS=""
RSS_MIB=""
LAG_LINE=""
LOOP_LAG_LINE=""
LINK_LAG_LINE=""
STARTUP_MS=""
LINK_STARTUP_MS=""
LAB_PROXY_PID=""
if want ferry; then
  say "(a) ferry: incremental-only task from $START_FILE:$START_POS"
  load_base
  {
    lab_task_head "$TASK" "$SRC_PORT" "$DST_PORT"
    cat <<EOF
  objects:
  - database: sbtest
  initialSync:
    schema: false
    data: false
  startPosition:
    file: $START_FILE
    position: $START_POS
  engine:
    parallelism: $PARALLELISM
EOF
  } >"$W/$TASK.yaml"
  ferry_alive() { [ -n "$TIME_PID" ] && ! lab_exited "$TIME_PID"; }
  ferry_died() { lab_ferry_died "$W/ferry.log" "$STATUS"; }
  # As the operator's precheck Job does before the engine starts: the timed run then starts at
  # once (the precheck of this spec passed), and its start-up is measured.
  "$FERRY" precheck -f "$W/$TASK.yaml" --state-dir "$W/state" >"$W/precheck.log" 2>&1 ||
    { cat "$W/precheck.log"; die "ferry precheck failed"; }
  t0=$(now)
  RUST_LOG=${RUST_LOG:-ferry_engine=info} /usr/bin/time -f %M -o "$W/ferry.rss" "$FERRY" run -f "$W/$TASK.yaml" --state-dir "$W/state" --no-progress \
    >"$W/ferry.log" 2>&1 &
  TIME_PID=$!
  wait_caught_up "ferry" 600 ferry_alive ferry_died
  FERRY_SECS=$(secs "$t0" "$T_END")
  FERRY_RATE=$(awk -v n="$ROWS" -v s="$FERRY_SECS" 'BEGIN { printf "%d", n / s }')
  FERRY_TPS=$(awk -v n="$EVENTS" -v s="$FERRY_SECS" 'BEGIN { printf "%d", n / s }')
  echo "ferry: caught up in $FERRY_SECS s: $FERRY_RATE row changes/s, $FERRY_TPS transactions/s; checksums equal"

  RATE=${LAG_RATE:-$((FERRY_TPS / 2))}
  if [ -z "${LAG_RATE:-}" ] && [ "${SOURCE_TPS:-0}" -gt 0 ] && [ "$RATE" -gt $((SOURCE_TPS * 8 / 10)) ]; then
    echo "half of ferry's rate ($RATE tps) is more than 80 % of what the source sustains alone ($SOURCE_TPS tps): the lag run asks $((SOURCE_TPS * 8 / 10)) tps"
    RATE=$((SOURCE_TPS * 8 / 10))
  fi
  [ "$RATE" -ge 1 ] || RATE=1
  STARTUP_MS=$(lab_startup_ms "$W/ferry.log")
  lag_run "loopback"
  LOOP_LAG_LINE=$LAG_LINE

  FP=$(ferry_pid || true)
  [ -n "$FP" ] && kill -INT "$FP" 2>/dev/null
  wait "$TIME_PID" 2>/dev/null || true
  TIME_PID=""
  RSS_MIB=$(tail -1 "$W/ferry.rss" | awk '{ printf "%.1f", $1 / 1024 }')

  if [ "$LINK_MS" -gt 0 ]; then
    say "(a') ferry again, the source behind a ${LINK_MS} ms ± ${LINK_JITTER_MS} ms link (a delaying proxy), resuming"
    lab_delay_proxy "$PROXY_PORT" "$SRC_PORT" "$LINK_MS" "$LINK_JITTER_MS" "$W/proxy.log" || die "no delay proxy"
    sed "s/^    port: $SRC_PORT\$/    port: $PROXY_PORT/" "$W/$TASK.yaml" >"$W/$TASK-link.yaml"
    grep -q "port: $PROXY_PORT" "$W/$TASK-link.yaml" || die "the link manifest does not name the proxy"
    RUST_LOG=${RUST_LOG:-ferry_engine=info} /usr/bin/time -f %M -o "$W/ferry-link.rss" "$FERRY" run -f "$W/$TASK-link.yaml" \
      --state-dir "$W/state" --no-progress >"$W/ferry-link.log" 2>&1 &
    TIME_PID=$!
    until grep -q "reading the binlog" < <(sed 's/\x1b\[[0-9;]*m//g' "$W/ferry-link.log"); do
      ferry_alive || { ferry_died; die "ferry stopped before following the binlog over the link"; }
      sleep 0.1
    done
    lag_run "over the link"
    LINK_LAG_LINE=$LAG_LINE
    LINK_STARTUP_MS=$(lab_startup_ms "$W/ferry-link.log")
    FP=$(ferry_pid || true)
    [ -n "$FP" ] && kill -INT "$FP" 2>/dev/null
    wait "$TIME_PID" 2>/dev/null || true
    TIME_PID=""
    kill "$LAB_PROXY_PID" 2>/dev/null || true
    LAB_PROXY_PID=""
  fi
fi

# Native appliers timed, in order: their names and rates.
REPLICA_NAMES=()
REPLICA_SECS=()
REPLICA_RATES=()

replica_error() { # -> the replica's last SQL or IO error, or nothing (MariaDB: SHOW SLAVE STATUS)
  local status
  if [ "$LAB_FLAVOR" = mysql ]; then
    status=$(lab_sql "$DST" --vertical -e "SHOW REPLICA STATUS")
  else
    status=$(lab_sql "$DST" --vertical -e "SHOW SLAVE STATUS")
  fi
  printf '%s\n' "$status" | awk -F': ' '$1 ~ /^ *Last_(SQL|IO)_Error$/ && $2 != "" { print $2; exit }'
}

mariadb_replica() { # threads: MariaDB's replica from the start to the end position -> T_SECS
  local threads=$1 file pos err t0
  lab_sql "$DST" -e "STOP SLAVE; RESET SLAVE ALL;" 2>/dev/null || true
  if [ "$threads" -gt 0 ]; then
    lab_sql "$DST" -e "SET GLOBAL slave_parallel_mode = 'optimistic'"
  fi
  lab_sql "$DST" -e "SET GLOBAL slave_parallel_threads = $threads;
    CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$SRC_PORT, MASTER_USER='$LAB_USER',
      MASTER_PASSWORD='$PW', MASTER_LOG_FILE='$START_FILE', MASTER_LOG_POS=$START_POS, MASTER_USE_GTID=no;"
  slave_field() { # SHOW SLAVE STATUS field
    lab_sql "$DST" --vertical -e "SHOW SLAVE STATUS" | awk -v f="$1" -F': ' '$1 ~ "^ *" f "$" { print $2 }'
  }
  t0=$(now)
  lab_sql "$DST" -e "START SLAVE UNTIL MASTER_LOG_FILE='$END_FILE', MASTER_LOG_POS=$END_POS"
  while :; do
    file=$(slave_field Relay_Master_Log_File)
    pos=$(slave_field Exec_Master_Log_Pos)
    if [ "$file" = "$END_FILE" ] && [ "${pos:-0}" -ge "$END_POS" ]; then
      break
    fi
    err=$(replica_error)
    [ -z "$err" ] || die "replica: $err"
    awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a > 600) }' && die "the replica did not catch up within 600 s"
    sleep 0.05
  done
  T_SECS=$(secs "$t0" "$(now)")
  lab_sql "$DST" -e "STOP SLAVE; RESET SLAVE ALL;"
}

mysql_replica() { # workers: MySQL's replica from the start to the end GTIDs -> T_SECS
  local workers=$1 err t0 reached warnings
  lab_sql "$DST" -e "STOP REPLICA; RESET REPLICA ALL;" 2>/dev/null || true
  # The base carries no GTIDs (mysqldump --set-gtid-purged=OFF): the target is told it has the
  # source's transactions up to the start, so auto-positioning starts there.
  lab_sql "$DST" -e "RESET BINARY LOGS AND GTIDS; SET GLOBAL gtid_purged = '$START_GTIDS';
    SET GLOBAL replica_parallel_workers = $workers; SET GLOBAL replica_preserve_commit_order = ON;
    CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.1', SOURCE_PORT=$SRC_PORT, SOURCE_USER='$LAB_USER',
      SOURCE_PASSWORD='$PW', SOURCE_AUTO_POSITION=1, SOURCE_SSL=0, GET_SOURCE_PUBLIC_KEY=1;"
  [ "$(q "$DST" "SELECT @@GLOBAL.replica_parallel_workers")" = "$workers" ] ||
    die "the target did not take replica_parallel_workers=$workers"
  t0=$(now)
  # START REPLICA's own warnings (an older server would fall back to one applier for UNTIL): shown.
  warnings=$(lab_sql "$DST" --batch --skip-column-names \
    -e "START REPLICA UNTIL SQL_AFTER_GTIDS = '$END_GTIDS'; SHOW WARNINGS" | grep -v $'^Note\t' || true)
  [ -z "$warnings" ] || echo "START REPLICA warned: $warnings"
  while :; do
    # Returns 0 once every GTID of the set is applied, 1 after a second without.
    reached=$(q "$DST" "SELECT WAIT_FOR_EXECUTED_GTID_SET('$END_GTIDS', 1)")
    [ "$reached" = 0 ] && break
    err=$(replica_error)
    [ -z "$err" ] || die "replica: $err"
    awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a > 600) }' && die "the replica did not catch up within 600 s"
  done
  T_SECS=$(secs "$t0" "$(now)")
  lab_sql "$DST" -e "STOP REPLICA; RESET REPLICA ALL;"
}

if want replica; then
  for n in $REPLICA_THREADS; do
    if [ "$LAB_FLAVOR" = mysql ]; then
      if [ "$n" -eq 1 ]; then name="MySQL replica, 1 applier"; else name="MySQL replica, $n workers, WRITESET"; fi
      say "(b) $name (replica_parallel_workers=$n, replica_preserve_commit_order=ON), GTIDs after $START_GTIDS until $END_GTIDS"
      load_base
      mysql_replica "$n"
    else
      if [ "$n" -eq 0 ]; then name="MariaDB replica, serial"; else name="MariaDB replica, optimistic, $n threads"; fi
      say "(b) $name (slave_parallel_threads=$n) from $START_FILE:$START_POS until $END_FILE:$END_POS"
      load_base
      mariadb_replica "$n"
    fi
    [ "$(checksums "$DST")" = "$SOURCE_SUMS" ] || die "$name: CHECKSUM TABLE differs from the source"
    r=$(awk -v n="$ROWS" -v s="$T_SECS" 'BEGIN { printf "%d", n / s }')
    echo "$name: caught up in $T_SECS s: $r row changes/s; checksums equal"
    REPLICA_NAMES+=("$name")
    REPLICA_SECS+=("$T_SECS")
    REPLICA_RATES+=("$r")
  done
fi

say "results: $ROWS row changes ($EVENTS sysbench write-only transactions on $TABLES x $TABLE_SIZE rows), same machine"
echo "flavour: $LAB_FLAVOR"
echo "source: $SOURCE_DESC"
echo "target: $TARGET_DESC"
[ -n "$DEPENDENCY_NOTE" ] && echo "source dependency tracking: $DEPENDENCY_NOTE"
[ -n "$DEP_LINE" ] && echo "$DEP_LINE"
printf '%-44s %9s %14s %10s\n' APPLIER SECONDS "ROW CHANGES/S" "FERRY IS"
ratio() { awk -v f="$1" -v r="$2" 'BEGIN { printf "%.2fx", f / r }'; }
[ -n "$FERRY_SECS" ] && printf '%-44s %9s %14s %10s\n' "ferry (incremental-only task)" "$FERRY_SECS" "$FERRY_RATE" ""
BEST=""
BEST_NAME=""
for i in "${!REPLICA_NAMES[@]}"; do
  r=${REPLICA_RATES[$i]}
  printf '%-44s %9s %14s %10s\n' "${REPLICA_NAMES[$i]}" "${REPLICA_SECS[$i]}" "$r" \
    "$([ -n "$FERRY_SECS" ] && ratio "$FERRY_RATE" "$r")"
  if [ -z "$BEST" ] || [ "$r" -gt "$BEST" ]; then
    BEST=$r
    BEST_NAME=${REPLICA_NAMES[$i]}
  fi
done
if [ -n "$FERRY_SECS" ] && [ -n "$BEST" ]; then
  echo "ferry / best native applier ($BEST_NAME, $BEST row changes/s): $(ratio "$FERRY_RATE" "$BEST")"
fi
[ -n "$RSS_MIB" ] && echo "ferry peak RSS: $RSS_MIB MiB"
[ -n "$STARTUP_MS" ] && echo "ferry start-up, the precheck of this spec passed before (as in a cluster): first row change applied $STARTUP_MS ms after process start (goal: 500 ms)"
[ -n "$LOOP_LAG_LINE" ] && echo "ferry lag at --rate=$RATE for ${LAG_SECONDS}s (heartbeat every 100 ms, seen on the target within 20 ms): $LOOP_LAG_LINE"
[ -n "$LINK_LAG_LINE" ] && echo "ferry lag at --rate=$RATE over a ${LINK_MS} ms ± ${LINK_JITTER_MS} ms link to the source: $LINK_LAG_LINE (a resume over the link applied its first change $LINK_STARTUP_MS ms after process start)"
exit 0
