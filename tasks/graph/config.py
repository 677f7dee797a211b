"""Configs of the graph family: graph datasets and node-state models (registries keyed by ``kind``), and the
``embed`` / ``classify`` stage sections."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.graph.cgmm import Hyper
from spotlab.tasks.graph.data import GraphDataset, read_tu, sbm_pair, typed_graphs
from spotlab.tasks.graph.emissions import CategoricalDirichlet, Emission, NormalGamma


class SBMPairConfig(ConfigModel):
    """Two classes of stochastic-block-model graphs with equal label marginals: homophilous vs heterophilous."""

    kind: Literal["sbm-pair"] = "sbm-pair"
    graphs: int = Field(200, ge=4, description="Graphs (half of each class).")
    nodes: int = Field(40, ge=4, description="Nodes per graph.")
    blocks: int = Field(2, ge=2, description="Blocks (= node labels).")
    degree: float = Field(4.0, gt=0, description="Expected node degree.")
    homophily: float = Field(0.9, gt=0.5, lt=1, description="Class 0's within-block edge share (class 1: 1 − it).")

    def build(self, seed: int) -> GraphDataset:
        return sbm_pair(self.graphs, self.nodes, self.blocks, self.degree, self.homophily, seed)


class TypedGraphsConfig(ConfigModel):
    """Erdős–Rényi graphs of nodes with latent types, each node carrying several labels from its type (one class:
    for counting states, not for classification)."""

    kind: Literal["typed-graphs"] = "typed-graphs"
    graphs: int = Field(20, ge=1, description="Graphs.")
    nodes: int = Field(30, ge=2, description="Nodes per graph.")
    types: int = Field(3, ge=1, description="Latent node types.")
    symbols_per_type: int = Field(2, ge=1, description="Labels each type draws from.")
    draws: int = Field(5, ge=1, description="Labels per node (≥ 2 for the state count to be identifiable).")
    label_noise: float = Field(0.05, ge=0, le=1, description="Chance a label is uniform over all symbols.")
    degree: float = Field(3.0, gt=0, description="Expected node degree.")

    def build(self, seed: int) -> GraphDataset:
        return typed_graphs(self.graphs, self.nodes, self.types, self.symbols_per_type, self.draws, self.label_noise,
                            self.degree, seed)


class TUConfig(ConfigModel):
    """A TU-format dataset (DD, NCI1, PROTEINS, MUTAG, IMDB-BINARY, …) read from a local folder; never downloaded."""

    kind: Literal["tu"] = "tu"
    root: str = Field("./data/TU", description="Folder holding <name>/<name>_A.txt, … (or those files directly).")
    name: str = Field("MUTAG", pattern=r"^[A-Za-z0-9_-]+$", description="Dataset name, the files' prefix.")
    max_degree: int = Field(20, ge=1, description="Without node labels: the degree, clipped here, is the label.")

    def build(self, seed: int) -> GraphDataset:
        return read_tu(self.root, self.name, self.max_degree)


DATASETS = {cfg.model_fields["kind"].default: cfg for cfg in (SBMPairConfig, TypedGraphsConfig, TUConfig)}
GraphDataConfig = Annotated[Union[tuple(DATASETS.values())], Field(discriminator="kind")]


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
GraphModelConfig = Annotated[Union[tuple(MODELS.values())], Field(discriminator="kind")]


class GraphEmbedConfig(ConfigModel):
    """The ``embed`` stage: fit the layers on the graphs without their targets and store every layer's
    unigram and bigram graph embeddings."""

    data: GraphDataConfig = Field(default_factory=SBMPairConfig, description="The graphs (by kind).")
    model: GraphModelConfig = Field(default_factory=ICGMMConfig, description="Node-state model (by kind).")
    pooling: Literal["sum", "mean"] = Field("mean", description="How node features are pooled over a graph.")


class GraphClassifyConfig(ConfigModel):
    """The ``classify`` stage: k-fold accuracy of an MLP on the stored embeddings."""

    bigram: bool = Field(True, description="Use the bigram features too (false: unigrams only).")
    layers: int | None = Field(None, ge=1, description="Use the first this many layers (null: all stored).")
    folds: int = Field(10, ge=2, description="Stratified folds (paper: 10).")
    hidden: int = Field(32, ge=1, description="Hidden units of the MLP.")
