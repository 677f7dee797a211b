"""SAM-family step cost beside the official davda54/sam and SamsungLabs/ASAM code, and a ResNet-18's top Hessian
eigenvalue beside the real PyHessian, on CPU (one thread).

Step cost: ``spotlab.tasks.train.loop.train_step`` (what training runs) on a fixed batch, for SGD and every
SAM-family optimizer with the same SGD base; the median step time of ``--steps`` steps, then the median over
``--repeat`` interleaved runs, reported with its ratio to SGD measured in the same run. Times are CPU seconds of
this (single-threaded) process, which a busy shared machine distorts far less than wall-clock time; the Hessian
also reports wall-clock. Models: the digits MLP (64 → 128 → 64 → 10, batch 64) and cnn-small on 3×32×32 (batch 64).

The official code is imported from checkouts given on the command line (not part of spotlab):
``--davda54-sam DIR`` (github.com/davda54/sam: DIR/sam.py, ``SAM(params, torch.optim.SGD, rho, **sgd)`` driven as
its README does: backward, ``first_step(zero_grad=True)``, backward, ``second_step(zero_grad=True)``) and ``--asam
DIR`` (github.com/SamsungLabs/ASAM: DIR/asam.py, ``ASAM(sgd, model, rho=0.5, eta=0.01)`` driven as its
example_cifar.py: backward, ``ascent_step()``, backward, ``descent_step()``); each defaults to an environment
variable (SPOTLAB_DAVDA54_SAM, SPOTLAB_ASAM) and is skipped, saying so, when absent.

Hessian: models/resnet.py's ResNet-18 (10 classes) at initialisation, a random CIFAR-sized batch (3×32×32), the top
eigenvalue to relative change ``--tol`` (at most ``--hessian-iterations`` Hessian-vector products) by spotlab
(Lanczos, the default, and power iteration) and by PyHessian 0.1's ``hessian(model, criterion, data=(x, y),
cuda=False).eigenvalues(maxIter, tol)`` (``pip install 'spotlab[bench]'``; skipped when not installed), all from
seeded Gaussian start vectors (spotlab draws one flat vector, PyHessian one per tensor from the global generator:
different draws). PyHessian's products are counted by wrapping its ``hessian_vector_product``.

    .venv/bin/python benchmarks/bench_sam.py [--repeat 3] [--steps 30] [--hessian-batch 8] [--skip-steps]
        [--davda54-sam DIR] [--asam DIR]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import statistics
import time
from pathlib import Path

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

SGD_SETTINGS = dict(lr=0.01, momentum=0.9, weight_decay=5e-4)
BASE = SGDConfig(**SGD_SETTINGS)
OPTIMIZERS = {
    "sgd": BASE,
    "sam": SAMConfig(base=BASE),
    "asam": ASAMConfig(base=BASE),
    "fisher-sam": FisherSAMConfig(base=BASE),
    "m-sam (m=16)": MSAMConfig(m=16, base=BASE),
}


def objective(model, x, y):
    return F.cross_entropy(model(x), y)


def load_official(directory: str | None, filename: str, source: str):
    """The module ``directory/filename`` of an official checkout, or None (with a printed reason)."""
    path = Path(directory) / filename if directory else None
    if path is None or not path.is_file():
        print(f"{source}: skipped ({'no checkout given' if path is None else f'{path} not found'}; pass the "
              f"directory of a clone of github.com/{source})")
        return None
    spec = importlib.util.spec_from_file_location(f"official_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def davda54_step(model, optimizer, x, y):
    """davda54/sam's README loop."""
    objective(model, x, y).backward()
    optimizer.first_step(zero_grad=True)
    objective(model, x, y).backward()
    optimizer.second_step(zero_grad=True)


def samsung_asam_step(model, minimizer, x, y):
    """SamsungLabs/ASAM's example_cifar.py loop."""
    objective(model, x, y).backward()
    minimizer.ascent_step()
    objective(model, x, y).backward()
    minimizer.descent_step()


def median_step_seconds(model_config, shape, batch: int, steps: int, build, step) -> float:
    """Median CPU seconds of ``step(model, optimizer, x, y)`` over ``steps`` steps after one warm-up step."""
    torch.manual_seed(0)
    model = build_model(model_config, shape, 10)
    optimizer = build(model)
    x, y = torch.rand(batch, *shape), torch.randint(0, 10, (batch,))
    step(model, optimizer, x, y)
    times = []
    for _ in range(steps):
        started = time.process_time()
        step(model, optimizer, x, y)
        times.append(time.process_time() - started)
    return statistics.median(times)


