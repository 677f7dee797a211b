"""EF / DEF identities on one worker: c = 0 is EF, ratio = 1 is momentum SGD, state survives a checkpoint."""

from __future__ import annotations

import copy

import pytest
import torch
from pydantic import ValidationError
from torch import nn
from torch.nn.utils import parameters_to_vector

from spotlab.tasks.compress.sparse import RandomBlock
from spotlab.tasks.distributed.collective import CompressedMean
from spotlab.tasks.distributed.config import DistributedConfig
from spotlab.tasks.distributed.feedback import DetachedErrorFeedback, ErrorFeedback
from spotlab.tasks.train.config import TrainConfig

SGD = {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3))


def _train(model: nn.Module, optimizer: torch.optim.Optimizer, steps: int, first: int = 0) -> None:
    generator = torch.Generator().manual_seed(1)
    batches = [(torch.randn(16, 10, generator=generator), torch.randint(3, (16,), generator=generator))
               for _ in range(first + steps)]
    for x, y in batches[first:]:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()


def test_def_with_c_zero_is_ef_exactly(solo):
    ef_model, def_model = _model(), _model()
    ef = ErrorFeedback(ef_model.parameters(), CompressedMean(RandomBlock(4), solo, seed=3), **SGD)
    detached = DetachedErrorFeedback(def_model.parameters(), CompressedMean(RandomBlock(4), solo, seed=3), c=0.0, **SGD)
    _train(ef_model, ef, 6)
    _train(def_model, detached, 6)
    for a, b in zip(ef_model.parameters(), def_model.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(ef.state["flat"]["error"], detached.state["flat"]["error"])
    assert ef.state["flat"]["error"].abs().sum() > 0


def test_def_detaches_the_gradient_point(solo):
    model = _model()
    optimizer = DetachedErrorFeedback(model.parameters(), CompressedMean(RandomBlock(4), solo, seed=3), c=0.3, **SGD)
    _train(model, optimizer, 3)
    state = optimizer.state["flat"]
    assert torch.allclose(parameters_to_vector(model.parameters()), state["x"] - 0.3 * state["error"])
    with optimizer.evaluation_point():  # one worker: x − mean error = x − e
        assert torch.allclose(parameters_to_vector(model.parameters()), state["x"] - state["error"])


@pytest.mark.parametrize("c", [0.0, 0.3])
def test_ratio_one_is_momentum_sgd(solo, c):
    sgd_model, def_model = _model(), _model()
    sgd = torch.optim.SGD(sgd_model.parameters(), **SGD)
    detached = DetachedErrorFeedback(def_model.parameters(), CompressedMean(RandomBlock(1), solo, seed=0), c=c, **SGD)
    _train(sgd_model, sgd, 8)
    _train(def_model, detached, 8)
    for a, b in zip(sgd_model.parameters(), def_model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert torch.count_nonzero(detached.state["flat"]["error"]) == 0


def test_error_state_survives_a_checkpoint_round_trip(solo):
    model = _model()
    optimizer = DetachedErrorFeedback(model.parameters(), CompressedMean(RandomBlock(4), solo, seed=3), c=0.3, **SGD)
    _train(model, optimizer, 3)
    saved_model, saved_optimizer = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    _train(model, optimizer, 3, first=3)

    resumed = _model()
    resumed_optimizer = DetachedErrorFeedback(
        resumed.parameters(), CompressedMean(RandomBlock(4), solo, seed=3), c=0.3, **SGD
    )
    resumed.load_state_dict(saved_model)
    resumed_optimizer.load_state_dict(saved_optimizer)
    assert any(torch.count_nonzero(s["error"]) for s in saved_optimizer["state"].values())
    _train(resumed, resumed_optimizer, 3, first=3)
    for a, b in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_def_a_is_an_explicit_config_error():
    with pytest.raises(ValidationError, match="DEF-A rule of arXiv 2004.05298 could not be retrieved"):
        DistributedConfig.model_validate({"feedback": {"kind": "def-a"}})


@pytest.mark.parametrize("backend", ["torch", "horovod"])
@pytest.mark.parametrize("feedback", ["ef", "def"])
@pytest.mark.parametrize("optimizer", [
    {"kind": "adam"}, {"kind": "sgd", "nesterov": True}, {"kind": "sam"}, {"kind": "asam"}, {"kind": "fisher-sam"},
    {"kind": "m-sam"},
])
def test_feedback_without_momentum_sgd_is_a_config_error(backend, feedback, optimizer):
    with pytest.raises(ValidationError, match=f"feedback.kind='{feedback}' wraps momentum SGD"):
        TrainConfig.model_validate({
            "optimizer": optimizer, "distributed": {"workers": 2, "backend": backend, "feedback": {"kind": feedback}}
        })
