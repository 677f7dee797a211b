"""The sensitivity evaluation of one student against the brain stand-in, over a sweep of radii.

Readouts are fitted on the train split's recordings, their linear predictivity is scored on the test split's
recordings, and sensitivities are measured on the first ``n_images`` test images. Per radius, the mean over sites
of s̃ for: the readout itself (the student's own unit), the readout's perturbation transferred to the brain, and
the brain's bounds — random directions (lower) and the white-box attack on the brain (upper).
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field
from torch import nn

from spotlab.models.config import ConfigModel
from spotlab.tasks.neural.brain import NeuralSites, truncate
from spotlab.tasks.neural.readout import ReadoutConfig, fit_readout, predictivity
from spotlab.tasks.neural.sensitivity import (SiteAttackConfig, attack_sites, normalised, random_change,
                                              transferred_change)
from spotlab.tasks.train.loop import predict


class SensitivityConfig(ConfigModel):
    readout: ReadoutConfig = Field(default_factory=ReadoutConfig, description="The ridge readouts of the sites.")
    attack: SiteAttackConfig = Field(default_factory=SiteAttackConfig, description="The L2 PGD search for s_i.")
    eps: list[float] = Field([0.25, 0.5, 1.0, 2.0], min_length=1,
                             description="L2 radii of the sweep, in input units (digits: 8×8 pixels in [0, 1]).")
    n_images: int = Field(40, ge=2, description="Test images whose sensitivity is measured (the first ones).")

    def brain_sweep(self, brain: NeuralSites, splits, bounds, seed: int) -> dict[float, dict[str, np.ndarray]]:
        """Per radius, the brain's own s̃ bounds (S,): random directions and the white-box attack."""
        x, spread = self._images(splits), self._spread(brain, splits)
        sweep = {}
        for eps in self.eps:
            _, white_box = attack_sites(brain, x, eps, bounds, self.attack, seed)
            sweep[eps] = {
                "random": normalised(random_change(brain, x, eps, bounds, self.attack.random_draws, seed).numpy(),
                                     spread),
                "white_box": normalised(white_box.amax(2).numpy(), spread),
            }
        return sweep

    def evaluate(self, brain: NeuralSites, student: nn.Module, splits, bounds, seed: int,
                 sweep: dict[float, dict[str, np.ndarray]] | None = None) -> tuple[list[dict], dict]:
        """Rows (one per radius, means over sites) and per-site details of ``student``'s readouts."""
        sweep = sweep if sweep is not None else self.brain_sweep(brain, splits, bounds, seed)
        x_fit, x_test = torch.as_tensor(splits.x_train), torch.as_tensor(splits.x_test)
        readout = fit_readout(truncate(student, self.readout.feature_cut), x_fit, brain.record(x_fit, seed),
                              self.readout.alphas)
        fit_quality = predictivity(readout, x_test, brain.record(x_test, seed + 1))
        x, brain_spread = self._images(splits), self._spread(brain, splits)
        readout_spread = self._spread(readout, splits)
        rows, details = [], {"predictivity": fit_quality.tolist(), "sites": brain.sites.tolist(), "eps": {}}
        for eps in self.eps:
            found, own = attack_sites(readout, x, eps, bounds, self.attack, seed)
            per_site = {
                "readout": normalised(own.amax(2).numpy(), readout_spread),
                "transfer": normalised(transferred_change(readout, brain, x, found).numpy(), brain_spread),
                **sweep[eps],
            }
            details["eps"][eps] = {name: values.tolist() for name, values in per_site.items()}
            rows.append({"eps": eps, **{name: float(values.mean()) for name, values in per_site.items()},
                         "predictivity": float(fit_quality.mean())})
        return rows, details

    def _images(self, splits) -> torch.Tensor:
        if len(splits.x_test) < self.n_images:
            raise ValueError(f"n_images={self.n_images} exceeds the {len(splits.x_test)} test images")
        return torch.as_tensor(splits.x_test[: self.n_images])

    @staticmethod
    def _spread(sites: nn.Module, splits) -> np.ndarray:
        """σ_i: the standard deviation of each site's mean response over the test split."""
        return predict(sites, torch.as_tensor(splits.x_test)).double().numpy().std(0)
