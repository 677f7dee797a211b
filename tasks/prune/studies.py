"""Paper claim checks of the prune family.

``ramanujan-tickets`` (Pal et al., ICML 2022): IMP vs Ramanujan-IMP vs random pruning on the prepared data (an MLP
300-100 on digits in examples/papers/ramanujan.yaml), with accuracy, accuracy under Gaussian input noise and Δr of
every layer at every level.
``pac-net-transfer`` (Myung et al., ICML 2022): PAC-Net vs fine-tuning vs L2-SP on two few-shot transfer pairs
built here (Friedman #1 → a Friedman function with perturbed coefficients; digits 0–4 → digits 5–9).
"""

from __future__ import annotations

import copy
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, PositiveInt
from sklearn.datasets import make_friedman1

from spotlab.models.config import ConfigModel
from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import build_model
from spotlab.tasks.data.config import DataConfig, DigitsConfig
from spotlab.tasks.data.datasets import DatasetInfo, Splits, prepare
from spotlab.tasks.prune.levels import LevelResult, plot_levels, run_levels
from spotlab.tasks.prune.pacnet import PACNetConfig, l2_sp_penalty, recover_source
from spotlab.tasks.prune.pruners import IMPConfig, RamanujanIMPConfig
from spotlab.tasks.prune.training import PruneData, RetrainConfig
from spotlab.tasks.study.report import Claim, StudyReport
from spotlab.tasks.train.optimizers import AdamConfig, SGDConfig
from spotlab.tasks.train.schedules import ConstantScheduleConfig


