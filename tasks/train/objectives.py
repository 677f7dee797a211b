"""Training objectives: the loss a training step minimises for a batch (ERM here; robust ones plug in the same way).

An objective is built into a callable ``(model, x, y) -> scalar loss``; it may run extra forward/backward passes
(adversarial objectives) but must leave parameter gradients untouched, since the step computes them afterwards.
"""

from __future__ import annotations

from typing import Annotated, Callable, Literal, Union

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from spotlab.models.config import ConfigModel
from spotlab.tasks.attack.objectives import PGDATConfig, PRLConfig, TRADESConfig
from spotlab.tasks.imbalance.composition import build_objective  # noqa: F401 - the call sites' entry point
from spotlab.tasks.imbalance.fds import FDSConfig
from spotlab.tasks.imbalance.lds import LDSConfig
from spotlab.tasks.imbalance.ranksim import RankSimConfig

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def task_loss(task: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy for classification, mean squared error for (scalar) regression."""
    if task == "classification":
        return F.cross_entropy
    return lambda out, y: F.mse_loss(out.squeeze(-1), y)


class ERMConfig(ConfigModel):
    kind: Literal["erm"] = "erm"

    def build(self, task: str, bounds: tuple[float, float] | None) -> Objective:
        loss = task_loss(task)
        return lambda model, x, y: loss(model(x), y)


# Objectives that wrap nothing; the wrappers nest to a fixed depth — fds(plain), ranksim(plain or fds(plain)), e.g.
# the paper's LDS + FDS + RankSim = ranksim(fds(lds)) — so the config's JSON Schema is not recursive (the API's
# OpenAPI stays generable, e.g. by schemathesis) and nonsense such as fds(fds(...)) is refused.
PLAIN_OBJECTIVES = (ERMConfig, PGDATConfig, TRADESConfig, PRLConfig, LDSConfig)
OBJECTIVES = {cfg.model_fields["kind"].default: cfg for cfg in (*PLAIN_OBJECTIVES, FDSConfig, RankSimConfig)}

ObjectiveConfig = Annotated[Union[tuple(OBJECTIVES.values())], Field(discriminator="kind")]
PlainObjectiveConfig = Annotated[Union[PLAIN_OBJECTIVES], Field(discriminator="kind")]
FDSConfig.model_rebuild(_types_namespace={"PlainObjectiveConfig": PlainObjectiveConfig})
RankSimConfig.model_rebuild(_types_namespace={
    "RankSimBaseConfig": Annotated[Union[(*PLAIN_OBJECTIVES, FDSConfig)], Field(discriminator="kind")]})
