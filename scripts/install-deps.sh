#!/usr/bin/env bash
# Install, from Debian, the tools ferry's tests, demo and benchmarks use; only what is missing.
# Idempotent: when everything is present it does nothing (and never runs apt-get update).
set -euo pipefail

# helm, for the chart tests (repository-local, .tools/bin/helm).
"$(dirname "${BASH_SOURCE[0]}")/install-helm.sh"
# kubernetes-validate, to check rendered manifests against the Kubernetes schemas (.tools/py).
"$(dirname "${BASH_SOURCE[0]}")/install-kubernetes-validate.sh"
# MySQL 9.7 in a cached Debian sid root (bookworm has no MySQL server).
"$(dirname "${BASH_SOURCE[0]}")/install-mysql.sh"

# command-or-path  package
# (percona-toolkit, for bench-verify's pt-table-sync, depends on libdbd-mysql-perl, its Perl
# MySQL driver: apt installs it with the package.)
needs=(
  "mariadbd            mariadb-server"
  "mariadb-install-db  mariadb-server"
  "mariadb             mariadb-client"
  "mariadb-dump        mariadb-client"
  "sysbench            sysbench"
  "mydumper            mydumper"
  "myloader            mydumper"
  "/usr/bin/time       time"
  "openssl             openssl"
  "pt-table-sync       percona-toolkit"
)

have() {
  case "$1" in
    /*) [ -x "$1" ] ;;
    *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ] ;;
  esac
}

missing=()
for line in "${needs[@]}"; do
  read -r cmd pkg <<<"$line"
  if ! have "$cmd"; then
    case " ${missing[*]-} " in *" $pkg "*) ;; *) missing+=("$pkg") ;; esac
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all present (mariadb-server, mariadb-client, sysbench, mydumper, time, openssl, percona-toolkit)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: missing ${missing[*]} and not root (no sudo): install them by hand" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends keeps it small; policy-rc.d-free installs may try to start the
# system mariadb service: that is the distribution's business, ferry never uses it.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: installed ${missing[*]}"
