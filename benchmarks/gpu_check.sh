#!/usr/bin/env bash
# EDEN on a GPU in one prepared run (< 5 minutes): encode/decode GB/s of EDEN's torch path on the GPU, whether its
# bytes and decoded floats equal the CPU kernel's, and one NCCL DDP training step with EDEN through the project's
# DataParallel (torchrun, nproc = min(2, GPUs)). Without a GPU it says so and exits 0.
#
#     bash benchmarks/gpu_check.sh            # from the repository root; PYTHON=... to pick the interpreter
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3
GPUS=$("$PYTHON" -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
if [ "$GPUS" -eq 0 ]; then
  echo "gpu_check: no CUDA device visible to torch; nothing to measure (skipped)."
  exit 0
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

echo "== EDEN throughput on the GPU (torch path; medians of 5) =="
timeout 180 "$PYTHON" benchmarks/bench_eden.py --device cuda --dims 20 24 --bits 1 2 4 --repeat 5 --skip-all

echo "== GPU torch path vs CPU kernel: the same bytes and floats? =="
timeout 120 "$PYTHON" - <<'PY'
import torch
from spotlab.tasks.compress.eden import EdenConfig
for d, bits in [(2**20, 1), (2**20 + 12345, 2), (2**22, 4)]:
    x = torch.randn(d, generator=torch.Generator().manual_seed(d))
    codec = EdenConfig(bits=bits).build(worker=1)
    cpu = codec.compress(x, 7)
    gpu = codec.compress(x.cuda(), 7)
    same_bytes = all(torch.equal(a, b.cpu()) for a, b in zip(cpu.tensors, gpu.tensors))
    same_floats = torch.equal(codec.decompress(cpu), codec.decompress(gpu).cpu())
    print(f"d={d} b={bits}: bytes equal {same_bytes}, decoded floats equal {same_floats}")
PY

echo "== one NCCL DDP step with EDEN =="
NPROC=$(( GPUS < 2 ? GPUS : 2 ))
STEP=$(mktemp --suffix=.py)
trap 'rm -f "$STEP"' EXIT
cat > "$STEP" <<'PY'
import os, time
import torch
import torch.distributed as dist
from spotlab.tasks.compress.eden import EdenConfig
from spotlab.tasks.distributed.config import DistributedConfig
from spotlab.tasks.distributed.parallel import DataParallel
from spotlab.tasks.distributed.worker import join
from spotlab.tasks.train.objectives import ERMConfig
from spotlab.tasks.train.optimizers import SGDConfig

collective = join("torch", torch.device("cuda"))
config = DistributedConfig(workers=int(os.environ["WORLD_SIZE"]), compressor=EdenConfig(bits=2))
parallel = DataParallel(config, collective, seed=0)
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(1024, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 10)).cuda()
module, optimizer = parallel.setup(model, SGDConfig(lr=0.1))
objective = ERMConfig().build("classification", None)
x, y = torch.randn(256, 1024, device="cuda"), torch.randint(0, 10, (256,), device="cuda")
for step in range(3):
    torch.cuda.synchronize(); start = time.perf_counter()
    loss = parallel.step(module, optimizer, objective, x, y)
    torch.cuda.synchronize()
    if collective.rank == 0:
        print(f"step {step}: loss {float(loss):.4f}, {1e3 * (time.perf_counter() - start):.1f} ms, "
              f"backend {dist.get_backend()}, world {collective.world}, {parallel.communication()}")
dist.destroy_process_group()
PY
timeout 180 "$PYTHON" -m torch.distributed.run --standalone --nproc_per_node="$NPROC" "$STEP"
echo "gpu_check: done"
