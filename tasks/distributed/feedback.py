"""Error feedback (EF) and detached error feedback (DEF, Xu & Huang 2022) around a compressed exchange.

Both wrap each worker's local heavy-ball SGD step, as in the paper (worker k, period 1; all parameters as one flat vector)::

    m_k = β m_k + ∇f_k(w_k) + λ w_k           # local momentum at the point w_k
    δ_k = e_k + η m_k                        # update plus the error carried from the last step
    x   = x − (1/K) Σ_k C(δ_k)                # the compressed mean: what every worker applies
    e_k = δ_k − C(δ_k)                        # what compression left out, kept for the next step
    w_k = x − c·e_k                          # DEF: the next gradient is taken at a detached point

``c = 0`` is EF (w_k = x). They change weights, not only gradients, so they are optimizers, not comm hooks. The
state (``x``, ``error``, ``momentum_buffer``) is three flat buffers over all parameters in ``self.state["flat"]``
(``state_dict`` checkpoints it): δ_k is compressed as one flat vector, the whole model's update, as EDEN's
unbiasedness needs (docs/compression.md, "Buckets"), and every update is one vectorised op.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator

import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from spotlab.tasks.distributed.collective import CompressedMean


class ErrorFeedback(torch.optim.Optimizer):
    def __init__(self, params: Iterable, exchange: CompressedMean, lr: float, momentum: float,
                 weight_decay: float, c: float = 0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "step": 0})
        if len(self.param_groups) != 1:
            raise ValueError("error feedback keeps one flat buffer over one parameter group")
        self.exchange = exchange
        self.c = c
        x = parameters_to_vector(self._params()).detach().clone()
        self.state["flat"] = {"x": x, "error": torch.zeros_like(x), "momentum_buffer": torch.zeros_like(x)}

    def _params(self) -> list[torch.nn.Parameter]:
        return self.param_groups[0]["params"]

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        group, state = self.param_groups[0], self.state["flat"]
        params = self._params()
        grad = parameters_to_vector([p.grad if p.grad is not None else torch.zeros_like(p) for p in params])
        grad.add_(parameters_to_vector(params), alpha=group["weight_decay"])
        momentum = state["momentum_buffer"].mul_(group["momentum"]).add_(grad)
        delta = torch.add(state["error"], momentum, alpha=group["lr"])
        (compressed,), (average,) = self.exchange([delta], group["step"])
        state["x"].sub_(average)
        torch.sub(delta, compressed, out=state["error"])
        self._move_to_gradient_points()
        group["step"] += 1
        return loss

    def _move_to_gradient_points(self) -> None:
        """w_k = x − c·e_k for every parameter (w_k = x for EF)."""
        state = self.state["flat"]
        vector_to_parameters(state["x"] - self.c * state["error"] if self.c else state["x"], self._params())

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        with torch.no_grad():
            self._move_to_gradient_points()

    def evaluation_point(self) -> contextlib.AbstractContextManager:
        """EF's model is x, which the parameters already hold."""
        return contextlib.nullcontext()


class DetachedErrorFeedback(ErrorFeedback):
    """DEF: EF with gradients at x − c·e_k; the model to evaluate is x − (1/K) Σ_k e_k (whose dense allreduce
    runs only when evaluating)."""

    @contextlib.contextmanager
    def evaluation_point(self) -> Iterator[None]:
        params, state = self._params(), self.state["flat"]
        with torch.no_grad():
            training = parameters_to_vector(params).clone()
            errors = state["error"].clone()
            self.exchange.collective.sum_([errors])
            vector_to_parameters(state["x"] - errors / self.exchange.collective.world, params)
        try:
            yield
        finally:
            with torch.no_grad():
                vector_to_parameters(training, params)
