"""CGD (Lin et al., ICML 2022): a targeted L∞ attack that does not project its iterates. It descends
(1 − w2)·P + w2·MD, where P penalises leaving the ε-box and MD is Σ_i ReLU(z_i − z_t), with Adam-style
normalised steps; the constraint is enforced by the penalty, and only the points it scores are rounded to the
data's grid and projected."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.attack.base import AttackSettings, Batch, compact
from spotlab.tasks.attack.losses import md_loss
from spotlab.tasks.attack.threat import project


class CGDConfig(AttackSettings):
    kind: Literal["cgd"] = "cgd"
    norm: Literal["linf"] = Field("linf", description="CGD is defined for the L∞ box only.")
    loss: Literal["md"] = Field("md", description="CGD descends the MD loss (fixed).")
    targeted: Literal[True] = Field(True, description="CGD is a targeted attack (fixed).")
    w1_ratio: float = Field(2.55, gt=0, description="Initial step scale w1 as a multiple of eps (the paper: "
                            "ε·255/100); halved every 15 iterations, starting at iteration 0.")
    w2: float = Field(0.1, gt=0, lt=1, description="Initial weight of the MD loss against the box penalty.")
    beta1: float = Field(0.1, ge=0, lt=1, description="Decay of the first gradient moment.")
    beta2: float = Field(0.01, ge=0, lt=1, description="Decay of the second gradient moment.")

    def attack_batch(self, batch: Batch, generator: torch.Generator) -> None:
        eps, (lo, hi) = self.eps, batch.bounds
        r = torch.rand(batch.x.shape, generator=generator, device=batch.x.device) * 2 - 1
        r = r / r.flatten(1).abs().amax(1).clamp_min(1e-12).reshape((-1,) + (1,) * (r.dim() - 1))
        x0 = (batch.x + eps * r).clamp(lo, hi)
        batch.finish(batch.candidate(x0))  # what a failure returns unless a later iterate succeeds
        n, view = len(x0), (-1,) + (1,) * (x0.dim() - 1)
        s = {
            "x": x0, "m": torch.zeros_like(x0), "v": torch.zeros_like(x0),
            "w2": torch.full((n,), self.w2, device=x0.device),
            "shepherd": torch.ones(n, dtype=torch.bool, device=x0.device),
        }
        w1 = self.w1_ratio * eps
        for i in range(self.steps):
            if i % 15 == 0:
                w1 /= 2
            upper, lower = (batch.x + eps).clamp(lo, hi), (batch.x - eps).clamp(lo, hi)
            violation = F.relu(s["x"] - upper) + F.relu(lower - s["x"])
            if i % 15 > 4:
                # Shrink the MD weight of examples that strayed far from the box (less so once unshepherded).
                limit = torch.where(s["shepherd"], 2.0, 5.0) * w1
                s["w2"] = torch.where(violation.flatten(1).amax(1) > limit, s["w2"] / 2, s["w2"])
            grad = self._penalised_grad(batch, s["x"], upper, lower, s["w2"])
            s["m"] = self.beta1 * s["m"] + (1 - self.beta1) * grad
            s["v"] = self.beta2 * s["v"] + (1 - self.beta2) * grad**2
            t = max(i, 1)  # the moments restart after the first (projected) step
            update = w1 * (s["m"] / (1 - self.beta1**t)) / ((s["v"] / (1 - self.beta2**t)).sqrt() + 1e-15)
            if i == 0:
                s["x"] = project(s["x"] - 2 * eps * update.sign(), batch.x, eps, "linf", batch.bounds)
                s["m"], s["v"] = torch.zeros_like(s["m"]), torch.zeros_like(s["v"])
                s["shepherd"] = grad.flatten(1).abs().mean(1) <= 1e-2
            else:
                s["x"] = s["x"] - update
            s = compact(s, batch.keep(s["x"], i + 1))
            if not len(batch):
                break

    def _penalised_grad(self, batch: Batch, x, upper, lower, w2) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            penalty = (F.relu(x - upper) + F.relu(lower - x)).pow(2).flatten(1).sum(1)
            loss = (1 - w2) * penalty + w2 * md_loss(batch.model(x), batch.target)
            (grad,) = torch.autograd.grad(loss.sum(), x)
        return grad
