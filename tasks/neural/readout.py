"""Linear readouts: ridge regression from a student network's features to each neural site.

scikit-learn fits the readout (standardised features, one cross-validated α per site by efficient leave-one-out);
the fitted map is then folded into one ``nn.Linear`` so that the readout of a site is a differentiable function
of the image, the object Guo et al. attack.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field
from sklearn.linear_model import RidgeCV
from sklearn.metrics import explained_variance_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from spotlab.models.config import ConfigModel
from spotlab.tasks.train.loop import predict


class ReadoutConfig(ConfigModel):
    feature_cut: int = Field(-1, le=-1, description="Student features after dropping this many final layers of "
                             "its net: -1 is the penultimate layer (the input of the classifier).")
    alphas: list[float] = Field(
        [1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4], min_length=1,
        description="Ridge penalties tried (on standardised features); each site keeps its best by leave-one-out.",
    )


def fit_readout(features: nn.Module, x_fit: torch.Tensor, responses_fit: np.ndarray,
                alphas: list[float]) -> nn.Sequential:
    """``features`` followed by the ridge readout fitted on (x_fit, responses_fit): images → predicted sites."""
    if any(a <= 0 for a in alphas):
        raise ValueError(f"readout.alphas must all be positive, got {alphas}")
    phi = predict(features, x_fit).double().numpy()
    pipeline = make_pipeline(StandardScaler(), RidgeCV(alphas=alphas, alpha_per_target=True))
    pipeline.fit(phi, responses_fit)
    scaler, ridge = pipeline[0], pipeline[1]
    weight = np.atleast_2d(ridge.coef_) / scaler.scale_
    bias = np.atleast_1d(ridge.intercept_) - weight @ scaler.mean_
    linear = nn.Linear(phi.shape[1], weight.shape[0])
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(weight))
        linear.bias.copy_(torch.as_tensor(bias))
    return nn.Sequential(features, linear).eval().requires_grad_(False)


def predictivity(readout: nn.Module, x: torch.Tensor, responses: np.ndarray) -> np.ndarray:
    """Linear predictivity per site: explained variance of the recorded responses on held-out images."""
    return explained_variance_score(responses, predict(readout, x).double().numpy(), multioutput="raw_values")
