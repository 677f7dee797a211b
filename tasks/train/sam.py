"""Sharpness-aware optimizers: SAM, ASAM, Fisher SAM and m-SAM, each wrapping a base optimizer (davda54/sam style).

Every method takes the same two-pass step: with g the gradient of the batch loss at w, ascend to w + ε(g) with

    ε = ρ · d / √⟨g, d⟩,   the inner product over all parameters,

then restore w and let the base optimizer step with the gradient taken at w + ε. The methods differ only in the
direction d = M⁻¹g of their metric M (per parameter tensor), and ε has M-norm ρ (εᵀMε = ρ²):

    sam         d = g                    (M = I: ‖ε‖ = ρ)
    asam        d = T² g, T = |w| + η     (M = T⁻²: ‖T⁻¹ε‖ = ρ); as in the official ASAM code, T = |w| + η only
                for parameters whose name contains "weight" (biases keep T = 1) unless ``scaled: all``
    fisher-sam  d = g / f, f = 1 + η s² g²  (M = diag(f): εᵀ diag(f) ε = γ²)
    m-sam       sam's ε, computed and applied separately for each sub-batch of m examples

Gradient scale: g is the gradient of the *mean* loss over the batch (what the objectives return). Fisher SAM's f
depends on that scale, so it is explicit: ``gradient_scale: mean`` (s = 1, η acts on batch-mean gradients) or
``sum`` (s = batch size: the gradient of the summed loss, the empirical Fisher's per-example scale). The wrapper shares ``param_groups`` with its base optimizer, so schedulers and
``state_dict`` work on it directly; ``state_dict`` is the base optimizer's (the scratch copy of w is not state).

The train loop calls ``step_on_batch(model, objective, x, y)``, which (unlike a bare ``step(closure)``) keeps
BatchNorm running statistics out of the perturbed pass and, under DDP, skips the gradient all-reduce of the first
backward so each rank perturbs with its own gradient.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Annotated, Callable, Iterable, Iterator, Literal, Union

import torch
from pydantic import Field
from torch import nn

from spotlab.models.config import ConfigModel

_TINY = 1e-12  # keeps ε finite when the gradient vanishes


_NORMS: "weakref.WeakKeyDictionary[nn.Module, list[nn.Module]]" = weakref.WeakKeyDictionary()


def _running_stat_norms(model: nn.Module) -> list[nn.Module]:
    """The BatchNorm layers that track running statistics, found once per model (not on every step)."""
    if model not in _NORMS:
        _NORMS[model] = [m for m in model.modules()
                         if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    return _NORMS[model]


@contextlib.contextmanager
def frozen_running_stats(model: nn.Module) -> Iterator[None]:
    """Forward passes inside leave every BatchNorm's running statistics exactly as they were."""
    norms = _running_stat_norms(model)
    if not norms:
        yield
        return
    saved = [{k: v.clone() for k, v in m.named_buffers(recurse=False)} for m in norms]
    try:
        yield
    finally:
        with torch.no_grad():
            for module, buffers in zip(norms, saved):
                for name, value in buffers.items():
                    getattr(module, name).copy_(value)


def _first_backward_context(model: nn.Module):
    """DDP's ``no_sync`` (each rank perturbs with its own gradient) or nothing for a plain module."""
    return model.no_sync() if hasattr(model, "no_sync") else contextlib.nullcontext()


