import numpy as np
import pytest
from pydantic import ValidationError

from spotlab.tasks.graph.cgmm import (LayerState, add_state, fit_layers, initial_state, remove_empty, resample_alpha,
                                      resample_gamma, sample_tables, sequential_states, sweep)
from spotlab.tasks.graph.config import CGMMConfig, ICGMMConfig
from spotlab.tasks.graph.data import sbm_pair, typed_graphs
from spotlab.tasks.graph.studies import occupied_states


@pytest.mark.parametrize("sampler", ["batch", "sequential"])
def test_layer_one_finds_the_three_latent_types_within_100_sweeps(sampler):
    graphs = typed_graphs(n_graphs=20, nodes=30, n_types=3, symbols_per_type=2, draws=5, label_noise=0.05,
                          degree=3.0, seed=3)
    layer = fit_layers(graphs.adjacency, graphs.labels, ICGMMConfig(sampler=sampler).hyper(), layers=1, sweeps=100,
                       seed=0)[0]
    assert occupied_states(layer.state.z, 0.02) == 3
    assert layer.state.n_states <= 6
    # the found states are the types: each type's nodes sit (almost) all in one state
    purity = sum(np.bincount(layer.state.z[graphs.types == t]).max() for t in range(3)) / len(graphs.types)
    assert purity > 0.95


@pytest.mark.parametrize("model", [ICGMMConfig(), CGMMConfig(states=4)])
def test_counts_and_beta_stay_consistent_after_every_sweep(model):
    pair = sbm_pair(n_graphs=20, nodes=20, blocks=3, degree=3.0, homophily=0.8, seed=0)
    rng = np.random.default_rng(0)
    restaurant = rng.integers(3, size=len(pair.graph))
    state = initial_state(restaurant, 3, pair.labels, model.hyper(), rng)
    for _ in range(15):
        state = sweep(state, pair.labels, model.hyper(), rng)
        counts = state.counts()
        np.testing.assert_array_equal(counts.sum(axis=1), np.bincount(restaurant, minlength=3))
        assert counts.sum() == len(restaurant)
        assert state.beta.sum() == pytest.approx(1.0) and (state.beta > 0).all()
        assert len(state.beta) == state.n_states + model.hyper().infinite
        np.testing.assert_allclose(state.theta.sum(axis=1), 1.0)
        if model.hyper().infinite:
            assert (counts.sum(axis=0) > 0).all()  # empty states were removed


@pytest.mark.parametrize("model", [ICGMMConfig(initial_states=1, sampler="sequential"),
                                   CGMMConfig(states=4, sampler="sequential")])
def test_sequential_counts_stay_consistent_after_every_node(model):
    graphs = typed_graphs(n_graphs=4, nodes=15, n_types=3, symbols_per_type=2, draws=5, label_noise=0.05,
                          degree=3.0, seed=0)
    rng = np.random.default_rng(0)
    restaurant = rng.integers(2, size=len(graphs.graph))
    state = initial_state(restaurant, 2, graphs.labels, model.hyper(), rng)
    per_restaurant, most_states = np.bincount(restaurant), state.n_states
    for _ in range(3):
        before = state.z.copy()
        for u, (step, counts) in enumerate(sequential_states(state, graphs.labels, model.hyper(), rng)):
            np.testing.assert_array_equal(counts, step.counts())  # the running counts are the recount
            np.testing.assert_array_equal(counts.sum(axis=1), per_restaurant)
            assert step.beta.sum() == pytest.approx(1.0) and len(step.beta) == step.n_states + model.hyper().infinite
            assert (step.z[u + 1:] == before[u + 1:]).all()  # later nodes wait their turn
            most_states = max(most_states, step.n_states)
        state = sweep(state, graphs.labels, model.hyper(), rng)
    # iCGMM starting from one state must open new ones node by node; CGMM never changes its number
    assert most_states > 1 if model.hyper().infinite else most_states == 4


