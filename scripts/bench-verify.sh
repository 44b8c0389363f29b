#!/usr/bin/env bash
# `make bench-verify`: speed of `ferry verify` against pt-table-sync --print (Percona Toolkit), on a
# private source/target pair on this machine, and what each costs the source in CPU.
#
#  1. sysbench prepare (TABLES x TABLE_SIZE rows) on the source.
#  2. ferry run of a task with incremental sync (the default), until its initial sync is done and it
#     follows the binlog (status phase Synchronizing, and the 32 slot positions of its checkpoint on
#     the target), CHECKSUM TABLE of every sysbench table equal on both sides. Then ferry is
#     stopped (SIGTERM): the target holds everything, and verification reads ferry's checkpoint,
#     not a running ferry.
#  3. One difference planted per table on the target: UPDATE sbtestN SET c='planted by bench-verify'
#     WHERE id=<a row in the middle of the table>.
#  4. (a) ferry verify -f task.yaml --output json --no-progress, timed: rows/s = rows compared (its
#     report) / wall seconds. Checked: every table reports exactly one row, different, the planted
#     id (examples "different id=N"), nothing missing, extra or unconfirmed; exit status 1.
#     (b) pt-table-sync --print (never --execute) comparing the two servers as independent hosts
#     (first DSN the source, second the target, --databases sbtest), timed: rows/s = the rows of
#     the sysbench tables / wall seconds. Checked: its printed statements change exactly the
#     planted rows (one UPDATE per table, WHERE `id`='N').
#     For each: the source server's CPU seconds during the run (utime + stime of its mysqld or
#     mariadbd from /proc/PID/stat, before and after) and the tool's own peak RSS.
#     Each tool runs RUNS times, alternating (load from elsewhere on the machine hits both alike);
#     its fastest run is printed, and every run must find exactly the planted rows.
# Prints both, ferry's rows/s ratio to pt-table-sync's (the goal: 3x or more) and the servers'
# settings. Both tools run with warm buffer pools (the data was just written and copied).
#
# FLAVOR=mysql (`make bench-verify FLAVOR=mysql`): two MySQL 9.7 servers (scripts/lab.sh).
# pt-table-sync 3.2.1 needs two options there, both passed by the script:
#  - --no-check-slave: before it compares, it runs SHOW SLAVE STATUS on the target (its check that
#    it would not write to a replica, on by default even with --print); MySQL 8.4 and 9 dropped that
#    statement (SHOW REPLICA STATUS only), so every table fails with a syntax error. The target is a
#    standalone lab server, and --print writes nothing.
#  - --set-vars explain_format=TRADITIONAL: it sizes its chunks from the `rows` column of EXPLAIN
#    SELECT * FROM t; MySQL 9's default explain_format is TREE (one text column), so it finds no
#    rows, takes the table for one chunk (WHERE 1=1) and, the table differing, fetches and compares
#    every row of it in Perl: correct, but about 4x slower than with its 1000-row chunks.
# (Its Debian DBD::mysql, on libmariadb 3.3, logs in with caching_sha2_password over TCP without
# TLS, fetching the server's RSA key, like ferry.) FLAVOR=mariadb is the default.
#
# Environment: FLAVOR (mariadb), TABLES (4), TABLE_SIZE (250000), THREADS (2: sysbench prepare
# threads and ferry's engine.parallelism for the copy), TOOLS ("ferry pt-table-sync"), RUNS (3: runs
# of each tool, alternating; the fastest is printed, every run is checked), CHUNK_ROWS
# (ferry verify --chunk-rows; default: ferry's), PARALLEL (ferry verify --parallel; default: ferry's), PT_CHUNK_SIZE (pt-table-sync --chunk-size; default:
# its own, 1000), PT_OPTIONS (more pt-table-sync options), BENCH_SOURCE_PORT (33075),
# BENCH_TARGET_PORT (33076), FERRY_BIN (default: a release build of this tree).
# Both servers: BUFFER_POOL (innodb_buffer_pool_size, 512M), FLUSH_LOG_AT_TRX_COMMIT
# (innodb_flush_log_at_trx_commit, 2), SYNC_BINLOG (sync_binlog, 0).
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
THREADS=${THREADS:-2}
TOOLS=${TOOLS:-ferry pt-table-sync}
RUNS=${RUNS:-3}
CHUNK_ROWS=${CHUNK_ROWS:-}
PARALLEL=${PARALLEL:-}
PT_CHUNK_SIZE=${PT_CHUNK_SIZE:-}
PT_OPTIONS=${PT_OPTIONS:-}
SRC_PORT=${BENCH_SOURCE_PORT:-33075}
DST_PORT=${BENCH_TARGET_PORT:-33076}
export PATH="$HOME/.cargo/bin:$PATH"
B=.bench
SRC=$B/verify-source
DST=$B/verify-target
W=$B/verify
PW=$LAB_PASSWORD
TASK=bench-verify
STATUS=$W/state/$TASK.status.yaml
ROWS=$((TABLES * TABLE_SIZE))
PLANTED_C="planted by bench-verify"

