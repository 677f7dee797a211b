"""The sanity checks every attack evaluation reports: zero DLR gradients, robust accuracy non-increasing in eps,
and attack success at least that of random noise in the same ball."""

from __future__ import annotations

import torch

from spotlab.tasks.attack.apgd import APGDConfig
from spotlab.tasks.attack.evaluation import evaluate_attacks, sanity_warnings, zero_dlr_gradients

BOX = (0.0, 1.0)


def row(eps, robust, success, noise, family="apgd-ce linf"):
    return {"attack": f"{family} eps={eps}", "attack_family": family, "eps": eps, "robust_accuracy": robust,
            "success_rate": success, "noise_success_rate": noise}


def test_sanity_warnings_name_each_failed_check():
    assert sanity_warnings([row(0.1, 0.5, 0.4, 0.1), row(0.2, 0.3, 0.6, 0.2)]) == []
    rising = sanity_warnings([row(0.2, 0.6, 0.3, 0.1), row(0.1, 0.5, 0.4, 0.1)])
    assert len(rising) == 1 and "rises with eps" in rising[0] and "0.5 at eps=0.1" in rising[0]
    weak = sanity_warnings([row(0.1, 0.9, 0.05, 0.2)])
    assert len(weak) == 1 and "below uniform random noise" in weak[0]
    masked = sanity_warnings([], {"apgd-dlr linf eps=0.1": 3, "apgd-dlr linf eps=0.2": 0})
    assert len(masked) == 1 and "3 examples have an all-zero DLR gradient" in masked[0]
    # different attacks are not compared with each other across eps
    assert sanity_warnings([row(0.1, 0.2, 0.8, 0.1, "a"), row(0.2, 0.6, 0.4, 0.1, "b")]) == []


class FlatModel(torch.nn.Module):
    """Constant logits: every input gradient is zero (what gradient masking looks like to an attack)."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.linspace(1.0, 0.0, 10))

    def forward(self, x):
        return self.bias + 0 * x.flatten(1).sum(1, keepdim=True)


def test_zero_dlr_gradients_are_counted(mlp, test_batch):
    x, y = test_batch
    assert zero_dlr_gradients(FlatModel(), x, y, targeted=False) == len(x)
    assert zero_dlr_gradients(FlatModel(), x, y, targeted=True) == len(x)
    assert zero_dlr_gradients(mlp, x, y, targeted=False) == 0


def test_every_evaluation_reports_its_sanity_checks(mlp, test_batch):
    x, y = test_batch
    attacks = [APGDConfig(loss="dlr", eps=eps, steps=10) for eps in (0.05, 0.15)]
    rows, _, warnings = evaluate_attacks(mlp, x, y, attacks, BOX, seed=0)
    assert warnings == []
    assert all(0 <= r["noise_success_rate"] <= r["success_rate"] for r in rows)
    _, _, flat_warnings = evaluate_attacks(FlatModel(), x, y, attacks, BOX, seed=0)
    assert len(flat_warnings) == 2 and all("zero DLR gradient" in w for w in flat_warnings)
