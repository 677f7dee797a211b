"""Paper claim checks of the landscape family: Fisher SAM (Kim et al.), Towards Understanding SAM (Andriushchenko &
Flammarion) and Deep Networks on Toroids (Pittorino et al.), all ICML 2022."""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Literal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from pydantic import Field, model_validator  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402
from torch import nn  # noqa: E402

from spotlab.models.config import ConfigModel, Seed
from spotlab.tasks.landscape import diagonal, toroids  # noqa: E402
from spotlab.tasks.landscape.analyses import HessianConfig, loss_and_error  # noqa: E402
from spotlab.tasks.landscape.sharpness import local_energy  # noqa: E402
from spotlab.tasks.study.report import Claim, StudyReport  # noqa: E402
from spotlab.tasks.train.config import TrainConfig  # noqa: E402
from spotlab.tasks.train.recipes import test_accuracy, train_model  # noqa: E402
from spotlab.tasks.train.objectives import task_loss  # noqa: E402
from spotlab.tasks.train.optimizers import OptimizerConfig, SGDConfig  # noqa: E402
from spotlab.tasks.train.sam import ASAMConfig, FisherSAMConfig, SAMConfig  # noqa: E402


def test_error(model: nn.Module, splits, info) -> float:
    return 1.0 - test_accuracy(model, splits, info)


def with_label_noise(splits, num_classes: int, fraction: float, seed: int):
    """``splits`` with ``fraction`` of the training labels replaced by a different class, uniformly at random."""
    if fraction == 0:
        return splits
    rng = np.random.default_rng(seed)
    y = splits.y_train.copy()
    flip = rng.choice(len(y), size=int(round(fraction * len(y))), replace=False)
    y[flip] = (y[flip] + rng.integers(1, num_classes, size=len(flip))) % num_classes
    return dataclasses.replace(splits, y_train=y)


