#!/usr/bin/env bash
# `make bench-scale`: ferry with many tables, on a private source/target pair on this machine.
#
#  1. DBS databases (scale1 ...) of TABLES tables in all (t1 ...), TABLE_SIZE rows each, on the
#     source (a sysbench-like shape: id PRIMARY KEY, k with a secondary index, c, pad), and a
#     heartbeat table in scale1.
#  2. The anchor: mydumper -t THREADS + myloader -t THREADS of those databases into the emptied
#     target, timed and checked (CHECKSUM TABLE of every table equal to the source's).
#  3. ferry run (engine.parallelism THREADS, incremental) into the emptied target: schema + data
#     timed from process start until the status says Synchronizing (the copy done and the binlog
#     followed), checksums checked; ferry's peak RSS at that point and the status file's size.
#  4. Lag: with the same ferry following, once the servers settled (SETTLE_SECONDS), sysbench runs
#     scripts/scale-writes.lua (each event an UPDATE of a random row of a random table, over all
#     tables) at LAG_RATE/s for LAG_SECONDS, with the heartbeat of scripts/lab.sh (every 100 ms;
#     stamped on the target when first seen): p50/p90/p99 and the checksums once caught up;
#     ferry's peak RSS over the whole run.
#
# Environment: FLAVOR (mariadb), DBS (10), TABLES (10000), TABLE_SIZE (100), THREADS (2), LAG_RATE
# (1000), LAG_SECONDS (30), SETTLE_SECONDS (15), TOOLS ("mydumper ferry"), BENCH_SOURCE_PORT (33075), BENCH_TARGET_PORT
# (33076), FERRY_BIN (default: a release build of this tree). The issue's second shape:
# `make bench-scale DBS=5 TABLES=500 TABLE_SIZE=100000`.
# Both servers: BUFFER_POOL (innodb_buffer_pool_size, 512M), FLUSH_LOG_AT_TRX_COMMIT (2),
# SYNC_BINLOG (0); the results name what the servers ran with. The servers get table_open_cache
# (times table_open_cache_instances) and table_definition_cache large enough for every table (a
# server with fewer reopens tables all the time, whoever copies).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export LAB_BUFFER_POOL=${BUFFER_POOL:-${LAB_BUFFER_POOL:-512M}}
export LAB_FLUSH_LOG_AT_TRX_COMMIT=${FLUSH_LOG_AT_TRX_COMMIT:-${LAB_FLUSH_LOG_AT_TRX_COMMIT:-2}}
export LAB_SYNC_BINLOG=${SYNC_BINLOG:-${LAB_SYNC_BINLOG:-0}}
export LAB_FLAVOR=${FLAVOR:-${LAB_FLAVOR:-mariadb}}
. scripts/lab.sh
lab_check_flavor || exit 2

DBS=${DBS:-10}
TABLES=${TABLES:-10000}
TABLE_SIZE=${TABLE_SIZE:-100}
THREADS=${THREADS:-2}
LAG_RATE=${LAG_RATE:-1000}
LAG_SECONDS=${LAG_SECONDS:-30}
SETTLE_SECONDS=${SETTLE_SECONDS:-15}
TOOLS=${TOOLS:-mydumper ferry}
SRC_PORT=${BENCH_SOURCE_PORT:-33075}
DST_PORT=${BENCH_TARGET_PORT:-33076}
export PATH="$HOME/.cargo/bin:$PATH"
B=.bench
SRC=$B/scale-source
DST=$B/scale-target
W=$B/scale
PW=$LAB_PASSWORD
TASK=bench-scale
STATUS=$W/state/$TASK.status.yaml
for v in DBS TABLES TABLE_SIZE THREADS LAG_RATE LAG_SECONDS SETTLE_SECONDS; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "bench-scale: $v=${!v}: expected a positive number" >&2; exit 2; }
done
[ $((TABLES % DBS)) -eq 0 ] || { echo "bench-scale: TABLES ($TABLES) must be a multiple of DBS ($DBS)" >&2; exit 2; }
PER_DB=$((TABLES / DBS))
ROWS=$((TABLES * TABLE_SIZE))

