"""Data-parallel step time with each compressor against uncompressed training, 2 workers, on the torch (DDP over
gloo) and Horovod (horovodrun --gloo) backends, and the bytes each worker hands to the collective per step.

Every worker runs ``DataParallel.step`` (what the distributed train stage runs) on its shard of a fixed global
batch of random 3×32×32 inputs through the registry's (CIFAR-style) ResNet-18 (11.2 M parameters; ``--model mlp``
for the 64 → 512 → 512 → 10 MLP). The default global batch of 4 (2 per worker) already makes a step of ~0.5 s on
one loaded CPU thread, well above the 50 ms the overhead target asks for. All rows of a backend are timed in ONE
launch of the workers, one after the other: per row 3 warm-up steps, then ``--steps`` timed steps ``--repeat``
times; the table gives rank 0's median of the repeat medians. Baseline: single-process training
(``spotlab.tasks.train.loop.train_step``, no process group), measured in the same run. One thread per worker.

    .venv/bin/python benchmarks/bench_distributed.py [--model resnet18] [--backends torch horovod]
        [--repeat 3] [--steps 3] [--batch 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.models.resnet import ResNet18Config
from spotlab.tasks.distributed.config import DistributedConfig
from spotlab.tasks.distributed.parallel import DataParallel
from spotlab.tasks.distributed.spawn import run_workers
from spotlab.tasks.train.loop import train_step
from spotlab.tasks.train.optimizers import SGDConfig

MODELS = {"resnet18": (ResNet18Config(), (3, 32, 32)), "mlp": (MLPConfig(hidden=[512, 512]), (64,))}
OPTIMIZER = SGDConfig(lr=0.01, momentum=0.9, weight_decay=5e-4)
BLOCK = {"kind": "random-block", "ratio": 64}
ROWS = {
    "none": {"compressor": {"kind": "none"}},
    "fp16": {"compressor": {"kind": "fp16"}},
    "powersgd (r=2)": {"compressor": {"kind": "powersgd", "rank": 2}},
    "random-block (1/64)": {"compressor": BLOCK},
    "random-k (1/64)": {"compressor": {"kind": "random-k", "ratio": 64}},
    "top-k (1/64)": {"compressor": {"kind": "top-k", "ratio": 64}},
    "qsgd": {"compressor": {"kind": "qsgd"}},
    "eden (b=1)": {"compressor": {"kind": "eden", "bits": 1}},
    "random-block (1/64) + ef": {"compressor": BLOCK, "feedback": {"kind": "ef"}},
    "random-block (1/64) + def": {"compressor": BLOCK, "feedback": {"kind": "def"}},
}
OVERHEAD_ROWS = ("random-block (1/64)", "random-block (1/64) + def")


def objective(model, x, y):
    return F.cross_entropy(model(x), y)


def _batch(size: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(size, *shape, generator=generator), torch.randint(0, 10, (size,), generator=generator)


def _timed(step, steps: int, repeat: int) -> float:
    for _ in range(3):
        step()
    medians = []
    for _ in range(repeat):
        times = []
        for _ in range(steps):
            started = time.perf_counter()
            step()
            times.append(time.perf_counter() - started)
        medians.append(statistics.median(times))
    return statistics.median(medians)


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    config, shape = MODELS[name]
    return build_model(config, shape, 10)


def single_process(model_name: str, batch: int, steps: int, repeat: int) -> float:
    model = _model(model_name)
    optimizer = OPTIMIZER.build(model.parameters())
    x, y = _batch(batch, MODELS[model_name][1])
    return _timed(lambda: train_step(model, optimizer, objective, x, y), steps, repeat)


def worker(collective, backend: str, model_name: str, batch: int, steps: int, repeat: int) -> dict[str, dict]:
    """Every row in turn on this worker (the same launch, the same process group)."""
    x, y = _batch(batch, MODELS[model_name][1])
    results = {}
    for name, settings in ROWS.items():
        config = DistributedConfig.model_validate({"workers": collective.world, "backend": backend, **settings})
        parallel = DataParallel(config, collective, seed=0)
        module, optimizer = parallel.setup(_model(model_name), OPTIMIZER)
        seconds = _timed(lambda: parallel.step(module, optimizer, objective, x, y), steps, repeat)
        results[name] = {"seconds": seconds, **parallel.communication()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=sorted(MODELS), default="resnet18")
    parser.add_argument("--backends", nargs="+", choices=["torch", "horovod"], default=["torch", "horovod"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4, help="Global batch (split over the workers).")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    baseline = single_process(args.model, args.batch, args.steps, args.repeat)
    print(f"{args.model}, global batch {args.batch}: single process {baseline * 1e3:.1f} ms/step", flush=True)
    print("| backend | method | ms/step | vs none | bytes/step/worker | ratio to fp32 |")
    print("|---|---|---|---|---|---|")
    for backend in args.backends:
        rows = run_workers(worker, args.workers, backend, args.model, args.batch, args.steps, args.repeat,
                           backend=backend)[0]
        none = rows["none"]["seconds"]
        for name, r in rows.items():
            print(f"| {backend} | {name} | {r['seconds'] * 1e3:.1f} | {r['seconds'] / none:.2f}× | "
                  f"{r['bytes_per_step']:,.0f} | {r['compression_ratio']:.1f} |", flush=True)
        for name in OVERHEAD_ROWS:
            print(f"{backend}: step-time overhead of {name} vs none: {(rows[name]['seconds'] / none - 1) * 100:+.1f} %")


if __name__ == "__main__":
    main()
