"""Dataset configs (one per ``kind``) and the data-prep stage config."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from spotlab.models.config import ConfigModel


class DigitsConfig(ConfigModel):
    """scikit-learn's bundled 8×8 handwritten digits (1,797 images, 10 classes), scaled to [0, 1]."""

    kind: Literal["digits"] = "digits"
    classes: list[int] | None = Field(
        None, description="Keep only these digits (relabelled 0..k-1 in the given order); null keeps all ten."
    )


class SyntheticClassificationConfig(ConfigModel):
    """scikit-learn's make_classification, seeded by the run seed."""

    kind: Literal["synthetic-classification"] = "synthetic-classification"
    n_samples: int = Field(2000, ge=20, description="Number of examples.")
    n_features: int = Field(20, ge=2, description="Input dimension.")
    n_informative: int = Field(10, ge=1, description="Informative features.")
    n_classes: int = Field(4, ge=2, description="Number of classes.")
    class_sep: float = Field(1.0, gt=0, description="Class separation (larger is easier).")

    @model_validator(mode="after")
    def _informative_fits(self):
        if self.n_informative > self.n_features:
            raise ValueError(f"n_informative={self.n_informative} exceeds n_features={self.n_features}")
        return self


class SyntheticRegressionConfig(ConfigModel):
    """Linear-plus-noise regression (make_regression) with an optional skew of the label distribution, or (with
    ``labels: exponential``) deep-imbalanced-regression data: integer labels 0..label_levels−1 drawn first, with
    training density ∝ exp(−imbalance·y/label_levels) and a balanced (uniform-label) test split, inputs a fixed
    random nonlinear embedding of the label plus Gaussian noise."""

    kind: Literal["synthetic-regression"] = "synthetic-regression"
    n_samples: int = Field(2000, ge=20, description="Number of examples kept (after imbalance sub-sampling).")
    n_features: int = Field(20, ge=1, description="Input dimension.")
    noise: float = Field(0.1, ge=0, description="Std of Gaussian label noise.")
    imbalance: float = Field(
        0.0,
        ge=0,
        description="0 keeps the label distribution; larger values keep examples with probability "
        "∝ exp(−imbalance·z) where z is the standardised label, so high labels become rare (few-shot tail).",
    )
    labels: Literal["skewed-gaussian", "exponential"] = Field(
        "skewed-gaussian",
        description="skewed-gaussian: make_regression labels kept with probability ∝ exp(−imbalance·z); exponential: "
        "labels first (exponentially imbalanced training labels, balanced test split of test_fraction·n_samples).",
    )
    label_levels: int = Field(
        100, ge=2, description="exponential labels only: number of integer label values (like ages 0..99)."
    )


class DiabetesConfig(ConfigModel):
    """scikit-learn's bundled diabetes regression data (442 patients, 10 features, integer disease progression
    25..346, skewed toward low values)."""

    kind: Literal["diabetes"] = "diabetes"


class TorchvisionConfig(ConfigModel):
    """A torchvision dataset read from a local folder; downloaded only when ``download: true``."""

    kind: Literal["mnist", "cifar10", "svhn"]
    root: str = Field("./data", description="Folder holding the dataset files.")
    download: bool = Field(False, description="Allow torchvision to download into root if files are missing.")
    max_train: int | None = Field(None, ge=1, description="Keep at most this many training examples.")
    max_test: int | None = Field(None, ge=1, description="Keep at most this many test examples.")


DATASETS = {
    "digits": DigitsConfig,
    "synthetic-classification": SyntheticClassificationConfig,
    "synthetic-regression": SyntheticRegressionConfig,
    "diabetes": DiabetesConfig,
    "mnist": TorchvisionConfig,
    "cifar10": TorchvisionConfig,
    "svhn": TorchvisionConfig,
}

DatasetConfig = Annotated[
    Union[DigitsConfig, SyntheticClassificationConfig, SyntheticRegressionConfig, DiabetesConfig, TorchvisionConfig],
    Field(discriminator="kind"),
]


class DataConfig(ConfigModel):
    dataset: DatasetConfig = Field(default_factory=DigitsConfig, description="Which dataset (by kind).")
    val_fraction: float = Field(0.1, ge=0, lt=0.5, description="Fraction of the training pool held out.")
    test_fraction: float = Field(
        0.2, gt=0, lt=0.5, description="Fraction held out for testing (datasets without an official test split)."
    )