say() { printf '\n== %s\n' "$*"; }
die() { echo "bench-scale: $*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
want() { [[ " $TOOLS " == *" $1 "* ]]; }
q() { lab_sql "$1" --batch --skip-column-names -e "$2"; }

say "dependencies and a release build of ferry"
scripts/install-deps.sh
FERRY=${FERRY_BIN:-$PWD/target/release/ferry}
if want ferry; then
  [ -n "${FERRY_BIN:-}" ] || cargo build -q --release -p ferry-engine
  [ -x "$FERRY" ] || die "no ferry binary at $FERRY"
fi

TIME_PID=""
SB_PID=""
ferry_pid() { [ -n "$TIME_PID" ] && pgrep -P "$TIME_PID" ferry 2>/dev/null | head -1; }
cleanup() {
  local p
  lab_lag_stop
  # KEEP_SERVERS=1 leaves both servers running (to look into a result; `make clean-lab` removes them).
  if [ -n "${KEEP_SERVERS:-}" ]; then
    for p in "$(ferry_pid || true)" "$SB_PID" "$TIME_PID"; do
      [ -n "$p" ] && ! lab_exited "$p" && kill "$p" 2>/dev/null
    done
    return
  fi
  for p in "$(ferry_pid || true)" "$SB_PID" "$TIME_PID"; do
    [ -n "$p" ] && ! lab_exited "$p" && kill "$p" 2>/dev/null
  done
  lab_discard "$SRC" 2>/dev/null || true
  lab_discard "$DST" 2>/dev/null || true
  rm -rf "$W/dump"
}
trap cleanup EXIT

lab_bench_pair "$SRC" "$SRC_PORT" "$DST" "$DST_PORT" "$W" || exit 1
# Every table open at once, on both servers, in every instance of the table cache (MySQL splits
# table_open_cache over table_open_cache_instances, 16 by default: a session that writes all
# tables sees one instance's share, and with less than every table it opens tables all the time).
CACHE=$((TABLES + 1000))
for side in "$SRC" "$DST"; do
  instances=$(q "$side" "SELECT @@table_open_cache_instances")
  open_cache=$((CACHE * instances))
  [ "$open_cache" -le 524288 ] || open_cache=524288
  q "$side" "SET GLOBAL table_open_cache = $open_cache; SET GLOBAL table_definition_cache = $CACHE" ||
    die "cannot raise table_open_cache on $side"
  echo "$side: table_open_cache $(q "$side" "SELECT @@table_open_cache") ($instances instances), table_definition_cache $(q "$side" "SELECT @@table_definition_cache")"
done
SOURCE_DESC=$(lab_describe "$SRC")
TARGET_DESC=$(lab_describe "$DST")

say "the source: $DBS databases, $TABLES tables of $TABLE_SIZE rows ($ROWS rows)"
t0=$(now)
# scale1.t1 gets its rows from the client; every other table copies them with k shifted, inside the
# server (fast), so that no two tables hold the same rows.
{
  for d in $(seq 1 "$DBS"); do echo "CREATE DATABASE scale$d;"; done
  echo "CREATE TABLE scale1.t1 (id INT NOT NULL PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL, KEY k_1 (k));"
  awk -v n="$TABLE_SIZE" 'BEGIN {
    srand(7)
    for (i = 1; i <= n; i++) {
      if ((i - 1) % 1000 == 0) printf "%sINSERT INTO scale1.t1 VALUES ", (i > 1 ? ";\n" : "")
      else printf ","
      c = ""; for (j = 0; j < 11; j++) c = c sprintf("%010d-", int(rand() * 1e10))
      printf "(%d,%d,\047%s\047,\047%s\047)", i, int(rand() * n), substr(c, 1, 119), substr(c, 1, 59)
    }
    print ";"
  }'
  for d in $(seq 1 "$DBS"); do
    for t in $(seq 1 "$PER_DB"); do
      [ "$d$t" = 11 ] && continue
      echo "CREATE TABLE scale$d.t$t LIKE scale1.t1; INSERT INTO scale$d.t$t SELECT id, k + $t * $d, c, pad FROM scale1.t1;"
    done
  done
} | lab_sql "$SRC" || die "could not fill the source"
lab_lag_table "$SRC" scale1.heartbeat
echo "made in $(secs "$t0" "$(now)") s"

