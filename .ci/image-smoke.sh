#!/usr/bin/env bash
# Build the CPU image and run it the way the chart runs it (read-only root, uid 10001, every capability dropped,
# no privilege escalation, a tmpfs /tmp): an EDEN encode/decode through the numba kernel (its cache lands under /tmp),
# `spotlab run quickstart`, then a deployment run executed with
# `prefect flow-run execute` against a Prefect server (basic auth on, as the chart configures it) started from
# the same image. Takes ~10-15 min (torch from PyPI); CI need not run it.
#
# Needs: a Docker daemon; if the base image is missing, root and debootstrap to make one (registries for base
# images may be unreachable: a debootstrap'ed Debian bookworm with its Python 3.11 stands in for python:3.11-slim).
# Settings: IMAGE, BASE_IMAGE, TORCH_INDEX_URL (default PyPI), DEBIAN_MIRROR, PORT (Prefect server).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-spotlab:smoke}
BASE_IMAGE=${BASE_IMAGE:-spotlab-base:bookworm-py311}
TORCH_INDEX_URL=${TORCH_INDEX_URL:-https://pypi.org/simple}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PORT=${PORT:-14299}
SERVER=spotlab-smoke-prefect-$$
AUTH=admin:smoke-$$

skip() { echo "image-smoke: SKIPPED: $*"; exit 0; }
command -v docker >/dev/null || skip "no docker client on PATH"
docker info >/dev/null 2>&1 || skip "no Docker daemon can be reached (docker info failed)"

if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] && command -v debootstrap >/dev/null ||
    skip "base image $BASE_IMAGE is missing and making it needs root and debootstrap"
  ROOTFS=$(mktemp -d)
  trap 'rm -rf "$ROOTFS"' EXIT
  debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates bookworm \
    "$ROOTFS" "$DEBIAN_MIRROR"
  # A container image, not a managed system: pip installs into it (PEP 668 marker off), `python` is python3, and
  # the host's CA bundle (which may include a TLS-intercepting proxy's) lets pip reach the index.
  rm -f "$ROOTFS"/usr/lib/python3*/EXTERNALLY-MANAGED
  ln -sf python3 "$ROOTFS/usr/bin/python"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
  tar -C "$ROOTFS" -c . | docker import - "$BASE_IMAGE"
  rm -rf "$ROOTFS"
  trap - EXIT
fi

DOCKER_BUILDKIT=0 nice -n 10 docker build --force-rm --network host --build-arg PYTHON_IMAGE="$BASE_IMAGE" \
  --build-arg TORCH_INDEX_URL="$TORCH_INDEX_URL" -t "$IMAGE" .

# The chart's pod and container security contexts, and its environment (HOME and Prefect's home under /tmp).
SECURITY=(--network host --read-only --user 10001:10001 --cap-drop ALL --security-opt no-new-privileges
          --tmpfs /tmp:rw,exec,size=2g -e OMP_NUM_THREADS=1)
CHART_RUN=(--rm "${SECURITY[@]}")
trap 'docker rm -f "$SERVER" >/dev/null 2>&1 || true' EXIT

echo "image-smoke: bytecode is precompiled and the root filesystem is read-only"
docker run "${CHART_RUN[@]}" --entrypoint python "$IMAGE" -c '
import importlib.util, pathlib, prefect.flows, spotlab.flows.pipeline, torch.nn.modules.module
for m in (spotlab.flows.pipeline, prefect.flows, torch.nn.modules.module):
    assert pathlib.Path(importlib.util.cache_from_source(m.__file__)).is_file(), "no bytecode for " + m.__file__
try:
    open("/opt/spotlab-write-test", "w")
except OSError as exc:
    print("read-only root:", exc.strerror)
else:
    raise SystemExit("the root filesystem is writable")'

echo "image-smoke: EDEN's numba kernel compiles and caches under the writable /tmp (XDG_CACHE_HOME)"
docker run "${CHART_RUN[@]}" --entrypoint python "$IMAGE" -c '
import os, torch
from spotlab.tasks.compress.eden import EdenConfig
x = torch.randn(1 << 16)
codec = EdenConfig(bits=1).build()
vnmse = float((codec.decompress(codec.compress(x, 7)) - x).pow(2).sum() / x.pow(2).sum())
assert 0.5 < vnmse < 0.65, vnmse
cached = [f for _, _, files in os.walk(os.environ["XDG_CACHE_HOME"]) for f in files if f.endswith(".nbi")]
assert cached, "numba wrote no cache index under " + os.environ["XDG_CACHE_HOME"]
print(f"vNMSE {vnmse:.4f} at b = 1, {len(cached)} cached kernels")'

echo "image-smoke: spotlab run quickstart"
docker run "${CHART_RUN[@]}" "$IMAGE" run quickstart --json

echo "image-smoke: Prefect server (basic auth) on 127.0.0.1:$PORT"
docker run -d --name "$SERVER" "${SECURITY[@]}" -e PREFECT_UI_STATIC_DIRECTORY=/tmp/prefect-ui \
  -e PREFECT_SERVER_ANALYTICS_ENABLED=false -e PREFECT_SERVER_API_AUTH_STRING="$AUTH" \
  --entrypoint prefect "$IMAGE" server start --host 127.0.0.1 --port "$PORT" >/dev/null
for _ in $(seq 60); do
  curl -fsS "http://127.0.0.1:$PORT/api/health" >/dev/null 2>&1 && break
  sleep 2
done
curl -fsS "http://127.0.0.1:$PORT/api/health" >/dev/null || { docker logs "$SERVER"; exit 1; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/flows/filter" -X POST)" = 401 ] ||
  { echo "image-smoke: the Prefect API answered without credentials" >&2; exit 1; }

CLIENT=("${CHART_RUN[@]}" -e PREFECT_API_URL="http://127.0.0.1:$PORT/api" -e PREFECT_API_AUTH_STRING="$AUTH")
echo "image-smoke: deploy the flows and create a pipeline deployment run"
FLOW_RUN_ID=$(docker run "${CLIENT[@]}" --entrypoint sh "$IMAGE" -c '
set -e
prefect work-pool create smoke --type process >/dev/null
spotlab deploy --pool smoke --image "$0" >&2
python - <<PY
from prefect.deployments import run_deployment
from spotlab.infra.config import load_config

config = load_config("quickstart")
flow_run = run_deployment("pipeline/spotlab", parameters={"config": config.model_dump(mode="json")}, timeout=0)
print(flow_run.id)
PY' "$IMAGE" | tail -n 1)
echo "image-smoke: prefect flow-run execute $FLOW_RUN_ID"
docker run "${CLIENT[@]}" --entrypoint prefect "$IMAGE" flow-run execute "$FLOW_RUN_ID"
STATE=$(docker run "${CLIENT[@]}" --entrypoint python "$IMAGE" -c '
import sys
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:
    print(client.read_flow_run(sys.argv[1]).state.type.value)' "$FLOW_RUN_ID")
echo "image-smoke: flow run $FLOW_RUN_ID: $STATE"
[ "$STATE" = COMPLETED ]
echo "image-smoke: OK"
