"""Error feedback (EF) and detached error feedback (DEF, Xu & Huang 2022) around a compressed exchange.

Both wrap each worker's local heavy-ball SGD step, as in the paper (per parameter, worker k, period 1)::

    m_k = β m_k + ∇f_k(w_k) + λ w_k           # local momentum at the point w_k
    δ_k = e_k + η m_k                        # update plus the error carried from the last step
    x   = x − (1/K) Σ_k C(δ_k)                # the compressed mean: what every worker applies
    e_k = δ_k − C(δ_k)                        # what compression left out, kept for the next step
    w_k = x − c·e_k                          # DEF: the next gradient is taken at a detached point

``c = 0`` is EF (w_k = x). They change weights, not only gradients, so they are optimizers, not comm hooks. The
per-parameter state (``x``, ``error``, ``momentum_buffer``) lives in ``self.state``, so ``state_dict`` checkpoints it.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterable, Iterator

import torch

from spotlab.tasks.distributed.collective import CompressedMean


class ErrorFeedback(torch.optim.Optimizer):
    def __init__(self, params: Iterable, exchange: CompressedMean, lr: float, momentum: float,
                 weight_decay: float, c: float = 0.0):
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "step": 0})
        self.exchange = exchange
        self.c = c
        for p in self._params():
            self.state[p].update(
                x=p.detach().clone(), error=torch.zeros_like(p), momentum_buffer=torch.zeros_like(p)
            )

    def _params(self) -> list[torch.nn.Parameter]:
        return [p for group in self.param_groups for p in group["params"]]

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        deltas = []
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                grad = p.grad if p.grad is not None else torch.zeros_like(p)
                grad = grad.add(p, alpha=group["weight_decay"])
                momentum = state["momentum_buffer"].mul_(group["momentum"]).add_(grad)
                deltas.append(torch.add(state["error"], momentum, alpha=group["lr"]))
        step = self.param_groups[0]["step"]
        own, mean = self.exchange(deltas, step)
        for p, delta, compressed, average in zip(self._params(), deltas, own, mean):
            state = self.state[p]
            state["x"].sub_(average)
            torch.sub(delta, compressed, out=state["error"])
        self._move_to_gradient_points()
        for group in self.param_groups:
            group["step"] = step + 1
        return loss

    def _move_to_gradient_points(self) -> None:
        """w_k = x − c·e_k for every parameter (w_k = x for EF)."""
        for p in self._params():
            state = self.state[p]
            p.copy_(state["x"])
            if self.c:
                p.sub_(state["error"], alpha=self.c)

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
        params = self._params()
        with torch.no_grad():
            training = [p.detach().clone() for p in params]
            errors = [self.state[p]["error"].clone() for p in params]
            self.exchange.collective.sum_(errors)
            for p, error in zip(params, errors):
                p.copy_(self.state[p]["x"] - error / self.exchange.collective.world)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, w in zip(params, training):
                    p.copy_(w)
