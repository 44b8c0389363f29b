#!/usr/bin/env bash
# Private MariaDB or MySQL servers for the demo and the benchmarks, with the same settings as the
# test harness (tests/src/flavor.rs). Never touches the system server on 3306.
#
# As a command:
#   scripts/lab.sh start DIR PORT [binlog|nobinlog] [server args...]
#   scripts/lab.sh stop DIR
#   scripts/lab.sh sql DIR [client args...]       # root over the socket; SQL on stdin
#   scripts/lab.sh clean                          # stop every server under .demo/ and .bench/, remove them
# Or sourced (`. scripts/lab.sh`) for the functions lab_start, lab_stop, lab_sql, lab_port_busy, ...
#
# LAB_FLAVOR picks what `start` makes: mariadb (the default; the machine's MariaDB 10.11) or mysql
# (MySQL 9.7 from the Debian sid root of scripts/install-mysql.sh, $FERRY_MYSQL_ROOT or
# /var/cache/ferry/mysql-sid, run with chroot). stop, sql and clean find the flavour in DIR.
#
# MariaDB: DIR holds data/, mysqld.sock, mysqld.pid and error.log.
# MySQL: those live inside the root, in ROOT/srv/ferry/lab-<hash of DIR>/ (the server sees only
# the root), and DIR/mysql is a symlink to that folder. The data folder is a copy of one made by
# `mysqld --initialize-insecure` (ROOT/srv/ferry/lab-template, kept until `clean`).
#
# Every server gets the user $LAB_USER@'%' (password $LAB_PASSWORD) with ALL PRIVILEGES WITH GRANT
# OPTION. LAB_BUFFER_POOL sets innodb_buffer_pool_size (default 128M), LAB_FLUSH_LOG_AT_TRX_COMMIT
# innodb_flush_log_at_trx_commit (default 2) and LAB_SYNC_BINLOG sync_binlog (default 0).

LAB_USER=${LAB_USER:-ferry}
LAB_PASSWORD=${LAB_PASSWORD:-ferry-Secret-1}
LAB_BUFFER_POOL=${LAB_BUFFER_POOL:-128M}
LAB_FLUSH_LOG_AT_TRX_COMMIT=${LAB_FLUSH_LOG_AT_TRX_COMMIT:-2}
LAB_SYNC_BINLOG=${LAB_SYNC_BINLOG:-0}
LAB_FLAVOR=${LAB_FLAVOR:-mariadb}
LAB_MYSQL_ROOT=${FERRY_MYSQL_ROOT:-/var/cache/ferry/mysql-sid}
LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

lab_mariadbd() { command -v mariadbd 2>/dev/null || echo /usr/sbin/mariadbd; }

lab_log() { echo "lab: $*" >&2; }

# lab_check_flavor: LAB_FLAVOR is mariadb or mysql (and MySQL's root is there).
lab_check_flavor() {
  case "$LAB_FLAVOR" in
    mariadb) ;;
    mysql)
      if [ ! -x "$LAB_MYSQL_ROOT/usr/sbin/mysqld" ]; then
        lab_log "no MySQL in $LAB_MYSQL_ROOT: run scripts/install-mysql.sh (or \`make deps\`), or set FERRY_MYSQL_ROOT"
        return 1
      fi
      ;;
    *)
      lab_log "LAB_FLAVOR=$LAB_FLAVOR: expected mariadb or mysql"
      return 1
      ;;
  esac
}

# lab_product FLAVOR: how the flavour is called in messages.
lab_product() { [ "$1" = mysql ] && echo MySQL || echo MariaDB; }

# lab_port_busy PORT: true when something listens on 127.0.0.1:PORT.
lab_port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# lab_exited PID: true when the process is gone or a zombie (/proc/PID/stat; `kill -0` lingers).
lab_exited() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  case "${stat%% *}" in Z | X) return 0 ;; *) return 1 ;; esac
}

# lab_flavor_of DIR: mysql when DIR holds the symlink to a folder in the MySQL root, else mariadb.
lab_flavor_of() { [ -L "$1/mysql" ] && echo mysql || echo mariadb; }