@pytest.mark.parametrize("sampler", ["batch", "sequential"])
def test_sequential_nodes_see_the_states_chosen_before_them(sampler):
    """Two nodes, two states with equal emissions, p(z_u = k) ∝ n_k^{−u} + α / 2 with α = 0.1. Sequentially node 1
    sees node 0's new state and joins it (p = 1.05 / 1.1); the batch sweep shows it node 0's old state instead."""
    hyper = CGMMConfig(states=2, alpha=0.1, sampler=sampler).hyper()
    state = LayerState(restaurant=np.zeros(2, dtype=np.int64), z=np.array([0, 1]), beta=np.full(2, 0.5),
                       theta=np.full((2, 1), 1.0), alpha=0.1, gamma=1.0, n_restaurants=1)
    labels = np.ones((2, 1))
    draws = np.array([sweep(state, labels, hyper, np.random.default_rng(s)).z for s in range(1000)])
    assert np.mean(draws[:, 0] == 1) == pytest.approx(1.05 / 1.1, abs=0.03)  # node 0 joins node 1's state
    together = np.mean(draws[:, 0] == draws[:, 1])
    if sampler == "sequential":
        assert together == pytest.approx(1.05 / 1.1, abs=0.03)
    else:  # P(z_0 = 1) P(z_1 = 1) + P(z_0 = 0) P(z_1 = 0), node 1 drawn against z_0 = 0
        assert together == pytest.approx(2 * (1.05 / 1.1) * (0.05 / 1.1), abs=0.03)


def _hand_state() -> LayerState:
    return LayerState(restaurant=np.array([0, 0, 1, 1]), z=np.array([0, 2, 2, 0]),
                      beta=np.array([0.4, 0.1, 0.3, 0.2]), theta=np.eye(3), alpha=1.0, gamma=1.0, n_restaurants=2)


def test_removing_an_empty_state_relabels_and_returns_its_mass():
    state = remove_empty(_hand_state())
    assert state.z.tolist() == [0, 1, 1, 0]
    np.testing.assert_allclose(state.beta, [0.4, 0.3, 0.3])
    np.testing.assert_array_equal(state.theta, np.eye(3)[[0, 2]])
    assert state.counts().tolist() == [[1, 1], [1, 1]]


def test_adding_a_state_splits_the_unrepresented_mass():
    state = add_state(_hand_state(), np.array([False, True, False, False]), np.random.default_rng(0))
    assert state.z.tolist() == [0, 3, 2, 0] and state.n_states == 4
    np.testing.assert_allclose(state.beta[:3], [0.4, 0.1, 0.3])
    assert state.beta[3] + state.beta[4] == pytest.approx(0.2) and state.beta[3] > 0
    assert state.counts().tolist() == [[1, 0, 0, 1], [1, 0, 1, 0]]


def test_tables_lie_between_one_and_the_customers_and_follow_antoniak():
    counts = np.array([[0, 1, 50], [3, 0, 2000]])
    tables = sample_tables(counts, np.array([2.0, 0.5, 3.0]), np.random.default_rng(0))
    assert tables[0, 0] == 0 and tables[0, 1] == 1 and tables[1, 1] == 0
    assert ((tables >= (counts > 0)) & (tables <= counts)).all()
    # E[m] = a (ψ(a + n) − ψ(a)) ≈ 3 (log(2003/3) + ...) ≈ 20.6 for n = 2000, a = 3
    draws = [sample_tables(np.array([[2000]]), np.array([3.0]), np.random.default_rng(s))[0, 0] for s in range(40)]
    assert 17 < np.mean(draws) < 24


def test_bad_config_names_the_field():
    with pytest.raises(ValidationError, match="states"):
        CGMMConfig(states=1)
    with pytest.raises(ValidationError, match="max_states"):
        ICGMMConfig(max_states=0)


def test_concentration_samplers_follow_the_number_of_states_and_tables():
    hyper = ICGMMConfig().hyper()

    def mean_gamma(states: int) -> float:
        rng, gamma, draws = np.random.default_rng(0), 1.0, []
        for _ in range(300):
            gamma = resample_gamma(gamma, states, 200, hyper, rng)
            draws.append(gamma)
        return float(np.mean(draws))

    def mean_alpha(tables: int) -> float:
        rng, alpha, draws = np.random.default_rng(0), 1.0, []
        for _ in range(300):
            alpha = resample_alpha(alpha, np.array([100, 100, 0]), tables, hyper, rng)
            draws.append(alpha)
        return float(np.mean(draws))

    assert mean_gamma(2) < mean_gamma(20) < mean_gamma(60)
    assert mean_alpha(4) < mean_alpha(40) < mean_alpha(150)
