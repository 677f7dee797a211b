"""The prune stage in the pipeline (Prefect test API): masks, sparsity report, pruned model, spectra and plot."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from spotlab.flows.pipeline import pipeline
from spotlab.infra.config import load_config
from spotlab.infra.runs import Run
from spotlab.infra.storage import open_store
from spotlab.models.registry import model_from_bytes

ROOT = Path(__file__).resolve().parents[3]
TINY = ["train.epochs=2", "train.model={kind: mlp, hidden: [32, 16]}"]


def run_prune(tmp_path, method: str):
    overrides = [f"storage.url={tmp_path}", *TINY, f"prune.method={method}"]
    config = load_config(ROOT / "examples" / "quickstart.yaml", overrides)
    result = pipeline(config)
    return result, Run.open(open_store(str(tmp_path)), result["run_id"])


@pytest.mark.parametrize(
    "method, levels",
    [("{kind: global-magnitude, sparsity: 0.7}", 1),
     ("{kind: imp, levels: 2, training: {epochs: 2}}", 2),
     ("{kind: pac-net, keep: 0.3, training: {epochs: 2}}", 1)],
)
def test_prune_stage_writes_masks_model_and_spectra(tmp_path, prefect_api, method, levels):
    result, run = run_prune(tmp_path, method)
    metrics = result["stages"]["prune"]
    assert metrics["levels"] == levels and 0 < metrics["accuracy"] <= 1
    paths = {a.path for a in run.manifest.artifacts if a.stage == "prune"}
    assert paths == {f"prune/{n}" for n in ("masks.pt", "sparsity.json", "model.pt", "levels.json", "levels.md",
                                            "spectra.json", "spectra.png")}
    masks = torch.load(io.BytesIO(run.read(run.find("prune/masks.pt"))), weights_only=True)
    sparsity = json.loads(run.read(run.find("prune/sparsity.json")))
    assert sparsity["sparsity"] == pytest.approx(metrics["sparsity"], abs=1e-4)
    model = model_from_bytes(run.read(run.find("prune/model.pt")))  # a plain model, loadable like train's
    for name, mask in masks.items():
        assert torch.all(model.get_submodule(name).weight[~mask] == 0)
    table = json.loads(run.read(run.find("prune/levels.json")))
    assert [row["level"] for row in table] == list(range(levels + 1)) and "dr[net.1]" in table[0]
    spectra = json.loads(run.read(run.find("prune/spectra.json")))
    assert {row["layer"] for row in spectra} == set(masks)