# lab_home DIR: the folder (as seen from here) that holds the server's data/, socket, pid file and
# log: DIR itself for MariaDB, DIR/mysql's target for MySQL.
lab_home() {
  if [ -L "$1/mysql" ]; then readlink "$1/mysql"; else echo "$1"; fi
}

# lab_datadir DIR: the server's data folder as seen from here (binlogs are in it).
lab_datadir() { echo "$(lab_home "$1")/data"; }

# lab_inner PATH: a path inside the MySQL root as the server (and chrooted tools) see it.
lab_inner() { echo "/${1#"$LAB_MYSQL_ROOT"/}"; }

# lab_mysql_tool PROGRAM [args...]: a MySQL program from the root (mysqldump, mysqlbinlog, ...).
lab_mysql_tool() {
  local program=$1
  shift
  chroot "$LAB_MYSQL_ROOT" "/usr/bin/$program" "$@"
}

# lab_client DIR: sets the array LAB_CLIENT to the command line client as root over DIR's socket
# (for pipelines whose last process must be the client itself: "${LAB_CLIENT[@]}" args...).
lab_client() {
  local dir=$1
  if [ "$(lab_flavor_of "$dir")" = mysql ]; then
    LAB_CLIENT=(chroot "$LAB_MYSQL_ROOT" /usr/bin/mysql --no-defaults
      --socket="$(lab_inner "$(lab_home "$dir")/mysqld.sock")" --user=root --default-character-set=utf8mb4)
  else
    LAB_CLIENT=(mariadb --no-defaults --socket="$dir/mysqld.sock" --user=root --default-character-set=utf8mb4)
  fi
}

# lab_sql DIR [client args...]: the mariadb (or MySQL's mysql) client as root over DIR's socket.
lab_sql() {
  local dir=$1
  shift
  lab_client "$dir"
  "${LAB_CLIENT[@]}" "$@"
}

# lab_tcp_client FLAVOR: sets LAB_TCP_CLIENT to the flavour's client for $LAB_USER over TCP, without
# TLS (as ferry's tls.mode disabled; MySQL's caching_sha2_password then fetches the server's key).
# Add -P PORT and the rest.
lab_tcp_client() {
  if [ "$1" = mysql ]; then
    LAB_TCP_CLIENT=(chroot "$LAB_MYSQL_ROOT" /usr/bin/mysql --no-defaults -h127.0.0.1 -u"$LAB_USER" -p"$LAB_PASSWORD"
      --ssl-mode=DISABLED --get-server-public-key)
  else
    LAB_TCP_CLIENT=(mariadb --no-defaults -h127.0.0.1 -u"$LAB_USER" -p"$LAB_PASSWORD")
  fi
}

# lab_describe DIR: one line naming the server: product and version, buffer pool, durability.
lab_describe() {
  lab_sql "$1" --batch --skip-column-names -e "SELECT CONCAT(
    IF(@@version LIKE '%MariaDB%', 'MariaDB ', 'MySQL '), SUBSTRING_INDEX(@@version, '-', 1),
    ', innodb_buffer_pool_size ', ROUND(@@innodb_buffer_pool_size / 1048576), ' MiB',
    ', innodb_flush_log_at_trx_commit=', @@innodb_flush_log_at_trx_commit,
    ', sync_binlog=', @@sync_binlog, ', log_bin=', IF(@@log_bin, 'ON', 'OFF'))"
}

