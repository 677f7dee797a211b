import numpy as np
import pytest
import scipy.sparse as sp

from spotlab.tasks.graph.cgmm import fit_layers
from spotlab.tasks.graph.config import ICGMMConfig
from spotlab.tasks.graph.emissions import CategoricalDirichlet, NormalGamma
from spotlab.tasks.graph.studies import occupied_states


def test_normal_gamma_posterior_concentrates_on_the_data_mean_and_precision():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(2.0, 0.5, 20000), rng.normal(-1.0, 2.0, 20000)])
    params = NormalGamma(kappa0=0.01, a0=1.0, b0=1.0).sample_posterior(np.zeros(len(x), dtype=np.int64), x, 1, rng)
    np.testing.assert_allclose(params[0, 0], [2.0, -1.0], atol=0.05)
    np.testing.assert_allclose(params[0, 1], [4.0, 0.25], rtol=0.05)


def test_normal_gamma_log_likelihood_is_the_gaussian_density():
    params = np.array([[[1.0, -2.0], [4.0, 0.25]]])  # means (1, −2), precisions (4, 0.25)
    x = np.array([[0.5, 0.0]])
    expected = (-0.5 * np.log(2 * np.pi / 4) - 0.5 * 4 * 0.25) + (-0.5 * np.log(2 * np.pi / 0.25) - 0.5 * 0.25 * 4)
    assert NormalGamma(0.01, 1.0, 1.0).log_likelihood(params, x)[0, 0] == pytest.approx(expected)


def test_categorical_log_likelihood_counts_every_label():
    params = np.array([[0.5, 0.25, 0.25]])
    assert CategoricalDirichlet(1.0).log_likelihood(params, np.array([[2.0, 0.0, 1.0]]))[0, 0] == pytest.approx(
        2 * np.log(0.5) + np.log(0.25))


def test_icgmm_with_normal_gamma_finds_three_separated_clusters():
    rng = np.random.default_rng(0)
    types = rng.integers(3, size=600)
    x = np.array([[-4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])[types] + rng.normal(0, 0.5, (600, 2))
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    model = ICGMMConfig(emission="normal-gamma")
    layer = fit_layers(sp.csr_matrix((600, 600)), x, model.hyper(), layers=1, sweeps=100, seed=0)[0]
    assert occupied_states(layer.state.z, 0.02) == 3
    purity = sum(np.bincount(layer.state.z[types == t]).max() for t in range(3)) / len(types)
    assert purity > 0.95
