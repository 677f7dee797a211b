"""Model registry: every kind builds for its inputs, normalisation lives in the model, files round-trip."""

from __future__ import annotations

import pytest
import torch

from spotlab.models.registry import MODELS, build_model, model_from_bytes, model_to_bytes


@pytest.mark.parametrize("kind, shape", [("mlp", (1, 8, 8)), ("mlp", (20,)), ("cnn-small", (1, 8, 8)),
                                         ("cnn-small", (3, 32, 32)), ("resnet18", (3, 32, 32))])
def test_every_kind_builds_and_outputs_one_logit_per_class(kind, shape):
    config = MODELS[kind]()
    model = build_model(config, shape, 7)
    assert model(torch.zeros(2, *shape)).shape == (2, 7)


def test_image_models_reject_vector_inputs():
    with pytest.raises(ValueError, match="needs image inputs"):
        build_model(MODELS["cnn-small"](), (20,), 3)


def test_normalisation_is_the_first_layer_and_survives_the_file_round_trip():
    torch.manual_seed(0)
    model = build_model(MODELS["cnn-small"](channels=[4]), (3, 8, 8), 5, mean=[0.1, 0.2, 0.3], std=[1.0, 2.0, 4.0])
    x = torch.rand(4, 3, 8, 8)
    expected = model.net((x - torch.tensor([0.1, 0.2, 0.3]).view(3, 1, 1)) / torch.tensor([1.0, 2.0, 4.0]).view(3, 1, 1))
    assert torch.allclose(model(x), expected)
    restored = model_from_bytes(model_to_bytes(model, MODELS["cnn-small"](channels=[4]), (3, 8, 8), 5))
    assert torch.equal(restored(x), model(x))


def test_boolean_guard_wraps_each_integer_once_however_many_models_share_it():
    """A shared integer schema guarded once per model visit nested without bound (RecursionError in Prefect's
    parameter schema once enough families were registered)."""
    from spotlab.infra.config import PipelineConfig
    from spotlab.models.config import _refuse_booleans

    def guard(node):
        return (isinstance(node, dict) and node.get("type") == "function-before"
                and node["function"].get("function") is _refuse_booleans)

    def deepest(node, depth=0):
        if guard(node):
            assert not guard(node["schema"]), "an integer guarded twice"
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
        return max([depth] + [deepest(c, depth + 1) for c in children])

    assert deepest(PipelineConfig.__pydantic_core_schema__) < 200
