#!/usr/bin/env bash
# A real MySQL server for ferry's tests, demo and benchmarks: Debian bookworm has none, so this
# builds a separate root of Debian's `sid` suite holding mysql-server-core and mysql-client-core
# (MySQL 9.7), from the same package archive apt is configured with. The machine's own apt
# sources are never changed. Cached: when the root is there, this does nothing.
#
#   FERRY_MYSQL_ROOT   where the root lives (default /var/cache/ferry/mysql-sid)
#
# Servers run inside it with chroot; the network is shared, so ferry reaches them on 127.0.0.1.
set -euo pipefail

root=${FERRY_MYSQL_ROOT:-/var/cache/ferry/mysql-sid}
marker="$root/.ferry-ready"

if [ -f "$marker" ] && [ -x "$root/usr/sbin/mysqld" ]; then
  echo "install-mysql: present in $root ($(cat "$marker"))"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-mysql: building $root needs root (debootstrap, chroot): run as root or install sudo" >&2
    exit 1
  fi
fi

if ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; then
  echo "install-mysql: installing debootstrap"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

# The archive apt already uses (deb822 sources first, then the one-line format).
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  mirror=$(awk '/^URIs:/ {print $2; exit}' "$f")
  case "$mirror" in *security*) mirror="" ;; esac
  [ -n "$mirror" ] && break
done
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
fi
if [ -z "$mirror" ]; then
  echo "install-mysql: found no Debian archive in apt's sources" >&2
  exit 1
fi

tmp="$root.tmp.$$"
trap '$SUDO rm -rf "$tmp"' EXIT
$SUDO mkdir -p "$(dirname "$root")"
echo "install-mysql: building a Debian sid root with MySQL in $root (about a minute, 650 MiB)"
$SUDO debootstrap --variant=minbase --include=mysql-server-core,mysql-client-core sid "$tmp" "$mirror" >"$tmp.log" 2>&1 || {
  echo "install-mysql: debootstrap failed; its log:" >&2
  tail -30 "$tmp.log" >&2
  exit 1
}
rm -f "$tmp.log"
version=$($SUDO chroot "$tmp" /usr/sbin/mysqld --version | sed -n 's/.*Ver \([0-9.]*\).*/\1/p')
[ -n "$version" ] || { echo "install-mysql: mysqld in the new root does not run" >&2; exit 1; }
$SUDO mkdir -p "$tmp/srv/ferry"
$SUDO chmod 1777 "$tmp/tmp" "$tmp/srv/ferry"
echo "MySQL $version" | $SUDO tee "$tmp/.ferry-ready" >/dev/null
$SUDO rm -rf "$root"
$SUDO mv "$tmp" "$root"
trap - EXIT
echo "install-mysql: MySQL $version ready in $root"
