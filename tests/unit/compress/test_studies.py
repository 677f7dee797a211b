import math

import pytest
import torch

from spotlab.tasks.compress.studies import EdenVNMSEConfig, hadamard_stochastic_1bit, theory_vnmse


def test_eden_vnmse_study_reports_table_claims_and_figure():
    report = EdenVNMSEConfig(dim=4096, trials=2, bits=(1.0, 2.0), clients=4, tolerance=0.1).run(None, seed=0)
    assert [c.id for c in report.claims] == ["vnmse-b1", "vnmse-b2", "n-clients", "vs-hadamard-sq"]
    assert all(c.verdict == "pass" for c in report.claims), report.claims
    assert {row["method"] for row in report.table} == {"EDEN", "Hadamard + 1-bit SQ"}
    assert "vnmse" in report.figures


def test_theory_values():
    assert theory_vnmse(1) == pytest.approx(math.pi / 2 - 1)
    assert theory_vnmse(0.5) == pytest.approx(2.1416, abs=1e-4)
    assert theory_vnmse(1.5) is None


def test_hadamard_stochastic_quantisation_is_unbiased_with_large_error():
    x = torch.randn(64, generator=torch.Generator().manual_seed(0))
    trials = 2000
    estimates = [hadamard_stochastic_1bit(x, s) for s in range(trials)]
    single = float((estimates[0] - x).pow(2).sum() / x.pow(2).sum())
    mean = sum(estimates) / trials
    assert float((mean - x).pow(2).sum() / x.pow(2).sum()) < 0.05 * single and single > 1


def test_reproduction_config_loads_with_its_quick_profile():
    from pathlib import Path

    from spotlab.infra.config import load_config

    path = Path(__file__).resolve().parents[3] / "examples" / "papers" / "eden.yaml"
    full, quick = load_config(path, [], None), load_config(path, [], "quick")
    assert full.active_stages() == ["prep", "study"] and full.study.kind == "eden" and full.study.vnmse.dim == 2**16
    assert quick.study.vnmse.dim < full.study.vnmse.dim and quick.study.vnmse.trials <= full.study.vnmse.trials
    assert quick.study.training.train.epochs < full.study.training.train.epochs
    horovod = load_config(path, [], "horovod-quick")
    assert horovod.study.training.backend == "horovod" and horovod.study.vnmse == quick.study.vnmse
