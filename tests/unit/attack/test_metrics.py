"""ProbAcc, augmented accuracy and CVaR: exact identities and the orderings the PRL paper relies on."""

from __future__ import annotations

import torch
from scipy.optimize import minimize_scalar

from spotlab.tasks.attack.metrics import cvar, prob_acc, random_perturbation_metrics

BOX = (0.0, 1.0)


def test_prob_acc_at_zero_radius_equals_clean_accuracy(mlp, test_batch):
    x, y = test_batch
    metrics = random_perturbation_metrics(mlp, x, y, 0.0, "linf", BOX, draws=5, rhos=[0.1, 0.01], cvar_beta=0.05,
                                          seed=0)
    clean = float((mlp(x).argmax(1) == y).float().mean())
    assert metrics["prob_acc@0.1"] == metrics["prob_acc@0.01"] == metrics["augmented_accuracy"] == clean


def test_prob_acc_counts_strictly_above_one_minus_rho():
    correct = torch.ones(10, 3, dtype=torch.bool)
    correct[0, 1] = False  # example 1: 9 of 10
    correct[:5, 2] = False  # example 2: 5 of 10
    assert prob_acc(correct, 0.1) == 1 / 3  # 9 > 9 is false
    assert prob_acc(correct, 0.2) == 2 / 3
    assert prob_acc(correct, 0.6) == 1.0


def test_prob_acc_does_not_grow_as_rho_shrinks(mlp, test_batch):
    x, y = test_batch
    metrics = random_perturbation_metrics(mlp, x, y, 0.3, "linf", BOX, draws=50, rhos=[0.1, 0.05, 0.01],
                                          cvar_beta=0.05, seed=0)
    assert metrics["prob_acc@0.1"] >= metrics["prob_acc@0.05"] >= metrics["prob_acc@0.01"]
    assert metrics["augmented_accuracy"] >= metrics["prob_acc@0.1"] - 0.1


def test_cvar_is_the_mean_of_the_worst_fraction_and_the_rockafellar_uryasev_minimum():
    losses = torch.tensor([3.0, 1.0, 4.0, 1.5, 9.0, 2.0, 6.0, 5.0], dtype=torch.float64)
    assert float(cvar(losses, 0.25)) == (9.0 + 6.0) / 2
    for beta in (0.25, 0.3, 0.5, 1.0):
        best = minimize_scalar(lambda a: a + torch.relu(losses - a).mean().item() / beta, bounds=(0, 10),
                               method="bounded", options={"xatol": 1e-10})
        assert abs(best.fun - float(cvar(losses, beta))) < 1e-6
    assert float(cvar(losses, 1.0)) == float(losses.mean())
