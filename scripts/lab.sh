#!/usr/bin/env bash
# Private MariaDB servers for the demo and the benchmarks, with the same settings as the test
# harness (tests/src/lib.rs). Never touches the system server on 3306.
#
# As a command:
#   scripts/lab.sh start DIR PORT [binlog|nobinlog] [mariadbd args...]
#   scripts/lab.sh stop DIR
#   scripts/lab.sh sql DIR [mariadb client args...]     # root over the socket; SQL on stdin
#   scripts/lab.sh clean                                # stop every server under .demo/ and .bench/, remove them
# Or sourced (`. scripts/lab.sh`) for the functions lab_start, lab_stop, lab_sql, lab_port_busy, ...
#
# DIR holds data/, mysqld.sock, mysqld.pid and error.log. Every server gets the user
# $LAB_USER@'%' (password $LAB_PASSWORD) with ALL PRIVILEGES WITH GRANT OPTION.
# LAB_BUFFER_POOL sets innodb_buffer_pool_size (default 128M).

LAB_USER=${LAB_USER:-ferry}
LAB_PASSWORD=${LAB_PASSWORD:-ferry-Secret-1}
LAB_BUFFER_POOL=${LAB_BUFFER_POOL:-128M}
LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

lab_mariadbd() { command -v mariadbd 2>/dev/null || echo /usr/sbin/mariadbd; }

lab_log() { echo "lab: $*" >&2; }

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

# lab_sql DIR [client args...]: the mariadb client as root over DIR's socket.
lab_sql() {
  local dir=$1
  shift
  mariadb --no-defaults --socket="$dir/mysqld.sock" --user=root --default-character-set=utf8mb4 "$@"
}

# lab_start DIR PORT [binlog|nobinlog] [mariadbd args...]
lab_start() {
  local dir=$1 port=$2 mode=${3:-nobinlog}
  shift 2
  [ $# -gt 0 ] && shift
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/mysqld.pid" ] && ! lab_exited "$(cat "$dir/mysqld.pid")"; then
    lab_log "a server already runs in $dir (pid $(cat "$dir/mysqld.pid"))"
    return 1
  fi
  if lab_port_busy "$port"; then
    lab_log "port $port is busy: stop what listens there (or \`make clean-lab\`) and retry"
    return 1
  fi
  if [ ! -d "$dir/data/mysql" ]; then
    rm -rf "$dir/data"
    mariadb-install-db --no-defaults --user=root --datadir="$dir/data" \
      --auth-root-authentication-method=normal --skip-test-db --tmpdir="$dir" \
      >"$dir/install.log" 2>&1 || {
      lab_log "mariadb-install-db failed; see $dir/install.log"
      tail -5 "$dir/install.log" >&2
      return 1
    }
  fi
  local args=(
    --no-defaults --user=root --datadir="$dir/data" --port="$port" --bind-address=127.0.0.1
    --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log"
    --tmpdir="$dir" --server-id="$port" --skip-name-resolve
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci
    --performance-schema=OFF --innodb-buffer-pool-size="$LAB_BUFFER_POOL" --innodb-log-buffer-size=8M
    --innodb-buffer-pool-dump-at-shutdown=OFF --innodb-buffer-pool-load-at-startup=OFF
    --key-buffer-size=4M --aria-pagecache-buffer-size=8M --query-cache-size=0
    --innodb-flush-log-at-trx-commit=2 --sync-binlog=0
  )
  if [ "$mode" = binlog ]; then
    args+=(
      --log-bin=mysql-bin --binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL
      --log-slave-updates=ON --log-bin-compress=OFF --gtid-strict-mode=ON --binlog-checksum=CRC32
    )
  fi
  rm -f "$dir/mysqld.pid"
  "$(lab_mariadbd)" "${args[@]}" "$@" </dev/null >/dev/null 2>&1 &
  local pid=$! i
  for i in $(seq 1 300); do
    if lab_exited "$pid"; then
      lab_log "mariadbd exited at start; end of $dir/error.log:"
      tail -5 "$dir/error.log" >&2
      return 1
    fi
    if [ -S "$dir/mysqld.sock" ] && lab_sql "$dir" -e "SELECT 1" >/dev/null 2>&1; then
      break
    fi
    sleep 0.1
  done
  if ! lab_sql "$dir" -e "SELECT 1" >/dev/null 2>&1; then
    lab_log "mariadbd on port $port not ready after 30 s; see $dir/error.log"
    kill -9 "$pid" 2>/dev/null
    return 1
  fi
  echo "$pid" >"$dir/mysqld.pid"
  local host
  for host in % localhost 127.0.0.1; do
    lab_sql "$dir" -e "CREATE USER IF NOT EXISTS '$LAB_USER'@'$host' IDENTIFIED BY '$LAB_PASSWORD';
      GRANT ALL PRIVILEGES ON *.* TO '$LAB_USER'@'$host' WITH GRANT OPTION;" || return 1
  done
  lab_log "MariaDB ($mode) ready on 127.0.0.1:$port, pid $pid, in ${dir#"$LAB_ROOT"/}"
}

# lab_stop DIR: SIGTERM, wait up to 30 s, then SIGKILL. Keeps the data.
lab_stop() {
  local dir=$1 pid i
  [ -f "$dir/mysqld.pid" ] || return 0
  pid=$(cat "$dir/mysqld.pid")
  rm -f "$dir/mysqld.pid"
  [ -n "$pid" ] || return 0
  lab_exited "$pid" && return 0
  # Only a mariadbd of this folder: the pid file may be stale and the pid reused.
  grep -q "mariadbd" "/proc/$pid/cmdline" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 300); do
    lab_exited "$pid" && { lab_log "stopped the server in ${dir#"$LAB_ROOT"/}"; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  for i in $(seq 1 50); do lab_exited "$pid" && break; sleep 0.1; done
  lab_log "killed the server in ${dir#"$LAB_ROOT"/}"
}

# lab_clean: stop every server under .demo/ and .bench/, then remove both folders.
lab_clean() {
  local pidfile
  for pidfile in "$LAB_ROOT"/.demo/*/mysqld.pid "$LAB_ROOT"/.bench/*/mysqld.pid; do
    [ -f "$pidfile" ] && lab_stop "$(dirname "$pidfile")"
  done
  rm -rf "$LAB_ROOT/.demo" "$LAB_ROOT/.bench"
  lab_log "removed .demo/ and .bench/"
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
      echo "usage: $0 start DIR PORT [binlog|nobinlog] [mariadbd args...] | stop DIR | sql DIR [args] | clean" >&2
      exit 2
      ;;
  esac
fi

# lab_bench_pair SRC SRC_PORT DST DST_PORT WORKDIR: a fresh source (binlog) and target for a
# benchmark: old servers in those folders stopped, both ports checked free, the folders and
# WORKDIR emptied.
lab_bench_pair() {
  local src=$1 src_port=$2 dst=$3 dst_port=$4 work=$5 port
  echo "== servers: source 127.0.0.1:$src_port (binlog), target 127.0.0.1:$dst_port, buffer pool ${LAB_BUFFER_POOL:-default}"
  lab_stop "$src"
  lab_stop "$dst"
  for port in "$src_port" "$dst_port"; do
    if lab_port_busy "$port"; then
      echo "lab: port $port is busy (set BENCH_SOURCE_PORT / BENCH_TARGET_PORT, or \`make clean-lab\`)" >&2
      return 1
    fi
  done
  rm -rf "$src" "$dst" "$work"
  mkdir -p "$work"
  lab_start "$src" "$src_port" binlog
  lab_start "$dst" "$dst_port" nobinlog
}
