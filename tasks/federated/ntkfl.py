"""NTK-FL (Yue et al., ICML 2022): clients upload per-sample Jacobians instead of weights; the server evolves the
linearised network in function space and keeps the candidate update the real network likes best.

Client: J = ∂f(X_m; w)/∂w (vmap/jacrev), f0 = f(X_m; w), labels, and the inputs the server scores candidates on.
Server: kernel → dynamics → Δw(τ) for each τ of the grid → τ* = argmin of the real network's training
cross-entropy at w + Δw(τ) on the round's uploaded examples → w ← w + Δw(τ*).

Upload compression (the communication-efficient variant): ``projection_dim = k`` makes every client send J R with
R (P × k) a Gaussian matrix of variance 1/k drawn from the round's seed, shared by all clients. The server then
runs NTK-FL exactly for the model restricted to the random subspace w + R z of that round (its Jacobian is J R,
its kernel J R Rᵀ Jᵀ ≈ J Jᵀ since E[R Rᵀ] = I) and maps the update back: Δw = R Δz. Any compressor of the compress
family (``compressor``, e.g. eden) then encodes the (projected) Jacobian; labels, f0 and inputs go exact.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator

from spotlab.models.config import ConfigModel
from spotlab.tasks.compress.base import derive_seed, generator
from spotlab.tasks.compress.basic import NoCompressionConfig
from spotlab.tasks.compress.config import CompressorConfig
from spotlab.tasks.federated.jacobians import flat_parameters, outputs_at, per_sample_jacobians
from spotlab.tasks.federated.ntk import Integrator, KernelKind, empirical_kernel, residual_sums, weight_updates
from spotlab.tasks.federated.protocol import ClientJob, Upload, exact

PROJECTION = 11  # stream of the round's shared projection matrix


def projection_matrix(params: int, dim: int, seed: int, round_index: int, device: torch.device) -> torch.Tensor:
    """The round's R (P × k), entries N(0, 1/k); identical on every client and the server."""
    draw = torch.randn(params, dim, generator=generator(derive_seed(seed, PROJECTION, round_index)))
    return (draw / dim**0.5).to(device)


class NTKFL:
    def __init__(self, cfg: NTKFLConfig):
        self.cfg = cfg
        self.compressor = cfg.compressor.build()

    def client_update(self, job: ClientJob) -> Upload:
        model = copy.deepcopy(job.model).eval()
        jac = per_sample_jacobians(model, job.x, self.cfg.jacobian_chunk)
        if self.cfg.projection_dim is not None:
            jac = jac @ projection_matrix(jac.shape[2], self.cfg.projection_dim, job.seed, job.round, jac.device)
        with torch.no_grad():
            f0 = model(job.x)
        jacobian = self.compressor.compress(jac.reshape(-1), derive_seed(job.seed, job.round, job.client))
        return Upload(job.client, {"jacobian": jacobian, "f0": exact(f0), "labels": exact(job.y),
                                   "inputs": exact(job.x)})

    def server_update(self, model, uploads: list[Upload], seed: int, round_index: int):
        """The new global weights and the round's τ* and training loss."""
        cfg = self.cfg
        x = torch.cat([u.parts["inputs"].tensors[0] for u in uploads])
        y = torch.cat([u.parts["labels"].tensors[0] for u in uploads])
        f0 = torch.cat([u.parts["f0"].tensors[0] for u in uploads])
        sizes = [u.parts["labels"].numel for u in uploads]
        jac = torch.cat([self.compressor.decompress(u.parts["jacobian"]).view(n, f0.shape[1], -1)
                         for n, u in zip(sizes, uploads)]).to(f0.device)
        kernel = empirical_kernel(jac, cfg.kernel)
        targets = F.one_hot(y, f0.shape[1]).to(f0.dtype)
        sums = residual_sums(kernel, f0, targets, cfg.lr, cfg.taus, cfg.integrator)
        updates = weight_updates(jac, sums, cfg.lr)
        w = flat_parameters(model)
        if cfg.projection_dim is not None:
            updates = updates @ projection_matrix(len(w), cfg.projection_dim, seed, round_index, w.device).T
        losses = [float(F.cross_entropy(outputs_at(model, w + dw, x), y)) for dw in updates]
        best = min(range(len(losses)), key=losses.__getitem__)
        return w + updates[best], {"tau": cfg.taus[best], "train_loss": losses[best]}


class NTKFLConfig(ConfigModel):
    kind: Literal["ntk-fl"] = "ntk-fl"
    lr: float = Field(0.01, gt=0, description="Learning rate η of the gradient descent the server simulates.")
    taus: list[int] = Field(
        [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1500, 2000], min_length=1,
        description="Candidate numbers of simulated steps τ; the server keeps the one with the lowest real "
        "training loss (official grid).",
    )
    kernel: KernelKind = Field(
        "class-mean",
        description="class-mean: the official N × N kernel (1/C) Σ_c J_c J_cᵀ shared by all classes; full: the exact "
        "empirical NTK over (example, class) pairs (C² times larger, C times slower to build).",
    )
    integrator: Integrator = Field(
        "euler",
        description="euler: the discrete linearised gradient descent with step η (exact for the sums over s < τ); "
        "rk45: scipy's adaptive solve_ivp of the continuous dynamics sampled at t = s·η.",
    )
    projection_dim: int | None = Field(
        None, ge=1,
        description="Upload J R with R a shared seeded Gaussian P × k matrix (the round's random subspace); null "
        "uploads the full Jacobian.",
    )
    compressor: CompressorConfig = Field(
        default_factory=NoCompressionConfig,
        description="Compressor (by kind, e.g. eden) applied to each uploaded (projected) Jacobian.",
    )
    jacobian_chunk: int | None = Field(
        64, ge=1, description="Examples per vmap chunk (bounds memory; null: all at once).",
        json_schema_extra={"identity": False},
    )

    @field_validator("taus")
    @classmethod
    def _taus_increasing(cls, taus: list[int]) -> list[int]:
        if any(t < 1 for t in taus) or sorted(set(taus)) != taus:
            raise ValueError(f"taus must be positive and strictly increasing, got {taus}")
        return taus

    def build(self) -> NTKFL:
        return NTKFL(self)