class SharpnessAware(torch.optim.Optimizer):
    """Base of the family: ``first_step`` (w ← w + ε), ``second_step`` (restore w, base step), closure ``step``."""

    def __init__(self, params: Iterable, build_base: Callable[[list[dict]], torch.optim.Optimizer], **defaults):
        super().__init__(params, defaults)
        self.base_optimizer = build_base(self.param_groups)
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)
        self._perturbed: list[torch.Tensor] = []  # the parameters first_step moved, until restore

    def direction(self, p: torch.Tensor, group: dict, name: str | None) -> torch.Tensor:
        """d = M⁻¹g of the module docstring for one parameter tensor with its gradient in ``p.grad``; ``name`` is
        the parameter's name when the optimizer was built from ``named_parameters()``."""
        raise NotImplementedError

    def _clear_grads(self) -> None:
        """``zero_grad(set_to_none=True)`` without its per-call profiling overhead (twice per step)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def _grad_params(self) -> Iterator[tuple[torch.Tensor, dict, str | None]]:
        for group in self.param_groups:
            names = group.get("param_names") or [None] * len(group["params"])
            for p, name in zip(group["params"], names):
                if p.grad is not None:
                    yield p, group, name

    @torch.no_grad()
    def first_step(self) -> None:
        """Move to w + ε, keeping w in ``state[p]["w"]`` (a buffer reused from step to step)."""
        terms = [(p, group, self.direction(p, group, name)) for p, group, name in self._grad_params()]
        if not terms:
            return
        # ⟨g, d⟩ summed over tensors: with d = g (SAM) from the fused per-tensor norms, otherwise by dot products.
        plain = [p.grad for p, _, d in terms if d is p.grad]
        squares = [torch.stack(torch._foreach_norm(plain)).square().sum()] if plain else []
        squares += [torch.vdot(p.grad.flatten(), d.flatten()) for p, _, d in terms if d is not p.grad]
        scale = 1 / (torch.stack(squares).sum().sqrt() + _TINY)  # one tensor, no device sync
        self._perturbed = [p for p, _, _ in terms]
        saved = []
        for p in self._perturbed:
            state = self.state[p]
            if state.get("w") is None or state["w"].shape != p.shape:
                state["w"] = torch.empty_like(p)
            saved.append(state["w"])
        torch._foreach_copy_(saved, self._perturbed)
        for group in self.param_groups:
            own = [(p, d) for p, g, d in terms if g is group]
            if own:
                torch._foreach_add_([p for p, _ in own], torch._foreach_mul([d for _, d in own], scale * group["rho"]))

    @torch.no_grad()
    def restore(self) -> None:
        """Back to w (the gradients computed at w + ε stay in ``.grad``)."""
        if self._perturbed:
            torch._foreach_copy_(self._perturbed, [self.state[p]["w"] for p in self._perturbed])
            self._perturbed = []

    @torch.no_grad()
    def second_step(self) -> None:
        self.restore()
        self.base_optimizer.step()

    @torch.no_grad()
    def step(self, closure=None, perturbed_closure=None):
        """``closure`` zeroes the gradients, computes the loss at w and back-propagates; ``perturbed_closure``
        (default: ``closure``) does the same for the pass at w + ε. Returns the loss at w."""
        if closure is None:
            raise ValueError(f"{type(self).__name__} needs a closure: it evaluates the loss twice per step")
        with torch.enable_grad():
            loss = closure()
        self.first_step()
        with torch.enable_grad():
            (perturbed_closure or closure)()
        self.second_step()
        return loss

    def step_on_batch(self, model: nn.Module, objective, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One training step on a batch (what the train loop calls)."""

        def closure() -> torch.Tensor:
            self._clear_grads()
            with _first_backward_context(model):
                loss = objective(model, x, y)
                loss.backward()
            return loss

        def perturbed_closure() -> torch.Tensor:
            self._clear_grads()
            with frozen_running_stats(model):  # restores after backward: autograd checks the buffers' versions
                loss = objective(model, x, y)
                loss.backward()
            return loss

        return self.step(closure, perturbed_closure)

    def state_dict(self) -> dict:
        return self.base_optimizer.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        self.base_optimizer.load_state_dict(state_dict)
        # Loading replaces the base optimizer's group dicts; share the new ones (schedulers read ours).
        self.param_groups = self.base_optimizer.param_groups


ScaledParameters = Literal["weights", "all"]