# "db.table checksum" lines of every benchmark table, sorted (CHECKSUM TABLE in batches).
checksums() {
  local d
  for d in $(seq 1 "$DBS"); do
    q "$1" "CHECKSUM TABLE $(seq -s, -f "scale$d.t%g" 1 "$PER_DB")"
  done | sort
}
SOURCE_SUMS=$(checksums "$SRC")
[ "$(printf '%s\n' "$SOURCE_SUMS" | awk '$2 != "NULL"' | wc -l)" -eq "$TABLES" ] || die "the source lacks tables"

reset_target() {
  local db
  for db in $(q "$DST" "SHOW DATABASES" | grep -E '^(scale[0-9]+|ferry_meta.*)$'); do
    q "$DST" "DROP DATABASE \`$db\`"
  done
  rm -rf "$W/dump" "$W/state"
}
verify() { # name: every table's checksum equal to the source's
  [ "$(checksums "$DST")" = "$SOURCE_SUMS" ] || die "$1: CHECKSUM TABLE differs from the source"
  echo "$1: $TABLES tables, checksums equal to the source"
}

MY_SECS=""
if want mydumper; then
  say "(a) mydumper -t $THREADS + myloader -t $THREADS"
  reset_target
  t0=$(now)
  mydumper -h 127.0.0.1 -P "$SRC_PORT" -u "$LAB_USER" -p "$PW" --regex '^scale[0-9]+\.t[0-9]+$' -t "$THREADS" \
    -o "$W/dump" -v 1
  myloader -h 127.0.0.1 -P "$DST_PORT" -u "$LAB_USER" -p "$PW" -d "$W/dump" -t "$THREADS" -v 1
  MY_SECS=$(secs "$t0" "$(now)")
  verify "mydumper/myloader"
  echo "mydumper/myloader: $MY_SECS s"
fi

