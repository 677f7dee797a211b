"""RankSim (Gong, Mori, Tung, ICML 2022): a regulariser that makes the ranking of feature similarities in a batch
match the ranking of label similarities, added to any objective (``ranksim``).

For a batch, one sample per unique label is kept (random, which also boosts rare labels' share); label similarity
is −|y_i − y_j|, feature similarity the cosine of the features entering the regression head. Row-wise ranks
rk(s) = (rank(s) + 1)/n (rank 0 = largest) are compared with a squared error, averaged within a row and summed
over rows: total = base loss + γ·Σ_i MSE(rk(S_feat[i]), rk(S_label[i])). Ranking is piecewise constant, so its
gradient is the blackbox-differentiation one (Vlastelica et al. 2020): with interpolation strength λ,
s' = s + λ·g and ∂/∂s = −(rk(s) − rk(s'))/λ.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.imbalance.composition import build_objective, head_features, require_regression


def normalised_rank(scores: torch.Tensor) -> torch.Tensor:
    """Row-wise (rank + 1)/n with rank 0 for the largest entry: rk([[0.1, 0.5, 0.3]]) = [[1, 1/3, 2/3]]."""
    order = torch.argsort(scores, dim=-1, descending=True)
    positions = torch.arange(1, scores.shape[-1] + 1, device=scores.device).expand_as(order)
    ranks = torch.empty_like(order).scatter_(-1, order, positions)  # inverse permutation: cheaper than a 2nd sort
    return ranks.to(scores.dtype) / scores.shape[-1]


class BlackboxRank(torch.autograd.Function):
    """rk(s) forward; backward −(rk(s) − rk(s + λ·g))/λ (the 1e-8 guards λ = 0)."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, interpolation: float) -> torch.Tensor:
        ranks = normalised_rank(scores)
        ctx.interpolation = interpolation
        ctx.save_for_backward(scores, ranks)
        return ranks

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        scores, ranks = ctx.saved_tensors
        perturbed = normalised_rank(scores + ctx.interpolation * grad)
        return -(ranks - perturbed) / (ctx.interpolation + 1e-8), None


def one_per_label(labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of one uniformly random sample per distinct label (in ascending label order)."""
    order = torch.randperm(len(labels), generator=generator, device="cpu").to(labels.device)
    _, inverse = torch.unique(labels[order], return_inverse=True)
    first = torch.full((int(inverse.max()) + 1,), len(labels), dtype=torch.long, device=labels.device)
    first.scatter_reduce_(0, inverse, torch.arange(len(labels), device=labels.device), reduce="amin")
    return order[first]


def ranksim_loss(features: torch.Tensor, labels: torch.Tensor, interpolation: float,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    keep = one_per_label(labels, generator)
    z = F.normalize(features[keep].flatten(1), dim=1)
    y = labels[keep].reshape(-1, 1).to(z.dtype)
    label_ranks = normalised_rank(-(y - y.T).abs())
    feature_ranks = BlackboxRank.apply(z @ z.T, interpolation)
    return (feature_ranks - label_ranks).square().mean(dim=1).sum()


class RankSimConfig(ConfigModel):
    """RankSim regulariser added to any objective (``base``): erm, lds (SQINV/LDS re-weighting), fds, ..."""

    kind: Literal["ranksim"] = "ranksim"
    base: "RankSimBaseConfig" = Field(  # noqa: F821 - resolved in tasks/train/objectives.py
        default_factory=lambda: {"kind": "erm"}, validate_default=True,
        description="The objective the regulariser is added to (by kind: one that wraps nothing, or fds); its "
        "forward pass gives the features.",
    )
    gamma: float = Field(100.0, ge=0, description="Weight γ of the RankSim term (paper: 100 AgeDB/IMDB-WIKI, "
                                                   "3e-4 STS-B).")
    interpolation: float = Field(2.0, ge=0, description="λ of the blackbox ranking gradient.")

    needs_labels: ClassVar[bool] = True

    def build(self, task: str, bounds, train_labels: torch.Tensor):
        require_regression(self.kind, task)
        base = build_objective(self.base, task, bounds, train_labels)

        def loss(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            with head_features(model, len(y)) as seen:
                value = base(model, x, y)
            if not seen:
                raise RuntimeError(f"objective {self.base.kind!r} ran no forward pass on the batch with gradients; "
                                   "RankSim has no features to rank")
            return value + self.gamma * ranksim_loss(seen[-1], y, self.interpolation)

        return loss
