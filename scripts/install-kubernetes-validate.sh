#!/usr/bin/env bash
# Install kubernetes-validate 1.37.0 (PyPI) into .tools/py, repository-local, for the chart test
# that checks every rendered manifest and every object the operator builds against the
# Kubernetes 1.37 schemas, offline, in strict mode. Idempotent.
#   run: PYTHONPATH=.tools/py python3 -m kubernetes_validate --strict FILE
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

want="1.37.0"
dest=".tools/py"
if PYTHONPATH="$dest" python3 -c "import kubernetes_validate, importlib.metadata as m; assert m.version('kubernetes-validate') == '$want'" 2>/dev/null; then
  echo "install-kubernetes-validate: $dest ($want) present"
  exit 0
fi
pip="python3 -m pip"
if ! $pip --version >/dev/null 2>&1; then
  echo "install-kubernetes-validate: installing python3-pip from Debian"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
fi
rm -rf "$dest"
echo "install-kubernetes-validate: fetching kubernetes-validate $want"
# --target installs beside the system's packages, never into them (hence the PEP 668 override
# that Debian's own python3 asks for).
$pip install --quiet --disable-pip-version-check --target "$dest" "kubernetes-validate==$want" 2>/dev/null ||
  $pip install --quiet --disable-pip-version-check --break-system-packages --target "$dest" "kubernetes-validate==$want"
PYTHONPATH="$dest" python3 -m kubernetes_validate --version
