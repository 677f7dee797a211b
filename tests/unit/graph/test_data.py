import numpy as np
import pytest

from spotlab.tasks.graph.data import read_tu, sbm_pair, typed_graphs


def test_sbm_pair_has_equal_label_marginals_and_opposite_homophily():
    pair = sbm_pair(n_graphs=60, nodes=40, blocks=2, degree=4.0, homophily=0.9, seed=0)
    assert np.bincount(pair.targets).tolist() == [30, 30]
    assert (pair.adjacency != pair.adjacency.T).nnz == 0 and pair.adjacency.diagonal().sum() == 0
    label = pair.labels.argmax(axis=1)
    rows, cols = pair.adjacency.nonzero()
    same = label[rows] == label[cols]
    in_class0 = pair.targets[pair.graph[rows]] == 0
    assert same[in_class0].mean() > 0.8 and same[~in_class0].mean() < 0.2
    share = [pair.labels[pair.targets[pair.graph] == c].mean(axis=0) for c in (0, 1)]
    np.testing.assert_allclose(share[0], share[1], atol=0.03)


def test_typed_graphs_labels_come_mostly_from_the_node_type():
    graphs = typed_graphs(n_graphs=5, nodes=50, n_types=3, symbols_per_type=2, draws=4, label_noise=0.0, degree=3.0,
                          seed=1)
    assert graphs.labels.sum(axis=1).tolist() == [4.0] * 250
    own = graphs.labels.reshape(250, 3, 2).sum(axis=2)
    np.testing.assert_array_equal(own.argmax(axis=1), graphs.types)
    assert np.asarray(graphs.membership().sum(axis=1)).ravel().tolist() == [50.0] * 5


def test_read_tu_names_the_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="MUTAG_A.txt.*MUTAG_graph_indicator.txt"):
        read_tu(tmp_path, "MUTAG")


def test_read_tu_reads_a_small_directory_and_falls_back_to_degree(tmp_path):
    folder = tmp_path / "TOY"
    folder.mkdir()
    (folder / "TOY_A.txt").write_text("1, 2\n2, 1\n2, 3\n3, 2\n4, 5\n5, 4\n")
    (folder / "TOY_graph_indicator.txt").write_text("1\n1\n1\n2\n2\n")
    (folder / "TOY_graph_labels.txt").write_text("-1\n1\n")
    graphs = read_tu(tmp_path, "TOY")
    assert graphs.targets.tolist() == [0, 1] and graphs.graph.tolist() == [0, 0, 0, 1, 1]
    assert graphs.labels.argmax(axis=1).tolist() == [1, 2, 1, 1, 1]  # degrees
    (folder / "TOY_node_labels.txt").write_text("7\n3\n3\n7\n9\n")
    assert read_tu(tmp_path, "TOY").labels.argmax(axis=1).tolist() == [1, 0, 0, 1, 2]
