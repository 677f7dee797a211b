"""What every attack shares: its settings, the driver over batches × targets × restarts, and the bookkeeping that
lets examples leave a batch as soon as they succeed (early exit).

An attack implements ``attack_batch(model, batch, generator)`` for one restart towards one target per example;
:meth:`AttackSettings.run` does the rest. Success is always judged on the point that is returned: the iterate
rounded to the data's grid (``quantization``) and projected back onto the ε-ball ∩ box, so every returned example
is feasible and what was scored is what a user gets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from spotlab.models.config import ConfigModel
from spotlab.tasks.attack.losses import LossName, attack_objective, succeeded
from spotlab.tasks.attack.targets import random_targets, top_k_targets
from spotlab.tasks.attack.threat import Norm, project, quantize


@dataclass
class AttackResult:
    x_adv: torch.Tensor  # (B, ...) feasible points: the first successful one, else the last attempt's
    success: torch.Tensor  # (B,) bool
    iterations: torch.Tensor  # (B,) iterations spent, over all targets and restarts
    target: torch.Tensor  # (B,) the target reached or last tried; −1 for untargeted attacks
    seconds: float  # wall time
    cpu_seconds: float  # this process's CPU time: the cost on a shared CPU, where wall time also counts waiting


class Batch:
    """The examples of one batch still under attack. ``keep(hit)`` records the successful ones and drops them;
    per-example state of the algorithm is compacted by the returned mask."""

    def __init__(self, settings: "AttackSettings", model: nn.Module, x, y, target, bounds):
        self.settings, self.model, self.bounds = settings, model, bounds
        self.x_all, self.y_all, self.t_all = x, y, target
        self.position = torch.arange(len(x), device=x.device)
        self.x_adv = x.clone()
        self.success = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        self.iterations = torch.full((len(x),), settings.steps, dtype=torch.long, device=x.device)

    @property
    def x(self) -> torch.Tensor:
        return self.x_all[self.position]

    @property
    def y(self) -> torch.Tensor:
        return self.y_all[self.position]

    @property
    def target(self) -> torch.Tensor | None:
        return None if self.t_all is None else self.t_all[self.position]

    def __len__(self) -> int:
        return len(self.position)

    def objective_and_grad(self, x_iter: torch.Tensor):
        """(values to maximise, logits, ∇x of their sum) at ``x_iter``; parameter gradients are left untouched."""
        x_iter = x_iter.detach().requires_grad_(True)
        with torch.enable_grad():
            logits = self.model(x_iter)
            values = attack_objective(self.settings.loss, logits, self.y, self.target, self.settings.kappa)
            (grad,) = torch.autograd.grad(values.sum(), x_iter)
        return values.detach(), logits.detach(), grad

    def candidate(self, x_iter: torch.Tensor) -> torch.Tensor:
        s = self.settings
        return project(quantize(x_iter, s.quantization), self.x, s.eps, s.norm, self.bounds)

    def keep(self, x_iter: torch.Tensor, iteration: int, logits: torch.Tensor | None = None) -> torch.Tensor:
        """Score the candidate of ``x_iter``; record and drop the successes; returns the mask of rows kept.
        ``logits`` of ``x_iter`` may be passed when the iterate is already its own candidate (no rounding)."""
        candidate = self.candidate(x_iter)
        if logits is None or self.settings.quantization is not None:
            with torch.no_grad():
                logits = self.model(candidate)
        hit = succeeded(logits, self.y, self.target)
        rows = self.position[hit]
        self.x_adv[rows] = candidate[hit]
        self.success[rows] = True
        self.iterations[rows] = iteration
        self.position = self.position[~hit]
        return ~hit

    def finish(self, x_final: torch.Tensor) -> None:
        """The examples that never succeeded return this (feasible) point."""
        self.x_adv[self.position] = x_final


def compact(state: dict[str, torch.Tensor], keep: torch.Tensor) -> dict[str, torch.Tensor]:
    return {name: value[keep] for name, value in state.items()}


class AttackSettings(ConfigModel):
    """Fields every attack has; each attack adds its ``kind`` and own parameters."""

    norm: Norm = Field("linf", description="Threat model: linf or l2 ball around the clean input.")
    eps: float = Field(8 / 255, gt=0, description="Radius of the ball, in input units (inputs lie in the box).")
    steps: int = Field(100, ge=1, description="Iterations per restart and target.")
    loss: LossName = Field("ce", description="ce, cw (margin with κ), dlr (targeted DLR when targeted) or md.")
    kappa: float = Field(0.0, ge=0, description="Confidence κ of the cw margin loss (ignored by other losses).")
    targeted: bool = Field(False, description="Aim at target classes instead of any misclassification.")
    targets: Literal["random", "top-k"] = Field(
        "random", description="random: (y + o) mod C with seeded offsets o in 1..C−1; top-k: the highest-scoring "
        "non-true classes of the clean input."
    )
    n_targets: int = Field(1, ge=1, description="Targets tried per example (targeted attacks); success on any.")
    restarts: int = Field(1, ge=1, description="Random restarts per target; later ones attack only failures.")
    quantization: int | None = Field(
        None, ge=1, description="Round returned points to multiples of 1/quantization (255: 8-bit images, "
        "16: sklearn digits); null: no rounding."
    )
    batch_size: int = Field(256, ge=1, description="Examples attacked together.")

    def attack_batch(self, batch: Batch, generator: torch.Generator) -> None:
        raise NotImplementedError

    def choose_targets(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                       generator: torch.Generator) -> list[torch.Tensor | None]:
        if not self.targeted:
            return [None]
        if self.targets == "random":
            return random_targets(y, num_classes, self.n_targets, generator)
        with torch.no_grad():
            return top_k_targets(model(x), y, self.n_targets)

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, bounds: tuple[float, float], seed: int,
            target: torch.Tensor | None = None) -> AttackResult:
        """Attack every example of ``(x, y)`` on the model's device; deterministic under ``seed``. ``target``
        fixes one target per example (paired comparisons of attacks); otherwise they come from the settings."""
        device = next(model.parameters()).device
        x, y = x.to(device), y.to(device)
        generator = torch.Generator(device=device).manual_seed(seed)
        was_training = model.training
        model.eval()
        started, cpu_started = time.perf_counter(), time.process_time()
        parts = []
        for start in range(0, len(x), self.batch_size):
            xb, yb = x[start : start + self.batch_size], y[start : start + self.batch_size]
            with torch.no_grad():
                num_classes = model(xb[:1]).shape[1]
            if target is not None:
                choices = [target[start : start + self.batch_size].to(device)]
            else:
                choices = self.choose_targets(model, xb, yb, num_classes, generator)
            parts.append(self._run_batch(model, xb, yb, choices, bounds, generator))
        model.train(was_training)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        return AttackResult(*(torch.cat([p[i] for p in parts]).cpu() for i in range(4)), seconds=seconds,
                            cpu_seconds=cpu_seconds)

    def _run_batch(self, model, x, y, choices, bounds, generator):
        x_adv, success = x.clone(), torch.zeros(len(x), dtype=torch.bool, device=x.device)
        iterations = torch.zeros(len(x), dtype=torch.long, device=x.device)
        reached = torch.full((len(x),), -1, dtype=torch.long, device=x.device)
        for target in choices:
            for _ in range(self.restarts):
                todo = (~success).nonzero().squeeze(1)
                if not len(todo):
                    break
                batch = Batch(self, model, x[todo], y[todo], None if target is None else target[todo], bounds)
                self.attack_batch(batch, generator)
                x_adv[todo] = batch.x_adv
                iterations[todo] += batch.iterations
                success[todo] = batch.success
                if target is not None:
                    reached[todo] = target[todo]
        return x_adv, success, iterations, reached
