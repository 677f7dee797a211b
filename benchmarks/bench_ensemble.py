"""Step time of an M-member ensemble trained as one vmapped module vs M sequential single-model steps, on CPU.

Each row times ``spotlab.tasks.train.loop.train_step`` (what training runs) on a fixed digits-sized batch: the
stacked ensemble under the deep-ensemble objective and under FSPI (repulsion + Cauchy prior), against M standalone
copies of the member network stepped one after another (M separate SGD optimizers, which is what training M models
in a loop costs per step). Median CPU seconds of ``--steps`` steps, then the median over ``--repeat`` runs; CPU
time of this single-threaded process, which a busy shared machine distorts far less than wall-clock time.

    .venv/bin/python benchmarks/bench_ensemble.py [--members 5] [--repeat 5] [--steps 50]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from spotlab.models.cnn import CNNSmallConfig
from spotlab.models.ensemble import Ensemble
from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.tasks.ensemble.config import DeepEnsembleConfig, FSPIConfig
from spotlab.tasks.train.loop import train_step
from spotlab.tasks.train.optimizers import SGDConfig

SGD = SGDConfig(lr=0.05, nesterov=True)
SHAPE, CLASSES, BATCH = (1, 8, 8), 10, 64


def cpu_median(step, steps: int) -> float:
    step()  # warm-up
    times = []
    for _ in range(steps):
        started = time.process_time()
        step()
        times.append(time.process_time() - started)
    return statistics.median(times)


def members(config, count: int) -> list[torch.nn.Sequential]:
    torch.manual_seed(0)
    return [build_model(config, SHAPE, CLASSES, [0.5], [0.3]) for _ in range(count)]


def sequential_seconds(config, count: int, x, y, steps: int) -> float:
    models = members(config, count)
    optimizers = [SGD.build(m.parameters()) for m in models]

    def objective(model, a, b):
        return F.cross_entropy(model(a), b)

    def step():
        for model, optimizer in zip(models, optimizers):
            train_step(model, optimizer, objective, x, y)

    return cpu_median(step, steps)


def stacked_seconds(config, count: int, method, x, y, steps: int) -> float:
    ensemble = Ensemble(members(config, count), shared_head=method.shared_head)
    optimizer, objective = SGD.build(ensemble.parameters()), method.build()
    return cpu_median(lambda: train_step(ensemble, optimizer, objective, x, y), steps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(1)
    x, y = torch.rand(BATCH, *SHAPE), torch.randint(0, CLASSES, (BATCH,))
    print(f"| member | {args.members} sequential steps (CPU ms) | stacked deep ensemble (CPU ms) | × sequential "
          "| stacked FSPI (CPU ms) | × sequential |\n|---|---|---|---|---|---|")
    for name, config in (("mlp 64-64", MLPConfig(hidden=[64, 64])), ("cnn-small 32-64", CNNSmallConfig())):
        runs = [(sequential_seconds(config, args.members, x, y, args.steps),
                 stacked_seconds(config, args.members, DeepEnsembleConfig(), x, y, args.steps),
                 stacked_seconds(config, args.members, FSPIConfig(), x, y, args.steps)) for _ in range(args.repeat)]
        sequential, deep, fspi = (statistics.median(column) for column in zip(*runs))
        print(f"| {name} | {1e3 * sequential:.2f} | {1e3 * deep:.2f} | {deep / sequential:.2f}× | {1e3 * fspi:.2f} "
              f"| {fspi / sequential:.2f}× |")


if __name__ == "__main__":
    main()
