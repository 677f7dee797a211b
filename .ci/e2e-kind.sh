#!/usr/bin/env bash
# End-to-end on a real (kind) cluster: build the CPU image, create a cluster, install the chart with the in-cluster
# S3 server, register the deployments, submit a run over REST, wait for it, download its artifacts over REST and
# with `spotlab artifacts get`. Not run in CI (needs Docker and kind); see docs/deploy.md.
# Needs: docker, kind, kubectl, curl, python3 (helm comes from `make helm`). KEEP=1 keeps the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-spotlab-e2e}
NS=${NS:-spotlab}
IMAGE=spotlab:e2e
VALUES=helm/spotlab/ci/s3-server-values.yaml   # image spotlab:e2e (pullPolicy Never), API token, S3 keys
TOKEN=e2e-token
HELM=.venv/tools/helm
SPOTLAB=.venv/bin/spotlab

for tool in docker kind kubectl curl python3; do
  command -v "$tool" >/dev/null || { echo "e2e-kind: $tool is required" >&2; exit 2; }
done
make install helm
test -x "$HELM" || { echo "e2e-kind: no helm binary at $HELM" >&2; exit 2; }

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ "${KEEP:-0}" != 1 ]; then kind delete cluster --name "$CLUSTER"; fi
}
trap cleanup EXIT

forward() {  # forward SERVICE LOCAL_PORT REMOTE_PORT
  kubectl -n "$NS" port-forward "svc/$1" "$2:$3" >/dev/null 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 60); do (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0; sleep 1; done
  echo "e2e-kind: port-forward to $1 did not come up" >&2; exit 1
}

docker build -t "$IMAGE" .
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
kind load docker-image "$IMAGE" --name "$CLUSTER"

"$HELM" upgrade --install spotlab helm/spotlab --namespace "$NS" --create-namespace -f "$VALUES" \
  --wait --timeout 10m
"$HELM" test spotlab --namespace "$NS" --timeout 5m

forward spotlab-prefect 14200 4200
PREFECT_API_URL=http://127.0.0.1:14200/api PREFECT_API_AUTH_STRING=admin:e2e-prefect-password \
  "$SPOTLAB" deploy --pool spotlab --image "$IMAGE"

forward spotlab-api 18000 8000
API=http://127.0.0.1:18000
AUTH="Authorization: Bearer $TOKEN"
BODY='{"flow": "pipeline", "config": {"name": "e2e", "data": {"dataset": {"kind": "digits"}},
       "train": {"model": {"kind": "mlp", "hidden": [32]}, "epochs": 2}}}'
RUN_ID=$(curl -fsS -X POST "$API/runs" -H "$AUTH" -H 'Content-Type: application/json' -d "$BODY" |
         python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
echo "submitted run $RUN_ID"

STATE=scheduled
for _ in $(seq 180); do
  STATE=$(curl -fsS "$API/runs/$RUN_ID" -H "$AUTH" | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])')
  case "$STATE" in completed|failed|cancelled|crashed) break ;; esac
  sleep 5
done
echo "run $RUN_ID: $STATE"
[ "$STATE" = completed ] || { kubectl -n "$NS" logs -l app.kubernetes.io/component=worker --tail=200; exit 1; }

curl -fsS "$API/runs/$RUN_ID/artifacts" -H "$AUTH" | python3 -m json.tool
OUT=$(mktemp -d)
curl -fsS "$API/runs/$RUN_ID/artifacts/train/model.pt" -H "$AUTH" -o "$OUT/model-rest.pt"

forward spotlab-s3 17070 7070
AWS_ACCESS_KEY_ID=spotlab-e2e AWS_SECRET_ACCESS_KEY=spotlab-e2e-secret-key AWS_DEFAULT_REGION=us-east-1 \
  "$SPOTLAB" artifacts get "$RUN_ID" train/model.pt "$OUT/model-cli.pt" \
  --store s3://spotlab/artifacts --endpoint-url http://127.0.0.1:17070
cmp "$OUT/model-rest.pt" "$OUT/model-cli.pt"
echo "e2e-kind: OK (run $RUN_ID; artifacts identical over REST and the CLI, in $OUT)"
