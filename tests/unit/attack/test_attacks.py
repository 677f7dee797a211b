"""PGD, APGD and CGD on a small digits MLP: feasibility of every returned point, determinism, early exit,
restarts, the APGD schedule, and that attacks leave the model's parameter gradients alone."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from spotlab.tasks.attack.apgd import apgd_checkpoints
from spotlab.tasks.attack.config import ATTACKS, AttackStageConfig
from spotlab.tasks.attack.threat import feasible

BOX = (0.0, 1.0)
CASES = [
    ("pgd", {"norm": "linf", "eps": 0.15}),
    ("pgd", {"norm": "l2", "eps": 1.0, "loss": "cw"}),
    ("apgd", {"norm": "linf", "eps": 0.15, "loss": "dlr"}),
    ("apgd", {"norm": "l2", "eps": 1.0}),
    ("apgd", {"norm": "linf", "eps": 0.15, "loss": "md", "targeted": True, "targets": "top-k", "n_targets": 2}),
    ("apgd", {"norm": "linf", "eps": 0.125, "loss": "dlr", "targeted": True, "quantization": 16}),
    ("cgd", {"eps": 0.125, "quantization": 16}),
    ("cgd", {"eps": 0.15, "n_targets": 2}),
]


def test_apgd_checkpoints_for_100_steps():
    assert apgd_checkpoints(100) == [21, 40, 56, 69, 79, 86, 92, 98]
    assert apgd_checkpoints(10) == [1, 2, 3, 4, 5, 6, 7, 8, 9]


@pytest.mark.parametrize("kind,settings", CASES)
def test_returned_points_are_feasible_scored_and_repeatable(mlp, test_batch, kind, settings):
    x, y = test_batch
    attack = ATTACKS[kind](steps=20, **settings)
    first = attack.run(mlp, x, y, BOX, seed=3)
    again = attack.run(mlp, x, y, BOX, seed=3)
    assert feasible(first.x_adv, x, attack.eps, attack.norm, BOX).all()
    assert torch.equal(first.x_adv, again.x_adv) and torch.equal(first.success, again.success)
    predictions = mlp(first.x_adv).argmax(1)
    expected = predictions != y if not attack.targeted else predictions == first.target
    assert torch.equal(first.success, expected)
    assert 0 < first.success.float().mean() and (first.iterations[first.success] <= attack.steps * 2).all()
    if attack.quantization:  # eps is on the 1/16 grid, so rounding then projecting stays on it
        assert torch.equal(first.x_adv * 16, torch.round(first.x_adv * 16))


def test_untargeted_success_on_misclassified_examples_exits_at_iteration_zero(mlp, test_batch):
    x, y = test_batch
    wrong = mlp(x).argmax(1) != y
    result = ATTACKS["apgd"](eps=1e-4, steps=10).run(mlp, x, y, BOX, seed=0)
    assert torch.equal(result.success, wrong)
    assert (result.iterations[wrong] == 0).all() and (result.iterations[~wrong] == 10).all()


def test_more_restarts_never_lose_successes(mlp, test_batch):
    x, y = test_batch
    one = ATTACKS["pgd"](eps=0.08, steps=5, restarts=1).run(mlp, x, y, BOX, seed=1)
    three = ATTACKS["pgd"](eps=0.08, steps=5, restarts=3).run(mlp, x, y, BOX, seed=1)
    assert (three.success >= one.success).all()


def test_larger_budget_is_at_least_as_successful(mlp, test_batch):
    x, y = test_batch
    rates = [ATTACKS["apgd"](eps=eps, steps=30).run(mlp, x, y, BOX, seed=0).success.float().mean()
             for eps in (0.02, 0.1, 0.3)]
    assert rates[0] <= rates[1] <= rates[2] and rates[2] > 0.9


def test_attacks_leave_parameter_gradients_untouched(mlp, test_batch):
    x, y = test_batch
    mlp.zero_grad(set_to_none=True)
    for kind in ATTACKS:
        ATTACKS[kind](eps=0.1, steps=3).run(mlp, x, y, BOX, seed=0)
        assert all(p.grad is None for p in mlp.parameters()), kind


def test_configs_reject_what_the_methods_do_not_define():
    with pytest.raises(ValidationError):
        ATTACKS["cgd"](norm="l2")
    with pytest.raises(ValidationError):
        AttackStageConfig(attacks=[{"kind": "fgsm"}])
    with pytest.raises(ValueError, match="md loss needs a target"):
        ATTACKS["pgd"](loss="md", steps=1).run(torch.nn.Linear(4, 3), torch.rand(2, 4), torch.zeros(2).long(), BOX, 0)


def test_apgd_checkpoints_follow_the_official_integer_truncation():
    assert apgd_checkpoints(50) == [10, 20, 29, 37, 44]


class ConstantModel(torch.nn.Module):
    """Logits that ignore the input: every input gradient is zero, so an attack never moves from its start."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.tensor([1.0] + [0.0] * 9))

    def forward(self, x):
        return self.bias + 0 * x.flatten(1).sum(1, keepdim=True)


@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.3)])
def test_apgd_starts_on_the_eps_sphere(norm, eps):
    x = torch.full((16, 1, 8, 8), 0.5)  # far enough from the box that nothing is clamped
    result = ATTACKS["apgd"](norm=norm, eps=eps, steps=3).run(ConstantModel(), x, torch.zeros(16).long(), BOX, 0)
    delta = (result.x_adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    torch.testing.assert_close(size, torch.full((16,), eps), rtol=1e-6, atol=1e-7)


def test_cgd_bias_correction_keeps_counting_after_the_moment_reset():
    from spotlab.tasks.attack.cgd import adam_update

    grad = torch.tensor([0.5, -2.0, 1e-3])
    beta1, beta2, w1 = 0.1, 0.01, 0.3
    zero = torch.zeros(3)
    update, m, v = adam_update(grad, zero, zero, 1, w1, beta1, beta2)  # first step after the reset at i = 0
    official = w1 * (m / (1 - beta1**2)) / ((v / (1 - beta2**2)).sqrt() + 1e-15)
    torch.testing.assert_close(update, official)
    torch.testing.assert_close(m, (1 - beta1) * grad)
    assert not torch.allclose(update, w1 * grad.sign())  # what a restarted count (t = 1) would give


def test_cgd_shepherd_is_decided_per_batch_by_default():
    from spotlab.tasks.attack.cgd import shepherded

    grad = torch.zeros(4, 1, 8, 8)
    grad[0] = 1.0  # one example with a large gradient pulls the batch mean |g| above 1e-2
    assert shepherded(grad, "example").tolist() == [False, True, True, True]
    assert shepherded(grad, "batch").tolist() == [False] * 4
    assert shepherded(grad[1:], "batch").tolist() == [True] * 3
    assert ATTACKS["cgd"]().shepherd == "batch"
