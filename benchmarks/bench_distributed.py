"""Data-parallel training throughput: 1 vs 2 workers with each compressor, and the step-time overhead of
random-block and of random-block + DEF against uncompressed training (CPU, gloo, one thread per worker).

Every worker runs ``DataParallel.step`` (what the distributed train stage runs) on its shard of a fixed global
batch of random inputs through an MLP 64 → 512 → 512 → 10 (≈ 300k parameters); a worker times ``--steps`` steps
after 5 warm-up steps, ``--repeat`` times; the table gives rank 0's median. Baseline: single-process training
(``spotlab.tasks.train.loop.train_step``, no process group), measured in the same run.

    .venv/bin/python benchmarks/bench_distributed.py [--repeat 3] [--steps 30] [--batch 128]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.tasks.distributed.config import DistributedConfig
from spotlab.tasks.distributed.parallel import DataParallel
from spotlab.tasks.distributed.spawn import run_workers
from spotlab.tasks.train.loop import train_step
from spotlab.tasks.train.optimizers import SGDConfig

MODEL = MLPConfig(hidden=[512, 512])
OPTIMIZER = SGDConfig(lr=0.01, momentum=0.9, weight_decay=5e-4)
COMPRESSORS = {
    "none": {"kind": "none"},
    "fp16": {"kind": "fp16"},
    "powersgd (r=2)": {"kind": "powersgd", "rank": 2},
    "random-block (1/64)": {"kind": "random-block", "ratio": 64},
    "random-k (1/64)": {"kind": "random-k", "ratio": 64},
    "top-k (1/64)": {"kind": "top-k", "ratio": 64},
    "qsgd": {"kind": "qsgd"},
    "eden (b=1)": {"kind": "eden", "bits": 1},
}
FEEDBACK = {"random-block (1/64) + ef": "ef", "random-block (1/64) + def": "def"}


def objective(model, x, y):
    return F.cross_entropy(model(x), y)


def _batch(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(size, 64, generator=generator), torch.randint(0, 10, (size,), generator=generator)


def _timed(step, steps: int, repeat: int) -> float:
    for _ in range(5):
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


def single_process(batch: int, steps: int, repeat: int) -> float:
    torch.manual_seed(0)
    model = build_model(MODEL, (64,), 10)
    optimizer = OPTIMIZER.build(model.parameters())
    x, y = _batch(batch)
    return _timed(lambda: train_step(model, optimizer, objective, x, y), steps, repeat)


def worker(collective, config: DistributedConfig, batch: int, steps: int, repeat: int) -> dict:
    torch.manual_seed(0)
    parallel = DataParallel(config, collective, seed=0)
    module, optimizer = parallel.setup(build_model(MODEL, (64,), 10), OPTIMIZER)
    x, y = _batch(batch)
    seconds = _timed(lambda: parallel.step(module, optimizer, objective, x, y), steps, repeat)
    return {"seconds": seconds, **parallel.communication()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(1)
    baseline = single_process(args.batch, args.steps, args.repeat)
    print(f"single process (no process group): {baseline * 1e3:.2f} ms/step, {args.batch / baseline:,.0f} examples/s")
    print("| method | workers | ms/step | examples/s | vs single process | bytes/step/worker | ratio to fp32 |")
    print("|---|---|---|---|---|---|---|")
    rows = {}
    runs = [(name, {"compressor": c}) for name, c in COMPRESSORS.items()]
    runs += [(name, {"compressor": COMPRESSORS["random-block (1/64)"], "feedback": {"kind": f}})
             for name, f in FEEDBACK.items()]
    for name, settings in runs:
        for workers in (1, 2):
            config = DistributedConfig.model_validate({"workers": workers, **settings})
            result = run_workers(worker, workers, config, args.batch, args.steps, args.repeat)[0]
            rows[name, workers] = result
            print(f"| {name} | {workers} | {result['seconds'] * 1e3:.2f} | {args.batch / result['seconds']:,.0f} | "
                  f"{baseline / result['seconds']:.2f}× | {result['bytes_per_step']:,.0f} | "
                  f"{result['compression_ratio']:.1f} |", flush=True)
    none = rows["none", 2]["seconds"]
    for name in ("random-block (1/64)", "random-block (1/64) + def"):
        overhead = rows[name, 2]["seconds"] / none - 1
        print(f"step-time overhead of {name} vs none at 2 workers: {overhead * 100:+.1f} %")


if __name__ == "__main__":
    main()