FERRY_SECS=""
COPY_RSS=""
RSS_MIB=""
STATUS_BYTES=""
LAG_LINE=""
if want ferry; then
  say "(b) ferry run (engine.parallelism $THREADS): schema + data, then the binlog"
  reset_target
  {
    lab_task_head "$TASK" "$SRC_PORT" "$DST_PORT"
    echo "  objects:"
    for d in $(seq 1 "$DBS"); do echo "  - database: scale$d"; done
    printf '  engine:\n    parallelism: %s\n' "$THREADS"
  } >"$W/$TASK.yaml"
  ferry_alive() { [ -n "$TIME_PID" ] && ! lab_exited "$TIME_PID"; }
  ferry_died() { lab_ferry_died "$W/ferry.log" "$STATUS"; }
  t0=$(now)
  RUST_LOG=${RUST_LOG:-ferry_engine=info} /usr/bin/time -f %M -o "$W/ferry.rss" "$FERRY" run -f "$W/$TASK.yaml" \
    --state-dir "$W/state" --no-progress >"$W/ferry.log" 2>&1 &
  TIME_PID=$!
  until grep -q '^phase: Synchronizing' "$STATUS" 2>/dev/null; do
    ferry_alive || { ferry_died; die "ferry stopped before the copy ended"; }
    awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a > 3600) }' && { ferry_died; die "no copy within an hour"; }
    sleep 0.1
  done
  FERRY_SECS=$(secs "$t0" "$(now)")
  COPY_RSS=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$(ferry_pid)/status")
  STATUS_BYTES=$(wc -c <"$STATUS")
  verify "ferry"
  echo "ferry: schema + data in $FERRY_SECS s, peak RSS $COPY_RSS MiB, status file $STATUS_BYTES bytes"

  # The servers settle first (a copy of thousands of tables leaves the target flushing and
  # recomputing statistics for a while): the lag run measures the steady state.
  say "settling for ${SETTLE_SECONDS}s"
  sleep "$SETTLE_SECONDS"
  say "lag: updates over all $TABLES tables at $LAG_RATE/s for ${LAG_SECONDS}s, heartbeat every 100 ms"
  lab_lag_begin "$SRC" "$DST" scale1.heartbeat "$W"
  sysbench scripts/scale-writes.lua --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$SRC_PORT" \
    --mysql-user="$LAB_USER" --mysql-password="$PW" --mysql-db=scale1 --dbs="$DBS" --tables="$PER_DB" --rows="$TABLE_SIZE" \
    --threads="$THREADS" --rate="$LAG_RATE" --time="$LAG_SECONDS" --events=0 run >"$W/sysbench-lag.log" 2>&1 &
  SB_PID=$!
  while ! lab_exited "$SB_PID"; do
    ferry_alive || { ferry_died; die "ferry stopped during the lag run"; }
    sleep 1
  done
  wait "$SB_PID" || { tail -5 "$W/sysbench-lag.log"; die "sysbench (lag run) failed"; }
  SB_PID=""
  REACHED=$(awk '/transactions:/ { gsub(/[(]/, "", $3); printf "%d", $3 }' "$W/sysbench-lag.log")
  lab_lag_end "$SRC" "$DST" scale1.heartbeat
  LAG_LINE="$LAB_LAG_LINE; sysbench reached $REACHED updates/s"
  echo "lag: $LAG_LINE"
  SOURCE_SUMS=$(checksums "$SRC")
  for _ in $(seq 1 100); do [ "$(checksums "$DST")" = "$SOURCE_SUMS" ] && break; sleep 0.3; done
  verify "ferry after the lag run"
  STATUS_BYTES=$(wc -c <"$STATUS")
  kill -INT "$(ferry_pid)" 2>/dev/null || true
  wait "$TIME_PID" 2>/dev/null || true
  TIME_PID=""
  RSS_MIB=$(tail -1 "$W/ferry.rss" | awk '{ printf "%.1f", $1 / 1024 }')
fi

say "results: $TABLES tables ($DBS databases) x $TABLE_SIZE rows, schema + data, same machine"
echo "flavour: $LAB_FLAVOR"
echo "source: $SOURCE_DESC"
echo "target: $TARGET_DESC"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
printf '%-34s %9s %12s %10s\n' TOOL SECONDS TABLES/S "FERRY IS"
if [ -n "$MY_SECS" ]; then
  printf '%-34s %9s %12s %10s\n' "mydumper/myloader -t $THREADS" "$MY_SECS" "$(awk -v n="$TABLES" -v s="$MY_SECS" 'BEGIN { printf "%d", n / s }')" \
    "$([ -n "$FERRY_SECS" ] && ratio "$MY_SECS" "$FERRY_SECS")"
fi
if [ -n "$FERRY_SECS" ]; then
  printf '%-34s %9s %12s\n' "ferry (parallelism $THREADS)" "$FERRY_SECS" "$(awk -v n="$TABLES" -v s="$FERRY_SECS" 'BEGIN { printf "%d", n / s }')"
  echo "(FERRY IS: that tool's time / ferry's; ferry's time runs until it follows the binlog)"
  echo "ferry peak RSS: $COPY_RSS MiB at the copy's end, $RSS_MIB MiB over the whole run (goal: 128 MiB)"
  echo "ferry status file: $STATUS_BYTES bytes"
  echo "ferry lag at $LAG_RATE updates/s over $TABLES tables for ${LAG_SECONDS}s (heartbeat every 100 ms, seen within 20 ms): $LAG_LINE"
fi
exit 0
