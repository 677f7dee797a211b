"""Robust training objectives: registered by kind, leave parameter gradients alone, bound the loss they relax."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pydantic import TypeAdapter

from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.objectives import OBJECTIVES, ObjectiveConfig

BOX = (0.0, 1.0)


def build(kind, **settings):
    return TypeAdapter(ObjectiveConfig).validate_python({"kind": kind, **settings}).build("classification", BOX)


@pytest.mark.parametrize("kind", ["pgd-at", "trades", "prl"])
def test_objective_is_differentiable_and_leaves_parameter_gradients_untouched(mlp, test_batch, kind):
    x, y = test_batch
    mlp.zero_grad(set_to_none=True)
    mlp.train()
    loss = build(kind, samples=3, t_steps=2) if kind == "prl" else build(kind, steps=3)
    value = loss(mlp, x, y)
    assert value.dim() == 0 and all(p.grad is None for p in mlp.parameters()) and mlp.training
    value.backward()
    assert all(p.grad is not None for p in mlp.parameters())
    mlp.zero_grad(set_to_none=True)
    mlp.eval()


def test_adversarial_losses_are_at_least_the_clean_loss(mlp, test_batch):
    x, y = test_batch
    torch.manual_seed(0)
    clean = float(F.cross_entropy(mlp(x), y).detach())
    assert float(build("pgd-at", eps=0.1)(mlp, x, y).detach()) > clean
    assert float(build("trades", eps=0.1, beta=1.0)(mlp, x, y).detach()) >= clean


def test_prl_loss_bounds_the_mean_loss_from_above(mlp, test_batch):
    # For any threshold α, α + E(ℓ − α)+/β ≥ CVaR_β(ℓ) ≥ E ℓ; with a tiny ball E ℓ is the clean loss.
    x, y = test_batch
    torch.manual_seed(0)
    clean = float(F.cross_entropy(mlp(x), y).detach())
    for beta in (0.1, 0.5, 1.0):
        assert float(build("prl", eps=1e-6, beta=beta, samples=4)(mlp, x, y).detach()) >= clean - 1e-5


def test_objectives_compose_with_the_train_config():
    assert {"erm", "pgd-at", "trades", "prl"} <= set(OBJECTIVES)
    config = TrainConfig(objective={"kind": "prl", "eps": 0.2}, optimizer={"kind": "adam"})
    assert config.objective.samples == 20 and config.objective.beta == 0.5
    with pytest.raises(ValueError, match="input box"):
        OBJECTIVES["pgd-at"]().build("regression", None)


def test_trades_clean_target_is_taken_in_eval_mode():
    """As the official code: the clean target uses BatchNorm's running statistics, so only the two train-mode
    passes of the loss itself (clean and adversarial) update them."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.BatchNorm1d(16),
                                torch.nn.ReLU(), torch.nn.Linear(16, 10)).train()
    x, y = torch.rand(32, 1, 8, 8), torch.randint(0, 10, (32,))
    loss = OBJECTIVES["trades"](steps=3).build("classification", (0.0, 1.0))
    loss(model, x, y)
    assert int(model[2].num_batches_tracked) == 2
    assert model.training
