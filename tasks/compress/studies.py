"""EDEN's distribution-free error claims (Vargaftik et al., ICML 2022), checked on Gaussian vectors.

* vNMSE = E‖x̂ − x‖² / ‖x‖² at d = 2^16 is 0.5708, 0.1331, 0.0358, 0.0096 for b = 1..4 and 2.142 for b = 0.5
  (the paper's Table; theory σ_b / (1 − σ_b) from the Lloyd–Max distortion σ_b, and (1 + v_1)/p − 1 for p < 1).
* n clients sending the same x with independent rotations: the vNMSE of their average is v_b / n.
* The baseline Hadamard + 1-bit stochastic quantisation (each rotated coordinate rounded to min or max, unbiased)
  is far worse at one bit (≈ 17.5 at d = 2^16; it grows with log d).
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np
import torch
from matplotlib.figure import Figure
from pydantic import Field

from spotlab.models.config import ConfigModel
from spotlab.tasks.compress.base import Compressor, derive_seed, generator
from spotlab.tasks.compress.eden import ROTATION, EdenConfig, flip_signs
from spotlab.tasks.compress.hadamard import fwht
from spotlab.tasks.compress.lloyd_max import unbiased_vnmse
from spotlab.tasks.study.report import Claim, StudyReport

PAPER_VNMSE = {0.5: 2.142, 1.0: 0.5708, 2.0: 0.1331, 3.0: 0.0358, 4.0: 0.0096}


def theory_vnmse(bits: float) -> float | None:
    """Unbiased EDEN on Gaussian rotated coordinates: integer b from Lloyd–Max, b < 1 by sub-sampling."""
    if bits < 1:
        return (1 + unbiased_vnmse(1)) / bits - 1
    return unbiased_vnmse(int(bits)) if bits == int(bits) else None


def hadamard_stochastic_1bit(x: torch.Tensor, seed: int) -> torch.Tensor:
    """Hadamard + 1-bit stochastic quantisation: rotate, round each coordinate to the vector's min or max with the
    probability that keeps it unbiased, rotate back. Returns the estimate of x."""
    n = x.numel()
    d = 1 << (n - 1).bit_length()
    y = fwht(flip_signs(torch.nn.functional.pad(x.float(), (0, d - n)).contiguous(), seed)) / math.sqrt(d)
    low, high = y.min(), y.max()
    up = torch.rand(d, generator=generator(derive_seed(seed, ROTATION + 100))) < (y - low) / (high - low)
    q = torch.where(up, high, low)
    return flip_signs((fwht(q) / math.sqrt(d)).contiguous(), seed)[:n]


def vnmse(estimate: torch.Tensor, x: torch.Tensor) -> float:
    return float((estimate - x).pow(2).sum() / x.pow(2).sum())


def mean_vnmse(codecs: list[Compressor], dim: int, trials: int, seed: int) -> float:
    """vNMSE of the average of ``codecs``' estimates of one Gaussian x (one codec: plain vNMSE), over trials."""
    gen = torch.Generator().manual_seed(seed)
    errors = []
    for t in range(trials):
        x = torch.randn(dim, generator=gen)
        step = derive_seed(seed, t)
        errors.append(vnmse(sum(c.decompress(c.compress(x, step)) for c in codecs) / len(codecs), x))
    return float(np.mean(errors))


class EdenVNMSEConfig(ConfigModel):
    kind: Literal["eden-vnmse"] = "eden-vnmse"
    dim: int = Field(2**16, ge=2, description="Length of the Gaussian vectors (the paper: 2^16).")
    trials: int = Field(8, ge=1, description="Vectors (and seeds) averaged per setting.")
    bits: tuple[float, ...] = Field((0.5, 1.0, 2.0, 3.0, 4.0), min_length=1, description="Budgets to measure.")
    clients: int = Field(10, ge=2, description="Clients averaging the same vector (independent rotations, b = 1).")
    tolerance: float = Field(0.03, gt=0, lt=1, description="Relative deviation from the paper that still holds.")

    needs_data: ClassVar[bool] = False

    def run(self, data, seed: int) -> StudyReport:
        table, claims = [], []
        for b in self.bits:
            measured = mean_vnmse([EdenConfig(bits=b).build()], self.dim, self.trials, seed)
            paper = PAPER_VNMSE.get(float(b))
            table.append({"method": "EDEN", "bits": b, "clients": 1, "vnmse": measured,
                          "theory": theory_vnmse(b), "paper": paper})
            if paper is not None:
                claims.append(Claim.check(
                    f"vnmse-b{b:g}", f"EDEN vNMSE at b = {b:g}, d = {self.dim} is {paper}", round(measured, 4),
                    f"{paper} ± {self.tolerance:.0%}", abs(measured / paper - 1) <= self.tolerance))
        clients = [EdenConfig(bits=1).build(worker=i) for i in range(self.clients)]
        averaged = mean_vnmse(clients, self.dim, self.trials, seed)
        expected = PAPER_VNMSE[1.0] / self.clients
        table.append({"method": "EDEN", "bits": 1.0, "clients": self.clients, "vnmse": averaged,
                      "theory": unbiased_vnmse(1) / self.clients, "paper": expected})
        claims.append(Claim.check(
            "n-clients", f"{self.clients} clients with independent rotations: vNMSE of the mean is v_1 / n",
            round(averaged, 5), f"{expected:.5f} ± {self.tolerance:.0%}",
            abs(averaged / expected - 1) <= self.tolerance))
        gen = torch.Generator().manual_seed(seed)
        sq = float(np.mean([vnmse(hadamard_stochastic_1bit(x, derive_seed(seed, t)), x)
                            for t, x in ((t, torch.randn(self.dim, generator=gen)) for t in range(self.trials))]))
        table.append({"method": "Hadamard + 1-bit SQ", "bits": 1.0, "clients": 1, "vnmse": sq, "theory": None,
                      "paper": None})
        eden_1bit = next((row["vnmse"] for row in table if row["bits"] == 1.0 and row["clients"] == 1), None)
        if eden_1bit is not None:
            claims.append(Claim.check(
                "vs-hadamard-sq", "at 1 bit EDEN's vNMSE is far below Hadamard + stochastic quantisation",
                f"{eden_1bit:.4f} vs {sq:.2f}", "EDEN < SQ / 10", eden_1bit < sq / 10))
        return StudyReport(title="EDEN: vNMSE on Gaussian vectors", table=table, claims=claims,
                           figures={"vnmse": self._figure(table)},
                           notes="vNMSE = E‖x̂ − x‖² / ‖x‖²; theory from the Lloyd–Max distortion σ_b: σ_b / (1 − σ_b).")

    def _figure(self, table: list[dict]) -> Figure:
        rows = [r for r in table if r["method"] == "EDEN" and r["clients"] == 1]
        fig = Figure(figsize=(5, 3.5))
        ax = fig.subplots()
        ax.semilogy([r["bits"] for r in rows], [r["vnmse"] for r in rows], "o-", label="EDEN measured")
        theory = [(r["bits"], r["theory"]) for r in rows if r["theory"] is not None]
        ax.semilogy(*zip(*theory), "k--", label="theory σ_b/(1−σ_b)")
        sq = [r["vnmse"] for r in table if r["method"] != "EDEN"]
        ax.semilogy([1.0], sq, "rs", label="Hadamard + 1-bit SQ")
        ax.set_xlabel("bits per coordinate")
        ax.set_ylabel("vNMSE")
        ax.legend()
        fig.tight_layout()
        return fig
