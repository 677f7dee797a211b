"""Claim check of WOODS (Katz-Samuels et al., ICML 2022) against the energy score and outlier exposure.

``woods-comparison``: one classifier pre-trained per seed on the ID data, then, for every OOD fraction π of the wild
mixture, each method starts from a copy of it; FPR95, AUROC and ID accuracy on held-out ID and OOD test sets, and
for WOODS whether both constraints hold at the end (on the full ID training set).
"""

from __future__ import annotations

import copy
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from spotlab.models.config import ConfigModel
from spotlab.tasks.ood.baselines import EnergyConfig, OutlierExposureConfig
from spotlab.tasks.ood.finetune import FineTuneConfig
from spotlab.tasks.ood.plots import plot_score_histograms
from spotlab.tasks.ood.scores import evaluate_ood
from spotlab.tasks.ood.wild import WildDataConfig, build_wild
from spotlab.tasks.ood.woods import WOODSConfig
from spotlab.tasks.study.report import Claim, StudyReport
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.recipes import train_model


class WOODSComparisonConfig(ConfigModel):
    kind: Literal["woods-comparison"] = "woods-comparison"
    train: TrainConfig = Field(default_factory=TrainConfig, description="Pre-training of the ID classifier.")
    wild: WildDataConfig = Field(default_factory=WildDataConfig, description="OOD source (its pi is replaced by "
                                 "each of pis).")
    pis: list[Annotated[float, Field(gt=0, lt=1)]] = Field([0.05, 0.1, 0.2], min_length=1,
                                                           description="OOD fractions π of the wild mixture.")
    claim_pis: list[Annotated[float, Field(gt=0, lt=1)]] = Field([0.05, 0.1], min_length=1,
                                                                 description="π at which WOODS must beat OE.")
    seeds: int = Field(3, ge=1, le=20, description="Seeds (run seed, run seed + 1, ...).")
    fine_tune: FineTuneConfig = Field(default_factory=FineTuneConfig, description="Fine-tuning of OE and WOODS.")
    woods: WOODSConfig = Field(default_factory=WOODSConfig, description="WOODS settings.")
    outlier_exposure: OutlierExposureConfig = Field(
        default_factory=OutlierExposureConfig, description="Outlier-exposure settings."
    )

    needs_data: ClassVar[bool] = True

    @model_validator(mode="after")
    def _claims_are_measured(self):
        missing = sorted(set(self.claim_pis) - set(self.pis))
        if missing:
            raise ValueError(f"claim_pis {missing} are not among pis {self.pis}")
        return self

    def methods(self) -> dict[str, object]:
        return {"energy": EnergyConfig(), "oe": self.outlier_exposure, "woods": self.woods}

    def run(self, data, seed: int) -> StudyReport:
        splits, info = data
        runs: dict[tuple[float, str], list[dict]] = {(pi, name): [] for pi in self.pis for name in self.methods()}
        histograms = {}
        for s in range(seed, seed + self.seeds):
            pretrained = train_model(self.train, splits, info, s)
            for pi in self.pis:
                wild = build_wild(self.wild.model_copy(update={"pi": pi}), splits, info, s)
                for name, method in self.methods().items():
                    result = method.fine_tune(copy.deepcopy(pretrained), wild, self.fine_tune, s)
                    evaluation = evaluate_ood(result.model, wild.x_id_test, wild.y_id_test, wild.x_ood_test)
                    runs[pi, name].append({**evaluation["metrics"], **result.summary,
                                           "wild_ood_fraction": float(wild.wild_is_ood.float().mean())})
                    if s == seed and pi == self.claim_pis[0]:
                        histograms[f"{name} (π={pi:g})"] = (evaluation["id_scores"], evaluation["ood_scores"])
        table = [self._row(pi, name, rows) for (pi, name), rows in runs.items()]
        return StudyReport(
            title=f"WOODS vs outlier exposure vs energy ({self.seeds} seeds)", table=table,
            claims=[self._claim(pi, runs[pi, "woods"], runs[pi, "oe"]) for pi in self.claim_pis],
            figures={"scores": plot_score_histograms(histograms)},
            notes="Means over seeds (± std for FPR95). Score: logsumexp of the logits for every method. "
                  "false_alarm: mean σ(LR(E)) over the ID training set after the last epoch (the constraint "
                  f"WOODS enforces, α = {self.woods.false_alarm:g}); false_alarm_test: share of ID test examples "
                  "its head flags as OOD; id_loss_ratio: ID training loss / (τ·L0). *_met: seeds where it holds.",
        )

    @staticmethod
    def _row(pi: float, name: str, rows: list[dict]) -> dict:
        mean = lambda key: float(np.mean([r[key] for r in rows]))  # noqa: E731
        row = {"pi": pi, "method": name, "fpr95": mean("fpr95"),
               "fpr95_std": float(np.std([r["fpr95"] for r in rows])), "auroc": mean("auroc"),
               "id_accuracy": mean("id_accuracy"), "wild_ood_fraction": mean("wild_ood_fraction")}
        if "false_alarm" in rows[0]:
            row |= {"false_alarm": mean("false_alarm"), "false_alarm_test": mean("false_alarm_test"),
                    "false_alarm_met": f"{sum(r['false_alarm_met'] for r in rows)}/{len(rows)}",
                    "id_loss_ratio": float(np.mean([r["id_loss"] / r["id_loss_limit"] for r in rows])),
                    "id_loss_met": f"{sum(r['id_loss_met'] for r in rows)}/{len(rows)}"}
        return row

    def _claim(self, pi: float, woods: list[dict], oe: list[dict]) -> Claim:
        mean = lambda rows, key: float(np.mean([r[key] for r in rows]))  # noqa: E731
        met = sum(r["false_alarm_met"] for r in woods)
        lower = mean(woods, "fpr95") < mean(oe, "fpr95")
        return Claim.check(
            f"woods-below-oe@{pi:g}",
            f"at π = {pi:g}, WOODS has a lower FPR95 than outlier exposure on the wild data, with its ID "
            f"false-alarm constraint (≤ {self.woods.false_alarm:g}) met",
            f"FPR95 {mean(woods, 'fpr95'):.4f} vs {mean(oe, 'fpr95'):.4f}; false alarm "
            f"{mean(woods, 'false_alarm'):.4f}, met in {met}/{len(woods)} seeds; AUROC {mean(woods, 'auroc'):.4f} vs "
            f"{mean(oe, 'auroc'):.4f}; ID accuracy {mean(woods, 'id_accuracy'):.4f} vs {mean(oe, 'id_accuracy'):.4f}",
            "WOODS < OE and the constraint met in every seed",
            lower and met == len(woods),
        )