say() { printf '\n== %s\n' "$*"; }
die() { echo "bench-verify: $*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
want() { [[ " $TOOLS " == *" $1 "* ]]; }

[[ "$TABLES" =~ ^[1-9][0-9]*$ ]] || die "TABLES=$TABLES: expected a number"
[[ "$TABLE_SIZE" =~ ^[0-9]+$ ]] && [ "$TABLE_SIZE" -ge 10 ] || die "TABLE_SIZE=$TABLE_SIZE: expected a number, 10 or more"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "RUNS=$RUNS: expected a number, 1 or more"
for t in $TOOLS; do
  case "$t" in ferry | pt-table-sync) ;; *) die "TOOLS: unknown tool $t (ferry, pt-table-sync)" ;; esac
done

say "dependencies and a release build of ferry"
scripts/install-deps.sh
FERRY=${FERRY_BIN:-$PWD/target/release/ferry}
# ferry always runs: its task makes the target's copy (and verify needs its checkpoint).
[ -n "${FERRY_BIN:-}" ] || cargo build -q --release -p ferry-engine
[ -x "$FERRY" ] || die "no ferry binary at $FERRY"
if want pt-table-sync; then
  command -v pt-table-sync >/dev/null || die "no pt-table-sync (percona-toolkit): run scripts/install-deps.sh"
fi

FERRY_PID=""
cleanup() {
  if [ -n "$FERRY_PID" ] && ! lab_exited "$FERRY_PID"; then kill "$FERRY_PID" 2>/dev/null || true; fi
  # KEEP_SERVERS=1 leaves both servers running (to look into a result; `make clean-lab` removes them).
  [ -n "${KEEP_SERVERS:-}" ] && return
  lab_discard "$SRC" 2>/dev/null || true
  lab_discard "$DST" 2>/dev/null || true
}
trap cleanup EXIT

lab_bench_pair "$SRC" "$SRC_PORT" "$DST" "$DST_PORT" "$W" || exit 1
SOURCE_DESC=$(lab_describe "$SRC")
TARGET_DESC=$(lab_describe "$DST")

