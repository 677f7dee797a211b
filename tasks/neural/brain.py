"""The "brain" stand-in: a frozen teacher network whose chosen hidden units play recorded neural sites.

Guo et al. record 21 IT sites of one macaque. Without primate data, a network trained on the same images plays the
brain: its units at one layer are the sites, their (non-negative, post-ReLU) activations the mean firing rates,
and recordings optionally carry Poisson spiking noise — counts ~ Poisson(gain · rate), divided by the gain — drawn
from a seeded generator so that every recording is repeatable.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field
from torch import nn

from spotlab.models.config import ConfigModel
from spotlab.models.mlp import MLPConfig
from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.loop import predict
from spotlab.tasks.train.optimizers import AdamConfig
from spotlab.tasks.train.recipes import train_model


def truncate(model: nn.Module, cut: int) -> nn.Sequential:
    """The representation of a registry model (``normalize`` + ``net``) after dropping its last ``-cut`` layers of
    ``net``: ``cut=-1`` is the input of the output layer (the penultimate representation)."""
    net = getattr(model, "net", None)
    if not isinstance(net, nn.Sequential):
        raise ValueError(f"feature_cut needs a model whose 'net' is an nn.Sequential, got {type(net).__name__}; "
                         "models from the registry (mlp, cnn-small) qualify")
    if not -len(net) < cut < 0:
        raise ValueError(f"feature_cut={cut} must lie in [{-len(net) + 1}, -1] for this {len(net)}-layer network")
    head = [model.normalize] if hasattr(model, "normalize") else []
    return nn.Sequential(*head, *net[:cut]).eval().requires_grad_(False)


class NeuralSites(nn.Module):
    """``units(x)`` restricted to the chosen ``sites``: the teacher's mean responses (B, S), differentiable in x."""

    def __init__(self, units: nn.Module, sites: torch.Tensor, poisson_gain: float | None = None):
        super().__init__()
        self.units, self.poisson_gain = units.eval().requires_grad_(False), poisson_gain
        self.register_buffer("sites", torch.as_tensor(sites, dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(x)[:, self.sites]

    def record(self, x: torch.Tensor, seed: int) -> np.ndarray:
        """Recorded responses (B, S): the mean responses, with Poisson noise when a gain is set (seeded)."""
        with torch.no_grad():
            rates = self(x).double().numpy()
        if self.poisson_gain is None:
            return rates
        if rates.min() < 0:
            raise ValueError("Poisson recordings need non-negative site responses; pick a post-ReLU layer")
        return np.random.default_rng(seed).poisson(self.poisson_gain * rates) / self.poisson_gain


class BrainConfig(ConfigModel):
    teacher: TrainConfig = Field(
        default_factory=lambda: TrainConfig(model=MLPConfig(hidden=[256, 128]), optimizer=AdamConfig(), epochs=15),
        description="How the teacher network (the brain) is trained, from scratch under the run seed + 1000.",
    )
    layer_cut: int = Field(-1, le=-1, description="Units after dropping this many final layers of the teacher's "
                           "net: -1 is its penultimate (post-ReLU) layer.")
    n_sites: int = Field(16, ge=1, description="Units recorded as neural sites (a seeded draw of responsive units).")
    poisson_gain: float | None = Field(
        None, gt=0, description="Spikes per unit of activation for Poisson recording noise; null: noise-free."
    )

    def build(self, splits, info, seed: int) -> NeuralSites:
        """Train the teacher and draw the sites among the units that vary over the training images."""
        units = truncate(train_model(self.teacher, splits, info, seed + 1000), self.layer_cut)
        spread = predict(units, torch.as_tensor(splits.x_train)).std(0)
        responsive = (spread > 1e-6).nonzero().squeeze(1)
        if len(responsive) < self.n_sites:
            raise ValueError(f"brain.n_sites={self.n_sites} but only {len(responsive)} teacher units vary over the "
                             "training images; lower n_sites or widen the teacher")
        order = torch.randperm(len(responsive), generator=torch.Generator().manual_seed(seed))
        return NeuralSites(units, responsive[order[: self.n_sites]].sort().values, self.poisson_gain)
