"""Paper claim check of the imbalance family.

``ranksim-regression`` (Gong, Mori, Tung, ICML 2022): every baseline objective (plain regression, SQINV, LDS, FDS,
...) trained alone and with the RankSim regulariser added, on each dataset (exponentially imbalanced synthetic
regression with a balanced test split; scikit-learn's diabetes), over several seeds; test MAE, MSE and GM overall
and on the many/medium/few-shot label regions. Claim: with the same re-weighting, RankSim lowers few-shot MAE.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.data.config import DataConfig, DiabetesConfig, SyntheticRegressionConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.evaluate.metrics import regression_metrics
from spotlab.tasks.imbalance.bins import REGIONS
from spotlab.tasks.imbalance.fds import FDSConfig
from spotlab.tasks.imbalance.lds import LDSConfig
from spotlab.tasks.imbalance.plots import plot_mae_by_region
from spotlab.tasks.imbalance.ranksim import RankSimConfig
from spotlab.tasks.study.report import Claim, StudyReport
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.loop import predict
from spotlab.tasks.train.objectives import ERMConfig, ObjectiveConfig
from spotlab.tasks.train.recipes import train_model

COLUMNS = ("mae", *(f"{r}.mae" for r in REGIONS), "gm", "few.gm", "mse")


class RegressionData(ConfigModel):
    data: DataConfig = Field(description="Dataset and splits.")
    bins: int = Field(100, ge=2, description="Label bins of the shot regions and of every LDS/FDS in the methods.")
    train: TrainConfig | None = Field(None, description="Training for this dataset; null: the study's train.")


def _default_datasets() -> dict[str, RegressionData]:
    exponential = SyntheticRegressionConfig(labels="exponential", imbalance=4.0, n_samples=2000, noise=0.3)
    return {"synthetic": RegressionData(data=DataConfig(dataset=exponential, test_fraction=0.25), bins=100),
            "diabetes": RegressionData(data=DataConfig(dataset=DiabetesConfig(), test_fraction=0.3), bins=15,
                                       train=TrainConfig.model_validate(
                                           {"model": {"kind": "mlp", "hidden": [64, 64]},
                                            "optimizer": {"kind": "adam", "lr": 1e-2}, "epochs": 100,
                                            "batch_size": 32}))}


def _default_baselines() -> dict[str, ObjectiveConfig]:
    return {"plain": ERMConfig(), "sqinv": LDSConfig(smooth=False), "lds": LDSConfig(), "fds": FDSConfig()}


def with_bins(objective, bins: int):
    """``objective`` with ``bins`` set on it and on every objective it wraps that has label bins."""
    update = {"bins": bins} if "bins" in type(objective).model_fields else {}
    if "base" in type(objective).model_fields:
        update["base"] = with_bins(objective.base, bins)
    return objective.model_copy(update=update)


class RankSimRegressionConfig(ConfigModel):
    kind: Literal["ranksim-regression"] = "ranksim-regression"
    datasets: dict[str, RegressionData] = Field(default_factory=_default_datasets, min_length=1,
                                                description="Name → dataset and its label bins.")
    baselines: dict[str, ObjectiveConfig] = Field(
        default_factory=_default_baselines, min_length=1,
        description="Name → objective, each trained alone and as '<name>+ranksim' (bins set from the dataset).")
    ranksim: RankSimConfig = Field(RankSimConfig(), description="The regulariser (γ, λ); its base is each baseline.")
    train: TrainConfig = Field(
        TrainConfig.model_validate({"model": {"kind": "mlp", "hidden": [64, 64]},
                                    "optimizer": {"kind": "adam", "lr": 3e-3}, "schedule": {"kind": "cosine"},
                                    "epochs": 30, "batch_size": 128}),
        description="Model, optimizer, schedule, epochs, batch (the objective is each method's).")
    seeds: int = Field(3, ge=1, le=20, description="Seeds (run seed, run seed + 1, ...) per dataset and method.")

    needs_data: ClassVar[bool] = False

    def methods(self, bins: int) -> dict[str, ObjectiveConfig]:
        out = {}
        for name, objective in self.baselines.items():
            objective = with_bins(objective, bins)
            out[name] = objective
            out[f"{name}+ranksim"] = self.ranksim.model_copy(update={"base": objective})
        return out

    def run(self, data, seed: int) -> StudyReport:
        scores: dict[tuple[str, str], list[dict]] = {}
        for dataset, spec in self.datasets.items():
            for i in range(self.seeds):
                splits, info = prepare(spec.data, seed + i)
                for method, objective in self.methods(spec.bins).items():
                    training = (spec.train or self.train).model_copy(update={"objective": objective})
                    model = train_model(training, splits, info, seed + i)
                    out = predict(model, torch.as_tensor(splits.x_test)).squeeze(-1).numpy()
                    metrics = regression_metrics(out, splits.y_test, splits.y_train, spec.bins)
                    scores.setdefault((dataset, method), []).append(metrics)
        table = [_summary_row(dataset, method, rows) for (dataset, method), rows in scores.items()]
        return StudyReport(
            title="RankSim: ranking feature similarities like label similarities (deep imbalanced regression)",
            table=table,
            claims=self._claims(scores),
            figures={"mae_by_region": plot_mae_by_region(scores)},
            notes=f"Test errors, mean ± std over {self.seeds} seed(s); regions from the training label counts per "
            "bin (many > 0.835·n/bins, few < 0.167·n/bins: AgeDB-DIR's 100 / 20 per label scaled to the data's "
            "size). Exponential synthetic data have a balanced (uniform-label) test split; other data a random one, "
            "drawn like the training labels, so few test samples fall in the few-shot region (column few.n, mean "
            "over seeds). Regions without test samples are left empty.",
        )

    def _claims(self, scores: dict[tuple[str, str], list[dict]]) -> list[Claim]:
        claims = []
        for dataset in self.datasets:
            for baseline in self.baselines:
                without, with_ = (_means(scores[(dataset, m)]) for m in (baseline, f"{baseline}+ranksim"))
                claims.append(Claim.check(
                    f"{dataset}-{baseline}-few",
                    f"{dataset}: few-shot MAE of {baseline}+RankSim is below {baseline}'s",
                    {region: [_round(without.get(f"{region}.mae")), _round(with_.get(f"{region}.mae"))]
                     for region in ("all", *REGIONS)},
                    "[without, with] per region: few-shot with < without",
                    with_.get("few.mae", np.inf) < without.get("few.mae", -np.inf),
                ))
        return claims


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _means(rows: list[dict]) -> dict[str, float]:
    """Mean over seeds of each metric every seed has ('all.mae' is the overall MAE)."""
    keys = set.intersection(*(set(r) for r in rows))
    means = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    means["all.mae"] = means["mae"]
    return means


def _summary_row(dataset: str, method: str, rows: list[dict]) -> dict:
    row = {"dataset": dataset, "method": method, "seeds": len(rows)}
    for column in COLUMNS:
        values = [r[column] for r in rows if column in r]
        spread = f" ± {np.std(values, ddof=1):.3g}" if len(values) > 1 else ""
        row[column] = f"{np.mean(values):.4g}{spread}" if values else ""
    row["few.n"] = int(np.mean([r["few.n"] for r in rows]))
    return row
