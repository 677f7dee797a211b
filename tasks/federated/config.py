"""The federated stage's config: clients (Dirichlet split, sampling), rounds, the model and the algorithm (by
``kind``: fedavg, ntk-fl)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from spotlab.models.config import ConfigModel
from spotlab.models.mlp import MLPConfig
from spotlab.models.registry import ModelConfig
from spotlab.tasks.federated.fedavg import FedAvgConfig
from spotlab.tasks.federated.ntkfl import NTKFLConfig

ALGORITHMS = {cfg.model_fields["kind"].default: cfg for cfg in (FedAvgConfig, NTKFLConfig)}

AlgorithmConfig = Annotated[Union[tuple(ALGORITHMS.values())], Field(discriminator="kind")]


class FederatedConfig(ConfigModel):
    model: ModelConfig = Field(
        default_factory=lambda: MLPConfig(hidden=[100]), description="The global network (by kind)."
    )
    algorithm: AlgorithmConfig = Field(default_factory=NTKFLConfig, description="Federated algorithm (by kind).")
    clients: int = Field(20, ge=1, description="Clients the training split is divided among.")
    clients_per_round: int = Field(5, ge=1, description="Clients sampled (without replacement) each round.")
    alpha: float | None = Field(
        0.5, gt=0,
        description="Dirichlet concentration of each class's shares over the clients (small: each client holds a "
        "few classes); null: IID split.",
    )
    min_client_size: int = Field(2, ge=1, description="Redraw the split until every client has this many examples.")
    rounds: int = Field(20, ge=1, description="Communication rounds.")
    target_accuracy: float | None = Field(
        None, gt=0, le=1, description="Report the first round whose test accuracy reaches this (null: none)."
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Where clients and server compute; auto picks CUDA when present.",
        json_schema_extra={"identity": False},
    )

    @model_validator(mode="after")
    def _sampling_fits(self):
        if self.clients_per_round > self.clients:
            raise ValueError(f"clients_per_round={self.clients_per_round} exceeds clients={self.clients}")
        return self
