"""One iCGMM / CGMM Gibbs sweep over ~10^5 nodes, one thread: the batch approximation (every node resampled at
once) and the sequential sampler (node by node, counts updated after each).

The nodes are a disjoint union of SBM graphs (``--graphs`` × ``--nodes``); each sampler's sweeps are timed from the
same state, reached by a few batch warm-up sweeps (so the state count has settled), at layer 1 (one restaurant) and
at layer 2 (restaurants from layer 1's posteriors). The CPU time of a sweep is reported as the median of
``--repeat`` (batch) or ``--sequential-repeat`` sweeps.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_graph.py [--graphs 2500] [--nodes 40] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from spotlab.tasks.graph.cgmm import fit_layers, initial_state, restaurants_from, sweep
from spotlab.tasks.graph.config import CGMMConfig, ICGMMConfig
from spotlab.tasks.graph.data import sbm_pair


def sweep_seconds(model, labels, restaurant, n_restaurants, warmup: int, repeat: int) -> tuple[float, int]:
    """Median CPU seconds of ``model``'s sweeps (its sampler) after ``warmup`` batch sweeps, and the states then."""
    rng = np.random.default_rng(0)
    warm = model.model_copy(update={"sampler": "batch"}).hyper()
    state = initial_state(restaurant, n_restaurants, labels, warm, rng)
    for _ in range(warmup):
        state = sweep(state, labels, warm, rng)
    times = []
    for _ in range(repeat):
        start = time.process_time()
        state = sweep(state, labels, model.hyper(), rng)
        times.append(time.process_time() - start)
    return statistics.median(times), state.n_states


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--graphs", type=int, default=2500)
    parser.add_argument("--nodes", type=int, default=40)
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sequential-repeat", type=int, default=3)
    args = parser.parse_args()
    data = sbm_pair(args.graphs, args.nodes, args.blocks, 4.0, 0.8, seed=0)
    n = len(data.graph)
    print(f"nodes {n}, edges {data.adjacency.nnz // 2}, symbols {data.n_symbols}")
    print("| model | sampler | layer | restaurants | states | sweep CPU s (median) | nodes / s |")
    print("|---|---|---|---|---|---|---|")
    first = fit_layers(data.adjacency, data.labels, ICGMMConfig().hyper(), 1, args.warmup, 0)[0]
    layer2 = restaurants_from(first.posterior, data.adjacency)
    for sampler, repeat in (("batch", args.repeat), ("sequential", args.sequential_repeat)):
        for model in (ICGMMConfig(sampler=sampler), CGMMConfig(states=20, sampler=sampler)):
            for layer, (restaurant, j) in ((1, (np.zeros(n, dtype=np.int64), 1)), (2, layer2)):
                seconds, states = sweep_seconds(model, data.labels, restaurant, j, args.warmup, repeat)
                print(f"| {model.kind} | {sampler} | {layer} | {j} | {states} | {seconds:.3f} | {n / seconds:,.0f} |")


if __name__ == "__main__":
    main()
