"""Loading and splitting datasets into seeded train/val/test arrays (plain numpy; no downloads unless asked)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes, load_digits, make_classification, make_regression
from sklearn.model_selection import train_test_split

from spotlab.tasks.data.config import (
    DataConfig,
    DiabetesConfig,
    DigitsConfig,
    SyntheticClassificationConfig,
    SyntheticRegressionConfig,
    TorchvisionConfig,
)


@dataclass(frozen=True)
class DatasetInfo:
    """What models and attacks need to know about the prepared data."""

    task: str  # "classification" or "regression"
    input_shape: tuple[int, ...]
    num_outputs: int
    mean: list[float]  # training statistics, per channel (images) or per feature (vectors)
    std: list[float]
    bounds: tuple[float, float] | None  # valid input box, None when unbounded
    sizes: dict[str, int]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict) -> DatasetInfo:
        bounds = value.get("bounds")
        return cls(**{**value, "input_shape": tuple(value["input_shape"]), "bounds": tuple(bounds) if bounds else None})


@dataclass(frozen=True)
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(self.__dict__)


def _digits(cfg: DigitsConfig) -> tuple[np.ndarray, np.ndarray]:
    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]
    y = bunch.target.astype(np.int64)
    if cfg.classes is not None:
        keep = np.isin(y, cfg.classes)
        relabel = {c: i for i, c in enumerate(cfg.classes)}
        x, y = x[keep], np.array([relabel[v] for v in y[keep]], dtype=np.int64)
    return x, y


def _synthetic_classification(cfg: SyntheticClassificationConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_classification(
        n_samples=cfg.n_samples,
        n_features=cfg.n_features,
        n_informative=cfg.n_informative,
        n_redundant=0,
        n_classes=cfg.n_classes,
        class_sep=cfg.class_sep,
        random_state=seed,
    )
    return x.astype(np.float32), y.astype(np.int64)


def _synthetic_regression(cfg: SyntheticRegressionConfig, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Draw extra examples so the imbalance sub-sampling can still keep n_samples of them.
    pool = cfg.n_samples * (1 + int(np.ceil(4 * cfg.imbalance)))
    x, y = make_regression(
        n_samples=pool, n_features=cfg.n_features, n_informative=cfg.n_features, noise=cfg.noise, random_state=seed
    )
    z = (y - y.mean()) / y.std()
    keep_prob = np.exp(-cfg.imbalance * (z - z.min()))
    order = np.argsort(-(keep_prob * rng.random(pool)))  # weighted sampling without replacement
    chosen = np.sort(order[: cfg.n_samples])
    return x[chosen].astype(np.float32), y[chosen].astype(np.float32)


def _exponential_regression(
    cfg: SyntheticRegressionConfig, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Labels first: training labels with P(y) ∝ exp(−imbalance·y/levels), test labels uniform (balanced); inputs
    x = sin(ω·y/levels + φ)·A + noise·ε with frequencies ω, phases φ and mixing A fixed by the seed."""
    rng = np.random.default_rng(seed)
    levels = np.arange(cfg.label_levels)
    train_p = np.exp(-cfg.imbalance * levels / cfg.label_levels)
    n_test = int(round(test_fraction * cfg.n_samples))
    y_train = rng.choice(levels, size=cfg.n_samples, p=train_p / train_p.sum())
    y_test = np.resize(levels, n_test)  # every level equally often (up to the remainder)
    frequencies = rng.uniform(0.5, 3.0, cfg.n_features) * np.pi
    phases = rng.uniform(0, 2 * np.pi, cfg.n_features)
    mixing = rng.standard_normal((cfg.n_features, cfg.n_features)) / np.sqrt(cfg.n_features)

    def inputs(y: np.ndarray) -> np.ndarray:
        embedded = np.sin(np.outer(y / cfg.label_levels, frequencies) + phases) @ mixing
        return (embedded + cfg.noise * rng.standard_normal(embedded.shape)).astype(np.float32)

    return inputs(y_train), y_train.astype(np.float32), inputs(y_test), y_test.astype(np.float32)


def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_diabetes(return_X_y=True, scaled=False)
    return x.astype(np.float32), y.astype(np.float32)


