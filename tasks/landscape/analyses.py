"""The landscape analyses (registry keyed by ``kind``): each config runs on a model and a batch of data and returns
result rows, a few headline scalars and a figure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from pydantic import Field, PositiveInt  # noqa: E402
from torch import nn  # noqa: E402

from spotlab.models.config import ConfigModel
from spotlab.tasks.landscape.hessian import hessian_trace, top_eigenvalue  # noqa: E402
from spotlab.tasks.landscape.sharpness import local_energy, m_sharpness  # noqa: E402
from spotlab.tasks.train.objectives import task_loss  # noqa: E402


def loss_and_error(task: str):
    """outputs, targets → {"loss", "error"} (error only for classification): what flatness perturbs."""
    loss = task_loss(task)

    def metrics(out: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        values = {"loss": float(loss(out, y))}
        if task == "classification":
            values["error"] = float((out.argmax(1) != y).float().mean())
        return values

    return metrics


@dataclass
class AnalysisResult:
    rows: list[dict[str, Any]]
    summary: dict[str, float]
    figure: Any = field(default=None, repr=False)  # matplotlib Figure


def _figure(xlabel: str, ylabel: str, title: str):
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    plt.close(fig)
    return fig, ax


class HessianConfig(ConfigModel):
    kind: Literal["hessian"] = "hessian"
    method: Literal["lanczos", "power"] = Field(
        "lanczos", description="Top-eigenvalue algorithm: lanczos (fewer Hessian-vector products for the same "
        "accuracy) or power (power iteration, PyHessian's algorithm).")
    iterations: int = Field(100, ge=1, le=1000, description="Most iterations (Hessian-vector products) for the top "
                            "eigenvalue.")
    tol: float = Field(1e-6, gt=0, lt=1, description="Stop when the eigenvalue's relative change between two "
                       "iterations is at most this (a loose tol stops early when the top eigenvalues are close).")
    trace_samples: int = Field(10, ge=0, le=1000, description="Hutchinson probes for the trace (0 skips it).")
    batch_size: int = Field(256, ge=1, description="Examples per Hessian-vector-product chunk (memory bound).")

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: str, seed: int) -> AnalysisResult:
        batches = list(zip(x.split(self.batch_size), y.split(self.batch_size)))
        loss = task_loss(task)
        eigen = top_eigenvalue(model, loss, batches, self.iterations, self.tol, seed, self.method)
        row: dict[str, Any] = {"top_eigenvalue": eigen.value, "iterations": eigen.iterations}
        if self.trace_samples:
            row["trace"], row["trace_stderr"] = hessian_trace(model, loss, batches, self.trace_samples, seed)
        fig, ax = _figure(f"{self.method} iteration", "estimate", "top Hessian eigenvalue")
        ax.plot(range(1, len(eigen.history) + 1), eigen.history, marker="o")
        summary = {k: v for k, v in row.items() if k in ("top_eigenvalue", "trace")}
        return AnalysisResult([row], summary, fig)


class SharpnessConfig(ConfigModel):
    kind: Literal["sharpness"] = "sharpness"
    rho: float = Field(0.05, gt=0, description="Radius of the weight-perturbation ball (L2, all weights).")
    m: list[PositiveInt] = Field([16, 128], min_length=1, description="Sub-batch sizes m of the m-sharpness.")
    steps: int = Field(3, ge=1, le=100, description="Projected gradient-ascent steps for the inner max.")

    def run(self, model, x, y, task, seed) -> AnalysisResult:
        loss = task_loss(task)
        rows = [{"m": m, "rho": self.rho, "sharpness": m_sharpness(model, loss, x, y, self.rho, m, self.steps)}
                for m in self.m]
        fig, ax = _figure("sub-batch size m", "m-sharpness", f"m-sharpness (ρ = {self.rho:g})")
        ax.plot([r["m"] for r in rows], [r["sharpness"] for r in rows], marker="o")
        ax.set_xscale("log")
        return AnalysisResult(rows, {f"m{r['m']}": r["sharpness"] for r in rows}, fig)


class FlatnessConfig(ConfigModel):
    kind: Literal["flatness"] = "flatness"
    sigmas: list[float] = Field(
        [0.05, 0.1, 0.2, 0.3, 0.5], min_length=1, description="Relative noise levels σ of w ⊙ (1 + σz)."
    )
    samples: int = Field(20, ge=1, le=10_000, description="Noise draws averaged per σ.")

    def run(self, model, x, y, task, seed) -> AnalysisResult:
        if any(s <= 0 for s in self.sigmas):
            raise ValueError(f"flatness.sigmas must be positive, got {self.sigmas}")
        rows = local_energy(model, loss_and_error(task), x, y, self.sigmas, self.samples, seed)
        name = "delta_error" if task == "classification" else "delta_loss"
        fig, ax = _figure("σ", f"δ{name.split('_')[1]}(σ)", "local energy (flatness)")
        ax.plot([r["sigma"] for r in rows], [r[name] for r in rows], marker="o")
        return AnalysisResult(rows, {f"{name}@{r['sigma']:g}": r[name] for r in rows}, fig)


ANALYSES = {cfg.model_fields["kind"].default: cfg for cfg in (HessianConfig, SharpnessConfig, FlatnessConfig)}

AnalysisConfig = Annotated[Union[tuple(ANALYSES.values())], Field(discriminator="kind")]