q() { # side sql: values, tab separated
  lab_sql "$1" --batch --skip-column-names -e "$2"
}
checksums() { # side -> "table checksum" lines of the sysbench tables
  q "$1" "CHECKSUM TABLE $(seq -s, -f "sbtest.sbtest%g" 1 "$TABLES")"
}
# The source server's pid (the lab's pid file; for MySQL inside the root) and its CPU seconds.
SRC_PID=$(cat "$(lab_home "$SRC")/mysqld.pid")
grep -qE 'mariadbd|mysqld' "/proc/$SRC_PID/cmdline" 2>/dev/null || die "pid $SRC_PID is not the source server"
CLK_TCK=$(getconf CLK_TCK)
src_cpu() { # -> utime + stime of the source server, seconds (fields 14 and 15 of /proc/PID/stat)
  local stat
  stat=$(cat "/proc/$SRC_PID/stat") || die "the source server (pid $SRC_PID) is gone"
  stat=${stat##*) } # after the command name; the state is field 3, so utime is the 12th here
  awk -v t="$CLK_TCK" '{ printf "%.2f", ($12 + $13) / t }' <<<"$stat"
}

say "sysbench prepare: $TABLES tables x $TABLE_SIZE rows on the source"
lab_sql "$SRC" -e "CREATE DATABASE sbtest"
t0=$(now)
sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$SRC_PORT" \
  --mysql-user="$LAB_USER" --mysql-password="$PW" --mysql-db=sbtest \
  --tables="$TABLES" --table-size="$TABLE_SIZE" --threads="$THREADS" prepare >"$W/sysbench.log" 2>&1 ||
  { tail -5 "$W/sysbench.log"; die "sysbench prepare failed"; }
echo "prepared in $(secs "$t0" "$(now)") s"
SOURCE_SUMS=$(checksums "$SRC")

say "ferry run: initial sync, then following the binlog (engine.parallelism $THREADS)"
{
  lab_task_head "$TASK" "$SRC_PORT" "$DST_PORT"
  cat <<EOF
  objects:
  - database: sbtest
  engine:
    parallelism: $THREADS
EOF
} >"$W/$TASK.yaml"
ferry_died() {
  echo "--- end of $W/ferry.log" >&2
  tail -20 "$W/ferry.log" >&2
  if [ -f "$STATUS" ]; then echo "--- $STATUS" >&2; cat "$STATUS" >&2; fi
}
t0=$(now)
RUST_LOG=${RUST_LOG:-ferry_engine=info} "$FERRY" run -f "$W/$TASK.yaml" --state-dir "$W/state" --no-progress \
  >"$W/ferry.log" 2>&1 &
FERRY_PID=$!
# Following: the status says Synchronizing, the checkpoint has its 32 slot positions (what
# ferry verify reads), and the target's tables equal the source's.
while :; do
  lab_exited "$FERRY_PID" && { ferry_died; die "ferry run stopped before following the binlog"; }
  if [ "$(awk '/^phase:/ { print $2 }' "$STATUS" 2>/dev/null || true)" = Synchronizing ] &&
    [ "$(q "$DST" "SELECT COUNT(*) FROM ferry_meta.apply_slots WHERE task LIKE '%/$TASK'" 2>/dev/null || echo 0)" -ge 32 ] &&
    [ "$(checksums "$DST" 2>/dev/null || true)" = "$SOURCE_SUMS" ]; then
    break
  fi
  awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a > 1800) }' && { ferry_died; die "ferry did not reach the binlog within 1800 s"; }
  sleep 0.5
done
echo "ferry: initial sync done and following the binlog after $(secs "$t0" "$(now)") s; CHECKSUM TABLE equal on both sides"
kill -TERM "$FERRY_PID"
for _ in $(seq 1 300); do lab_exited "$FERRY_PID" && break; sleep 0.1; done
lab_exited "$FERRY_PID" || die "ferry did not stop within 30 s of SIGTERM"
wait "$FERRY_PID" 2>/dev/null || true
FERRY_PID=""
echo "ferry stopped (SIGTERM); its checkpoint stays on the target"

say "planting one difference per table on the target"
declare -A PLANTED # table -> id
for i in $(seq 1 "$TABLES"); do
  id=$((TABLE_SIZE * i / (TABLES + 1) + 7))
  n=$(q "$DST" "UPDATE sbtest.sbtest$i SET c = '$PLANTED_C' WHERE id = $id; SELECT ROW_COUNT()")
  [ "$n" = 1 ] || die "planting in sbtest.sbtest$i (id=$id) changed $n rows"
  PLANTED[sbtest$i]=$id
  echo "sbtest.sbtest$i: id=$id"
done
[ "$(checksums "$DST")" != "$SOURCE_SUMS" ] || die "CHECKSUM TABLE still equal after planting"
planted_list() { # -> "sbtestN id" lines, by table
  local t
  for t in "${!PLANTED[@]}"; do echo "$t ${PLANTED[$t]}"; done | sort -V
}
EXPECTED=$(planted_list)

