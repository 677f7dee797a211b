"""The graph family's two stages. ``embed`` fits the layer-wise node-state model (CGMM or iCGMM) on the graphs,
without their targets, and stores each layer's unigram and bigram graph embeddings with the targets; ``classify``
reads them and reports the k-fold accuracy of an MLP. Storing every layer's unigrams and bigrams apart lets
classifiers on any subset of them reuse one cached embedding run."""

from __future__ import annotations

import numpy as np

from spotlab.infra.runs import StageResult
from spotlab.infra.stages import StageContext
from spotlab.tasks.graph.cgmm import fit_layers
from spotlab.tasks.graph.classify import kfold_accuracy
from spotlab.tasks.graph.embeddings import bigram_features, unigram_features

EMBED_STAGE = "embed"
CLASSIFY_STAGE = "classify"


def _key(kind: str, layer: int) -> str:
    """Name of one layer's G × C unigram or G × C² bigram array inside embeddings.npz."""
    return f"{kind}_{layer}"


def run_embed(ctx: StageContext) -> StageResult:
    cfg = ctx.config
    graphs = cfg.data.build(ctx.seed)
    layers = fit_layers(graphs.adjacency, graphs.labels, cfg.model.hyper(), cfg.model.layers, cfg.model.sweeps,
                        ctx.seed)
    membership = graphs.membership()
    arrays = {"targets": graphs.targets}
    for index, layer in enumerate(layers):
        arrays[_key("unigram", index)] = unigram_features(layer.posterior, membership, cfg.pooling)
        arrays[_key("bigram", index)] = bigram_features(layer.posterior, graphs.adjacency, membership, cfg.pooling)
    ctx.write_npz("embeddings.npz", **arrays)
    ctx.write_json("states.json", [{"layer": index + 1, "states_per_sweep": layer.states_per_sweep,
                                    "alpha": layer.state.alpha, "gamma": layer.state.gamma}
                                   for index, layer in enumerate(layers)])
    return ctx.result({
        "model": cfg.model.kind,
        "sampler": cfg.model.sampler,
        "graphs": graphs.n_graphs,
        "nodes": len(graphs.graph),
        "states": [layer.state.n_states for layer in layers],
        "features": sum(a.shape[1] for name, a in arrays.items() if name != "targets"),
    })


def run_classify(ctx: StageContext) -> StageResult:
    cfg = ctx.config
    arrays = ctx.read_npz("embeddings")
    stored = sum(name.startswith("unigram_") for name in arrays)
    if cfg.layers is not None and cfg.layers > stored:
        raise ValueError(f"classify.layers={cfg.layers} exceeds the {stored} layers the embed stage stored")
    kinds = ("unigram", "bigram") if cfg.bigram else ("unigram",)
    features = np.hstack([arrays[_key(kind, layer)] for layer in range(cfg.layers or stored) for kind in kinds])
    accuracy = kfold_accuracy(features, arrays["targets"], cfg.folds, cfg.hidden, ctx.seed)
    ctx.write_json("folds.json", [{"fold": fold, "accuracy": float(a)} for fold, a in enumerate(accuracy)])
    return ctx.result({"accuracy": float(accuracy.mean()), "accuracy_std": float(accuracy.std()),
                       "features": features.shape[1], "graphs": len(features)})