class SAM(SharpnessAware):
    """SAM (Foret et al.): ε = ρ g / ‖g‖; with ``adaptive`` it is ASAM (Kwon et al.) with T = |w| + η on the
    parameters ``scaled`` selects ("weights": names containing "weight", as the official code; "all")."""

    def __init__(self, params, build_base, rho: float, adaptive: bool = False, eta: float = 0.0,
                 scaled: ScaledParameters = "weights"):
        super().__init__(params, build_base, rho=rho, adaptive=adaptive, eta=eta, scaled=scaled)
        if adaptive and scaled == "weights" and any("param_names" not in g for g in self.param_groups):
            raise ValueError("asam with scaled: weights selects parameters by name: build it from "
                             "model.named_parameters() (or set scaled: all)")

    def direction(self, p, group, name):
        if not group["adaptive"] or (group["scaled"] == "weights" and "weight" not in name):
            return p.grad
        scale = p.abs().add_(group["eta"])
        return scale.square_().mul_(p.grad)


class FisherSAM(SharpnessAware):
    """Fisher SAM (Kim et al., ICML 2022), diagonal Fisher f = 1 + η (s g)² with s the gradient scale (1 for the
    batch-mean loss, the batch size for the summed loss): the ascent ends on the ellipsoid εᵀ diag(f) ε = γ² (γ is
    stored as the group's ``rho``)."""

    def __init__(self, params, build_base, gamma: float, eta: float, gradient_scale: Literal["mean", "sum"] = "mean"):
        super().__init__(params, build_base, rho=gamma, eta=eta)
        self.gradient_scale = gradient_scale
        self.batch_size = 1  # set per batch by step_on_batch; the summed-loss gradient is batch size × the mean's

    def step_on_batch(self, model, objective, x, y):
        self.batch_size = len(x)
        return super().step_on_batch(model, objective, x, y)

    def direction(self, p, group, name):
        if group["eta"] == 0:
            return p.grad  # f = 1: SAM's direction, and SAM's arithmetic
        scale = self.batch_size if self.gradient_scale == "sum" else 1
        return p.grad / p.grad.square().mul_(group["eta"] * scale**2).add_(1)  # g / f, f = 1 + η (s g)²


class MSAM(SAM):
    """m-SAM (Andriushchenko & Flammarion): SAM's perturbation computed per sub-batch of ``m`` examples; the base
    step uses the sub-batch gradients at their own perturbed points, averaged with weights |chunk| / batch."""

    def __init__(self, params, build_base, rho: float, m: int):
        super().__init__(params, build_base, rho=rho)
        self.m = m

    @torch.no_grad()
    def step(self, closure=None, perturbed_closure=None):
        """Apply the base step to the m-SAM gradient already in ``.grad`` (left there by ``step_on_batch``)."""
        if closure is not None:
            raise ValueError("m-sam perturbs each sub-batch separately, so it needs the batch: call "
                             "step_on_batch(model, objective, x, y) (the train loop does)")
        self.base_optimizer.step()

    def step_on_batch(self, model, objective, x, y):
        """Every backward runs without DDP's gradient sync (each rank perturbs and accumulates its own sub-batch
        gradients); the accumulated gradient is then averaged across ranks in one all-reduce per step. The loss
        stays on the device (no sync per sub-batch)."""
        total: dict[torch.Tensor, torch.Tensor] = {}
        loss_sum = torch.zeros((), device=x.device)
        for index in torch.arange(len(x), device=x.device).split(self.m):
            weight = len(index) / len(x)
            self._clear_grads()
            with torch.enable_grad(), _first_backward_context(model):
                loss = objective(model, x[index], y[index])
                loss.backward()
            loss_sum += loss.detach() * weight
            self.first_step()
            self._clear_grads()
            with torch.enable_grad(), _first_backward_context(model), frozen_running_stats(model):
                objective(model, x[index], y[index]).backward()
            self.restore()
            with torch.no_grad():
                for p, _, _ in self._grad_params():
                    total.setdefault(p, torch.zeros_like(p)).add_(p.grad, alpha=weight)
        _average_across_ranks(model, list(total.values()))
        for p, gradient in total.items():
            p.grad = gradient
        self.step()
        return loss_sum


