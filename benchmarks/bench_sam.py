"""SAM-family step cost vs SGD, and the time of a ResNet-18's top Hessian eigenvalue, on CPU (one thread).

Step cost: ``spotlab.tasks.train.loop.train_step`` (what training runs) on a fixed batch, for SGD and every SAM-family
optimizer with the same SGD base; the median step time of ``--steps`` steps, then the median over ``--repeat`` runs,
reported with its ratio to SGD measured in the same run. Times are CPU seconds of this (single-threaded) process,
which a busy shared machine distorts far less than wall-clock time; the Hessian also reports wall-clock. Models: the digits MLP (64 → 128 → 64 → 10, batch 64)
and cnn-small on 3×32×32 (batch 64).

SAM against a davda54/sam-style step (written here from its published algorithm, not copied): first_step with
ε = ρ g / ‖g‖ (the norm of the per-tensor norms), w kept by clone, second_step restoring w and stepping the base
optimizer, driven by the two-closure loop of its README; same model, batch and base optimizer.

Hessian: models/resnet.py's ResNet-18 (10 classes) at initialisation, a random CIFAR-sized batch (3×32×32), power
iteration with Hessian-vector products until the relative change is below ``--tol`` (at most
``--hessian-iterations``), against a PyHessian-style power iteration written here from PyHessian's published
algorithm (single-batch mode: ``loss.backward(create_graph=True)`` once, Hv = autograd.grad(gradients, params,
grad_outputs=v), stop when |Δλ| / (|λ| + 1e-6) < tol), started from the same vector.

    .venv/bin/python benchmarks/bench_sam.py [--repeat 3] [--steps 30] [--hessian-batch 16] [--skip-steps]
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


class ReferenceSAM:
    """The davda54/sam algorithm as its README uses it (the baseline of the step-cost comparison)."""

    def __init__(self, params, rho: float = 0.05):
        self.params = list(params)
        self.base = BASE.build(self.params)
        self.rho, self.old = rho, {}

    @torch.no_grad()
    def first_step(self):
        grad_norm = torch.norm(torch.stack([p.grad.norm(p=2) for p in self.params if p.grad is not None]), p=2)
        scale = self.rho / (grad_norm + 1e-12)
        for p in self.params:
            if p.grad is None:
                continue
            self.old[p] = p.data.clone()
            p.add_(p.grad * scale.to(p))
        self.base.zero_grad()

    @torch.no_grad()
    def second_step(self):
        for p in self.params:
            if p in self.old:
                p.data = self.old[p]
        self.base.step()
        self.base.zero_grad()


def reference_sam_step(model, optimizer: ReferenceSAM, x, y):
    objective(model, x, y).backward()
    optimizer.first_step()
    objective(model, x, y).backward()
    optimizer.second_step()


def reference_step_seconds(model_config, shape, batch: int, steps: int) -> float:
    torch.manual_seed(0)
    model = build_model(model_config, shape, 10)
    optimizer = ReferenceSAM(model.parameters())
    x, y = torch.rand(batch, *shape), torch.randint(0, 10, (batch,))
    reference_sam_step(model, optimizer, x, y)  # warm-up
    times = []
    for _ in range(steps):
        started = time.process_time()
        reference_sam_step(model, optimizer, x, y)
        times.append(time.process_time() - started)
    return statistics.median(times)


def pyhessian_style_top_eigenvalue(model, x, y, iterations: int, tol: float, seed: int):
    """(eigenvalue, iterations) by PyHessian's single-batch power iteration (see the module docstring)."""
    model.eval()
    model.zero_grad()
    F.cross_entropy(model(x), y).backward(create_graph=True)
    params = [p for p in model.parameters() if p.requires_grad]
    gradients = [p.grad for p in params]
    generator = torch.Generator().manual_seed(seed)
    v = [torch.randn(p.shape, generator=generator) for p in params]
    norm = torch.sqrt(sum((a * a).sum() for a in v))
    v = [a / (norm + 1e-6) for a in v]
    eigenvalue, count = None, 0
    for count in range(1, iterations + 1):
        hv = torch.autograd.grad(gradients, params, grad_outputs=v, only_inputs=True, retain_graph=True)
        current = float(sum((a * b).sum() for a, b in zip(hv, v)))
        norm = torch.sqrt(sum((a * a).sum() for a in hv))
        v = [a / (norm + 1e-6) for a in hv]
        if eigenvalue is not None and abs(eigenvalue - current) / (abs(eigenvalue) + 1e-6) < tol:
            eigenvalue = current
            break
        eigenvalue = current
    model.zero_grad(set_to_none=True)
    return eigenvalue, count


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
    parser.add_argument("--hessian-batch", type=int, default=16)
    parser.add_argument("--hessian-iterations", type=int, default=20)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--skip-steps", action="store_true", help="only the Hessian comparison")
    args = parser.parse_args()
    torch.set_num_threads(1)

    if not args.skip_steps:
        print("| model | optimizer | step (CPU ms) | × SGD | × davda54-style SAM |\n|---|---|---|---|---|")
        for name, config, shape in (("mlp 128-64, batch 64", MLPConfig(), (1, 8, 8)),
                                    ("cnn-small, 3×32×32, batch 64", CNNSmallConfig(), (3, 32, 32))):
            runs = {kind: [] for kind in [*OPTIMIZERS, "davda54-style sam"]}
            for _ in range(args.repeat):  # interleaved, so that a change of machine load hits every optimizer alike
                for kind, opt in OPTIMIZERS.items():
                    runs[kind].append(step_seconds(config, shape, 64, opt, args.steps))
                runs["davda54-style sam"].append(reference_step_seconds(config, shape, 64, args.steps))
            medians = {kind: statistics.median(times) for kind, times in runs.items()}
            for kind, seconds in medians.items():
                print(f"| {name} | {kind} | {seconds * 1e3:.2f} | {seconds / medians['sgd']:.2f} | "
                      f"{seconds / medians['davda54-style sam']:.3f} |")

    torch.manual_seed(0)
    model = build_model(ResNet18Config(), (3, 32, 32), 10)
    x, y = torch.rand(args.hessian_batch, 3, 32, 32), torch.randint(0, 10, (args.hessian_batch,))
    times = {"spotlab": [], "pyhessian-style": []}
    results = {}
    for _ in range(args.repeat):
        started = time.process_time()
        eigen = top_eigenvalue(model, F.cross_entropy, [(x, y)], iterations=args.hessian_iterations, tol=args.tol)
        times["spotlab"].append(time.process_time() - started)
        results["spotlab"] = (eigen.value, eigen.iterations)
        started = time.process_time()
        results["pyhessian-style"] = pyhessian_style_top_eigenvalue(model, x, y, args.hessian_iterations, args.tol, 0)
        times["pyhessian-style"].append(time.process_time() - started)
    base = statistics.median(times["pyhessian-style"])
    print(f"\nResNet-18 top Hessian eigenvalue, batch {args.hessian_batch}, tol {args.tol:g}, at most "
          f"{args.hessian_iterations} iterations:\n\n| implementation | eigenvalue | iterations | CPU s | CPU s per HVP | "
          "× PyHessian-style |\n|---|---|---|---|---|---|")
    for name, seconds in times.items():
        value, iterations = results[name]
        median = statistics.median(seconds)
        print(f"| {name} | {value:.6g} | {iterations} | {median:.2f} | {median / iterations:.3f} | "
              f"{median / base:.3f} |")
    relative = abs(results["spotlab"][0] - results["pyhessian-style"][0]) / abs(results["pyhessian-style"][0])
    print(f"\nrelative eigenvalue difference: {relative:.2e}")


if __name__ == "__main__":
    main()
