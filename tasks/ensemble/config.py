"""Ensemble training methods (registry keyed by ``kind``) and the settings every ensemble is trained with.

A method builds an objective ``(ensemble, x, y) -> loss`` for ``tasks/train/loop.fit``: the loss's value is what
progress shows, its gradient is the method's update.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, Union

import torch
import torch.nn.functional as F
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.models.cnn import CNNSmallConfig
from spotlab.models.mlp import MLPConfig
from spotlab.tasks.ensemble.fspi import prior_grad, repulsion
from spotlab.tasks.train.optimizers import AdamConfig, SGDConfig
from spotlab.tasks.train.schedules import CosineScheduleConfig, ScheduleConfig


def member_losses(member_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(M,) mean cross-entropy of each member on the batch."""
    members, batch = member_logits.shape[:2]
    return F.cross_entropy(member_logits.flatten(0, 1), y.repeat(members), reduction="none").view(members, batch).mean(1)


class DeepEnsembleConfig(ConfigModel):
    """Independent members with their own heads (Lakshminarayanan et al.): the sum of the members' losses, whose
    gradient for each member is that member's own."""

    kind: Literal["deep-ensemble"] = "deep-ensemble"

    shared_head: ClassVar[bool] = False

    def build(self):
        return lambda ensemble, x, y: member_losses(ensemble.member_logits(x), y).sum()


class FSPIConfig(ConfigModel):
    """Feature-space particle inference: members' encoders move by their loss gradient plus the KDE repulsion and
    the prior in a projected feature space; the shared head follows the mean loss."""

    kind: Literal["fspi"] = "fspi"
    projection_dim: int = Field(5, ge=1, description="Directions of the feature-gradient span kept for the kernel.")
    repulsion: bool = Field(True, description="Add the KDE (Wasserstein gradient flow) repulsion between members.")
    prior: Literal["cauchy", "gaussian", "none"] = Field("cauchy", description="Prior on the features.")
    prior_scale: float = Field(0.005, ge=0, description="s of the prior: Cauchy log(1 + s h²), Gaussian s h²/2.")

    shared_head: ClassVar[bool] = True

    def build(self):
        def objective(ensemble, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            features = ensemble.features(x)
            batch = features.shape[1]
            detached = features.detach().requires_grad_()
            losses = member_losses(ensemble.head(detached), y)
            (loss_grads,) = torch.autograd.grad(batch * losses.sum(), detached, retain_graph=True)
            with torch.no_grad():
                update = loss_grads + prior_grad(features, self.prior, self.prior_scale)
                if self.repulsion and ensemble.members > 1:
                    update += repulsion(features, loss_grads, self.projection_dim)
                update /= batch
            # Encoders receive the vector-Jacobian product with the feature update; the head (on detached
            # features) the gradient of the mean loss. The value shown is the mean member loss.
            surrogate = (features * update).sum() + losses.mean()
            return surrogate - surrogate.detach() + losses.mean().detach()

        return objective


ENSEMBLE_METHODS = {cfg.model_fields["kind"].default: cfg for cfg in (DeepEnsembleConfig, FSPIConfig)}

EnsembleMethodConfig = Annotated[Union[tuple(ENSEMBLE_METHODS.values())], Field(discriminator="kind")]


class EnsembleTrainConfig(ConfigModel):
    """How every ensemble is trained: M members of one architecture, together, on the same batches."""

    model: Annotated[Union[MLPConfig, CNNSmallConfig], Field(discriminator="kind")] = Field(
        default_factory=MLPConfig, description="Member architecture (its last linear layer is the head).")
    members: int = Field(5, ge=2, le=64, description="Ensemble size M.")
    optimizer: Annotated[Union[SGDConfig, AdamConfig], Field(discriminator="kind")] = Field(
        default_factory=lambda: SGDConfig(lr=0.05, nesterov=True),
        description="Optimizer over the stacked parameters (element-wise ones only, so members stay independent).")
    schedule: ScheduleConfig = Field(default_factory=CosineScheduleConfig, description="LR schedule (by kind).")
    epochs: int = Field(30, ge=1, description="Passes over the training split.")
    batch_size: int = Field(64, ge=1, description="Examples per step, shared by all members.")
