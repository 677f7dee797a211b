"""Seed-sweep study: train the same model under several seeds and report mean ± std of test accuracy.

It checks a pipeline's own claim (e.g. "the quickstart MLP reaches ≥ 0.9 on digits") with its spread across seeds,
the basic reproducibility question every paper study builds on.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.study.report import Claim, StudyReport
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.recipes import test_accuracy, train_model


class SeedSweepConfig(ConfigModel):
    kind: Literal["seed-sweep"] = "seed-sweep"
    train: TrainConfig = Field(default_factory=TrainConfig, description="What to train under each seed.")
    seeds: int = Field(3, ge=2, le=50, description="Number of seeds (run seed, run seed + 1, ...).")
    min_accuracy: float = Field(0.9, ge=0, le=1, description="Claimed lower bound on mean test accuracy.")

    needs_data: ClassVar[bool] = True

    def run(self, data, seed: int) -> StudyReport:
        splits, info = data
        scores = [test_accuracy(train_model(self.train, splits, info, seed + i), splits, info)
                  for i in range(self.seeds)]
        mean, std = float(np.mean(scores)), float(np.std(scores, ddof=1))
        table = [{"seed": seed + i, "test_accuracy": s} for i, s in enumerate(scores)]
        table.append({"seed": "mean ± std", "test_accuracy": f"{mean:.4f} ± {std:.4f}"})
        claim = Claim.check(
            "accuracy",
            f"mean test accuracy over {self.seeds} seeds is at least {self.min_accuracy}",
            round(mean, 4),
            f">= {self.min_accuracy}",
            mean >= self.min_accuracy,
        )
        return StudyReport(title="Seed sweep", table=table, claims=[claim])
