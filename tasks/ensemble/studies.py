"""Claim check of feature-space particle inference (Yashima et al., ICML 2022) on digits.

``fspi-comparison``: deep ensembles vs FSPI (and any other labelled ensemble method) with M members trained
together, over several seeds: accuracy, NLL, Brier and ECE after temperature scaling fitted on validation, member
disagreement, feature-space diversity (1 − mean pairwise linear CKA), and accuracy under Gaussian input noise.
"""

from __future__ import annotations

import time
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from spotlab.models.config import ConfigModel
from spotlab.tasks.ensemble.config import DeepEnsembleConfig, EnsembleMethodConfig, EnsembleTrainConfig, FSPIConfig
from spotlab.tasks.ensemble.evaluation import ensemble_metrics, noisy_accuracy
from spotlab.tasks.ensemble.plots import plot_reliability
from spotlab.tasks.ensemble.training import train_ensemble
from spotlab.tasks.study.report import Claim, StudyReport


class FSPIComparisonConfig(ConfigModel):
    kind: Literal["fspi-comparison"] = "fspi-comparison"
    training: EnsembleTrainConfig = Field(default_factory=EnsembleTrainConfig,
                                          description="Members, architecture, optimizer and epochs of every ensemble.")
    methods: dict[str, EnsembleMethodConfig] = Field(
        default_factory=lambda: {"deep-ensemble": DeepEnsembleConfig(), "fspi": FSPIConfig(),
                                 "shared-head": FSPIConfig(repulsion=False, prior="none")},
        min_length=2, description="Ensemble methods by label (a label is a table row's method).")
    baseline: str = Field("deep-ensemble", description="Label of the method the claims compare against.")
    candidate: str = Field("fspi", description="Label of the method whose claims are checked.")
    seeds: int = Field(3, ge=1, le=20, description="Seeds (run seed, run seed + 1, ...); claims use the means.")
    noise: list[float] = Field([0.1, 0.2, 0.3], description="Std of the Gaussian input noise of the robustness check.")
    ece_bins: int = Field(15, ge=2, le=100, description="Equal-width confidence bins of the ECE.")

    needs_data: ClassVar[bool] = True

    @model_validator(mode="after")
    def _labels_exist(self):
        for field in ("baseline", "candidate"):
            if getattr(self, field) not in self.methods:
                raise ValueError(f"{field}={getattr(self, field)!r} is not a label of methods; choose one of "
                                 f"{sorted(self.methods)}")
        return self

    def run(self, data, seed: int) -> StudyReport:
        splits, info = data
        rows, reliability = [], {}
        for s in range(seed, seed + self.seeds):
            for label, method in self.methods.items():
                started = time.perf_counter()
                ensemble = train_ensemble(self.training, method, splits, info, s)
                seconds = time.perf_counter() - started
                metrics, probs = ensemble_metrics(ensemble, splits.x_val, splits.y_val, splits.x_test, splits.y_test,
                                                  self.ece_bins)
                if s == seed:
                    reliability[label] = probs
                row = {"method": label, "seed": s, **metrics}
                row |= {f"noisy_accuracy@{sigma:g}": noisy_accuracy(ensemble, splits.x_test, splits.y_test, sigma,
                                                                    info.bounds, s) for sigma in self.noise}
                rows.append(row | {"train_seconds": round(seconds, 2)})
        means = [{"method": label, "seed": "mean",
                  **{k: float(np.mean([r[k] for r in rows if r["method"] == label]))
                     for k in rows[0] if k not in ("method", "seed")}} for label in self.methods]
        return StudyReport(
            title=f"Deep ensembles vs FSPI on digits (M = {self.training.members}, {self.training.model.kind})",
            table=rows + means, claims=self._claims({r["method"]: r for r in means}),
            figures={"reliability": plot_reliability(reliability, splits.y_test, self.ece_bins)},
            notes=f"{self.seeds} seed(s); metrics of the members' mean prediction on {len(splits.y_test)} test "
                  f"examples after temperature scaling fitted on {len(splits.y_val)} validation examples; "
                  "feature_diversity = 1 − mean pairwise linear CKA of the members' test features; disagreement = "
                  "mean pairwise fraction of differing top classes; noise clipped to the input box.",
        )

    def _claims(self, means: dict[str, dict]) -> list[Claim]:
        ours, theirs = means[self.candidate], means[self.baseline]

        def compare(id: str, metric: str, higher: bool, what: str) -> Claim:
            holds = ours[metric] > theirs[metric] if higher else ours[metric] <= theirs[metric]
            sign = ">" if higher else "≤"
            return Claim.check(id, f"{self.candidate} {what} than {self.baseline}",
                               f"{ours[metric]:.4f} vs {theirs[metric]:.4f}", f"{self.candidate} {sign} "
                               f"{self.baseline}", holds)

        noisy = [k for k in ours if k.startswith("noisy_accuracy@")]
        noise_ours, noise_theirs = np.mean([ours[k] for k in noisy]), np.mean([theirs[k] for k in noisy])
        claims = [
            compare("diversity-higher", "feature_diversity", True, "has higher feature-space diversity"),
            compare("nll-no-worse", "nll", False, "has no worse (≤) calibrated NLL"),
            compare("ece-no-worse", "ece", False, "has no worse (≤) calibrated ECE"),
            Claim.check("accuracy-no-worse", f"{self.candidate} is at least as accurate as {self.baseline} (paper: "
                        "more accurate)", f"{ours['accuracy']:.4f} vs {theirs['accuracy']:.4f}",
                        f"{self.candidate} ≥ {self.baseline}", ours["accuracy"] >= theirs["accuracy"]),
        ]
        if noisy:
            claims.append(Claim.check(
                "noise-robustness", f"{self.candidate} is at least as accurate under input noise as {self.baseline} "
                f"(mean over σ ∈ {self.noise})", f"{noise_ours:.4f} vs {noise_theirs:.4f}",
                f"{self.candidate} ≥ {self.baseline}", bool(noise_ours >= noise_theirs)))
        return claims
