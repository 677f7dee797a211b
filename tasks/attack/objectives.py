"""Robust training objectives (registered in tasks/train/objectives.py): Madry's PGD adversarial training, TRADES
and PRL (Robey et al.'s probabilistically robust learning through a CVaR relaxation).

Each builds ``(model, x, y) -> loss``. Inner maximisations run in eval mode with input gradients only, so the
parameter gradients the train step computes afterwards are untouched; their randomness comes from the global RNG,
which the train loop checkpoints.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from spotlab.models.config import ConfigModel
from spotlab.tasks.attack.threat import Norm, project, random_start, steepest_direction


def _require_box(kind: str, task: str, bounds: tuple[float, float] | None) -> tuple[float, float]:
    if task != "classification" or bounds is None:
        raise ValueError(f"objective {kind!r} needs a classification dataset with an input box (e.g. digits)")
    return bounds


def ascend(model: nn.Module, objective: Callable[[torch.Tensor], torch.Tensor], x_clean: torch.Tensor,
           start: torch.Tensor, eps: float, norm: Norm, bounds: tuple[float, float], steps: int,
           step: float) -> torch.Tensor:
    """Projected steepest ascent of a per-example ``objective(logits)`` for a fixed number of steps, in eval mode
    and without early exit (training wants the strongest point, not the first misclassified one)."""
    was_training = model.training
    model.eval()
    x = start.detach()
    for _ in range(steps):
        x.requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(objective(model(x)).sum(), x)
        x = project(x.detach() + step * steepest_direction(grad, norm), x_clean, eps, norm, bounds)
    model.train(was_training)
    return x.detach()


class PGDATConfig(ConfigModel):
    """Madry et al.: minimise the cross-entropy at a PGD point of the ε-ball."""

    kind: Literal["pgd-at"] = "pgd-at"
    norm: Norm = Field("linf", description="Threat model of the inner attack.")
    eps: float = Field(0.1, gt=0, description="Radius of the training ball, in input units.")
    steps: int = Field(10, ge=1, description="PGD steps of the inner maximisation.")
    step: float | None = Field(None, gt=0, description="Inner step length; null: 2.5·eps/steps.")

    def build(self, task: str, bounds: tuple[float, float] | None):
        box = _require_box(self.kind, task, bounds)
        step = self.step if self.step is not None else 2.5 * self.eps / self.steps

        def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            start = random_start(x, self.eps, self.norm, box, None)
            ce = lambda logits: F.cross_entropy(logits, y, reduction="none")  # noqa: E731
            return F.cross_entropy(model(ascend(model, ce, x, start, self.eps, self.norm, box, self.steps, step)), y)

        return loss


class TRADESConfig(ConfigModel):
    """Zhang et al.: CE(f(x), y) + β·KL(f(x) ‖ f(x')) with x' maximising the KL term in the ε-ball."""

    kind: Literal["trades"] = "trades"
    norm: Norm = Field("linf", description="Threat model of the inner attack.")
    eps: float = Field(0.1, gt=0, description="Radius of the training ball, in input units.")
    beta: float = Field(6.0, gt=0, description="Weight of the robustness (KL) term.")
    steps: int = Field(10, ge=1, description="Steps of the inner KL maximisation.")
    step: float | None = Field(None, gt=0, description="Inner step length; null: 2.5·eps/steps.")

    def build(self, task: str, bounds: tuple[float, float] | None):
        box = _require_box(self.kind, task, bounds)
        step = self.step if self.step is not None else 2.5 * self.eps / self.steps

        def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            was_training = model.training
            model.eval()  # the official target: no batch statistics, no dropout, running statistics untouched
            with torch.no_grad():
                clean_probs = F.softmax(model(x), 1)
            model.train(was_training)
            kl = lambda logits: F.kl_div(F.log_softmax(logits, 1), clean_probs, reduction="none").sum(1)  # noqa: E731
            start = project(x + 0.001 * torch.randn_like(x), x, self.eps, self.norm, box)  # TRADES' tiny start
            x_adv = ascend(model, kl, x, start, self.eps, self.norm, box, self.steps, step)
            logits = model(x)
            robust = F.kl_div(F.log_softmax(model(x_adv), 1), F.softmax(logits, 1), reduction="batchmean")
            return F.cross_entropy(logits, y) + self.beta * robust

        return loss


class PRLConfig(ConfigModel):
    """Robey et al.: minimise CVaR_β of the loss over uniform perturbations of the ε-ball, α per example set by
    a few subgradient steps (defaults from the paper's code: β = 0.5, M = 20, 5 steps, η_t = 1)."""

    kind: Literal["prl"] = "prl"
    norm: Norm = Field("linf", description="Ball the perturbations are drawn from uniformly.")
    eps: float = Field(0.1, gt=0, description="Radius of the ball, in input units.")
    beta: float = Field(0.5, gt=0, le=1, description="CVaR level: the mean of the worst beta fraction of losses.")
    samples: int = Field(20, ge=1, description="Perturbations M drawn per example and α step.")
    t_steps: int = Field(5, ge=1, description="Subgradient steps on the CVaR threshold α (t in the code).")
    t_lr: float = Field(1.0, gt=0, description="Step size η_t of the threshold updates.")

    def build(self, task: str, bounds: tuple[float, float] | None):
        box = _require_box(self.kind, task, bounds)

        def sample_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            """(M, B) cross-entropies at M uniform perturbations of each example."""
            return torch.stack([
                F.cross_entropy(model(random_start(x, self.eps, self.norm, box, None)), y, reduction="none")
                for _ in range(self.samples)
            ])

        def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            t = torch.ones(len(x), device=x.device)
            for step in range(self.t_steps):
                last = step == self.t_steps - 1
                with torch.set_grad_enabled(last and torch.is_grad_enabled()):
                    losses = sample_losses(model, x, y)
                    cvar = (t + F.relu(losses - t).sum(0) / (self.samples * self.beta)).mean()
                if not last:
                    # Subgradient of the batch-mean CVaR objective with respect to each α.
                    above = (losses.detach() > t).float().mean(0)
                    t = t - self.t_lr * (1 - above / self.beta) / len(x)
            return cvar

        return loss
