"""Claim check of Guo et al. (ICML 2022) with a teacher network as the brain, on digits.

``neural-robustness``: per seed, one brain and two students — trained normally and with L2 PGD adversarial
training (the attack family's objective) — each read out linearly onto the brain's sites. The claim: adversarially
trained students' readouts are markedly less sensitive than standard ones at the same ε, with predictivity beside.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from spotlab.models.config import ConfigModel
from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import ModelConfig
from spotlab.tasks.attack.objectives import PGDATConfig
from spotlab.tasks.attack.pgd import PGDConfig
from spotlab.tasks.neural.brain import BrainConfig
from spotlab.tasks.neural.evaluation import SensitivityConfig
from spotlab.tasks.neural.plots import plot_sensitivity_curves
from spotlab.tasks.study.report import Claim, StudyReport
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.objectives import ERMConfig
from spotlab.tasks.train.loop import predict
from spotlab.tasks.train.optimizers import AdamConfig
from spotlab.tasks.train.recipes import test_accuracy, train_model


class NeuralRobustnessConfig(ConfigModel):
    kind: Literal["neural-robustness"] = "neural-robustness"
    brain: BrainConfig = Field(default_factory=BrainConfig, description="The teacher network playing the brain.")
    student: ModelConfig = Field(default_factory=MLPConfig, description="Architecture of both students.")
    epochs: int = Field(15, ge=1, description="Training epochs of each student (Adam, lr 1e-3).")
    train_eps: float = Field(0.5, gt=0, description="L2 radius of the PGD-AT student's training.")
    train_steps: int = Field(10, ge=1, description="Inner PGD steps of adversarial training.")
    sensitivity: SensitivityConfig = Field(default_factory=SensitivityConfig, description="Readouts and s̃ sweep.")
    claim_eps: float = Field(0.5, gt=0, description="Radius at which the students' readouts are compared; one of "
                             "sensitivity.eps.")
    min_ratio: float = Field(1.5, gt=1, description="'Markedly less sensitive': standard s̃ / adversarial s̃ of "
                             "the readouts at claim_eps at least this, in every seed.")
    seeds: int = Field(3, ge=1, le=20, description="Seeds (run seed, run seed + 1, ...): brain and students each.")

    needs_data: ClassVar[bool] = True

    @model_validator(mode="after")
    def _claim_eps_is_swept(self):
        if self.claim_eps not in self.sensitivity.eps:
            raise ValueError(f"claim_eps={self.claim_eps} must be one of sensitivity.eps={self.sensitivity.eps}")
        return self

    def students(self) -> dict[str, TrainConfig]:
        at = PGDATConfig(norm="l2", eps=self.train_eps, steps=self.train_steps)
        return {name: TrainConfig(model=self.student, optimizer=AdamConfig(), objective=objective,
                                  epochs=self.epochs, batch_size=64)
                for name, objective in (("standard", ERMConfig()), ("pgd-at", at))}

    def run(self, data, seed: int) -> StudyReport:
        splits, info = data
        table = []
        for s in range(seed, seed + self.seeds):
            brain = self.brain.build(splits, info, s)
            sweep = self.sensitivity.brain_sweep(brain, splits, info.bounds, s)
            for name, train_cfg in self.students().items():
                student = train_model(train_cfg, splits, info, s + 1)
                accuracy = test_accuracy(student, splits, info)
                robust = self._pgd_accuracy(student, splits, info, s)
                rows, _ = self.sensitivity.evaluate(brain, student, splits, info.bounds, s, sweep)
                table += [{"seed": s, "student": name, "clean_accuracy": accuracy,
                           "pgd_accuracy": robust, **row} for row in rows]
        return StudyReport(
            title=f"Sensitivity of readouts of standard vs PGD-AT (L2 ε = {self.train_eps:g}) students of a teacher "
                  "brain on digits",
            table=table, claims=self._claims(table), figures={"sensitivity": plot_sensitivity_curves(table)},
            notes=f"s̃: mean over {self.brain.n_sites} sites of E_x[s_i(x, ε)] / σ_i on {self.sensitivity.n_images} "
                  f"test images; readout: the readout's own change (σ of the readout); transfer: the brain's change "
                  f"for the readout's δ, sign(Δf)·Δr; random / white_box: the brain's lower / upper bound. "
                  f"predictivity: explained variance of the test recordings; pgd_accuracy: test accuracy under L2 PGD "
                  f"(20 steps) at ε = {self.train_eps:g}. {self.seeds} seeds.",
        )

    def _pgd_accuracy(self, student, splits, info, seed: int) -> float:
        """Test accuracy under L2 PGD (20 steps) at the training radius: did adversarial training take?"""
        x, y = torch.as_tensor(splits.x_test), torch.as_tensor(splits.y_test)
        attacked = PGDConfig(norm="l2", eps=self.train_eps, steps=20).run(student, x, y, info.bounds, seed)
        return float((predict(student, attacked.x_adv).argmax(1) == y).float().mean())

    def _claims(self, table: list[dict]) -> list[Claim]:
        at_eps = {(r["seed"], r["student"]): r for r in table if r["eps"] == self.claim_eps}
        seeds = sorted({r["seed"] for r in table})
        ratio = [at_eps[s, "standard"]["readout"] / at_eps[s, "pgd-at"]["readout"] for s in seeds]
        transfer = [at_eps[s, "standard"]["transfer"] / at_eps[s, "pgd-at"]["transfer"] for s in seeds]
        fit = {name: np.mean([at_eps[s, name]["predictivity"] for s in seeds]) for name in ("standard", "pgd-at")}
        bracketed = sum(r["random"] <= r["transfer"] <= r["white_box"] for r in table)
        return [
            Claim.check(
                "readouts-less-sensitive",
                f"PGD-AT students' readouts are markedly less sensitive than standard ones at ε = {self.claim_eps:g}",
                f"s̃ ratio standard / PGD-AT {np.mean(ratio):.3g} (per seed {', '.join(f'{v:.3g}' for v in ratio)}); "
                f"transferred to the brain {np.mean(transfer):.3g}; predictivity standard {fit['standard']:.3f}, "
                f"PGD-AT {fit['pgd-at']:.3f}",
                f"ratio ≥ {self.min_ratio:g} in every seed", min(ratio) >= self.min_ratio),
            Claim.check(
                "transfer-within-bounds", "The readout's perturbation moves the brain between the random-direction "
                "and white-box bounds", f"{bracketed}/{len(table)} (seed, student, ε) settings",
                "random ≤ transfer ≤ white-box in every setting", bracketed == len(table)),
        ]
