import numpy as np
import scipy.sparse as sp

from spotlab.tasks.graph.cgmm import fit_layers
from spotlab.tasks.graph.classify import kfold_accuracy
from spotlab.tasks.graph.config import ICGMMConfig
from spotlab.tasks.graph.data import sbm_pair
from spotlab.tasks.graph.embeddings import graph_embedding


def test_embedding_of_a_hand_graph():
    # one path graph 0 - 1 - 2 with hard posteriors over 2 states
    adjacency = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))
    posterior = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    membership = sp.csr_matrix(np.ones((1, 3)))
    summed = graph_embedding([posterior], adjacency, membership, bigram=True, pooling="sum")
    # unigram [2, 1]; bigram counts (own, neighbour) pairs: (0,1) twice, (1,0) twice
    np.testing.assert_allclose(summed, [[2, 1, 0, 2, 2, 0]])
    mean = graph_embedding([posterior, posterior], adjacency, membership, bigram=False, pooling="mean")
    np.testing.assert_allclose(mean, [[2 / 3, 1 / 3, 2 / 3, 1 / 3]])


def test_unigrams_at_chance_and_bigrams_separate_the_sbm_pair():
    pair = sbm_pair(n_graphs=80, nodes=40, blocks=2, degree=4.0, homophily=0.9, seed=0)
    layers = fit_layers(pair.adjacency, pair.labels, ICGMMConfig().hyper(), layers=1, sweeps=20, seed=0)
    posteriors = [layer.posterior for layer in layers]
    unigram = graph_embedding(posteriors, pair.adjacency, pair.membership(), bigram=False)
    bigram = graph_embedding(posteriors, pair.adjacency, pair.membership(), bigram=True)
    assert kfold_accuracy(unigram, pair.targets, folds=4, hidden=16, seed=0).mean() < 0.65
    assert kfold_accuracy(bigram, pair.targets, folds=4, hidden=16, seed=0).mean() > 0.9
