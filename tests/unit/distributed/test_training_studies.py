"""The data-parallel training studies at tiny size: the tables, the claims and the papers' directions (DEF/EF beat
no feedback; EDEN at 2 bits trains to the uncompressed accuracy at a fraction of its bytes), on both backends."""

from __future__ import annotations

import importlib.util

import pytest

from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.distributed.studies import DEFvsEFConfig, EdenStudyConfig
from spotlab.tasks.study.config import STUDIES


def test_def_vs_ef_study_small():
    study = DEFvsEFConfig.model_validate({
        "train": {"model": {"kind": "mlp", "hidden": [32]}, "epochs": 3, "batch_size": 64,
                  "optimizer": {"kind": "sgd", "lr": 0.05}},
        "workers": 4,
    })
    report = study.run(prepare(DataConfig(), seed=0), seed=0)
    assert [row["method"] for row in report.table] == [
        "uncompressed", "random-block", "ef (lr 0.05)", "ef (lr 0.01)", "def"]
    rows = {row["method"]: row for row in report.table}
    assert rows["uncompressed"]["compression_ratio"] == 1.0
    assert rows["def"]["compression_ratio"] > 50  # ratio 64, plus 4 bytes of block start per tensor
    verdicts = {c.id: c.verdict for c in report.claims}
    assert verdicts["ef-beats-no-feedback"] == verdicts["def-beats-no-feedback"] == "pass"
    assert "def-vs-ef" in verdicts and "val_accuracy" in report.figures
    assert STUDIES["def-vs-ef"] is DEFvsEFConfig


TINY_EDEN = {
    "vnmse": {"dim": 4096, "trials": 2, "bits": [1, 2], "clients": 4, "tolerance": 0.1},
    "training": {"train": {"model": {"kind": "mlp", "hidden": [32]}, "epochs": 3, "batch_size": 64,
                           "optimizer": {"kind": "sgd", "lr": 0.05, "momentum": 0.9}},
                 "workers": 2, "bits": [2], "accuracy_gap": 0.03},
}


@pytest.mark.parametrize("backend", [
    "torch",
    pytest.param("horovod", marks=pytest.mark.skipif(importlib.util.find_spec("horovod") is None,
                                                       reason="horovod not installed (make horovod)")),
])
def test_eden_study_trains_on_both_backends(backend):
    study = EdenStudyConfig.model_validate(TINY_EDEN | {"training": TINY_EDEN["training"] | {"backend": backend}})
    report = study.run(prepare(DataConfig(), seed=0), seed=0)
    training = {row["method"]: row for row in report.table if row["part"] == "training"}
    assert list(training) == ["uncompressed", "eden b=2"]
    # 2 bits a coordinate against float32's 32, plus scales, sizes and headers: ratio between 8 and 16
    assert 8 < training["eden b=2"]["compression_ratio"] < 16 and training["uncompressed"]["compression_ratio"] == 1
    verdicts = {c.id: c.verdict for c in report.claims}
    assert {"vnmse-b1", "vnmse-b2", "n-clients", "vs-hadamard-sq", "training-b2", "wire-b2"} <= set(verdicts)
    assert verdicts["wire-b2"] == verdicts["training-b2"] == "pass"
    assert {"vnmse", "training_val_accuracy"} <= set(report.figures)
    assert STUDIES["eden"] is EdenStudyConfig
