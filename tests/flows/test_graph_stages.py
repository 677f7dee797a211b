"""The graph family through the pipeline flow: embed stores per-layer unigram/bigram embeddings, classify's
accuracy is the in-memory study path's, a classifier change reuses the cached embeddings, and the pod path checks
the classifier's layers against what was stored."""

from __future__ import annotations

import io

import numpy as np
import pytest

from spotlab.flows.pipeline import pipeline
from spotlab.infra.config import resolve
from spotlab.infra.runs import Run
from spotlab.infra.service_cli import execute_one_stage
from spotlab.infra.storage import open_store
from spotlab.tasks.graph.studies import embedding_accuracy


def config(store: str, bigram: bool):
    raw = {
        "name": "graph-test",
        "seed": 3,
        "stages": ["embed", "classify"],
        "embed": {"data": {"kind": "sbm-pair", "graphs": 40, "nodes": 16, "blocks": 2, "homophily": 0.9},
                  "model": {"kind": "icgmm", "layers": 2, "sweeps": 10}},
        "classify": {"bigram": bigram, "folds": 3, "hidden": 8},
        "storage": {"url": store},
    }
    return resolve(raw, "test")


def test_embeddings_artifact_feeds_the_classifier_like_the_study(tmp_path, prefect_api):
    cfg = config(str(tmp_path), bigram=True)
    result = pipeline(cfg)
    run = Run.open(open_store(cfg.storage.url), result["run_id"])
    with np.load(io.BytesIO(run.read(run.find("embed/embeddings.npz")))) as archive:
        arrays = {name: archive[name] for name in archive.files}
    graphs = cfg.embed.data.build(cfg.seed)
    np.testing.assert_array_equal(arrays["targets"], graphs.targets)
    states = result["stages"]["embed"]["states"]
    assert len(states) == 2 and result["stages"]["embed"]["nodes"] == 40 * 16
    for layer, c in enumerate(states):
        np.testing.assert_allclose(arrays[f"unigram_{layer}"].sum(axis=1), 1.0)  # mean of posteriors
        assert arrays[f"bigram_{layer}"].shape == (40, c * c)
    classify = result["stages"]["classify"]
    assert classify["features"] == sum(c + c * c for c in states)
    expected = embedding_accuracy(graphs, cfg.embed.model, True, folds=3, hidden=8, seed=cfg.seed)
    assert classify["accuracy"] == pytest.approx(expected)

    unigrams = pipeline(config(str(tmp_path), bigram=False))
    manifest = Run.open(open_store(cfg.storage.url), unigrams["run_id"]).manifest
    assert manifest.stages["embed"].cached and not manifest.stages["classify"].cached
    assert unigrams["stages"]["classify"]["features"] == sum(states)
    assert unigrams["stages"]["classify"]["accuracy"] == pytest.approx(
        embedding_accuracy(graphs, cfg.embed.model, False, folds=3, hidden=8, seed=cfg.seed))

    with pytest.raises(ValueError, match="classify.layers=3 exceeds the 2 layers"):
        execute_one_stage("classify", run, '{"layers": 3, "folds": 3}', None, force=False)
