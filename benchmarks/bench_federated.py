"""NTK-FL's client-side cost: per-sample Jacobians of one client's data, batched (vmap over jacrev, in chunks, as the
federated stage computes them) vs a per-sample Python loop (one jacrev per example).

The network is the study's MLP 64-100-10 (7,510 parameters) with its input normalisation, at initialisation, on
digits images; a client holds ``--examples`` of them (72 ≈ the mean client of the study's 20-client split of 1,437
training images; 200 = the official per-client count). Both forms give the same (N, 10, 7,510) tensor (checked
here). One thread, median of ``--repeat`` runs after one warm-up.

    .venv/bin/python benchmarks/bench_federated.py [--repeat 5]
"""

from __future__ import annotations

import argparse

import torch

from timing import median_seconds

from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.federated.jacobians import per_sample_jacobians, per_sample_jacobians_loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--examples", type=int, nargs="+", default=[72, 200])
    parser.add_argument("--chunk", type=int, default=64, help="vmap chunk size (the stage's default)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    splits, info = prepare(DataConfig(val_fraction=0.0), seed=0)
    torch.manual_seed(0)
    model = build_model(MLPConfig(hidden=[100]), info.input_shape, info.num_outputs, info.mean, info.std)
    print("| examples | vmap (s) | per-sample loop (s) | speed-up | upload MB (fp32 Jacobian) |")
    print("|---|---|---|---|---|")
    for n in args.examples:
        x = torch.as_tensor(splits.x_train[:n])
        batched = per_sample_jacobians(model, x, args.chunk)
        torch.testing.assert_close(batched, per_sample_jacobians_loop(model, x))
        vmap_s = median_seconds(lambda: per_sample_jacobians(model, x, args.chunk), args.repeat)
        loop_s = median_seconds(lambda: per_sample_jacobians_loop(model, x), args.repeat)
        print(f"| {n} | {vmap_s:.4f} | {loop_s:.4f} | {loop_s / vmap_s:.1f}× | {batched.numel() * 4 / 1e6:.2f} |")


if __name__ == "__main__":
    main()
