"""WOODS (Katz-Samuels et al., ICML 2022): fine-tune a classifier to flag the OOD part of wild data, subject to
(1) ID false-alarm rate ≤ α and (2) ID classification loss ≤ τ·L0, by an augmented Lagrangian.

Per batch: E(x) = logsumexp f(x); a logistic head LR on E gives the probability σ(LR(E)) that x is OOD;
    c1 = mean σ(LR(E(x_in))) − α,  c2 = CE(x_in) − τ·L0,
    L  = ψ(c2, λ2, β2) + w_out · mean σ(−LR(E(x_wild))) + ψ(c1, λ1, β1),
with ψ(c, λ, β) = λc + βc²/2 when βc + λ ≥ 0, else −λ²/(2β). After every epoch both constraints are measured on
the full ID training set and each constraint's own multiplier and penalty are updated. The official code ends
up with one tensor for both multipliers (``lam2 = lam.cuda()`` on a tensor already on the GPU); here each constraint
owns a :class:`Multiplier`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from spotlab.models.config import ConfigModel
from spotlab.tasks.ood.finetune import FineTuneConfig, FineTuneResult, fine_tune
from spotlab.tasks.ood.scores import energy_score
from spotlab.tasks.ood.wild import WildData
from spotlab.tasks.train.loop import predict


def psi(c, lam: float, beta: float):
    """The augmented-Lagrangian term of one inequality constraint c ≤ 0 (continuous at βc + λ = 0)."""
    if beta * torch.as_tensor(c).item() + lam >= 0:
        return lam * c + beta / 2 * c**2
    return -(lam**2) / (2 * beta)


def update_multiplier(lam: float, beta: float, c: float, lr: float) -> float:
    """λ + η·c on the active branch (βc + λ ≥ 0), else λ − η·λ/β."""
    return lam + lr * c if beta * c + lam >= 0 else lam - lr * lam / beta


def update_penalty(beta: float, c: float, growth: float, tolerance: float) -> float:
    """β grows by ``growth`` while the constraint is violated by more than ``tolerance``."""
    return beta * growth if c > tolerance else beta


@dataclass
class Multiplier:
    """One constraint's multiplier λ and penalty β (plain floats: no state shared between constraints)."""

    lam: float
    beta: float

    def penalty(self, c):
        return psi(c, self.lam, self.beta)

    def update(self, c: float, lr: float, growth: float, tolerance: float) -> None:
        self.lam = update_multiplier(self.lam, self.beta, c, lr)
        self.beta = update_penalty(self.beta, c, growth, tolerance)


def ood_logit(head: nn.Linear, energy: torch.Tensor) -> torch.Tensor:
    """LR(E): the logistic head's logit that an example with energy score E is OOD."""
    return head(energy.unsqueeze(1)).squeeze(1)


class WOODSConfig(ConfigModel):
    kind: Literal["woods"] = "woods"
    false_alarm: float = Field(0.05, gt=0, lt=1, description="α: allowed ID false-alarm rate.")
    loss_slack: float = Field(2.0, ge=1, description="τ: allowed ID loss as a multiple of the loss before (L0).")
    out_weight: float = Field(1.0, gt=0, description="w_out: weight of the wild-data term.")
    lam0: float = Field(0.0, ge=0, description="Initial multipliers λ1 = λ2.")
    beta0: float = Field(1.0, gt=0, description="Initial penalties β1 = β2.")
    lr_lam: float = Field(1.0, gt=0, description="η_λ: step of the epoch-end multiplier update.")
    penalty_growth: float = Field(1.5, ge=1, description="Factor β grows by while a constraint is violated.")
    tolerance: float = Field(0.0, ge=0, description="Violation above which β grows.")

    def fine_tune(self, model: nn.Module, data: WildData, cfg: FineTuneConfig, seed: int) -> FineTuneResult:
        torch.manual_seed(seed)
        device = next(model.parameters()).device
        head = nn.Linear(1, 1).to(device)
        loss_before = float(F.cross_entropy(predict(model, data.x_in), data.y_in))
        limit = self.loss_slack * loss_before
        false_alarm, id_loss = Multiplier(self.lam0, self.beta0), Multiplier(self.lam0, self.beta0)

        def objective(net: nn.Module, x: torch.Tensor, y: torch.Tensor, x_wild: torch.Tensor) -> torch.Tensor:
            logits = net(torch.cat([x, x_wild]))
            logits_in, logits_wild = logits[: len(x)], logits[len(x):]
            c1 = torch.sigmoid(ood_logit(head, energy_score(logits_in))).mean() - self.false_alarm
            c2 = F.cross_entropy(logits_in, y) - limit
            wild_kept = torch.sigmoid(-ood_logit(head, energy_score(logits_wild))).mean()
            return id_loss.penalty(c2) + self.out_weight * wild_kept + false_alarm.penalty(c1)

        def on_epoch_end(epoch: int) -> dict:
            state = self.constraints(model, head, data, limit)
            false_alarm.update(state["c_false_alarm"], self.lr_lam, self.penalty_growth, self.tolerance)
            id_loss.update(state["c_id_loss"], self.lr_lam, self.penalty_growth, self.tolerance)
            return {**state, **{f"{k}_false_alarm": v for k, v in asdict(false_alarm).items()},
                    **{f"{k}_id_loss": v for k, v in asdict(id_loss).items()}}

        history = fine_tune(model, objective, data, cfg, seed, head.parameters(), on_epoch_end)
        end = history[-1]
        with torch.no_grad():
            test_flags = ood_logit(head, energy_score(predict(model, data.x_id_test)).to(device)) > 0
        summary = {
            "false_alarm": end["false_alarm"], "false_alarm_limit": self.false_alarm,
            "false_alarm_met": end["c_false_alarm"] <= 0, "false_alarm_test": float(test_flags.float().mean()),
            "id_loss": end["id_loss"], "id_loss_limit": limit, "id_loss_met": end["c_id_loss"] <= 0,
            "lam_false_alarm": end["lam_false_alarm"], "lam_id_loss": end["lam_id_loss"],
            "loss_before": loss_before, "head_weight": head.weight.item(), "head_bias": head.bias.item(),
        }
        return FineTuneResult(model.eval(), history, summary)

    def constraints(self, model: nn.Module, head: nn.Linear, data: WildData, limit: float) -> dict:
        """Both constraints on the full ID training set: the smooth false alarm mean σ(LR(E)) and the ID loss."""
        logits = predict(model, data.x_in)
        with torch.no_grad():
            energies = energy_score(logits).to(head.weight.device)
            rate = float(torch.sigmoid(ood_logit(head, energies)).mean())
        loss = float(F.cross_entropy(logits, data.y_in))
        return {"false_alarm": rate, "c_false_alarm": rate - self.false_alarm,
                "id_loss": loss, "c_id_loss": loss - limit}
