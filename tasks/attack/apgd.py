"""Auto-PGD (Croce & Hein, 2020): PGD with momentum whose step size halves at checkpoints where progress stalls,
restarting from the best point found so far."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.attack.base import AttackSettings, Batch, compact
from spotlab.tasks.attack.threat import project, steepest_direction, surface_start


def apgd_checkpoints(steps: int) -> list[int]:
    """0-indexed iterations after which the step size is reconsidered: windows of 22 %, shrinking by 3 % of the
    budget each time down to 6 % (for 100 steps: 21, 40, 56, 69, 79, 86, 92, 98). Every fraction is truncated to
    an integer first, as in the official code (for 50 steps: 10, 20, 29, 37, 44), which differs from the paper's
    formula p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06) evaluated in real numbers."""
    window = max(int(0.22 * steps), 1)
    decrement, minimum = max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
    checkpoints, iteration = [], window - 1
    while iteration < steps:
        checkpoints.append(iteration)
        window = max(window - decrement, minimum)
        iteration += window
    return checkpoints


class APGDConfig(AttackSettings):
    kind: Literal["apgd"] = "apgd"
    rho: float = Field(0.75, gt=0, lt=1, description="Halve the step when the loss rose in at most rho of a window.")
    momentum: float = Field(0.75, ge=0, le=1, description="Weight of the new step against the previous one.")

    def attack_batch(self, batch: Batch, generator: torch.Generator) -> None:
        checkpoints = set(apgd_checkpoints(self.steps))
        x0 = surface_start(batch.x, self.eps, self.norm, batch.bounds, generator)
        values, logits, grad = batch.objective_and_grad(x0)
        keep = batch.keep(x0, 0, logits)
        n = len(x0)
        s = compact({
            "x": x0, "x_prev": x0, "values": values, "grad": grad,
            "step": torch.full((n,), 2.0 * self.eps, device=x0.device),
            "x_best": x0, "best": values, "grad_best": grad,
            "best_at_check": values, "reduced_at_check": torch.ones(n, dtype=torch.bool, device=x0.device),
            "increases": torch.zeros(n, device=x0.device),
        }, keep)
        window = 0
        for i in range(self.steps):
            if not len(batch):
                break
            a = 1.0 if i == 0 else self.momentum
            view = (-1,) + (1,) * (s["x"].dim() - 1)
            z = project(s["x"] + s["step"].reshape(view) * steepest_direction(s["grad"], self.norm), batch.x,
                        self.eps, self.norm, batch.bounds)
            x_new = project(s["x"] + a * (z - s["x"]) + (1 - a) * (s["x"] - s["x_prev"]), batch.x, self.eps,
                            self.norm, batch.bounds)
            values, logits, grad = batch.objective_and_grad(x_new)
            s["increases"] = s["increases"] + (values > s["values"]).float()
            improved = values > s["best"]
            s.update(
                x_prev=s["x"], x=x_new, values=values, grad=grad,
                x_best=torch.where(improved.reshape(view), x_new, s["x_best"]),
                grad_best=torch.where(improved.reshape(view), grad, s["grad_best"]),
                best=torch.where(improved, values, s["best"]),
            )
            s = compact(s, batch.keep(x_new, i + 1, logits))
            window += 1
            if i in checkpoints:
                # Halve the step and go back to the best point if the loss rose in at most rho of the window's
                # steps, or if the step was not halved at the previous checkpoint and the best loss did not improve.
                oscillating = s["increases"] <= self.rho * window
                stalled = ~s["reduced_at_check"] & (s["best"] <= s["best_at_check"])
                reduce = oscillating | stalled
                s["step"] = torch.where(reduce, s["step"] / 2, s["step"])
                s["x"] = torch.where(reduce.reshape(view), s["x_best"], s["x"])
                s["grad"] = torch.where(reduce.reshape(view), s["grad_best"], s["grad"])
                s.update(reduced_at_check=reduce, best_at_check=s["best"], increases=torch.zeros_like(s["increases"]))
                window = 0
        batch.finish(batch.candidate(s["x_best"]))