def _fresh_model(config: MLPConfig, info: DatasetInfo, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(config, info.input_shape, info.num_outputs, info.mean, info.std)


def _all_ramanujan(result: LevelResult) -> bool:
    return all(s.delta_r is not None and s.delta_r >= 0 for s in result.spectra)


class RamanujanTicketsConfig(ConfigModel):
    kind: Literal["ramanujan-tickets"] = "ramanujan-tickets"
    model: MLPConfig = Field(MLPConfig(hidden=[300, 100]), description="The pruned network (LeNet-300-100 style).")
    levels: int = Field(10, ge=1, le=30, description="IMP levels after the dense level 0.")
    fraction: float = Field(0.2, gt=0, lt=1, description="Fraction of surviving weights pruned per level.")
    training: RetrainConfig = Field(
        RetrainConfig(optimizer=SGDConfig(lr=0.05), epochs=10), description="Training at every level."
    )
    noise_std: float = Field(0.2, ge=0, description="Gaussian input noise of the robustness score.")
    seeds: int = Field(2, ge=1, le=20, description="Seeds averaged per strategy and level.")
    tolerance: float = Field(0.01, ge=0, le=1, description="Accuracy drop that still counts as 'accuracy stays high'.")

    needs_data: ClassVar[bool] = True

    def strategies(self) -> dict[str, IMPConfig]:
        common = dict(levels=self.levels, fraction=self.fraction, training=self.training)
        return {
            "imp": IMPConfig(**common),
            "ramanujan-imp": RamanujanIMPConfig(**common),
            "random": IMPConfig(**common, scores="random"),
        }

    def run(self, data, seed: int) -> StudyReport:
        splits, info = data
        prune_data = PruneData(splits, info, self.noise_std)
        runs = {
            name: [run_levels(method, _fresh_model(self.model, info, seed + i), prune_data, seed + i)[0]
                   for i in range(self.seeds)]
            for name, method in self.strategies().items()
        }
        table = [row for name, per_seed in runs.items() for row in _mean_rows(name, per_seed)]
        figure = plot_levels({name: per_seed[0] for name, per_seed in runs.items()}, "accuracy")
        rows = {name: [r for r in table if r["strategy"] == name] for name in runs}
        return StudyReport(
            title="Ramanujan graph property of lottery tickets (IMP vs Ramanujan-IMP vs random)",
            table=table,
            claims=self._claims(rows),
            figures={"ramanujan_levels": figure},
            notes=_loss_notes(rows) + f"\nMeans over {self.seeds} seed(s); Δr columns are per layer "
            "(empty where d̄ < 3); noisy_accuracy adds N(0, noise_std²) to the inputs, clipped to [0, 1].",
        )

    def _claims(self, rows: dict[str, list[dict]]) -> list[Claim]:
        imp, ram, rnd = rows["imp"], rows["ramanujan-imp"], rows["random"]
        dense = imp[0]["accuracy"]
        kept = [r for r in imp if r["ramanujan_layers"] == r["analysed_layers"]]
        lost = [r for r in imp if r["ramanujan_layers"] < r["analysed_layers"]]
        worst_kept = min(r["accuracy"] for r in kept)
        claims = [
            Claim.check(
                "tickets-ramanujan-accurate",
                "IMP tickets whose layers are all Ramanujan keep the dense accuracy",
                {"dense": round(dense, 4), "worst_while_ramanujan": round(worst_kept, 4),
                 "levels_all_ramanujan": len(kept)},
                f"drop <= {self.tolerance}",
                dense - worst_kept <= self.tolerance,
            )
        ]
        claims.append(
            Claim.check(
                "losing-property-hurts",
                "IMP accuracy and noisy accuracy fall once a layer loses the Ramanujan property",
                {"accuracy": [_mean(kept, "accuracy"), _mean(lost, "accuracy")],
                 "noisy_accuracy": [_mean(kept, "noisy_accuracy"), _mean(lost, "noisy_accuracy")]},
                "[all Ramanujan, some layer not]: second lower for both (None: no level lost the property)",
                bool(lost) and _mean(lost, "accuracy") < _mean(kept, "accuracy")
                and _mean(lost, "noisy_accuracy") < _mean(kept, "noisy_accuracy"),
            )
        )
        final = ram[-1]
        matched = min(imp, key=lambda r: abs(r["sparsity"] - final["sparsity"]))
        claims.append(
            Claim.check(
                "ramanujan-imp-improves",
                "Ramanujan-IMP is at least as accurate as IMP at the same sparsity",
                {"ramanujan_imp": [final["sparsity"], round(final["accuracy"], 4)],
                 "imp": [matched["sparsity"], round(matched["accuracy"], 4)]},
                "[sparsity, accuracy]: Ramanujan-IMP accuracy >= IMP's",
                final["accuracy"] >= matched["accuracy"],
            )
        )
        claims.append(
            Claim.check(
                "tickets-beat-random",
                "IMP tickets beat random pruning at the final level",
                {"imp": round(imp[-1]["accuracy"], 4), "random": round(rnd[-1]["accuracy"], 4)},
                "imp > random",
                imp[-1]["accuracy"] > rnd[-1]["accuracy"],
            )
        )
        return claims


def _mean(rows: list[dict], key: str) -> float | None:
    return round(float(np.mean([r[key] for r in rows])), 4) if rows else None


def _mean_rows(strategy: str, per_seed: list[list[LevelResult]]) -> list[dict]:
    """Per level: means over seeds of sparsity, scores and each layer's Δr, and how many layers are Ramanujan."""
    rows = []
    for level in range(len(per_seed[0])):
        results = [seed_results[level] for seed_results in per_seed]
        row = {"strategy": strategy, "level": level,
               "sparsity": round(float(np.mean([r.sparsity for r in results])), 4)}
        for metric in results[0].metrics:
            row[metric] = float(np.mean([r.metrics[metric] for r in results]))
        layers = [s.layer for s in results[0].spectra]
        for layer in layers:
            gaps = [s.delta_r for r in results for s in r.spectra if s.layer == layer]
            row[f"dr[{layer}]"] = float(np.mean(gaps)) if all(g is not None for g in gaps) else None
        row["ramanujan_layers"] = float(np.mean([sum(s.delta_r is not None and s.delta_r >= 0 for s in r.spectra)
                                                 for r in results]))
        row["analysed_layers"] = len(layers)
        rows.append(row)
    return rows


def _loss_notes(rows: dict[str, list[dict]]) -> str:
    """Where each strategy's layers first lose the property (Δr < 0 in the seed mean)."""
    lines = []
    for strategy, table in rows.items():
        layers = [k for k in table[0] if k.startswith("dr[")]
        for layer in layers:
            first = next((r for r in table if r[layer] is not None and r[layer] < 0), None)
            where = (f"first Δr < 0 at level {first['level']} (sparsity {first['sparsity']:.3f})" if first
                     else "Δr ≥ 0 at every analysed level")
            lines.append(f"- {strategy}, {layer[3:-1]}: {where}")
    return "Where layers lose the Ramanujan property:\n" + "\n".join(lines) + "\n"


# --- PAC-Net ---------------------------------------------------------------------------------------------------


def _splits(x_train, y_train, x_test, y_test) -> Splits:
    return Splits(x_train, y_train, x_train[:0], y_train[:0], x_test, y_test)


def friedman_pair(samples: int, shots: int, perturbation: float, noise: float, seed: int):
    """Source: make_friedman1 (y = 10 sin(π x0 x1) + 20 (x2 − ½)² + 10 x3 + 5 x4 + ε). Target: the same form with
    each coefficient scaled by 1 + perturbation·u, u ~ U(−1, 1); ``shots`` training examples. Half of each set is
    held out for testing (as in the paper's 20,000-sample split)."""
    x, y = make_friedman1(n_samples=2 * samples, noise=noise, random_state=seed)
    x, y = x.astype(np.float32), y.astype(np.float32)
    source = _splits(x[:samples], y[:samples], x[samples:], y[samples:])
    rng = np.random.default_rng(seed + 1)
    coefficients = np.array([10.0, 20.0, 10.0, 5.0]) * (1 + perturbation * rng.uniform(-1, 1, 4))
    xt, _ = make_friedman1(n_samples=shots + samples, noise=0.0, random_state=seed + 2)
    terms = np.stack([np.sin(np.pi * xt[:, 0] * xt[:, 1]), (xt[:, 2] - 0.5) ** 2, xt[:, 3], xt[:, 4]], axis=1)
    yt = (terms @ coefficients + noise * rng.standard_normal(len(xt))).astype(np.float32)
    xt = xt.astype(np.float32)
    target = _splits(xt[:shots], yt[:shots], xt[shots:], yt[shots:])
    info = DatasetInfo(task="regression", input_shape=(x.shape[1],), num_outputs=1, mean=x[:samples].mean(0).tolist(),
                       std=x[:samples].std(0).tolist(), bounds=None, sizes={"train": samples, "test": samples})
    return PruneData(source, info, 0.0), PruneData(target, info, 0.0)


def digits_pair(shots: int, seed: int):
    """Source: digits 0–4; target: digits 5–9 (both relabelled 0–4) with ``shots`` training images per class."""
    source, info = prepare(DataConfig(dataset=DigitsConfig(classes=[0, 1, 2, 3, 4]), val_fraction=0), seed)
    target, _ = prepare(DataConfig(dataset=DigitsConfig(classes=[5, 6, 7, 8, 9]), val_fraction=0), seed)
    rng = np.random.default_rng(seed)
    few = np.concatenate([rng.choice(np.flatnonzero(target.y_train == c), shots, replace=False) for c in range(5)])
    target = _splits(target.x_train[few], target.y_train[few], target.x_test, target.y_test)
    return PruneData(source, info, 0.0), PruneData(target, info, 0.0)


def _error(data: PruneData, model: torch.nn.Module) -> float:
    scores = data.score(model)
    return 1 - scores["accuracy"] if "accuracy" in scores else scores["mse"]


PAIR_NAMES = {"friedman": "Friedman #1 → perturbed Friedman", "digits": "digits 0–4 → 5–9"}


class PACNetTransferConfig(ConfigModel):
    kind: Literal["pac-net-transfer"] = "pac-net-transfer"
    hidden: list[PositiveInt] = Field([64, 64], min_length=1, description="Hidden widths of the MLP of both pairs.")
    keep: float = Field(0.5, gt=0, lt=1, description="PAC-Net: fraction of source weights kept.")
    calibration_lambda: float = Field(0.01, ge=0, description="PAC-Net: λ of the pull toward allocated weights.")
    l2_sp_alpha: float = Field(0.01, ge=0, description="L2-SP: α of the pull toward the source weights.")
    friedman_samples: int = Field(2000, ge=100, description="Source training (and test) examples for Friedman.")
    friedman_shots: int = Field(50, ge=5, description="Target training examples for Friedman.")
    perturbation: float = Field(0.5, ge=0, le=1, description="Relative perturbation of the target's coefficients.")
    friedman_noise: float = Field(0.5, ge=0, description="Label noise std of the Friedman functions.")
    digits_shots: int = Field(5, ge=1, le=100, description="Target training images per class (digits 5–9).")
    source_training: RetrainConfig = Field(
        RetrainConfig(optimizer=AdamConfig(lr=3e-3), schedule=ConstantScheduleConfig(), epochs=60, batch_size=64),
        description="Source training and PAC-Net's allocate step.",
    )
    target_training: RetrainConfig = Field(
        RetrainConfig(optimizer=AdamConfig(lr=1e-3), schedule=ConstantScheduleConfig(), epochs=150, batch_size=16),
        description="Every method's training on the few-shot target.",
    )
    seeds: int = Field(3, ge=1, le=20, description="Seeds averaged per pair and method.")

    needs_data: ClassVar[bool] = False

    def pairs(self, seed: int) -> dict[str, tuple[PruneData, PruneData]]:
        return {
            "friedman": friedman_pair(self.friedman_samples, self.friedman_shots, self.perturbation,
                                      self.friedman_noise, seed),
            "digits": digits_pair(self.digits_shots, seed),
        }

    def run(self, data, seed: int) -> StudyReport:
        runs: dict[tuple[str, str], list[dict]] = {}
        for i in range(self.seeds):
            for pair, (source, target) in self.pairs(seed + i).items():
                for method, row in self._transfer(source, target, seed + i).items():
                    runs.setdefault((pair, method), []).append(row)
        table = [
            {"pair": pair, "method": method, "seeds": len(rows),
             **{k: float(np.mean([r[k] for r in rows])) for k in rows[0]}}
            for (pair, method), rows in runs.items()
        ]
        claims = []
        for pair in dict.fromkeys(p for p, _ in runs):
            by_method = {r["method"]: r for r in table if r["pair"] == pair}
            pac = by_method["pac-net"]
            for baseline in ("fine-tuning", "l2-sp"):
                other = by_method[baseline]
                claims.append(Claim.check(
                    f"{pair}-beats-{baseline}",
                    f"{PAIR_NAMES[pair]}: PAC-Net's target error is below {baseline}'s",
                    {"pac-net": round(pac["target_error"], 4), baseline: round(other["target_error"], 4)},
                    "pac-net < baseline",
                    pac["target_error"] < other["target_error"],
                ))
            forgetting = max(r["max_source_change"] for r in runs[(pair, "pac-net")])
            claims.append(Claim.check(
                f"{pair}-zero-forgetting",
                f"{PAIR_NAMES[pair]}: the source network m ⊙ w is unchanged by calibration",
                {"max |Δ source output|": forgetting},
                "0 exactly",
                forgetting == 0.0,
            ))
        return StudyReport(
            title="PAC-Net: few-shot transfer without forgetting (vs fine-tuning and L2-SP)",
            table=table,
            claims=claims,
            notes="Pairs: " + "; ".join(f"{k} = {v}" for k, v in PAIR_NAMES.items()) + ". "
            f"Errors are test MSE (Friedman) or 1 − accuracy (digits), means over {self.seeds} seed(s). "
            "source_error_after is the source task's error of the network each method leaves for the source: "
            "PAC-Net's m ⊙ w, the fine-tuned network for the baselines (their forgetting).",
        )

    def _transfer(self, source: PruneData, target: PruneData, seed: int) -> dict[str, dict]:
        model_config = MLPConfig(hidden=self.hidden)
        trained = _fresh_model(model_config, source.info, seed)
        source.train(trained, self.source_training, seed)
        rows = {}
        for method, alpha in (("fine-tuning", 0.0), ("l2-sp", self.l2_sp_alpha)):
            tuned = copy.deepcopy(trained)
            penalty = l2_sp_penalty(trained, alpha) if alpha else None
            target.train(tuned, self.target_training, seed, penalty=penalty)
            rows[method] = {"target_error": _error(target, tuned), "source_error_before": _error(source, trained),
                            "source_error_after": _error(source, tuned)}
        pac = PACNetConfig(keep=self.keep, calibration_lambda=self.calibration_lambda,
                           training=self.source_training)
        results, allocated = run_levels(pac, trained, source, seed)
        calibrated = pac.calibrate(allocated, results[-1].masks, target, self.target_training, seed)
        recovered = recover_source(calibrated)
        x = torch.as_tensor(source.splits.x_test)
        with torch.no_grad():
            change = float((recovered(x) - allocated(x)).abs().max())
        rows["pac-net"] = {"target_error": _error(target, calibrated), "source_error_before": _error(source, allocated),
                           "source_error_after": _error(source, recovered), "max_source_change": change}
        return rows
