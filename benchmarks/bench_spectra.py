"""Spectral analysis of a ResNet-18's pruning masks on CPU: scipy's sparse solvers (svds, eigsh) vs dense ones.

The network is models/resnet.py's ResNet-18 for 3×32×32 inputs at random initialisation, pruned to 80 % global
magnitude sparsity (output layer dense). The sparse path is tasks/prune/levels.analyse_layers over every masked
layer (unweighted and |w|-weighted: μ0, μ̂, Δr, Δs, λ2 of the normalised Laplacian). Baselines, on the largest layer
(over the whole network the dense one takes minutes): the same quantities from dense solvers (numpy SVD and
eigvalsh of the dense Laplacian), and λ2 from eigsh on the sparse normalised Laplacian (csgraph.laplacian) instead
of our svds of the degree-normalised biadjacency matrix. One thread, median of ``--repeat`` runs.

    .venv/bin/python benchmarks/bench_spectra.py [--repeat 3]
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import laplacian
from scipy.sparse.linalg import eigsh

from timing import median_seconds

from spotlab.models.registry import build_model
from spotlab.models.resnet import ResNet18Config
from spotlab.tasks.prune.levels import analyse_layers
from spotlab.tasks.prune.masks import apply_masks, dense_masks
from spotlab.tasks.prune.selection import magnitude_scores, prune_lowest
from spotlab.tasks.prune.spectra import as_matrix, connected_part, layer_spectrum, normalized_lambda2


def dense_analysis(mask: np.ndarray, weight: np.ndarray) -> None:
    """The same layer quantities with dense solvers (the baseline)."""
    matrix = as_matrix(mask).astype(np.float64)
    matrix = matrix[matrix.any(1)][:, matrix.any(0)]
    for biadjacency in (matrix, matrix * np.abs(as_matrix(weight))[as_matrix(mask).any(1)][:, as_matrix(mask).any(0)]):
        np.linalg.svd(biadjacency, compute_uv=False)
        adjacency = sp.bmat([[None, sp.csr_matrix(biadjacency.T)], [sp.csr_matrix(biadjacency), None]]).toarray()
        np.linalg.eigvalsh(laplacian(adjacency, normed=True))


def laplacian_eigsh_lambda2(biadjacency: sp.csr_matrix) -> float:
    """λ2 the textbook way: eigsh (smallest algebraic) of the sparse normalised Laplacian."""
    adjacency = sp.bmat([[None, biadjacency.T], [biadjacency, None]], format="csr")
    values = eigsh(laplacian(adjacency, normed=True), k=2, which="SA", return_eigenvectors=False,
                   v0=np.ones(adjacency.shape[0]))
    return float(np.sort(values)[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model(ResNet18Config(), (3, 32, 32), 10)
    dense = dense_masks(model)
    masks = prune_lowest(magnitude_scores(model, dense), dense, 0.8, "global")
    apply_masks(model, masks)
    edges = sum(int(m.sum()) for m in masks.values())
    print(f"ResNet-18: {len(masks)} masked layers, {edges:,} edges kept of {sum(m.numel() for m in masks.values()):,}")

    sparse_full = median_seconds(lambda: analyse_layers(model, masks), args.repeat, warmup=False)
    name = max(masks, key=lambda n: masks[n].numel())
    mask, weight = masks[name].numpy(), model.get_submodule(name).weight.detach().numpy()
    sparse_layer = median_seconds(lambda: layer_spectrum(name, mask, weight), args.repeat, warmup=False)
    dense_layer = median_seconds(lambda: dense_analysis(mask, weight), args.repeat, warmup=False)
    biadjacency = connected_part(mask)[0]
    ours = median_seconds(lambda: normalized_lambda2(biadjacency), args.repeat, warmup=False)
    textbook = median_seconds(lambda: laplacian_eigsh_lambda2(biadjacency), args.repeat, warmup=False)
    assert abs(normalized_lambda2(biadjacency) - laplacian_eigsh_lambda2(biadjacency)) < 1e-6
    print(f"full analysis, sparse solvers: {sparse_full:.2f} s (median of {args.repeat})")
    print(f"largest layer λ2: svds of D^-1/2 M D^-1/2 {ours:.3f} s, eigsh of the Laplacian {textbook:.3f} s")
    print(f"largest layer {name} {tuple(masks[name].shape)}: sparse {sparse_layer:.3f} s, dense {dense_layer:.3f} s "
          f"({dense_layer / sparse_layer:.1f}x)")


if __name__ == "__main__":
    main()