def step_table(args, davda54, samsung) -> None:
    candidates = {kind: (lambda model, c=config: c.build(model.named_parameters()),
                         lambda model, optimizer, x, y: train_step(model, optimizer, objective, x, y))
                  for kind, config in OPTIMIZERS.items()}
    if davda54:
        candidates["davda54/sam"] = (
            lambda model: davda54.SAM(model.parameters(), torch.optim.SGD, rho=0.05, **SGD_SETTINGS), davda54_step)
    if samsung:
        candidates["SamsungLabs/ASAM"] = (
            lambda model: samsung.ASAM(torch.optim.SGD(model.parameters(), **SGD_SETTINGS), model, rho=0.5,
                                       eta=0.01), samsung_asam_step)
    official = {"sam": "davda54/sam", "asam": "SamsungLabs/ASAM"}
    print("\n| model | optimizer | step (CPU ms) | × SGD | × official |\n|---|---|---|---|---|")
    for name, config, shape in (("mlp 128-64, batch 64", MLPConfig(), (1, 8, 8)),
                                ("cnn-small, 3×32×32, batch 64", CNNSmallConfig(), (3, 32, 32))):
        runs = {kind: [] for kind in candidates}
        for _ in range(args.repeat):  # interleaved, so that a change of machine load hits every optimizer alike
            for kind, (build, step) in candidates.items():
                runs[kind].append(median_step_seconds(config, shape, 64, args.steps, build, step))
        medians = {kind: statistics.median(times) for kind, times in runs.items()}
        for kind, seconds in medians.items():
            reference = official.get(kind)
            ratio = f"{seconds / medians[reference]:.3f}" if reference in medians else ""
            print(f"| {name} | {kind} | {seconds * 1e3:.2f} | {seconds / medians['sgd']:.2f} | {ratio} |")


def spotlab_top_eigenvalue(model, x, y, iterations: int, tol: float, method: str):
    """(eigenvalue, Hessian-vector products) by spotlab."""
    eigen = top_eigenvalue(model, F.cross_entropy, [(x, y)], iterations=iterations, tol=tol, method=method)
    return eigen.value, eigen.iterations


def pyhessian_top_eigenvalue(model, x, y, iterations: int, tol: float, seed: int):
    """(eigenvalue, Hessian-vector products) by PyHessian."""
    pyhessian_module = importlib.import_module("pyhessian.hessian")  # the module (the package exports its class)
    products = 0
    counted = pyhessian_module.hessian_vector_product

    def counting(*args, **kwargs):
        nonlocal products
        products += 1
        return counted(*args, **kwargs)

    pyhessian_module.hessian_vector_product = counting
    try:
        torch.manual_seed(seed)  # PyHessian draws its start vector from the global generator
        computer = pyhessian_module.hessian(model, F.cross_entropy, data=(x, y), cuda=False)
        eigenvalues, _ = computer.eigenvalues(maxIter=iterations, tol=tol)
    finally:
        pyhessian_module.hessian_vector_product = counted
        model.zero_grad(set_to_none=True)  # PyHessian leaves the create_graph gradients in .grad
    return eigenvalues[0], products


def hessian_table(args) -> None:
    torch.manual_seed(0)
    model = build_model(ResNet18Config(), (3, 32, 32), 10)
    x, y = torch.rand(args.hessian_batch, 3, 32, 32), torch.randint(0, 10, (args.hessian_batch,))
    candidates = {f"spotlab {method}": (lambda method=method: spotlab_top_eigenvalue(
        model, x, y, args.hessian_iterations, args.tol, method)) for method in ("lanczos", "power")}
    if importlib.util.find_spec("pyhessian") is None:
        print("\nPyHessian: skipped (not installed: pip install 'spotlab[bench]')")
    else:
        candidates["PyHessian 0.1"] = lambda: pyhessian_top_eigenvalue(model, x, y, args.hessian_iterations, args.tol, 0)
    cpu, wall, results = {name: [] for name in candidates}, {name: [] for name in candidates}, {}
    names = list(candidates)
    for repeat in range(args.repeat):  # interleaved, each first in turn (the process's first run is slower)
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            started, started_wall = time.process_time(), time.perf_counter()
            results[name] = candidates[name]()
            cpu[name].append(time.process_time() - started)
            wall[name].append(time.perf_counter() - started_wall)
    reference = "PyHessian 0.1" if "PyHessian 0.1" in results else "spotlab power"
    base = statistics.median(cpu[reference])
    print(f"\nResNet-18 top Hessian eigenvalue, batch {args.hessian_batch}, tol {args.tol:g}, at most "
          f"{args.hessian_iterations} products:\n\n| implementation | eigenvalue | products | CPU s | wall s | "
          f"CPU s per product | × {reference} | relative difference to {reference} |\n|---|---|---|---|---|---|---|---|")
    for name, (value, products) in results.items():
        seconds = statistics.median(cpu[name])
        print(f"| {name} | {value:.6f} | {products} | {seconds:.2f} | {statistics.median(wall[name]):.2f} | "
              f"{seconds / products:.3f} | {seconds / base:.3f} | "
              f"{(value - results[reference][0]) / abs(results[reference][0]):+.2e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--hessian-batch", type=int, default=8)
    parser.add_argument("--hessian-iterations", type=int, default=20)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--skip-steps", action="store_true", help="only the Hessian comparison")
    parser.add_argument("--davda54-sam", default=os.environ.get("SPOTLAB_DAVDA54_SAM"),
                        help="directory of a davda54/sam checkout (holding sam.py)")
    parser.add_argument("--asam", default=os.environ.get("SPOTLAB_ASAM"),
                        help="directory of a SamsungLabs/ASAM checkout (holding asam.py)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    if not args.skip_steps:
        step_table(args, load_official(args.davda54_sam, "sam.py", "davda54/sam"),
                   load_official(args.asam, "asam.py", "SamsungLabs/ASAM"))
    hessian_table(args)


if __name__ == "__main__":
    main()