# lab_mysql_template: a data folder made once by `mysqld --initialize-insecure` (as the harness
# does), copied for every MySQL server. Prints its path (from here).
lab_mysql_template() {
  local t="$LAB_MYSQL_ROOT/srv/ferry/lab-template" version staging
  version=$(cat "$LAB_MYSQL_ROOT/.ferry-ready" 2>/dev/null || true)
  if [ -f "$t/.complete" ] && [ "$(cat "$t/.complete")" = "$version" ]; then
    echo "$t/data"
    return 0
  fi
  staging="$t.$$"
  rm -rf "$staging"
  mkdir -p "$staging"
  lab_log "initializing a MySQL data folder template (once, a few seconds)"
  chroot "$LAB_MYSQL_ROOT" /usr/sbin/mysqld --no-defaults --initialize-insecure --user=root \
    --datadir="$(lab_inner "$staging")/data" --log-error="$(lab_inner "$staging")/init.log" </dev/null >/dev/null 2>&1 || {
    lab_log "mysqld --initialize-insecure failed; end of its log:"
    tail -5 "$staging/init.log" >&2
    rm -rf "$staging"
    return 1
  }
  echo "$version" >"$staging/.complete"
  rm -rf "$t"
  mv "$staging" "$t"
  echo "$t/data"
}