def train_subset(splits, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    keep = torch.randperm(len(splits.y_train), generator=torch.Generator().manual_seed(seed))[:size]
    return torch.as_tensor(splits.x_train)[keep], torch.as_tensor(splits.y_train)[keep]


def mean_std(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.4f}"


def _sgd() -> SGDConfig:
    return SGDConfig(lr=0.05, momentum=0.9, weight_decay=5e-4)


def method_label(optimizer: OptimizerConfig) -> str:
    """A row label that tells apart configs of one kind (e.g. SAM at two radii, Fisher SAM at two η)."""
    if isinstance(optimizer, FisherSAMConfig):
        return f"fisher-sam γ={optimizer.gamma:g} η={optimizer.eta:g} ({optimizer.gradient_scale})"
    if isinstance(optimizer, (SAMConfig, ASAMConfig)):
        return f"{optimizer.kind} ρ={optimizer.rho:g}"
    return optimizer.kind


class SAMComparisonConfig(ConfigModel):
    """Fisher SAM's claim: on clean and noisy labels, Fisher SAM ≥ SAM (and ASAM) > SGD in test accuracy, and the
    SAM family finds flatter minima (smaller top Hessian eigenvalue). Fisher SAM is compared with SAM at equal
    radius (ρ = γ, which η = 0 reduces it to), so the comparison measures the Fisher geometry, not the radius."""

    kind: Literal["sam-comparison"] = "sam-comparison"
    train: TrainConfig = Field(
        default_factory=lambda: TrainConfig(optimizer=_sgd()),
        description="Training recipe; its optimizer is the SGD baseline the methods are compared with.",
    )
    methods: list[OptimizerConfig] = Field(
        default_factory=lambda: [SAMConfig(base=_sgd()), SAMConfig(rho=0.1, base=_sgd()), ASAMConfig(base=_sgd()),
                                 FisherSAMConfig(base=_sgd())],
        min_length=1,
        description="Optimizers compared with the baseline (by kind), trained with the same recipe.",
    )
    label_noise: list[float] = Field(
        [0.0, 0.2], min_length=1, description="Fractions of training labels flipped to another class (seeded)."
    )
    seeds: int = Field(3, ge=2, le=20, description="Seeds per (method, noise): mean ± std.")
    hessian: HessianConfig = Field(
        default_factory=lambda: HessianConfig(iterations=20, trace_samples=0),
        description="Sharpness measure: top Hessian eigenvalue of the clean training loss.",
    )
    hessian_examples: int = Field(256, ge=8, description="Training examples the Hessian is measured on.")

    needs_data: ClassVar[bool] = True

    @model_validator(mode="after")
    def _fisher_sam_has_an_equal_radius_sam(self):
        radii = {m.rho for m in self.methods if isinstance(m, SAMConfig)}
        missing = sorted({m.gamma for m in self.methods if isinstance(m, FisherSAMConfig)} - radii)
        if missing:
            raise ValueError(f"methods: Fisher SAM with γ = {missing} needs SAM with ρ = γ among the methods (the "
                             "equal-radius baseline its claim compares with)")
        labels = [method_label(m) for m in [self.train.optimizer, *self.methods]]
        if len(set(labels)) != len(labels):
            raise ValueError(f"methods: two configs share a label ({labels}); give them different settings")
        return self

    def run(self, data, seed: int) -> StudyReport:
        splits, info = data
        if info.task != "classification":
            raise ValueError("the sam-comparison study needs a classification dataset (label noise flips classes)")
        if any(not 0 <= f < 1 for f in self.label_noise):
            raise ValueError(f"label_noise fractions must lie in [0, 1), got {self.label_noise}")
        x_sharp, y_sharp = train_subset(splits, self.hessian_examples, seed)
        methods = [self.train.optimizer, *self.methods]
        results: dict[tuple[float, str], dict[str, list[float]]] = {}
        for noise in self.label_noise:
            noisy = with_label_noise(splits, info.num_outputs, noise, seed)
            for method in methods:
                cfg = self.train.model_copy(update={"optimizer": method})
                scores = results.setdefault((noise, method_label(method)), {"accuracy": [], "eigenvalue": []})
                for i in range(self.seeds):
                    model = train_model(cfg, noisy, info, seed + i)
                    scores["accuracy"].append(1 - test_error(model, splits, info))
                    run = self.hessian.run(model, x_sharp, y_sharp, info.task, seed)
                    scores["eigenvalue"].append(run.summary["top_eigenvalue"])
        table = [
            {"label_noise": noise, "optimizer": kind, "test_accuracy": mean_std(s["accuracy"]),
             "top_hessian_eigenvalue": mean_std(s["eigenvalue"])}
            for (noise, kind), s in results.items()
        ]
        return StudyReport(
            title="Fisher SAM vs SAM, ASAM and SGD (accuracy and sharpness)",
            table=table,
            claims=self._claims(results, method_label(self.train.optimizer)),
            figures={"accuracy": self._figure(results)},
            notes=f"{self.seeds} seeds per cell (mean ± sample std); label noise flips training labels only; the "
            f"Hessian is taken on {self.hessian_examples} clean training examples. Fisher SAM's f = 1 + η (s g)² with "
            "g the batch-mean loss's gradient and s = 1 ('mean') or the batch size ('sum', the summed loss's "
            "gradient); η = 0 is SAM with ρ = γ, so each Fisher SAM row is compared with that SAM row, and rows at "
            "several η and scales show η's effect.",
        )

    def _claims(self, results, baseline: str) -> list[Claim]:
        mean = {key: (float(np.mean(s["accuracy"])), float(np.mean(s["eigenvalue"]))) for key, s in results.items()}
        claims = []
        for noise in self.label_noise:
            present = [label for n, label in results if n == noise]
            for fisher_config in (m for m in self.methods if isinstance(m, FisherSAMConfig)):
                fisher_label = method_label(fisher_config)
                sam_label = method_label(SAMConfig(rho=fisher_config.gamma))
                fisher, sam = mean[(noise, fisher_label)][0], mean[(noise, sam_label)][0]
                claims.append(Claim.check(
                    f"fisher-ge-sam@{noise:g}-eta{fisher_config.eta:g}-{fisher_config.gradient_scale}",
                    f"{fisher_label}'s mean test accuracy ≥ SAM's at equal radius ρ = γ (label noise {noise:g})",
                    f"{fisher:.4f} vs {sam:.4f} (Δ {fisher - sam:+.4f})", f"≥ {sam_label}", fisher >= sam))
            family = [k for k in present if k != baseline]
            best = max(family, key=lambda k: mean[(noise, k)][0])
            claims.append(Claim.check(
                f"sam-family-beats-{baseline}@{noise:g}",
                f"the best SAM-family optimizer beats {baseline} in mean test accuracy (label noise {noise:g})",
                f"{best} {mean[(noise, best)][0]:.4f} vs {mean[(noise, baseline)][0]:.4f}",
                f"> {baseline}", mean[(noise, best)][0] > mean[(noise, baseline)][0]))
            flatter = [k for k in family if mean[(noise, k)][1] < mean[(noise, baseline)][1]]
            claims.append(Claim.check(
                f"flatter@{noise:g}",
                f"every SAM-family optimizer ends at a smaller top Hessian eigenvalue than {baseline} "
                f"(label noise {noise:g})",
                {k: round(mean[(noise, k)][1], 3) for k in [baseline, *family]},
                f"all < {baseline}", len(flatter) == len(family)))
        return claims

    def _figure(self, results):
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        kinds = list(dict.fromkeys(label for _, label in results))
        width = 0.8 / len(self.label_noise)
        for j, noise in enumerate(self.label_noise):
            for ax, metric in zip(axes, ("accuracy", "eigenvalue")):
                values = [results[(noise, k)][metric] for k in kinds]
                ax.bar(np.arange(len(kinds)) + j * width, [np.mean(v) for v in values], width,
                       yerr=[np.std(v, ddof=1) for v in values], label=f"noise {noise:g}")
        for ax, label in zip(axes, ("test accuracy", "top Hessian eigenvalue")):
            ax.set_xticks(np.arange(len(kinds)) + width * (len(self.label_noise) - 1) / 2, kinds, rotation=30,
                          ha="right", fontsize=7)
            ax.set(ylabel=label)
            ax.legend()
        axes[0].set_ylim(bottom=max(0.0, min(np.mean(s["accuracy"]) for s in results.values()) - 0.1))
        fig.tight_layout()
        plt.close(fig)
        return fig


def _as_published(value: float, published: float) -> str:
    """``value`` rounded to as many significant digits as ``published`` is printed with."""
    digits = next(k for k in range(1, 17) if float(f"{published:.{k}g}") == published)
    return f"{value:.{digits}g}"


class DiagonalSAMConfig(ConfigModel):
    """Towards Understanding SAM, §4: on a diagonal linear network, 1-SAM finds sparser, better-generalising
    solutions than GD, while n-SAM does not help."""

    kind: Literal["diagonal-sam"] = "diagonal-sam"
    n: int = Field(20, ge=2, description="Training examples.")
    d: int = Field(30, ge=2, description="Input dimension.")
    sparsity: int = Field(3, ge=1, description="Non-zero entries of the target.")
    n_test: int = Field(1000, ge=1, description="Test examples.")
    data_seed: Seed = Field(0, description="numpy RandomState seed of the data (the notebook's is 0).")
    spread_seeds: int = Field(0, ge=0, le=50, description="Further data seeds (data_seed + 1, …) whose test losses "
                              "are reported as a spread beside the notebook seed's.")
    alphas: list[float] = Field([0.02, 0.1], min_length=1, description="Initialisation scales α (u0 = α·1, v0 = 0).")
    step_times_d: float = Field(5.0, gt=0, description="Step size γ times d (the notebook uses γ = 5/d).")
    iterations: int = Field(10_001, ge=1, description="Full-batch iterations (the notebook runs 10⁴ + 1).")
    rhos: list[float] = Field([0.01, 0.03, 0.1, 0.3], min_length=1, description="Perturbation radii ρ.")
    reference_rho: float = Field(0.1, gt=0, description="ρ at which 1-SAM is compared with GD (must be in rhos).")

    needs_data: ClassVar[bool] = False

    # The official notebook's published test losses (α, method, ρ) → loss, at its setup (see ``_is_notebook_setup``).
    NOTEBOOK: ClassVar[dict[tuple[float, str, float], float]] = {
        (0.02, "gd", 0.0): 6.34e-4, (0.02, "1-sam", 0.01): 4.66e-4, (0.02, "1-sam", 0.03): 2.39e-4,
        (0.02, "1-sam", 0.1): 1.54e-5, (0.02, "1-sam", 0.3): 0.0242, (0.1, "gd", 0.0): 0.01506,
    }

    def _is_notebook_setup(self) -> bool:
        return (self.n, self.d, self.sparsity, self.n_test, self.data_seed, self.step_times_d, self.iterations) == (
            20, 30, 3, 1000, 0, 5.0, 10_001)

    def run(self, data, seed: int) -> StudyReport:
        if self.sparsity > self.d:
            raise ValueError(f"sparsity={self.sparsity} exceeds d={self.d}")
        if self.reference_rho not in self.rhos:
            raise ValueError(f"reference_rho={self.reference_rho} must be one of rhos={self.rhos}")
        step = self.step_times_d / self.d
        problems = [diagonal.sparse_regression(self.n, self.d, self.sparsity, self.n_test, self.data_seed + k)
                    for k in range(1 + self.spread_seeds)]
        table = []
        for alpha in self.alphas:
            runs = [("gd", 0.0)] + [(m, rho) for m in ("n-sam", "1-sam") for rho in self.rhos]
            for method, rho in runs:
                summaries = [diagonal.summary(p, diagonal.train(p, method, rho, alpha, step, self.iterations))
                             for p in problems]
                row = {"alpha": alpha, "method": method, "rho": rho, **summaries[0]}
                if self.spread_seeds:
                    others = [s["test_loss"] for s in summaries[1:]]
                    row["test_loss_other_seeds"] = (f"{np.median(others):.3g} [{min(others):.3g}, "
                                                    f"{max(others):.3g}]")
                table.append(row)
        spread = (f" test_loss_other_seeds: median [min, max] over data seeds {self.data_seed + 1}…"
                  f"{self.data_seed + self.spread_seeds}." if self.spread_seeds else "")
        return StudyReport(
            title="Diagonal linear networks: GD vs n-SAM vs 1-SAM (sparse regression)",
            table=table,
            claims=self._claims(table),
            figures={"test_loss_vs_rho": self._figure(table)},
            notes="Reference (official notebook, α = 0.02, γ = 5/d): GD 6.34e-4; 1-SAM ρ = 0.01/0.03/0.1/0.3: "
            "4.66e-4 / 2.39e-4 / 1.54e-5 / 0.0242; α = 0.1: GD 0.01506, n-SAM 0.0151 → 0.0361. The data are drawn "
            f"as the notebook draws them (numpy RandomState({self.data_seed}): X, X_test, then θ*); seed 0 with "
            "10⁴ + 1 iterations is the notebook's run." + spread,
        )

    def _claims(self, table) -> list[Claim]:
        def row(alpha, method, rho=0.0):
            return next(r for r in table if r["alpha"] == alpha and r["method"] == method and r["rho"] == rho)

        claims = []
        for alpha in self.alphas:
            gd, one = row(alpha, "gd"), row(alpha, "1-sam", self.reference_rho)
            best_n = min((r for r in table if r["alpha"] == alpha and r["method"] == "n-sam"),
                         key=lambda r: r["test_loss"])
            claims += [
                Claim.check(f"1sam-beats-gd@{alpha:g}",
                            f"1-SAM (ρ = {self.reference_rho:g}) has a ≥ 10× lower test loss than GD (α = {alpha:g})",
                            f"{one['test_loss']:.3g} vs {gd['test_loss']:.3g}", "ratio ≥ 10",
                            one["test_loss"] * 10 <= gd["test_loss"]),
                Claim.check(f"nsam-no-gain@{alpha:g}",
                            f"n-SAM gives no real gain over GD: best n-SAM test loss is not 2× lower (α = {alpha:g})",
                            f"{best_n['test_loss']:.3g} (ρ = {best_n['rho']:g}) vs {gd['test_loss']:.3g}",
                            "best n-SAM > GD / 2", best_n["test_loss"] > gd["test_loss"] / 2),
                Claim.check(f"1sam-sparser@{alpha:g}",
                            f"1-SAM (ρ = {self.reference_rho:g}) puts less ℓ1 mass off the support than GD "
                            f"(α = {alpha:g})",
                            f"{one['off_support_l1']:.3g} vs {gd['off_support_l1']:.3g}", "smaller",
                            one["off_support_l1"] < gd["off_support_l1"]),
            ]
        if self._is_notebook_setup():
            pairs = [(key, published, row(*key)["test_loss"]) for key, published in self.NOTEBOOK.items()
                     if any((r["alpha"], r["method"], r["rho"]) == key for r in table)]
            if pairs:
                # Agreement means equal after rounding to the digits the notebook prints.
                rounded = [_as_published(ours, published) for _, published, ours in pairs]
                claims.append(Claim.check(
                    "notebook-test-losses", "the notebook's published test losses are reproduced (to its printed "
                    "digits, seed 0, 10⁴ + 1 iterations)",
                    "; ".join(f"{m} ρ={rho:g} α={a:g}: {r} vs {pub:g}" for ((a, m, rho), pub, _), r in zip(pairs, rounded)),
                    "all equal", all(float(r) == pub for (_, pub, _), r in zip(pairs, rounded))))
        return claims

    def _figure(self, table):
        fig, axes = plt.subplots(1, len(self.alphas), figsize=(4.5 * len(self.alphas), 3.4), squeeze=False)
        for ax, alpha in zip(axes[0], self.alphas):
            rows = [r for r in table if r["alpha"] == alpha]
            for method in ("n-sam", "1-sam"):
                picked = [r for r in rows if r["method"] == method]
                ax.plot([r["rho"] for r in picked], [max(r["test_loss"], 1e-20) for r in picked], marker="o",
                        label=method)
            ax.axhline(next(r["test_loss"] for r in rows if r["method"] == "gd"), color="k", ls="--", label="gd")
            ax.set(xscale="log", yscale="log", xlabel="ρ", ylabel="test loss", title=f"α = {alpha:g}")
            ax.legend()
        fig.tight_layout()
        plt.close(fig)
        return fig


class ToroidsConfig(ConfigModel):
    """Deep Networks on Toroids: standardisation keeps predictions; alignment recovers permutations and lowers the
    linear barrier; a single bend connects minima at ≈ zero barrier; SAM minima are flatter and flatness tracks
    test error."""

    kind: Literal["toroids"] = "toroids"
    train: TrainConfig = Field(
        default_factory=lambda: TrainConfig(optimizer=_sgd()), description="Recipe of the two networks A and B."
    )
    path_points: int = Field(21, ge=3, le=201, description="Values of t on each path, 0 and 1 included.")
    bend_steps: int = Field(600, ge=1, description="Adam steps training the bend point.")
    bend_lr: float = Field(0.01, gt=0, description="Adam learning rate of the bend point.")
    bend_batch: int = Field(128, ge=1, description="Mini-batch size for the bend training.")
    bend_tolerance: float = Field(0.01, ge=0, le=1, description="Train-error barrier that counts as ≈ 0.")
    sam: OptimizerConfig = Field(
        default_factory=lambda: SAMConfig(rho=0.1, base=_sgd()), description="Optimizer of the 'flat' runs."
    )
    large_batch: TrainConfig = Field(
        default_factory=lambda: TrainConfig(optimizer=_sgd(), batch_size=512, epochs=60),
        description="Recipe of the large-batch SGD runs (large batches find sharper minima).",
    )
    flatness_seeds: int = Field(3, ge=2, le=20, description="Runs per optimizer for the flatness comparison.")
    sigmas: list[float] = Field([0.05, 0.1, 0.2, 0.3], min_length=1, description="Noise levels σ of δE(σ).")
    sigma_claim: float = Field(0.2, gt=0, description="σ at which flatness is compared (must be in sigmas).")
    flatness_samples: int = Field(10, ge=1, description="Noise draws per σ.")

    needs_data: ClassVar[bool] = True

    def run(self, data, seed: int) -> StudyReport:
        splits, info = data
        if info.task != "classification":
            raise ValueError("the toroids study measures errors: it needs a classification dataset")
        if self.sigma_claim not in self.sigmas:
            raise ValueError(f"sigma_claim={self.sigma_claim} must be one of sigmas={self.sigmas}")
        x, y = torch.as_tensor(splits.x_train), torch.as_tensor(splits.y_train)
        x_test = torch.as_tensor(splits.x_test)
        metrics = loss_and_error(info.task)
        table, claims = [], []

        model_a = train_model(self.train, splits, info, seed)
        model_b = train_model(self.train, splits, info, seed + 1)
        standard, _ = toroids.standardize(model_a)
        with torch.no_grad():
            same = bool(torch.equal(model_a(x_test).argmax(1), standard(x_test).argmax(1)))
        claims.append(Claim.check("standardised-same-predictions", "the standardised network predicts identically",
                                  f"test predictions equal: {same}", "all equal", same))

        rng = np.random.default_rng(seed)
        names = toroids.weight_layers(model_a)
        shuffles = [rng.permutation(len(toroids.layers_of(model_a)[n][0])) for n in names[:-1]]
        recovered, found = toroids.align(model_a, toroids.permute(model_a, shuffles))
        gap = toroids.distances(toroids.standardize_hidden(model_a), toroids.standardize_hidden(recovered))
        exact = all(np.array_equal(f, np.argsort(s)) for f, s in zip(found, shuffles))
        claims.append(Claim.check("permutation-recovered", "a random hidden permutation is recovered exactly",
                                  f"exact: {exact}, euclidean distance {gap['euclidean']:.2g}", "exact, distance 0",
                                  exact and gap["euclidean"] < 1e-4))

        a = toroids.standardize_hidden(model_a)
        b_raw = toroids.standardize_hidden(model_b)
        b = toroids.standardize_hidden(toroids.align(model_a, model_b)[0])
        bend = toroids.train_bend(model_a, a, b, x, y, task_loss(info.task), self.bend_steps, self.bend_lr,
                                  self.bend_batch, seed)
        ts = np.linspace(0, 1, self.path_points).tolist()
        paths = {
            "linear, unaligned": lambda t: toroids.linear_point(a, b_raw, t),
            "linear, aligned": lambda t: toroids.linear_point(a, b, t),
            "geodesic, aligned": lambda t: toroids.geodesic_point(a, b, t),
            "single bend, aligned": lambda t: toroids.bend_point(a, bend, b, t),
        }
        curves = {name: toroids.curve(model_a, point, ts, x, y, metrics) for name, point in paths.items()}
        barriers = {name: toroids.barrier([r["error"] for r in c]) for name, c in curves.items()}
        for name, value in barriers.items():
            table.append({"measurement": f"train-error barrier, {name}", "value": value})
        for label, other in (("unaligned", b_raw), ("aligned", b)):
            for kind, value in toroids.distances(a, other).items():
                table.append({"measurement": f"{kind} distance A–B (standardised), {label}", "value": value})
        claims += [
            Claim.check("alignment-lowers-barrier", "the linear barrier is lower after alignment than before",
                        f"{barriers['linear, aligned']:.4f} vs {barriers['linear, unaligned']:.4f}", "after < before",
                        barriers["linear, aligned"] < barriers["linear, unaligned"]),
            Claim.check("bend-barrier-zero", "a trained single-bend path has ≈ zero train-error barrier",
                        f"{barriers['single bend, aligned']:.4f}", f"≤ {self.bend_tolerance:g}",
                        barriers["single bend, aligned"] <= self.bend_tolerance),
        ]

        flat_rows = self._flatness(splits, info, seed, x, y, metrics)
        table += flat_rows
        claims += self._flatness_claims(flat_rows)
        return StudyReport(
            title="Deep networks on toroids: standardisation, alignment, mode connectivity, flatness",
            table=table,
            claims=claims,
            figures={"paths": self._path_figure(curves), "local_energy": self._energy_figure(flat_rows)},
            notes="Barriers are max_t [E(t) − linear mix] of the training error on the train split. Networks are "
            "hidden-standardised (unit-norm incoming weights per hidden unit; logits kept) for paths; distances use "
            f"the fully standardised weights. Flatness: δE(σ) of the training error, {self.flatness_samples} draws "
            f"per σ, on runs seeded {seed + 10}….",
        )

    def _flatness(self, splits, info, seed, x, y, metrics) -> list[dict]:
        """δE(σ) and test error of runs of the A/B recipe, of the same recipe with the SAM optimizer, and of the
        large-batch recipe (the first two are compared; all enter the correlation)."""
        runs = {
            f"{self.train.optimizer.kind} (batch {self.train.batch_size})": self.train,
            f"{self.sam.kind} (batch {self.train.batch_size})": self.train.model_copy(update={"optimizer": self.sam}),
            f"{self.large_batch.optimizer.kind} (batch {self.large_batch.batch_size})": self.large_batch,
        }
        rows = []
        for label, cfg in runs.items():
            for i in range(self.flatness_seeds):
                model = train_model(cfg, splits, info, seed + 10 + i)
                energy = local_energy(model, metrics, x, y, self.sigmas, self.flatness_samples, seed)
                rows.append({"measurement": f"flatness, {label}, seed {seed + 10 + i}", "optimizer": label,
                             "test_error": test_error(model, splits, info),
                             **{f"dE@{r['sigma']:g}": r["delta_error"] for r in energy}})
        return rows

    def _flatness_claims(self, rows) -> list[Claim]:
        key = f"dE@{self.sigma_claim:g}"
        labels = list(dict.fromkeys(r["optimizer"] for r in rows))
        sharp, flat, large = ([r[key] for r in rows if r["optimizer"] == label] for label in labels)
        rho, _ = spearmanr([r[key] for r in rows], [r["test_error"] for r in rows])
        return [
            Claim.check("sam-flatter", f"{labels[1]} minima are flatter than {labels[0]} minima: mean δE(σ = "
                        f"{self.sigma_claim:g}) is smaller", f"{np.mean(flat):.4f} vs {np.mean(sharp):.4f}",
                        "smaller", np.mean(flat) < np.mean(sharp)),
            Claim.check("large-batch-sharper", f"{labels[2]} minima are sharper than {labels[1]} minima: mean "
                        f"δE(σ = {self.sigma_claim:g}) is larger", f"{np.mean(large):.4f} vs {np.mean(flat):.4f}",
                        "larger", np.mean(large) > np.mean(flat)),
            Claim.check("flatness-tracks-error", f"δE(σ = {self.sigma_claim:g}) correlates positively with test error "
                        "across the runs (Spearman)", round(float(rho), 3), "> 0", bool(rho > 0)),
        ]

    def _path_figure(self, curves):
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for name, values in curves.items():
            for ax, metric in zip(axes, ("error", "loss")):
                ax.plot([r["t"] for r in values], [r[metric] for r in values], label=name)
        for ax, metric in zip(axes, ("train error", "train loss")):
            ax.set(xlabel="t", ylabel=metric)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        plt.close(fig)
        return fig

    def _energy_figure(self, rows):
        fig, ax = plt.subplots(figsize=(4.8, 3.4))
        colors = dict(zip(dict.fromkeys(r["optimizer"] for r in rows), ("tab:red", "tab:blue", "tab:gray")))
        for r in rows:
            ax.plot(self.sigmas, [r[f"dE@{s:g}"] for s in self.sigmas], color=colors[r["optimizer"]], marker="o",
                    label=r["optimizer"])
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        ax.legend(unique.values(), unique.keys())
        ax.set(xlabel="σ", ylabel="δE(σ) (train error)", title="local energy")
        fig.tight_layout()
        plt.close(fig)
        return fig
