"""Spectral analysis of masks: exact small cases, the sanity references of the paper notes, solver agreement."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import laplacian

from spotlab.tasks.prune.spectra import layer_spectrum, normalized_lambda2, ramanujan_gap, top_singular_values


def random_mask(shape, density, seed=0):
    return np.random.default_rng(seed).random(shape) < density


def two_blocks(seed=0):
    mask = np.zeros((300, 784), dtype=bool)
    mask[:150, :392] = random_mask((150, 392), 0.075, seed)
    mask[150:, 392:] = random_mask((150, 392), 0.075, seed + 1)
    return mask


def test_dense_mask_is_ramanujan_with_exact_degrees_and_rank_one_spectrum():
    s = layer_spectrum("dense", np.ones((10, 20)))
    assert (s.n_left, s.n_right, s.edges, s.d_left, s.d_right) == (20, 10, 200, 10.0, 20.0)
    assert s.mu0 == pytest.approx(np.sqrt(200)) and s.mu_hat == pytest.approx(0, abs=1e-9)
    assert s.delta_r == pytest.approx(3 + np.sqrt(19)) and s.delta_r > 0 and s.ramanujan
    assert s.lambda2 == pytest.approx(1.0)  # complete bipartite graph: normalised spectrum {0, 1, ..., 1, 2}


def test_two_disconnected_blocks_have_mu_hat_close_to_mu0_and_a_large_negative_gap():
    s = layer_spectrum("blocks", two_blocks())
    assert s.mu_hat == pytest.approx(s.mu0, rel=0.02)
    assert s.delta_r < -8 and not s.ramanujan
    assert s.lambda2 == pytest.approx(0, abs=1e-8) and s.cheeger_upper < 1e-3  # disconnected: zero conductance


@pytest.mark.parametrize("density, d_left, mu_hat, delta_r", [(0.5, 150.3, 22.3, 9.7), (0.2, 60.1, 18.1, 2.1)])
def test_random_masks_match_the_reference_table(density, d_left, mu_hat, delta_r):
    s = layer_spectrum("random", random_mask((300, 784), density))
    assert s.d_left == pytest.approx(d_left, abs=1.0)
    assert s.mu_hat == pytest.approx(mu_hat, abs=0.5)
    assert s.delta_r == pytest.approx(delta_r, abs=0.6)


def test_sparse_solvers_agree_with_dense_ones():
    matrix = sp.csr_matrix(random_mask((120, 200), 0.1, seed=3).astype(float))
    dense_sv = np.linalg.svd(matrix.toarray(), compute_uv=False)
    assert top_singular_values(matrix) == pytest.approx(tuple(dense_sv[:2]), rel=1e-6)
    for edges in (matrix, matrix.multiply(np.random.default_rng(4).random(matrix.shape)).tocsr()):  # 0/1 and weighted
        normalized_laplacian = laplacian(sp.bmat([[None, edges.T], [edges, None]]).toarray(), normed=True)
        assert normalized_lambda2(edges) == pytest.approx(np.sort(np.linalg.eigvalsh(normalized_laplacian))[1], abs=1e-6)


def test_isolated_nodes_are_removed_and_convolutions_flatten_their_fan_in():
    mask = np.ones((8, 4, 3, 3), dtype=bool)  # C_out=8, C_in·kH·kW = 36
    mask[0] = False  # output channel 0 loses every edge
    mask[:, 1, 0, 0] = False  # one input position loses every edge
    s = layer_spectrum("conv", mask)
    assert (s.n_right, s.n_left, s.edges) == (7, 35, 7 * 35)
    assert s.density == pytest.approx(7 * 35 / (8 * 36))


def test_layers_below_degree_three_are_skipped_and_empty_layers_have_no_spectrum():
    sparse = np.eye(50, dtype=bool)  # a matching: every degree is 1
    assert layer_spectrum("matching", sparse).delta_r is None and ramanujan_gap(sparse) is None
    assert layer_spectrum("empty", np.zeros((5, 5), dtype=bool)) is None and ramanujan_gap(np.zeros((5, 5))) is None


def test_ramanujan_gap_equals_the_full_analysis():
    mask = random_mask((100, 200), 0.3)
    assert ramanujan_gap(mask) == pytest.approx(layer_spectrum("x", mask).delta_r)


def test_weighted_quantities_are_invariant_to_rescaling_the_weights():
    mask = random_mask((60, 90), 0.3)
    weight = np.random.default_rng(1).normal(size=(60, 90))
    a, b = layer_spectrum("w", mask, weight), layer_spectrum("w", mask, -5 * weight)
    assert a.weighted_mu0 * 5 == pytest.approx(b.weighted_mu0)
    assert a.weighted_gap == pytest.approx(b.weighted_gap) and a.weighted_lambda2 == pytest.approx(b.weighted_lambda2)
    assert a.delta_r == b.delta_r  # the unweighted analysis ignores the weights