# lab_start DIR PORT [binlog|nobinlog] [server args...]
lab_start() {
  local dir=$1 port=$2 mode=${3:-nobinlog}
  shift 2
  [ $# -gt 0 ] && shift
  lab_check_flavor || return 1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local flavor=$LAB_FLAVOR home
  if [ "$(lab_flavor_of "$dir")" != "$flavor" ] && { [ -e "$dir/data" ] || [ -L "$dir/mysql" ]; }; then
    lab_log "$dir holds a $(lab_product "$(lab_flavor_of "$dir")") server, not $(lab_product "$flavor"): remove it first (\`make clean-lab\`)"
    return 1
  fi
  if [ "$flavor" = mysql ]; then
    home="$LAB_MYSQL_ROOT/srv/ferry/lab-$(printf '%s' "$dir" | sha1sum | cut -c1-12)"
    mkdir -p "$home"
    echo "$dir" >"$home/owner"
    ln -sfn "$home" "$dir/mysql"
  else
    home=$dir
  fi
  if [ -f "$home/mysqld.pid" ] && ! lab_exited "$(cat "$home/mysqld.pid")"; then
    lab_log "a server already runs in $dir (pid $(cat "$home/mysqld.pid"))"
    return 1
  fi
  if lab_port_busy "$port"; then
    lab_log "port $port is busy: stop what listens there (or \`make clean-lab\`) and retry"
    return 1
  fi
  if [ ! -d "$home/data/mysql" ]; then
    rm -rf "$home/data"
    if [ "$flavor" = mysql ]; then
      local template
      template=$(lab_mysql_template) || return 1
      cp -a "$template" "$home/data" || return 1
      # Every server needs its own server_uuid (GTIDs name it): auto.cnf is made anew at start.
      rm -f "$home/data/auto.cnf"
    else
      mariadb-install-db --no-defaults --user=root --datadir="$dir/data" \
        --auth-root-authentication-method=normal --skip-test-db --tmpdir="$dir" \
        >"$dir/install.log" 2>&1 || {
        lab_log "mariadb-install-db failed; see $dir/install.log"
        tail -5 "$dir/install.log" >&2
        return 1
      }
    fi
  fi
  # Paths as the server sees them (inside the root for MySQL).
  local at=$home
  [ "$flavor" = mysql ] && at=$(lab_inner "$home")
  local args=(
    --no-defaults --user=root --datadir="$at/data" --port="$port" --bind-address=127.0.0.1
    --socket="$at/mysqld.sock" --pid-file="$at/mysqld.pid" --log-error="$at/error.log"
    --tmpdir="$at" --server-id="$port" --skip-name-resolve
    --performance-schema=OFF --innodb-buffer-pool-size="$LAB_BUFFER_POOL" --innodb-log-buffer-size=8M
    --innodb-buffer-pool-dump-at-shutdown=OFF --innodb-buffer-pool-load-at-startup=OFF
    --key-buffer-size=4M --innodb-flush-log-at-trx-commit="$LAB_FLUSH_LOG_AT_TRX_COMMIT" --sync-binlog="$LAB_SYNC_BINLOG"
  )
  if [ "$flavor" = mysql ]; then
    # As the harness, except the redo log: MySQL's default 100M (the harness's 32M suits small
    # test disks, not benchmarks; MariaDB's innodb_log_file_size default is 96M).
    args+=(--mysqlx=OFF --secure-file-priv= --local-infile=ON)
    if [ "$mode" = binlog ]; then
      args+=(--log-bin=mysql-bin --gtid-mode=ON --enforce-gtid-consistency=ON --binlog-checksum=CRC32)
    else
      args+=(--skip-log-bin)
    fi
  else
    args+=(
      --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci
      --aria-pagecache-buffer-size=8M --query-cache-size=0
    )
    if [ "$mode" = binlog ]; then
      args+=(
        --log-bin=mysql-bin --binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL
        --log-slave-updates=ON --log-bin-compress=OFF --gtid-strict-mode=ON --binlog-checksum=CRC32
      )
    fi
  fi
  rm -f "$home/mysqld.pid"
  if [ "$flavor" = mysql ]; then
    # chroot execs mysqld: $! is the server's pid.
    chroot "$LAB_MYSQL_ROOT" /usr/sbin/mysqld "${args[@]}" "$@" </dev/null >/dev/null 2>&1 &
  else
    "$(lab_mariadbd)" "${args[@]}" "$@" </dev/null >/dev/null 2>&1 &
  fi
  local pid=$! i name
  name=$(lab_product "$flavor")
  for i in $(seq 1 600); do
    if lab_exited "$pid"; then
      lab_log "$name exited at start; end of $home/error.log:"
      tail -5 "$home/error.log" >&2
      return 1
    fi
    if [ -S "$home/mysqld.sock" ] && lab_sql "$dir" -e "SELECT 1" >/dev/null 2>&1; then
      break
    fi
    sleep 0.1
  done
  if ! lab_sql "$dir" -e "SELECT 1" >/dev/null 2>&1; then
    lab_log "$name on port $port not ready after 60 s; see $home/error.log"
    kill -9 "$pid" 2>/dev/null
    return 1
  fi
  echo "$pid" >"$home/mysqld.pid"
  local host
  for host in % localhost 127.0.0.1; do
    lab_sql "$dir" -e "CREATE USER IF NOT EXISTS '$LAB_USER'@'$host' IDENTIFIED BY '$LAB_PASSWORD';
      GRANT ALL PRIVILEGES ON *.* TO '$LAB_USER'@'$host' WITH GRANT OPTION;" || return 1
  done
  lab_log "$name ($mode) ready on 127.0.0.1:$port, pid $pid, in ${dir#"$LAB_ROOT"/}$([ "$flavor" = mysql ] && echo " (files in $home)")"
}

# lab_stop_home HOME LABEL: stops the server whose pid file is in HOME. SIGTERM, wait up to 30 s,
# then SIGKILL. Keeps the data.
lab_stop_home() {
  local home=$1 label=$2 pid i
  [ -f "$home/mysqld.pid" ] || return 0
  pid=$(cat "$home/mysqld.pid")
  rm -f "$home/mysqld.pid"
  [ -n "$pid" ] || return 0
  lab_exited "$pid" && return 0
  # Only a server of this folder: the pid file may be stale and the pid reused.
  grep -qE "mariadbd|mysqld" "/proc/$pid/cmdline" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 300); do
    lab_exited "$pid" && { lab_log "stopped the server in $label"; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  for i in $(seq 1 50); do lab_exited "$pid" && break; sleep 0.1; done
  lab_log "killed the server in $label"
}

# lab_stop DIR: stops DIR's server (either flavour). Keeps the data.
lab_stop() {
  local dir=$1
  lab_stop_home "$(lab_home "$dir")" "${dir#"$LAB_ROOT"/}"
}

# lab_remove DIR: stops DIR's server and removes DIR, and for MySQL its folder inside the root.
lab_remove() {
  local dir=$1 home
  lab_stop "$dir"
  if [ -L "$dir/mysql" ]; then
    home=$(readlink "$dir/mysql")
    case "$home" in "$LAB_MYSQL_ROOT"/srv/ferry/lab-*) rm -rf "$home" ;; esac
  fi
  rm -rf "$dir"
}

