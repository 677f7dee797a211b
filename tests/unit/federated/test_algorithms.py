"""FedAvg retraces centralised SGD with one client; upload and download bytes are the exact wire sizes; the
federated loop's history is consistent; bad configs name the field."""

from __future__ import annotations

import math

import pytest
import torch

from spotlab.infra.config import ConfigError, apply_override, parse_override, resolve
from spotlab.models.registry import build_model
from spotlab.tasks.compress.eden import EdenConfig
from spotlab.tasks.data.config import DataConfig, SyntheticRegressionConfig
from spotlab.tasks.data.datasets import prepare
from spotlab.tasks.federated.config import FederatedConfig
from spotlab.tasks.federated.fedavg import FedAvgConfig, client_stream
from spotlab.tasks.federated.jacobians import flat_parameters
from spotlab.tasks.federated.loop import rounds_to_target, run_federated
from spotlab.tasks.federated.ntkfl import NTKFLConfig
from spotlab.tasks.federated.protocol import ClientJob
from spotlab.tasks.train.loop import fit
from spotlab.tasks.train.objectives import ERMConfig
from spotlab.tasks.train.optimizers import SGDConfig
from spotlab.tasks.train.schedules import ConstantScheduleConfig, build_scheduler


def test_fedavg_with_one_client_and_full_participation_is_centralised_sgd(data):
    splits, info = data
    optimizer = SGDConfig(lr=0.1, momentum=0.0, weight_decay=0.0)
    cfg = FederatedConfig(model={"kind": "mlp", "hidden": [8]}, clients=1, clients_per_round=1, alpha=None, rounds=3,
                          algorithm=FedAvgConfig(local_epochs=2, batch_size=16, optimizer=optimizer))
    federated = run_federated(cfg, splits, info, seed=4).model

    torch.manual_seed(4)  # the loop builds its model under the run seed
    central = build_model(cfg.model, info.input_shape, info.num_outputs, info.mean, info.std)
    sgd = optimizer.build(central.parameters())
    train = (torch.as_tensor(splits.x_train), torch.as_tensor(splits.y_train))
    fit(central, sgd, build_scheduler(ConstantScheduleConfig(), sgd, 6), ERMConfig().build("classification", None),
        train, (train[0][:0], train[1][:0]), task="classification", epochs=6, batch_size=16,
        seed=client_stream(4, 0))
    torch.testing.assert_close(flat_parameters(federated), flat_parameters(central), rtol=0, atol=1e-6)


def test_upload_bytes_are_the_exact_wire_sizes(make_model, data):
    model = make_model(hidden=(8,))
    splits, _ = data
    x, y = torch.as_tensor(splits.x_train[:30]), torch.as_tensor(splits.y_train[:30])
    job = ClientJob(0, 0, x, y, model, seed=0)
    params, (n, d), c = len(flat_parameters(model)), x.shape, 3

    ntk = NTKFLConfig().build().client_update(job)
    assert ntk.wire_bytes() == 4 * n * c * params + 4 * n * c + 8 * n + 4 * n * d
    projected = NTKFLConfig(projection_dim=16).build().client_update(job)
    assert projected.parts["jacobian"].wire_bytes() == 4 * n * c * 16
    eden = NTKFLConfig(compressor=EdenConfig(bits=2)).build().client_update(job)
    # 2 bits per coordinate plus a few scalars (a scale per rotated chunk, seed, bits).
    assert 2 * n * c * params / 8 <= eden.parts["jacobian"].wire_bytes() < 2 * n * c * params / 8 + 256
    assert eden.wire_bytes() - eden.parts["jacobian"].wire_bytes() == ntk.wire_bytes() - 4 * n * c * params

    fedavg = FedAvgConfig().build().client_update(job)
    assert fedavg.wire_bytes() == 4 * params + 8


def test_history_accounts_every_round(data):
    splits, info = data
    cfg = FederatedConfig(model={"kind": "mlp", "hidden": [8]}, clients=6, clients_per_round=2, rounds=3,
                          alpha=0.5, target_accuracy=1.0,
                          algorithm=NTKFLConfig(lr=0.1, taus=[5, 10], compressor=EdenConfig(bits=4)))
    result = run_federated(cfg, splits, info, seed=0)
    history = result.history
    params = sum(p.numel() for p in result.model.parameters())
    assert [row["round"] for row in history] == [0, 1, 2, 3]
    assert all(row["download_bytes"] == 2 * 4 * params for row in history[1:])
    assert history[-1]["cumulative_upload_bytes"] == sum(row["upload_bytes"] for row in history)
    assert all(row["tau"] in (5, 10) for row in history[1:])
    assert result.rounds_to_target is None  # never perfect on this data in three rounds
    accuracies = [row["test_accuracy"] for row in history]
    assert rounds_to_target(history, max(accuracies)) == accuracies.index(max(accuracies))
    assert rounds_to_target(history, 0.0) == 0  # the initial model already meets a zero target
    assert all(math.isfinite(row["test_loss"]) for row in history)


@pytest.mark.parametrize(("override", "message"), [
    ("federated.clients_per_round=30", "clients_per_round=30 exceeds clients=20"),
    ("federated.algorithm.kind=fedprox", "federated.algorithm.kind='fedprox' is unknown"),
    ("federated.algorithm.taus=[200, 100]", "strictly increasing"),
    ("federated.alpha=0", "federated.alpha"),
])
def test_bad_federated_config_names_the_field(override, message):
    raw = {"stages": ["prep", "federated"], "federated": {"algorithm": {"kind": "ntk-fl"}}}
    apply_override(raw, *parse_override(override), "test")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        resolve(raw, "test")


def test_regression_data_is_refused_with_the_reason():
    splits, info = prepare(DataConfig(dataset=SyntheticRegressionConfig(n_samples=50)), seed=0)
    with pytest.raises(ValueError, match="classification"):
        run_federated(FederatedConfig(clients=2, clients_per_round=1, rounds=1), splits, info, seed=0)
