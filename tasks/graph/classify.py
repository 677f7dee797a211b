"""k-fold accuracy of an MLP (Linear → ReLU → Linear, Adam 1e-3, early stopping on validation accuracy) on graph
embeddings."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def kfold_accuracy(features: np.ndarray, targets: np.ndarray, folds: int, hidden: int, seed: int) -> np.ndarray:
    """Test accuracy per fold; inside each training fold 10 % is held out for early stopping (sklearn's
    ``early_stopping`` monitors that split's accuracy)."""
    mlp = MLPClassifier(hidden_layer_sizes=(hidden,), learning_rate_init=1e-3, early_stopping=True,
                        validation_fraction=0.1, n_iter_no_change=20, max_iter=500, random_state=seed)
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cross_val_score(make_pipeline(StandardScaler(), mlp), features, targets, cv=splits,
                               scoring="accuracy")
