"""The graph stages' configs: the example config and its profiles, errors naming the field, datasets by kind."""

from pathlib import Path

import numpy as np
import pytest

from spotlab.infra.config import ConfigError, load_config, resolve
from spotlab.tasks.graph.config import DATASETS, TUConfig

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("profile", [None, "quick", "tu"])
def test_example_config_runs_embed_then_classify(profile):
    config = load_config(ROOT / "examples" / "graph.yaml", profile=profile)
    assert config.active_stages() == ["embed", "classify"]
    assert config.embed.data.kind == ("tu" if profile == "tu" else "sbm-pair")


def test_bad_graph_config_names_the_field():
    with pytest.raises(ConfigError, match=r"embed\.data.*'erdos'.*sbm-pair"):
        resolve({"stages": ["embed"], "embed": {"data": {"kind": "erdos"}}}, "test")
    with pytest.raises(ConfigError, match=r"embed\.model\.sampler.*batch.*sequential.*gibbs"):
        resolve({"stages": ["embed"], "embed": {"model": {"kind": "icgmm", "sampler": "gibbs"}}}, "test")
    with pytest.raises(ConfigError, match="stages lists 'classify' but the config has no 'classify' section"):
        resolve({"stages": ["embed", "classify"], "embed": {}}, "test")


def test_every_dataset_kind_builds_a_graph_union(tmp_path):
    folder = tmp_path / "TOY"
    folder.mkdir()
    (folder / "TOY_A.txt").write_text("1, 2\n2, 1\n3, 4\n4, 3\n")
    (folder / "TOY_graph_indicator.txt").write_text("1\n1\n2\n2\n")
    (folder / "TOY_graph_labels.txt").write_text("1\n2\n")
    built = {kind: cfg(**({"root": str(tmp_path), "name": "TOY"} if kind == "tu" else {})).build(seed=0)
             for kind, cfg in DATASETS.items()}
    for graphs in built.values():
        assert graphs.adjacency.shape == (len(graphs.graph),) * 2 and graphs.n_graphs == graphs.graph.max() + 1
        np.testing.assert_array_equal(graphs.labels.sum(axis=1) > 0, True)
    assert built["tu"].targets.tolist() == [0, 1]
    with pytest.raises(FileNotFoundError, match="MUTAG_A.txt"):
        TUConfig(root=str(tmp_path)).build(seed=0)
