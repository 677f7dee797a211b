"""The def-vs-ef study at tiny size: the table, the claims, and the paper's direction (feedback beats none)."""

from __future__ import annotations

from spotlab.tasks.data.config import DataConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.distributed.studies import DEFvsEFConfig
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
