"""Attack losses: exact small cases and, above all, the direction each one pushes the logits."""

from __future__ import annotations

import torch

from spotlab.tasks.attack.losses import attack_objective, dlr, md_loss, succeeded, targeted_dlr
from spotlab.tasks.attack.targets import random_targets, top_k_targets


def test_md_loss_exact_values():
    z = torch.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0]])
    t = torch.tensor([1, 1])
    assert torch.allclose(md_loss(z, t), torch.tensor([2.0 + 1.0, 0.0]))


def test_dlr_exact_value():
    z = torch.tensor([[4.0, 3.0, 1.0, 0.0]])
    assert torch.allclose(dlr(z, torch.tensor([0])), torch.tensor([-(4.0 - 3.0) / (4.0 - 1.0)]))
    assert torch.allclose(targeted_dlr(z, torch.tensor([0]), torch.tensor([2])), torch.tensor([-(4 - 1) / (4 - 0.5)]))


def _ascent_gain(loss, targeted):
    """Change of z_t − z_y after one ascent step on the logits of the attack objective."""
    z = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0]], requires_grad=True)
    y, t = torch.tensor([0]), torch.tensor([3])
    value = attack_objective(loss, z, y, t if targeted else None, kappa=10.0).sum()
    (grad,) = torch.autograd.grad(value, z)
    moved = z.detach() + 0.1 * grad
    z = z.detach()
    return float((moved[0, 3] - moved[0, 0]) - (z[0, 3] - z[0, 0]))


def test_every_objective_moves_towards_the_target_or_away_from_the_label():
    # The CGD authors minimised the targeted DLR, which pushes the target down; ascent here must pull it up.
    for loss in ("ce", "cw", "dlr", "md"):
        assert _ascent_gain(loss, targeted=True) > 0, loss
    for loss in ("ce", "cw", "dlr"):
        z = torch.tensor([[2.0, 1.0, 0.5, 0.0]], requires_grad=True)
        (grad,) = torch.autograd.grad(attack_objective(loss, z, torch.tensor([0]), None, 10.0).sum(), z)
        assert grad[0, 0] < 0, loss


def test_cw_margin_is_capped_at_kappa():
    z = torch.tensor([[0.0, 9.0, 1.0]])
    assert float(attack_objective("cw", z, torch.tensor([0]), None, kappa=2.0)) == 2.0
    assert float(attack_objective("cw", z, torch.tensor([0]), torch.tensor([1]), kappa=20.0)) == 8.0


def test_success_criteria():
    z = torch.tensor([[0.0, 2.0, 1.0]])
    assert succeeded(z, torch.tensor([0]), None).item()
    assert not succeeded(z, torch.tensor([0]), torch.tensor([2])).item()
    assert succeeded(z, torch.tensor([0]), torch.tensor([1])).item()


def test_targets_never_the_true_class_and_top_k_ranked():
    y = torch.arange(10).repeat(20)
    for t in random_targets(y, 10, 3, torch.Generator().manual_seed(0)):
        assert (t != y).all() and t.min() >= 0 and t.max() < 10
    z = torch.tensor([[5.0, 1.0, 4.0, 3.0]])
    assert [int(t) for t in top_k_targets(z, torch.tensor([0]), 2)] == [2, 3]
