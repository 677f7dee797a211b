"""SAM-family step cost vs SGD, and the time of a ResNet-18's top Hessian eigenvalue, on CPU (one thread).

Step cost: ``spotlab.tasks.train.loop.train_step`` (what training runs) on a fixed batch, for SGD and every SAM-family
optimizer with the same SGD base; the median step time of ``--steps`` steps, then the median over ``--repeat`` runs,
reported with its ratio to SGD measured in the same run. Times are CPU seconds of this (single-threaded) process,
which a busy shared machine distorts far less than wall-clock time; the Hessian also reports wall-clock. Models: the digits MLP (64 → 128 → 64 → 10, batch 64)
and cnn-small on 3×32×32 (batch 64).

Hessian: models/resnet.py's ResNet-18 (10 classes) at initialisation, a random CIFAR-sized batch (3×32×32), power
iteration with Hessian-vector products until the relative change is below ``--tol`` (at most 20 iterations).

    .venv/bin/python benchmarks/bench_sam.py [--repeat 3] [--steps 30] [--hessian-batch 32]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from spotlab.models.cnn import CNNSmallConfig
from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.models.resnet import ResNet18Config
from spotlab.tasks.landscape.hessian import top_eigenvalue
from spotlab.tasks.train.loop import train_step
from spotlab.tasks.train.optimizers import SGDConfig
from spotlab.tasks.train.sam import ASAMConfig, FisherSAMConfig, MSAMConfig, SAMConfig

BASE = SGDConfig(lr=0.01, momentum=0.9, weight_decay=5e-4)
OPTIMIZERS = {
    "sgd": BASE,
    "sam": SAMConfig(base=BASE),
    "asam": ASAMConfig(base=BASE),
    "fisher-sam": FisherSAMConfig(base=BASE),
    "m-sam (m=16)": MSAMConfig(m=16, base=BASE),
}


def objective(model, x, y):
    return F.cross_entropy(model(x), y)


def step_seconds(model_config, shape, batch: int, optimizer_config, steps: int) -> float:
    torch.manual_seed(0)
    model = build_model(model_config, shape, 10)
    optimizer = optimizer_config.build(model.named_parameters())
    x, y = torch.rand(batch, *shape), torch.randint(0, 10, (batch,))
    train_step(model, optimizer, objective, x, y)  # warm-up
    times = []
    for _ in range(steps):
        started = time.process_time()
        train_step(model, optimizer, objective, x, y)
        times.append(time.process_time() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--hessian-batch", type=int, default=32)
    parser.add_argument("--tol", type=float, default=1e-2)
    args = parser.parse_args()
    torch.set_num_threads(1)

    print("| model | optimizer | step (CPU ms) | × SGD |\n|---|---|---|---|")
    for name, config, shape in (("mlp 128-64, batch 64", MLPConfig(), (1, 8, 8)),
                                ("cnn-small, 3×32×32, batch 64", CNNSmallConfig(), (3, 32, 32))):
        runs = {kind: [] for kind in OPTIMIZERS}
        for _ in range(args.repeat):  # interleaved, so that a change of machine load hits every optimizer alike
            for kind, opt in OPTIMIZERS.items():
                runs[kind].append(step_seconds(config, shape, 64, opt, args.steps))
        medians = {kind: statistics.median(times) for kind, times in runs.items()}
        for kind, seconds in medians.items():
            print(f"| {name} | {kind} | {seconds * 1e3:.2f} | {seconds / medians['sgd']:.2f} |")

    torch.manual_seed(0)
    model = build_model(ResNet18Config(), (3, 32, 32), 10)
    x, y = torch.rand(args.hessian_batch, 3, 32, 32), torch.randint(0, 10, (args.hessian_batch,))
    wall, cpu, eigen = [], [], None
    for _ in range(args.repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        eigen = top_eigenvalue(model, F.cross_entropy, [(x, y)], iterations=20, tol=args.tol)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    print(f"\nResNet-18 top Hessian eigenvalue, batch {args.hessian_batch}: {eigen.value:.4g} after "
          f"{eigen.iterations} iterations (tol {args.tol:g}), median wall {statistics.median(wall):.1f} s, "
          f"CPU {statistics.median(cpu):.1f} s ({statistics.median(cpu) / eigen.iterations:.2f} CPU s per "
          "Hessian-vector product)")


if __name__ == "__main__":
    main()