# Results: per tool, the fastest of its RUNS runs (each run checked).
NAMES=()
declare -A T_SECS T_RATE T_CPU T_FOUND T_RSS T_OK T_ALL
timed() { # name rows start end cpu0 cpu1 found rss-kib ok: one run; kept when the tool's fastest
  local n=$1 sec
  sec=$(secs "$3" "$4")
  T_ALL[$n]="${T_ALL[$n]:+${T_ALL[$n]} }$sec"
  [ "${T_OK[$n]:-yes}" = yes ] || return 0 # a failed check sticks
  if [ -z "${T_SECS[$n]:-}" ]; then
    NAMES+=("$n")
  elif [ "$9" = yes ] && awk -v a="$sec" -v b="${T_SECS[$n]}" 'BEGIN { exit !(a >= b) }'; then
    return 0
  fi
  T_SECS[$n]=$sec
  T_RATE[$n]=$(awk -v r="$2" -v s="$sec" 'BEGIN { printf "%d", r / s }')
  T_CPU[$n]=$(awk -v a="$5" -v b="$6" 'BEGIN { printf "%.2f", b - a }')
  T_FOUND[$n]=$7
  T_RSS[$n]=$(awk -v k="$8" 'BEGIN { printf "%.1f", k / 1024 }')
  T_OK[$n]=$9
}