def _average_across_ranks(model: nn.Module, gradients: list[torch.Tensor]) -> None:
    """Under DDP (a module with a ``process_group``), average ``gradients`` over its ranks with one all-reduce of
    one flat buffer; a plain module is left alone."""
    group = getattr(model, "process_group", None)
    if group is None or not gradients:
        return
    flat = torch.cat([g.flatten() for g in gradients])
    torch.distributed.all_reduce(flat, group=group)
    flat /= torch.distributed.get_world_size(group)
    for gradient, averaged in zip(gradients, flat.split([g.numel() for g in gradients])):
        gradient.copy_(averaged.view_as(gradient))


class SAMConfig(ConfigModel):
    kind: Literal["sam"] = "sam"
    rho: float = Field(0.05, ge=0, description="Radius ρ of the ascent step (‖ε‖₂ = ρ).")
    base: BaseOptimizerConfig = Field(default_factory=lambda: SGDConfig(), description="Base optimizer (by kind).")

    def build(self, params: Iterable) -> torch.optim.Optimizer:
        return SAM(params, self.base.build, rho=self.rho)


class ASAMConfig(ConfigModel):
    kind: Literal["asam"] = "asam"
    rho: float = Field(0.5, ge=0, description="Radius ρ in the adaptive metric (‖T⁻¹ε‖₂ = ρ, T = |w| + η).")
    eta: float = Field(0.01, ge=0, description="Offset η of the scale T = |w| + η (keeps zero weights movable).")
    scaled: ScaledParameters = Field(
        "weights", description='Parameters that get T = |w| + η: "weights" (names containing "weight", the official '
        'ASAM rule; biases keep T = 1; needs named parameters) or "all".'
    )
    base: BaseOptimizerConfig = Field(default_factory=lambda: SGDConfig(), description="Base optimizer (by kind).")

    def build(self, params: Iterable) -> torch.optim.Optimizer:
        return SAM(params, self.base.build, rho=self.rho, adaptive=True, eta=self.eta, scaled=self.scaled)


class FisherSAMConfig(ConfigModel):
    kind: Literal["fisher-sam"] = "fisher-sam"
    gamma: float = Field(0.1, ge=0, description="Radius γ of the Fisher ellipsoid εᵀ diag(f) ε = γ².")
    eta: float = Field(1.0, ge=0, description="Fisher weight η in f = 1 + η (s g)²; 0 gives SAM with ρ = γ.")
    gradient_scale: Literal["mean", "sum"] = Field(
        "mean", description="Scale s of the gradient in f: 'mean' (s = 1, the batch-mean loss's gradient) or 'sum' "
        "(s = batch size, the summed loss's gradient)."
    )
    base: BaseOptimizerConfig = Field(default_factory=lambda: SGDConfig(), description="Base optimizer (by kind).")

    def build(self, params: Iterable) -> torch.optim.Optimizer:
        return FisherSAM(params, self.base.build, gamma=self.gamma, eta=self.eta, gradient_scale=self.gradient_scale)


class MSAMConfig(ConfigModel):
    kind: Literal["m-sam"] = "m-sam"
    rho: float = Field(0.05, ge=0, description="Radius ρ of each sub-batch's ascent step.")
    m: int = Field(16, ge=1, description="Sub-batch size; m ≥ batch size is plain SAM.")
    base: BaseOptimizerConfig = Field(default_factory=lambda: SGDConfig(), description="Base optimizer (by kind).")

    def build(self, params: Iterable) -> torch.optim.Optimizer:
        return MSAM(params, self.base.build, rho=self.rho, m=self.m)


SAM_FAMILY = (SAMConfig, ASAMConfig, FisherSAMConfig, MSAMConfig)

# Imported last: spotlab.tasks.train.optimizers registers this family, so it imports this module after its base configs.
from spotlab.tasks.train.optimizers import AdamConfig, SGDConfig  # noqa: E402

BaseOptimizerConfig = Annotated[Union[SGDConfig, AdamConfig], Field(discriminator="kind")]
for _config in SAM_FAMILY:
    _config.model_rebuild()
