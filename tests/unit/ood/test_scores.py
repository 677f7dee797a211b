"""Energy score, FPR95 and AUROC on hand-made cases; outlier exposure's uniform term."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spotlab.tasks.ood.baselines import EnergyConfig, uniform_cross_entropy
from spotlab.tasks.ood.finetune import FineTuneConfig
from spotlab.tasks.ood.scores import detection_metrics, energy_score, evaluate_ood, fpr_at_tpr


def test_energy_score_is_logsumexp_of_the_logits():
    logits = torch.tensor([[0.0, math.log(3.0)], [1.0, 1.0]])
    assert energy_score(logits).tolist() == pytest.approx([math.log(4.0), 1.0 + math.log(2.0)])
    x = torch.randn(5, 7)
    assert torch.allclose(energy_score(x), torch.logsumexp(x, dim=1))
    assert torch.allclose(energy_score(x, 2.0), 2.0 * torch.log(torch.exp(x / 2.0).sum(1)))


def test_fpr95_on_a_hand_made_score_set():
    id_scores = np.arange(1.0, 21.0)  # accepting 95 % of ID (19 of 20) puts the threshold at 2
    ood_scores = np.array([0.5, 2.5, 5.5, 10.5, 30.0])  # 4 of 5 are ≥ 2
    assert fpr_at_tpr(id_scores, ood_scores) == pytest.approx(0.8)
    assert fpr_at_tpr(id_scores, ood_scores, 0.5) == pytest.approx(0.2)  # threshold 11: only 30 is ≥ 11
    assert detection_metrics(id_scores + 100, ood_scores) == {"fpr95": 0.0, "auroc": 1.0}


def test_auroc_counts_correctly_ordered_pairs():
    # pairs (ID, OOD): (2, 1) ok, (2, 2.5) wrong, (3, 1) ok, (3, 2.5) ok
    assert detection_metrics(np.array([2.0, 3.0]), np.array([1.0, 2.5]))["auroc"] == pytest.approx(0.75)


def test_uniform_cross_entropy_is_log_k_for_flat_logits_and_larger_otherwise():
    assert float(uniform_cross_entropy(torch.zeros(3, 5))) == pytest.approx(math.log(5))
    assert float(uniform_cross_entropy(torch.tensor([[4.0, 0, 0, 0, 0]]))) > math.log(5)


def test_energy_baseline_only_scores_the_model(wild_digits, pretrained):
    model = pretrained()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = EnergyConfig().fine_tune(model, wild_digits, FineTuneConfig(), seed=0)
    assert all(torch.equal(before[k], v) for k, v in result.model.state_dict().items()) and result.history == []
    metrics = evaluate_ood(result.model, wild_digits.x_id_test, wild_digits.y_id_test, wild_digits.x_ood_test)
    assert metrics["metrics"]["id_accuracy"] > 0.8  # a trained classifier of digits 0–4
    assert len(metrics["id_scores"]) == len(wild_digits.y_id_test)
