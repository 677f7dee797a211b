"""RankSim's per-step overhead over plain regression at batch 256, on CPU (one thread).

``spotlab.tasks.train.loop.train_step`` (what training runs) with Adam on a fixed batch of 256, for the plain MSE
objective (erm) and erm + RankSim (γ = 100, λ = 2), and for LDS with and without RankSim. Labels are integers from
100 levels drawn like the study's exponential synthetic data (so unique-label sampling keeps ≤ 100 of the 256) or
continuous (all 256 kept, a 256 × 256 ranking). Models: the study's MLP 20 → 64 → 64 → 1 and a wider
20 → 512 → 512 → 1. The median CPU time of ``--steps`` steps, then the median over ``--repeat`` interleaved runs.

    .venv/bin/python benchmarks/bench_ranksim.py [--repeat 5] [--steps 40]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.loop import train_step
from spotlab.tasks.train.objectives import build_objective
from spotlab.tasks.train.optimizers import AdamConfig

BATCH = 256
OBJECTIVES = {
    "erm": {"kind": "erm"},
    "erm + ranksim": {"kind": "ranksim"},
    "lds": {"kind": "lds"},
    "lds + ranksim": {"kind": "ranksim", "base": {"kind": "lds"}},
}


def batch(labels: str) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    if labels == "integer":
        p = np.exp(-4 * np.arange(100) / 100)
        y = rng.choice(100, size=BATCH, p=p / p.sum())
    else:
        y = rng.uniform(0, 100, BATCH)
    x = rng.standard_normal((BATCH, 20))
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)


def step_seconds(hidden: list[int], objective: dict, labels: str, steps: int) -> float:
    torch.manual_seed(0)
    model = build_model(MLPConfig(hidden=hidden), (20,), 1)
    optimizer = AdamConfig().build(model.parameters())
    x, y = batch(labels)
    config = TrainConfig.model_validate({"objective": objective}).objective
    loss = build_objective(config, "regression", None, y)
    train_step(model, optimizer, loss, x, y)  # warm-up
    times = []
    for _ in range(steps):
        started = time.process_time()
        train_step(model, optimizer, loss, x, y)
        times.append(time.process_time() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| model | labels in the batch | objective | step (CPU ms) | overhead vs same without RankSim |")
    print("|---|---|---|---|---|")
    for hidden in ([64, 64], [512, 512]):
        for labels in ("integer", "continuous"):
            runs = {name: [] for name in OBJECTIVES}
            for _ in range(args.repeat):  # interleaved: a change of machine load hits every objective alike
                for name, objective in OBJECTIVES.items():
                    runs[name].append(step_seconds(hidden, objective, labels, args.steps))
            medians = {name: statistics.median(times) for name, times in runs.items()}
            for name, seconds in medians.items():
                base = name.removesuffix(" + ranksim")
                overhead = (f"+{(seconds - medians[base]) * 1e3:.2f} ms ({seconds / medians[base]:.2f}×)"
                            if base != name else "")
                model = "mlp 20-" + "-".join(map(str, hidden)) + "-1"
                kept = "≤ 100 unique of 256" if labels == "integer" else "256 unique"
                print(f"| {model} | {kept} | {name} | {seconds * 1e3:.2f} | {overhead} |")


if __name__ == "__main__":
    main()