FERRY_NAME="ferry verify"
FERRY_NOTE=""
verify_args=(verify -f "$W/$TASK.yaml" --output json --no-progress)
[ -n "$CHUNK_ROWS" ] && verify_args+=(--chunk-rows "$CHUNK_ROWS")
[ -n "$PARALLEL" ] && verify_args+=(--parallel "$PARALLEL")
run_ferry() { # run-number
  local c0 c1 t0 t1 rc=0 report f_rows f_diff found ok=yes
  say "(a) ferry ${verify_args[*]} (run $1 of $RUNS)"
  c0=$(src_cpu)
  t0=$(now)
  /usr/bin/time -f %M -o "$W/verify.rss" "$FERRY" "${verify_args[@]}" >"$W/verify.json" 2>"$W/verify.log" || rc=$?
  t1=$(now)
  c1=$(src_cpu)
  if [ "$rc" -ne 1 ]; then
    tail -20 "$W/verify.log" >&2
    cat "$W/verify.json" >&2
    [ "$rc" -eq 0 ] && die "ferry verify exited 0 (equal) although $TABLES rows were planted"
    die "ferry verify exited $rc"
  fi
  # The report: rows compared, differences, and per table "sbtestN rows different missing extra
  # unconfirmed example..." (spaces in examples as _).
  report=$(perl -MJSON::PP -0777 -ne '
    my $r = decode_json($_);
    print "rows $r->{rowsCompared}\n", "differences $r->{differences}\n";
    for my $t (@{ $r->{tables} || [] }) {
      (my $n = $t->{name}) =~ s/^sbtest\.//;
      print join(" ", "table", $n, map({ $t->{$_} // 0 } qw(rowsCompared different missing extra unconfirmed)),
        map { s/ /_/gr } @{ $t->{examples} || [] }), "\n";
    }' "$W/verify.json") || die "ferry verify: could not read its JSON report ($W/verify.json)"
  f_rows=$(awk '$1 == "rows" { print $2 }' <<<"$report")
  f_diff=$(awk '$1 == "differences" { print $2 }' <<<"$report")
  # What it found, as "sbtestN id" lines: tables whose only difference is one different row.
  found=$(awk '$1 == "table" && $4 == 1 && $5 == 0 && $6 == 0 && $7 == 0 && NF == 8 && $8 ~ /^different_id=[0-9]+$/ {
    sub(/^different_id=/, "", $8); print $2, $8 }' <<<"$report" | sort -V)
  if [ "$f_diff" != "$TABLES" ] || [ "$found" != "$EXPECTED" ] || [ "$f_rows" != "$ROWS" ]; then
    ok=NO
    echo "ferry verify did not report exactly the planted rows: expected"
    echo "$EXPECTED" | sed 's/^/  /'
    echo "its report (rows compared, differences; per table: rows, different, missing, extra, unconfirmed, examples):"
    echo "$report" | sed 's/^/  /'
    cp "$W/verify.json" "$W/verify-run$1.json"
    echo "(JSON: $W/verify-run$1.json)"
  fi
  echo "ferry verify: $f_rows rows compared, $f_diff differences ($(awk '$1 == "table" { printf "%s%s: %s", s, $2, ($8 == "" ? "-" : $8); s = ", " }' <<<"$report")) in $(secs "$t0" "$t1") s; exit status 1; planted rows found: $ok"
  [ "$f_rows" = "$ROWS" ] || FERRY_NOTE="ferry compared $f_rows rows, not $ROWS"
  timed "$FERRY_NAME" "$f_rows" "$t0" "$t1" "$c0" "$c1" "$f_diff" "$(tail -1 "$W/verify.rss")" "$ok"
}

PT_NAME="pt-table-sync --print"
PT_NOTE=""
# Over TCP like ferry (no TLS); the source first, the target second.
src_dsn="h=127.0.0.1,P=$SRC_PORT,u=$LAB_USER,p=$PW"
dst_dsn="h=127.0.0.1,P=$DST_PORT,u=$LAB_USER,p=$PW"
pt_flavor=()
if [ "$LAB_FLAVOR" = mysql ]; then
  # Without its SHOW SLAVE STATUS check of the target (a syntax error on MySQL 9), and with the
  # EXPLAIN format its chunking reads (see the top).
  pt_flavor=(--no-check-slave --set-vars explain_format=TRADITIONAL)
  PT_NOTE="run with --no-check-slave (its check that the target is no replica runs SHOW SLAVE STATUS, which MySQL 9 does not have: a syntax error for every table without it) and --set-vars explain_format=TRADITIONAL (it sizes chunks from EXPLAIN's rows column; with MySQL 9's default TREE format it takes each table for one chunk and compares a differing table row by row)"
fi
# --verbose: a line per table with the algorithm it chose and the statements it would run.
pt_args=(--print --verbose --no-version-check --databases sbtest "${pt_flavor[@]}")
[ -n "$PT_CHUNK_SIZE" ] && pt_args+=(--chunk-size "$PT_CHUNK_SIZE")
# shellcheck disable=SC2206 # PT_OPTIONS: words
[ -n "$PT_OPTIONS" ] && pt_args+=($PT_OPTIONS)
run_pt() { # run-number
  local c0 c1 t0 t1 rc=0 stmts found ok=yes
  say "(b) pt-table-sync ${pt_args[*]} ${src_dsn/p=$PW/p=...} ${dst_dsn/p=$PW/p=...} (run $1 of $RUNS)"
  c0=$(src_cpu)
  t0=$(now)
  /usr/bin/time -f %M -o "$W/pt.rss" pt-table-sync "${pt_args[@]}" "$src_dsn" "$dst_dsn" >"$W/pt.out" 2>"$W/pt.err" || rc=$?
  t1=$(now)
  c1=$(src_cpu)
  # Exit status: 0 in sync, 2 when a table differs (also with --print alone), 1 or 3: an error
  # (a table it could not compare counts as one, and its message goes to stderr).
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
    echo "--- pt-table-sync exited $rc; its stderr:" >&2
    cat "$W/pt.err" >&2
    die "pt-table-sync failed"
  fi
  [ -s "$W/pt.err" ] && { echo "pt-table-sync wrote to stderr:"; sed 's/^/  /' "$W/pt.err"; }
  if grep -qE '^# +[0-9]+ +[0-9]+ ' "$W/pt.out"; then # --verbose's table lines, under their header
    grep -E '^# DELETE' "$W/pt.out" | head -1 | sed 's/^/  /'
    grep -E '^# +[0-9]+ +[0-9]+ ' "$W/pt.out" | sed 's/^/  /'
  fi
  # Statements: "UPDATE `sbtest`.`sbtestN` SET ... WHERE `id`='M' LIMIT 1", or INSERT/REPLACE/DELETE.
  stmts=$(grep -cE '^(UPDATE|INSERT|REPLACE|DELETE) ' "$W/pt.out" || true)
  found=$(perl -ne '
    next unless /^(UPDATE|INSERT|REPLACE|DELETE)\b/;
    my $kind = $1;
    my ($t) = /^(?:UPDATE|INSERT INTO|REPLACE INTO|DELETE FROM) `sbtest`\.`([^`]+)`/ or do { print "? $kind\n"; next };
    my ($id) = $kind eq "UPDATE" || $kind eq "DELETE" ? /WHERE `id`=\x27(\d+)\x27/ : /VALUES \(\x27(\d+)\x27/;
    print "$t ", ($kind eq "UPDATE" ? "" : "$kind:"), ($id // "?"), "\n";' "$W/pt.out" | sort -V)
  if [ "$found" != "$EXPECTED" ]; then
    ok=NO
    echo "pt-table-sync did not print exactly the planted rows: expected"
    echo "$EXPECTED" | sed 's/^/  /'
    echo "its statements (table id):"
    echo "$found" | sed 's/^/  /'
    cp "$W/pt.out" "$W/pt-run$1.out"
  fi
  # Every printed UPDATE must set the source's c back (not the planted value).
  if grep -q "$PLANTED_C" "$W/pt.out"; then ok=NO; echo "pt-table-sync's statements write the planted value"; fi
  echo "pt-table-sync: $stmts statements ($(tr '\n' ',' <<<"$found" | sed 's/,$//; s/,/, /g')) in $(secs "$t0" "$t1") s, exit status $rc; planted rows found: $ok"
  timed "$PT_NAME" "$ROWS" "$t0" "$t1" "$c0" "$c1" "$stmts" "$(tail -1 "$W/pt.rss")" "$ok"
}

# Alternating, so that load from elsewhere on the machine hits both alike.
for run in $(seq 1 "$RUNS"); do
  if want ferry; then run_ferry "$run"; fi
  if want pt-table-sync; then run_pt "$run"; fi
done

say "results: $TABLES tables x $TABLE_SIZE rows ($ROWS rows), one row planted different per table on the target, same machine"
echo "flavour: $LAB_FLAVOR"
echo "source: $SOURCE_DESC"
echo "target: $TARGET_DESC"
echo "servers: buffer pool $LAB_BUFFER_POOL, innodb_flush_log_at_trx_commit=$LAB_FLUSH_LOG_AT_TRX_COMMIT, sync_binlog=$LAB_SYNC_BINLOG; ferry stopped after its initial sync (verify reads its checkpoint)"
printf '%-24s %9s %10s %14s %12s %9s %9s\n' TOOL SECONDS ROWS/S "SOURCE CPU S" DIFFERENCES PLANTED "RSS MIB"
for n in "${NAMES[@]}"; do
  printf '%-24s %9s %10s %14s %12s %9s %9s\n' "$n" "${T_SECS[$n]}" "${T_RATE[$n]}" "${T_CPU[$n]}" \
    "${T_FOUND[$n]}" "${T_OK[$n]}" "${T_RSS[$n]}"
done
echo "(the fastest of $RUNS run(s) each, alternating; ROWS/S: rows compared / wall seconds; SOURCE CPU S: the source"
echo " server's user + system CPU during that run; DIFFERENCES: ferry's reported differences, pt-table-sync's"
echo " printed statements; PLANTED: exactly the $TABLES planted rows, by key, in every run)"
if [ "$RUNS" -gt 1 ]; then
  for n in "${NAMES[@]}"; do echo "$n, every run (s): ${T_ALL[$n]}"; done
fi
[ -n "$FERRY_NOTE" ] && echo "note: $FERRY_NOTE"
[ -n "$PT_NOTE" ] && echo "pt-table-sync: $PT_NOTE"
if [ -n "${T_RATE[$FERRY_NAME]:-}" ] && [ -n "${T_RATE[$PT_NAME]:-}" ]; then
  r=$(awk -v a="${T_RATE[$FERRY_NAME]}" -v b="${T_RATE[$PT_NAME]}" 'BEGIN { printf "%.2f", a / b }')
  goal=$(awk -v r="$r" 'BEGIN { print (r >= 3 ? "met" : "NOT met") }')
  echo "ferry verify / pt-table-sync: ${r}x the rows/s (goal 3x: $goal)"
  cpu_line=$(awk -v a="${T_CPU[$FERRY_NAME]}" -v b="${T_CPU[$PT_NAME]}" \
    'BEGIN { if (b > 0) printf "%.2fx pt-table-sync'"'"'s", a / b; else printf "%s s (pt-table-sync: %s s)", a, b }')
  echo "source CPU of ferry verify: $cpu_line"
fi
for n in "${NAMES[@]}"; do
  [ "${T_OK[$n]}" = yes ] || die "$n did not find exactly the planted differences (see above)"
done
exit 0
