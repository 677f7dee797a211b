"""Attack cost on CPU (one thread): PGD, APGD and CGD at equal iterations, and CGD vs APGD-MD at equal success.

Models: the digits MLP (64 → 128 → 64 → 10) and cnn-small (channels 16, 32; hidden 64), each trained 10 epochs
with Adam on sklearn digits; the first ``--n`` test examples; scored after rounding to 1/16 (as in cgd.yaml).

1. Equal iterations: eps = 0.001 so that almost no example succeeds and every attack runs its full 100 iterations;
   time per example-iteration = wall time / Σ iterations actually run, and wall time per example.
2. Equal success: targeted (same targets (y + o) mod 10 for all), eps = 0.1875, MLP: CGD at 100 iterations vs
   APGD-MD at several budgets; the APGD-MD budget that first matches CGD's success and its time.

Each time is the median of ``--repeat`` runs, as wall time and as this process's CPU time (the reliable one on a
shared machine, where wall time also counts waiting for a core).

    .venv/bin/python benchmarks/bench_attacks.py [--repeat 3] [--n 300]
"""

from __future__ import annotations

import argparse
import statistics

import torch

from spotlab.models.cnn import CNNSmallConfig
from spotlab.models.mlp import MLPConfig
from spotlab.tasks.attack.apgd import APGDConfig
from spotlab.tasks.attack.cgd import CGDConfig
from spotlab.tasks.attack.pgd import PGDConfig
from spotlab.tasks.attack.studies import train_model
from spotlab.tasks.attack.targets import random_targets
from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.optimizers import AdamConfig

BOX = (0.0, 1.0)


def timed(attack, model, x, y, target, repeat: int):
    """(first result, median wall seconds, median CPU seconds) over ``repeat`` identical runs."""
    runs = [attack.run(model, x, y, BOX, seed=0, target=target) for _ in range(repeat)]
    return runs[0], statistics.median(r.seconds for r in runs), statistics.median(r.cpu_seconds for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    torch.set_num_threads(1)
    splits, info = prepare(DataConfig(), 0)
    x, y = torch.as_tensor(splits.x_test[: args.n]), torch.as_tensor(splits.y_test[: args.n])
    target = random_targets(y, 10, 1, torch.Generator().manual_seed(0))[0]
    models = {
        "mlp": MLPConfig(hidden=[128, 64]),
        "cnn-small": CNNSmallConfig(channels=[16, 32], hidden=64),
    }
    trained = {name: train_model(TrainConfig(model=cfg, optimizer=AdamConfig(), epochs=10), splits, info, 0)
               for name, cfg in models.items()}

    print("## equal iterations (100), eps = 0.001, quantization 1/16")
    print("| model | attack | CPU ms / 1000 example-iterations | CPU ms / example | wall ms / example | "
          "example-iterations |")
    print("|---|---|---|---|---|---|")
    common = {"eps": 0.001, "steps": 100, "quantization": 16}
    attacks = {
        "pgd-ce": (PGDConfig(**common), None),
        "apgd-ce": (APGDConfig(**common), None),
        "apgd-md (targeted)": (APGDConfig(loss="md", targeted=True, **common), target),
        "cgd (targeted)": (CGDConfig(**common), target),
    }
    for model_name, model in trained.items():
        for name, (attack, tgt) in attacks.items():
            result, wall, cpu = timed(attack, model, x, y, tgt, args.repeat)
            work = int(result.iterations.sum())
            print(f"| {model_name} | {name} | {1e6 * cpu / work:.1f} | {1e3 * cpu / len(y):.2f} | "
                  f"{1e3 * wall / len(y):.2f} | {work} |")

    print("\n## equal success: targeted, eps = 0.1875, mlp")
    print("| attack | steps | success | CPU s | wall s |")
    print("|---|---|---|---|---|")
    common = {"eps": 0.1875, "quantization": 16}
    cgd, wall, cpu = timed(CGDConfig(steps=100, **common), trained["mlp"], x, y, target, args.repeat)
    print(f"| cgd | 100 | {float(cgd.success.float().mean()):.4f} | {cpu:.3f} | {wall:.3f} |")
    for steps in (25, 50, 100, 200, 400):
        apgd, wall, cpu = timed(APGDConfig(loss="md", targeted=True, steps=steps, **common), trained["mlp"], x, y,
                                target, args.repeat)
        print(f"| apgd-md | {steps} | {float(apgd.success.float().mean()):.4f} | {cpu:.3f} | {wall:.3f} |")


if __name__ == "__main__":
    main()