# lab_discard DIR: stops DIR's server and removes its data, keeping DIR with its error.log (for
# MySQL copied out of the root, whose folder goes entirely). What a benchmark leaves behind.
lab_discard() {
  local dir=$1 home
  lab_stop "$dir"
  if [ -L "$dir/mysql" ]; then
    home=$(readlink "$dir/mysql")
    [ -f "$home/error.log" ] && cp "$home/error.log" "$dir/error.log"
    case "$home" in "$LAB_MYSQL_ROOT"/srv/ferry/lab-*) rm -rf "$home" ;; esac
    rm -f "$dir/mysql"
  else
    rm -rf "$dir/data"
  fi
}

# lab_clean: stop every server under .demo/ and .bench/ (MariaDB and MySQL), then remove both
# folders, their folders in the MySQL root (also those left by a removed .demo/ or .bench/) and,
# when no other lab server is left there, the MySQL template.
lab_clean() {
  local dir home owner
  for dir in "$LAB_ROOT"/.demo/* "$LAB_ROOT"/.bench/*; do
    [ -d "$dir" ] && lab_remove "$dir"
  done
  for home in "$LAB_MYSQL_ROOT"/srv/ferry/lab-*; do
    [ -f "$home/owner" ] || continue
    owner=$(cat "$home/owner")
    case "$owner" in
      "$LAB_ROOT"/.demo/* | "$LAB_ROOT"/.bench/*)
        lab_stop_home "$home" "$home"
        rm -rf "$home"
        ;;
    esac
  done
  rm -rf "$LAB_ROOT/.demo" "$LAB_ROOT/.bench"
  if [ -d "$LAB_MYSQL_ROOT/srv/ferry" ] && ! compgen -G "$LAB_MYSQL_ROOT/srv/ferry/lab-*/owner" >/dev/null; then
    rm -rf "$LAB_MYSQL_ROOT"/srv/ferry/lab-template "$LAB_MYSQL_ROOT"/srv/ferry/lab-template.*
  fi
  lab_log "removed .demo/ and .bench/ (and their MySQL folders in $LAB_MYSQL_ROOT/srv/ferry)"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  cmd=${1:-}
  [ $# -gt 0 ] && shift
  case "$cmd" in
    start) lab_start "$@" ;;
    stop) lab_stop "$@" ;;
    sql) lab_sql "$@" ;;
    clean) lab_clean ;;
    *)
      echo "usage: [LAB_FLAVOR=mariadb|mysql] $0 start DIR PORT [binlog|nobinlog] [server args...] | stop DIR | sql DIR [args] | clean" >&2
      exit 2
      ;;
  esac
fi

# lab_task_head TASK SRC_PORT DST_PORT: a benchmark manifest's start: the two Secrets ($LAB_USER)
# and a SyncTask named TASK up to `spec:` with its source and target (127.0.0.1, no TLS). The
# caller appends the rest of the spec (objects, ...).
lab_task_head() {
  local task=$1 src_port=$2 dst_port=$3 role
  for role in source target; do
    printf "apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s-%s\nstringData:\n  username: %s\n  password: '%s'\n---\n" \
      "$task" "$role" "$LAB_USER" "$LAB_PASSWORD"
  done
  printf 'apiVersion: ferry.dev/v1alpha1\nkind: SyncTask\nmetadata:\n  name: %s\nspec:\n' "$task"
  printf '  %s:\n    host: 127.0.0.1\n    port: %s\n    credentialsSecret: %s-%s\n    tls:\n      mode: disabled\n' \
    source "$src_port" "$task" source target "$dst_port" "$task" target
}

