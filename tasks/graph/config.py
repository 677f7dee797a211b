"""Configs of the graph family's node-state models, keyed by ``kind``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.graph.cgmm import Hyper
from spotlab.tasks.graph.emissions import CategoricalDirichlet, Emission, NormalGamma


class _LayerModel(ConfigModel):
    """What CGMM and iCGMM share: depth, sweeps and the emission model of node observations."""

    layers: int = Field(3, ge=1, description="Layers L (paper: up to 20).")
    sweeps: int = Field(50, ge=1, description="Gibbs sweeps per layer (paper: 100).")
    sampler: Literal["batch", "sequential"] = Field(
        "batch", description="batch: every node's state at once per sweep (the paper's approximation for large "
                             "graphs, vectorised); sequential: the exact sampler, node by node with counts updated "
                             "after each (a Python loop over nodes).")
    emission: Literal["categorical", "normal-gamma"] = Field(
        "categorical", description="Categorical–Dirichlet on label counts, or Normal–Gamma on standardised "
                                   "features.")
    label_prior: float = Field(1.0, gt=0, description="Categorical: symmetric Dirichlet η on each state's labels.")
    kappa0: float = Field(0.01, gt=0, description="Normal–Gamma: prior pseudo-count κ0 of the mean (μ0 = 0).")
    a0: float = Field(1.0, gt=0, description="Normal–Gamma: shape a0 of the precision's Gamma prior.")
    b0: float = Field(1.0, gt=0, description="Normal–Gamma: rate b0 of the precision's Gamma prior.")

    def emission_model(self) -> Emission:
        if self.emission == "categorical":
            return CategoricalDirichlet(eta=self.label_prior)
        return NormalGamma(kappa0=self.kappa0, a0=self.a0, b0=self.b0)


class CGMMConfig(_LayerModel, frozen=True, extra="forbid"):
    """CGMM with a fixed number of states per layer, trained by Gibbs sampling (symmetric Dirichlet α / C mixing
    weights per restaurant)."""

    kind: Literal["cgmm"] = "cgmm"
    states: int = Field(10, ge=2, description="States C per layer (the hyper-parameter CGMM has to search).")
    alpha: float = Field(1.0, gt=0, description="Total Dirichlet mass α of each restaurant's mixing weights.")

    def hyper(self) -> Hyper:
        return Hyper(infinite=False, states=self.states, emission=self.emission_model(), alpha=self.alpha,
                     gamma=None, sampler=self.sampler)


class ICGMMConfig(_LayerModel, frozen=True, extra="forbid"):
    """iCGMM: an HDP mixture per layer. ``alpha``/``gamma`` null = full-auto (resampled under Gamma(shape, rate))."""

    kind: Literal["icgmm"] = "icgmm"
    alpha: float | None = Field(None, gt=0, description="Restaurant concentration α; null: resampled.")
    gamma: float | None = Field(None, gt=0, description="Top-level concentration γ; null: resampled.")
    prior_shape: float = Field(1.0, gt=0, description="Shape of the Gamma prior on α and γ (paper: 1).")
    prior_rate: float = Field(0.01, gt=0, description="Rate of the Gamma prior on α and γ (paper: 0.01).")
    max_states: int = Field(100, ge=2, description="Most states a layer may open (paper: 100).")
    initial_states: int = Field(10, ge=1, description="States the nodes are spread over before the first sweep.")

    def hyper(self) -> Hyper:
        return Hyper(infinite=True, states=self.max_states, emission=self.emission_model(), alpha=self.alpha,
                     gamma=self.gamma, prior_shape=self.prior_shape, prior_rate=self.prior_rate,
                     initial_states=self.initial_states, sampler=self.sampler)


MODELS = {cfg.model_fields["kind"].default: cfg for cfg in (CGMMConfig, ICGMMConfig)}
