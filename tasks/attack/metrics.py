"""Robustness to random perturbations (Robey et al.): ProbAcc(ρ), augmented accuracy and test CVaR, all computed
from the same K uniform draws of the ε-ball per example."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from spotlab.models.config import ConfigModel
from spotlab.tasks.attack.threat import Norm, random_start
from spotlab.tasks.train.loop import predict


def perturbed_outputs(model: nn.Module, x: torch.Tensor, eps: float, norm: Norm, bounds: tuple[float, float],
                      draws: int, seed: int) -> torch.Tensor:
    """(K, B, C) model outputs at K uniform points of each example's ε-ball (ε = 0: the clean outputs K times)."""
    generator = torch.Generator().manual_seed(seed)
    outputs = []
    for _ in range(draws):
        x_draw = random_start(x, eps, norm, bounds, generator) if eps > 0 else x
        outputs.append(predict(model, x_draw))
    return torch.stack(outputs)


def prob_acc(correct: torch.Tensor, rho: float) -> float:
    """Fraction of examples whose accuracy over the K draws (rows of ``correct``, (K, B)) is strictly above 1 − ρ."""
    threshold = round((1 - rho) * correct.shape[0], 9)  # 0.9 · 10 must stay 9, not 9.000000000000002
    return (correct.sum(0) > threshold).double().mean().item()


def cvar(losses: torch.Tensor, beta: float, dim: int = 0) -> torch.Tensor:
    """Exact CVaR_β of the empirical distribution along ``dim``: the mean of its worst β fraction (a fractional
    last element when β·n is not whole), which equals min_α α + mean((ℓ − α)+)/β."""
    n = losses.shape[dim]
    worst = losses.sort(dim, descending=True).values.movedim(dim, 0)
    mass = beta * n
    weights = (mass - torch.arange(n, dtype=losses.dtype, device=losses.device)).clamp(0, 1)
    return (worst * weights.reshape((-1,) + (1,) * (worst.dim() - 1))).sum(0) / mass


def random_perturbation_metrics(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: Norm,
                                bounds: tuple[float, float], draws: int, rhos: list[float], cvar_beta: float,
                                seed: int) -> dict[str, float]:
    """ProbAcc(ρ) for each ρ, augmented accuracy (mean over draws) and test CVaR_β of the cross-entropy."""
    outputs = perturbed_outputs(model, x, eps, norm, bounds, draws, seed)
    correct = outputs.argmax(2) == y
    losses = F.cross_entropy(outputs.flatten(0, 1), y.repeat(draws), reduction="none").reshape(draws, -1)
    metrics = {f"prob_acc@{rho:g}": prob_acc(correct, rho) for rho in rhos}
    metrics["augmented_accuracy"] = float(correct.float().mean())
    metrics[f"cvar@{cvar_beta:g}"] = float(cvar(losses, cvar_beta).mean())
    return metrics


class RandomPerturbationConfig(ConfigModel):
    """ProbAcc(ρ), augmented accuracy and test CVaR of a trained model under uniform draws of the ε-ball."""

    norm: Norm = Field("linf", description="Ball the perturbations are drawn from uniformly.")
    eps: float = Field(0.1, ge=0, description="Radius of the ball, in input units (0 gives clean accuracy).")
    draws: int = Field(100, ge=1, description="Uniform perturbations K per example.")
    rhos: list[Annotated[float, Field(gt=0, lt=1)]] = Field(
        [0.1, 0.05, 0.01], min_length=1, description="ProbAcc levels ρ, each in (0, 1)."
    )
    cvar_beta: float = Field(0.05, gt=0, le=1, description="Level β of the test CVaR of the cross-entropy.")

    def evaluate(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, bounds: tuple[float, float],
                 seed: int) -> dict[str, float]:
        return random_perturbation_metrics(model, x, y, self.eps, self.norm, bounds, self.draws, list(self.rhos),
                                           self.cvar_beta, seed)