# lab_bench_pair SRC SRC_PORT DST DST_PORT WORKDIR [target server args...]: a fresh source (binlog)
# and target of $LAB_FLAVOR for a benchmark: old servers in those folders stopped (and removed),
# both ports checked free, WORKDIR emptied.
lab_bench_pair() {
  local src=$1 src_port=$2 dst=$3 dst_port=$4 work=$5 port
  shift 5
  lab_check_flavor || return 1
  echo "== servers ($(lab_product "$LAB_FLAVOR")): source 127.0.0.1:$src_port (binlog), target 127.0.0.1:$dst_port, buffer pool $LAB_BUFFER_POOL, innodb_flush_log_at_trx_commit=$LAB_FLUSH_LOG_AT_TRX_COMMIT, sync_binlog=$LAB_SYNC_BINLOG"
  lab_remove "$src"
  lab_remove "$dst"
  for port in "$src_port" "$dst_port"; do
    if lab_port_busy "$port"; then
      echo "lab: port $port is busy (set BENCH_SOURCE_PORT / BENCH_TARGET_PORT, or \`make clean-lab\`)" >&2
      return 1
    fi
  done
  # Servers of the other benchmark may live in WORKDIR (.bench): removed with their MySQL folders.
  local d
  for d in "$work"/*; do
    if [ -L "$d/mysql" ] || [ -d "$d/data" ]; then lab_remove "$d"; fi
  done
  rm -rf "$work"
  mkdir -p "$work"
  lab_start "$src" "$src_port" binlog || return 1
  lab_start "$dst" "$dst_port" nobinlog "$@" || return 1
  echo "source: $(lab_describe "$src")"
  echo "target: $(lab_describe "$dst")"
}

# Lag under load, as the benchmarks measure it: a heartbeat row (NOW(6)) goes into TABLE on the
# source every 100 ms, and a poller on the target stamps each heartbeat row (seen_lag_us) when it
# first sees it, every 20 ms. TABLE: `db`.`heartbeat`-like, made by lab_lag_table on the source.
# lab_lag_table SRC TABLE: creates it.
lab_lag_table() {
  lab_sql "$1" -e "CREATE TABLE $2 (id BIGINT AUTO_INCREMENT PRIMARY KEY, ts DATETIME(6) NOT NULL, seen_lag_us BIGINT NULL)"
}

# lab_lag_begin SRC DST TABLE WORKDIR: starts the heartbeat and the poller (LAB_HB_PID, LAB_POLL_PID;
# each the client last in its pipeline, so the loop ends on SIGPIPE once it is stopped).
lab_lag_begin() {
  local src=$1 dst=$2 table=$3 work=$4
  # Heartbeats of an earlier run in the same table are not this run's.
  LAB_LAG_AFTER=$(lab_sql "$src" --batch --skip-column-names -e "SELECT IFNULL(MAX(id), 0) FROM $table")
  lab_client "$dst"
  (
    echo "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;"
    while :; do
      echo "UPDATE $table SET seen_lag_us = TIMESTAMPDIFF(MICROSECOND, ts, NOW(6)) WHERE seen_lag_us IS NULL;"
      sleep 0.02
    done
  ) | "${LAB_CLIENT[@]}" >/dev/null 2>"$work/poller.err" &
  LAB_POLL_PID=$!
  lab_client "$src"
  (
    while :; do
      echo "INSERT INTO $table (ts) VALUES (NOW(6));"
      sleep 0.1
    done
  ) | "${LAB_CLIENT[@]}" >/dev/null 2>"$work/heartbeat.err" &
  LAB_HB_PID=$!
}

# lab_lag_end SRC DST TABLE: stops the heartbeat, waits (30 s at most) for the target to see every
# heartbeat, stops the poller; sets LAB_LAG_LINE ("p50 .. ms, p90, p99, max (n of N seen)") and
# LAB_LAG_P99_MS (empty when no heartbeat arrived).
lab_lag_end() {
  local src=$1 dst=$2 table=$3 total samples n
  [ -n "${LAB_HB_PID:-}" ] && ! lab_exited "$LAB_HB_PID" && kill "$LAB_HB_PID" 2>/dev/null
  LAB_HB_PID=""
  sleep 0.3
  local after=${LAB_LAG_AFTER:-0}
  total=$(lab_sql "$src" --batch --skip-column-names -e "SELECT COUNT(*) FROM $table WHERE id > $after")
  for _ in $(seq 1 300); do
    [ "$(lab_sql "$dst" --batch --skip-column-names -e "SELECT COUNT(*) FROM $table WHERE id > $after AND seen_lag_us IS NOT NULL")" -ge "$total" ] && break
    sleep 0.1
  done
  lab_lag_stop
  samples=$(lab_sql "$dst" --batch --skip-column-names -e "SELECT seen_lag_us FROM $table WHERE id > $after AND seen_lag_us IS NOT NULL ORDER BY seen_lag_us")
  n=$(printf '%s\n' "$samples" | grep -c . || true)
  lab_pct() { # p -> milliseconds (nearest rank)
    printf '%s\n' "$samples" | awk -v p="$1" -v n="$n" \
      'NR == (int(p * n / 100) < p * n / 100 ? int(p * n / 100) + 1 : int(p * n / 100)) { printf "%.0f", $1 / 1000 }'
  }
  if [ "$n" -gt 0 ]; then
    LAB_LAG_P99_MS=$(lab_pct 99)
    LAB_LAG_LINE="p50 $(lab_pct 50) ms, p90 $(lab_pct 90) ms, p99 $LAB_LAG_P99_MS ms, max $(lab_pct 100) ms ($n of $total heartbeats seen)"
  else
    LAB_LAG_P99_MS=""
    LAB_LAG_LINE="no heartbeat arrived on the target"
  fi
}

# lab_lag_stop: stops the heartbeat and the poller if they run (for a benchmark's cleanup).
lab_lag_stop() {
  local p
  for p in "${LAB_HB_PID:-}" "${LAB_POLL_PID:-}"; do
    [ -n "$p" ] && ! lab_exited "$p" && kill "$p" 2>/dev/null
  done
  LAB_HB_PID=""
  LAB_POLL_PID=""
  return 0
}

# lab_startup_ms LOG: from a ferry log (RUST_LOG at info), the milliseconds from process start to
# the first applied row change (empty when none was applied).
lab_startup_ms() {
  # awk reads to the end (no early exit: sed must not meet a closed pipe under pipefail).
  sed 's/\x1b\[[0-9;]*m//g' "$1" | awk '!found && /first row change applied/ {
    for (i = 1; i <= NF; i++) if ($i ~ /^since_process_start_ms=/) { sub(/.*=/, "", $i); ms = $i; found = 1 }
  } END { if (found) print ms }'
}

# lab_delay_proxy PORT UPSTREAM_PORT DELAY_MS JITTER_MS LOG: a long link for a benchmark: the
# harness's delaying TCP proxy (ferry-delay-proxy, built from tests/ when missing) on 127.0.0.1:PORT
# in front of 127.0.0.1:UPSTREAM_PORT, DELAY_MS ± JITTER_MS added to every round trip; sets
# LAB_PROXY_PID. (This kernel has no netem.)
lab_delay_proxy() {
  local port=$1 upstream=$2 ms=$3 jitter=$4 log=$5 bin
  bin=${LAB_PROXY_BIN:-$PWD/target/release/ferry-delay-proxy}
  if [ ! -x "$bin" ]; then
    cargo build -q --release -p ferry-e2e --bin ferry-delay-proxy || return 1
  fi
  if lab_port_busy "$port"; then
    echo "lab: port $port is busy (set BENCH_PROXY_PORT)" >&2
    return 1
  fi
  "$bin" "$port" "$upstream" "$ms" "$jitter" >"$log" 2>&1 &
  LAB_PROXY_PID=$!
  for _ in $(seq 1 100); do
    lab_port_busy "$port" && return 0
    lab_exited "$LAB_PROXY_PID" && break
    sleep 0.05
  done
  echo "lab: the delay proxy did not start:" >&2
  cat "$log" >&2
  return 1
}

# lab_ferry_died LOG STATUS: what a benchmark prints when its ferry stopped: the log's end and the
# status file's head.
lab_ferry_died() {
  echo "--- end of $1" >&2
  tail -20 "$1" >&2
  if [ -f "$2" ]; then echo "--- $2 (head)" >&2; head -60 "$2" >&2; fi
}
