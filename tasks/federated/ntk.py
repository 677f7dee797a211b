"""NTK-FL's server-side mathematics (Yue et al., ICML 2022, Sec. 3): the empirical kernel of the uploaded
Jacobians, the function-space dynamics of gradient descent under the cross-entropy loss, and the weight updates
Δw(τ) they imply.

With J (N × C × P) the per-sample Jacobians at the global weights w, f0 = f(X; w), Y the one-hot labels and η the
learning rate, the linearised network trained by full-batch gradient descent on the mean cross-entropy evolves as
    df/dt = −(1/N) K (softmax(f) − Y),  f(0) = f0,  t = s·η after s steps,
and the weights it reaches after τ steps are w + Δw(τ) with
    Δw(τ) = −(η/N) Σ_{s<τ} Jᵀ (softmax(f_s) − Y).
``kernel="full"`` uses the exact empirical NTK K = J Jᵀ over (example, class) pairs (NC × NC);
``kernel="class-mean"`` uses the official code's N × N kernel H = (1/C) Σ_c J_c J_cᵀ applied to every class alike
(C times cheaper to build). The dynamics are integrated either exactly as the discrete recursion (explicit Euler
with step η: f_{s+1} = f_s − (η/N) K r_s, the linearised gradient descent itself) or with scipy's adaptive RK45
sampled at t = s·η (the official code's odeint); the sums run over s = 0..τ−1, the residuals that produced the
first τ steps (the official code mixes this with s = 1..τ in one place).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from scipy.integrate import solve_ivp
from scipy.special import softmax

KernelKind = Literal["class-mean", "full"]
Integrator = Literal["euler", "rk45"]


def empirical_kernel(jac: torch.Tensor, kind: KernelKind) -> torch.Tensor:
    """``class-mean``: (N, N) with H_ij = (1/C) Σ_c ⟨J_ic, J_jc⟩; ``full``: (NC, NC) with K = J Jᵀ."""
    n, c, p = jac.shape
    if kind == "class-mean":
        flat = jac.reshape(n, c * p)
        return flat @ flat.T / c
    flat = jac.reshape(n * c, p)
    return flat @ flat.T


def _apply(kernel: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    if kernel.shape[0] == residual.shape[0]:  # class-mean: the same N × N kernel for every class
        return kernel @ residual
    return (kernel @ residual.reshape(-1)).view_as(residual)


def residual_sums(
    kernel: torch.Tensor, f0: torch.Tensor, targets: torch.Tensor, lr: float, taus: list[int], integrator: Integrator
) -> torch.Tensor:
    """S(τ) = Σ_{s<τ} (softmax(f_s) − Y) for each τ in ``taus``: shape (len(taus), N, C)."""
    n, steps = len(f0), max(taus)
    if integrator == "euler":
        wanted, out = set(taus), {}
        f, total = f0.clone(), torch.zeros_like(f0)
        for s in range(steps):
            residual = torch.softmax(f, dim=1) - targets
            total += residual
            f -= (lr / n) * _apply(kernel, residual)
            if s + 1 in wanted:
                out[s + 1] = total.clone()
        return torch.stack([out[t] for t in taus])
    k = kernel.double().cpu().numpy()
    y = targets.double().cpu().numpy()
    shape = y.shape

    def rhs(_t: float, flat: np.ndarray) -> np.ndarray:
        residual = softmax(flat.reshape(shape), axis=1) - y
        moved = k @ residual if k.shape[0] == shape[0] else (k @ residual.reshape(-1)).reshape(shape)
        return -moved.reshape(-1) / n

    times = lr * np.arange(steps)
    solution = solve_ivp(rhs, (0.0, times[-1]), f0.double().cpu().numpy().reshape(-1), t_eval=times,
                         method="RK45", rtol=1e-6, atol=1e-9)
    if not solution.success:
        raise RuntimeError(f"NTK-FL dynamics did not integrate: {solution.message}")
    residuals = softmax(solution.y.T.reshape(steps, *shape), axis=2) - y
    sums = np.cumsum(residuals, axis=0)[np.asarray(taus) - 1]
    return torch.as_tensor(sums, dtype=f0.dtype, device=f0.device)


def weight_updates(jac: torch.Tensor, sums: torch.Tensor, lr: float) -> torch.Tensor:
    """Δw(τ) = −(η/N) Σ_{i,c} J[i, c, :] S(τ)[i, c] for every τ at once: shape (len(taus), P)."""
    n = jac.shape[0]
    return -(lr / n) * sums.reshape(len(sums), -1) @ jac.reshape(-1, jac.shape[2])
