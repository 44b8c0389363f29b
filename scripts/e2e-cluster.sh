#!/usr/bin/env bash
# Opt-in end-to-end test on a real cluster (not part of `make test`: no API server can run on the
# development machines). Needs KUBECONFIG, kubectl, helm (scripts/install-helm.sh), and an image
# holding ferry that the cluster can pull: IMAGE=registry/ferry:tag (build it from the Dockerfile).
#
# It installs the chart into a scratch namespace, starts a source and a target MariaDB there,
# applies a SyncTask, waits for Synchronizing, checks a row made on the source reaches the
# target, suspends and resumes, deletes the task (its engine and Jobs go, the target's data
# stays), and removes everything it created.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${KUBECONFIG:?set KUBECONFIG to the cluster to test against}"
: "${IMAGE:?set IMAGE to a ferry image the cluster can pull (see Dockerfile)}"
NS=${NS:-ferry-e2e-$RANDOM}
HELM=${HELM:-$( [ -x .tools/bin/helm ] && echo .tools/bin/helm || echo helm )}
KUBECTL=${KUBECTL:-kubectl}
k() { $KUBECTL -n "$NS" "$@"; }
cleanup() {
  echo "e2e-cluster: cleaning up $NS"
  k delete synctask --all --wait=true --timeout=120s >/dev/null 2>&1 || true
  $HELM uninstall ferry -n "$NS" >/dev/null 2>&1 || true
  $KUBECTL delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
}
trap cleanup EXIT

wait_phase() { # task phase timeout-seconds
  local deadline=$((SECONDS + $3))
  until [ "$(k get st "$1" -o jsonpath='{.status.phase}' 2>/dev/null)" = "$2" ]; do
    if [ $SECONDS -ge $deadline ]; then
      echo "e2e-cluster: $1 did not reach $2"; k get st "$1" -o yaml; k get pods; exit 1
    fi
    sleep 3
  done
  echo "e2e-cluster: $1 is $2"
}

$KUBECTL create namespace "$NS"
repo=${IMAGE%:*}; tag=${IMAGE##*:}
$HELM install ferry charts/ferry -n "$NS" --set image.repository="$repo" --set image.tag="$tag" --wait --timeout 180s

for role in source target; do
  k apply -f - <<YAML
apiVersion: v1
kind: Secret
metadata: {name: db-$role}
stringData: {username: root, password: e2e-secret, MARIADB_ROOT_PASSWORD: e2e-secret}
---
apiVersion: v1
kind: Pod
metadata: {name: db-$role, labels: {app: db-$role}}
spec:
  containers:
  - name: db
    image: mariadb:11.4
    args: [--log-bin=mysql-bin, --binlog-format=ROW, --binlog-row-image=FULL, --binlog-row-metadata=FULL, --server-id=$([ $role = source ] && echo 1 || echo 2), --local-infile=1]
    envFrom: [{secretRef: {name: db-$role}}]
    readinessProbe: {exec: {command: [mariadb-admin, -uroot, -pe2e-secret, ping]}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: db-$role}
spec: {selector: {app: db-$role}, ports: [{port: 3306}]}
YAML
done
k wait --for=condition=Ready pod/db-source pod/db-target --timeout=180s
sql() { k exec "db-$1" -- mariadb -uroot -pe2e-secret -N -e "$2"; }
sql source "CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO shop.t VALUES (1,'one');"

k apply -f - <<YAML
apiVersion: ferry.dev/v1alpha1
kind: SyncTask
metadata: {name: e2e}
spec:
  source: {host: db-source, credentialsSecret: db-source, tls: {mode: disabled}}
  target: {host: db-target, credentialsSecret: db-target, tls: {mode: disabled}}
  objects: [{database: shop}]
YAML
wait_phase e2e Synchronizing 300
k get st e2e
sql source "INSERT INTO shop.t VALUES (2,'two');"
for _ in $(seq 1 30); do
  [ "$(sql target 'SELECT COUNT(*) FROM shop.t' 2>/dev/null)" = "2" ] && break; sleep 2
done
[ "$(sql target 'SELECT COUNT(*) FROM shop.t')" = "2" ] || { echo "e2e-cluster: the change did not arrive"; exit 1; }
echo "e2e-cluster: incremental change applied"

k patch st e2e --type merge -p '{"spec":{"suspend":true}}'
wait_phase e2e Suspended 120
[ "$(k get statefulset e2e-engine -o jsonpath='{.spec.replicas}')" = "0" ] || { echo "engine not scaled down"; exit 1; }
k patch st e2e --type merge -p '{"spec":{"suspend":false}}'
wait_phase e2e Synchronizing 300

if k patch st e2e --type merge -p '{"spec":{"source":{"host":"elsewhere"}}}' 2>/dev/null; then
  echo "e2e-cluster: the source host changed; it must be immutable"; exit 1
fi
echo "e2e-cluster: source host is immutable"

k delete st e2e --wait=true --timeout=120s
! k get statefulset e2e-engine >/dev/null 2>&1 || { echo "engine left behind"; exit 1; }
[ "$(sql target 'SELECT COUNT(*) FROM shop.t')" = "2" ] || { echo "target data touched"; exit 1; }
echo "e2e-cluster: passed"