def _torchvision(cfg: TorchvisionConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from torchvision import datasets

    root = Path(cfg.root).expanduser()
    try:
        if cfg.kind == "svhn":
            train = datasets.SVHN(root, split="train", download=cfg.download)
            test = datasets.SVHN(root, split="test", download=cfg.download)
            xs = [d.data.astype(np.float32) / 255.0 for d in (train, test)]
            ys = [np.asarray(d.labels, dtype=np.int64) for d in (train, test)]
        else:
            cls = datasets.MNIST if cfg.kind == "mnist" else datasets.CIFAR10
            train = cls(root, train=True, download=cfg.download)
            test = cls(root, train=False, download=cfg.download)
            xs = [np.asarray(d.data, dtype=np.float32) / 255.0 for d in (train, test)]
            xs = [x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2) for x in xs]
            ys = [np.asarray(d.targets, dtype=np.int64) for d in (train, test)]
    except RuntimeError as exc:
        raise FileNotFoundError(
            f"dataset {cfg.kind!r} not found under {root} ({exc}); put the files there or set download: true"
        ) from exc
    (x_train, x_test), (y_train, y_test) = xs, ys
    if cfg.max_train:
        x_train, y_train = x_train[: cfg.max_train], y_train[: cfg.max_train]
    if cfg.max_test:
        x_test, y_test = x_test[: cfg.max_test], y_test[: cfg.max_test]
    return x_train, y_train, x_test, y_test


def _statistics(x_train: np.ndarray) -> tuple[list[float], list[float]]:
    axes = (0, 2, 3) if x_train.ndim == 4 else (0,)
    mean = x_train.mean(axis=axes)
    std = x_train.std(axis=axes)
    std = np.where(std > 1e-6, std, 1.0)  # constant features (digit borders) must not divide by zero
    return mean.astype(float).tolist(), std.astype(float).tolist()


def prepare(cfg: DataConfig, seed: int) -> tuple[Splits, DatasetInfo]:
    """Seeded, stratified (for classification) train/val/test splits and the dataset's description."""
    ds = cfg.dataset
    if isinstance(ds, TorchvisionConfig):
        x_pool, y_pool, x_test, y_test = _torchvision(ds)
        task, bounds = "classification", (0.0, 1.0)
    elif isinstance(ds, SyntheticRegressionConfig) and ds.labels == "exponential":
        x_pool, y_pool, x_test, y_test = _exponential_regression(ds, cfg.test_fraction, seed)
        task, bounds = "regression", None
    else:
        if isinstance(ds, DigitsConfig):
            x, y = _digits(ds)
            task, bounds = "classification", (0.0, 1.0)
        elif isinstance(ds, SyntheticClassificationConfig):
            x, y = _synthetic_classification(ds, seed)
            task, bounds = "classification", None
        elif isinstance(ds, DiabetesConfig):
            x, y = _diabetes()
            task, bounds = "regression", None
        else:
            x, y = _synthetic_regression(ds, seed)
            task, bounds = "regression", None
        stratify = y if task == "classification" else None
        x_pool, x_test, y_pool, y_test = train_test_split(
            x, y, test_size=cfg.test_fraction, random_state=seed, stratify=stratify
        )
    if cfg.val_fraction > 0:
        stratify = y_pool if task == "classification" else None
        x_train, x_val, y_train, y_val = train_test_split(
            x_pool, y_pool, test_size=cfg.val_fraction, random_state=seed + 1, stratify=stratify
        )
    else:
        x_train, y_train = x_pool, y_pool
        x_val, y_val = x_pool[:0], y_pool[:0]
    mean, std = _statistics(x_train)
    num_outputs = int(max(y_train.max(), y_test.max()) + 1) if task == "classification" else 1
    splits = Splits(x_train, y_train, x_val, y_val, x_test, y_test)
    info = DatasetInfo(
        task=task,
        input_shape=tuple(int(s) for s in x_train.shape[1:]),
        num_outputs=num_outputs,
        mean=mean,
        std=std,
        bounds=bounds,
        sizes={"train": len(y_train), "val": len(y_val), "test": len(y_test)},
    )
    return splits, info


def splits_from_arrays(arrays: dict[str, np.ndarray]) -> Splits:
    return Splits(**{name: arrays[name] for name in Splits.__dataclass_fields__})
