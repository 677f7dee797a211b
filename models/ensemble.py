"""An ensemble of M networks as one module: members' encoders (everything before the last linear layer) run as one
``torch.func.vmap`` over stacked parameters, followed by a linear head per member or one head shared by all.

``forward`` returns the log of the members' mean predictive distribution, so the ensemble is an ordinary classifier
for training loops, ``predict`` and metrics; ``features`` and ``member_logits`` give the per-member views.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


def split_member(model: nn.Sequential) -> tuple[nn.Sequential, nn.Linear]:
    """(encoder, head) of a model built by ``models.registry.build_model``: the head is the net's last linear layer."""
    net = model.net
    if not isinstance(net, nn.Sequential) or not isinstance(net[-1], nn.Linear):
        raise ValueError("ensemble members must be sequential networks ending in a linear layer (mlp, cnn-small); "
                         f"got {type(net).__name__}")
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        raise ValueError("ensemble members must not hold BatchNorm: vmap cannot update running statistics in place")
    # The encoder keeps the member's parameter names (normalize.*, net.<i>.*) so states map one to one.
    encoder = nn.Sequential(OrderedDict((name, net[:-1] if name == "net" else m) for name, m in model.named_children()))
    return encoder, net[-1]


class Ensemble(nn.Module):
    """M members built from ``models`` (their initial weights are kept); ``shared_head`` uses the first member's head
    for all of them."""

    def __init__(self, models: list[nn.Sequential], shared_head: bool):
        super().__init__()
        if len(models) < 1:
            raise ValueError("an ensemble needs at least one member")
        encoders, heads = zip(*(split_member(m) for m in models))
        params, buffers = stack_module_state(list(encoders))
        self.members = len(models)
        self.shared_head = shared_head
        self._names = list(params)
        self._buffer_names = list(buffers)
        self.encoder = nn.ParameterList(params.values())
        for i, name in enumerate(self._buffer_names):
            self.register_buffer(f"encoder_buffer_{i}", buffers[name])
        # The stateless template lives on the meta device inside a tuple, so it owns no parameters of the module.
        self._template = (copy.deepcopy(encoders[0]).to("meta"),)
        kept = heads[:1] if shared_head else heads
        self.head_weight = nn.Parameter(torch.stack([h.weight.detach() for h in kept]))  # (1 or M, K, C)
        self.head_bias = nn.Parameter(torch.stack([h.bias.detach() if h.bias is not None
                                                   else torch.zeros(h.out_features) for h in kept]))

    def _encode(self, params: dict, buffers: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self._template[0], (params, buffers), (x,))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(M, b, C): every member's features of the same batch, in one vectorised call."""
        params = dict(zip(self._names, self.encoder))
        buffers = {name: getattr(self, f"encoder_buffer_{i}") for i, name in enumerate(self._buffer_names)}
        return vmap(self._encode, in_dims=(0, 0, None))(params, buffers, x)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """(M, b, K) logits of (M, b, C) features under the shared or the per-member heads."""
        weight = self.head_weight.expand(features.shape[0], -1, -1)
        return torch.einsum("mbc,mkc->mbk", features, weight) + self.head_bias.expand(features.shape[0], -1)[:, None]

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """log of the mean of the members' softmax probabilities, (b, K)."""
        return torch.logsumexp(torch.log_softmax(self.member_logits(x), -1), 0) - math.log(self.members)
