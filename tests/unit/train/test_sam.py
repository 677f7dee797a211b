"""SAM family: the identities that pin each method down, plus schedulers, state_dict, BatchNorm and the train loop."""

from __future__ import annotations

import contextlib
import warnings

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from torch import nn

from spotlab.tasks.train.config import TrainConfig
from spotlab.tasks.train.loop import fit, train_step
from spotlab.tasks.train.optimizers import SGDConfig
from spotlab.tasks.train.sam import ASAMConfig, FisherSAMConfig, MSAMConfig, SAMConfig
from spotlab.tasks.train.schedules import CosineScheduleConfig, build_scheduler

SGD = SGDConfig(lr=0.1, momentum=0.9, weight_decay=5e-4)


def objective(model, x, y):
    return F.cross_entropy(model(x), y)


def tiny_model(seed: int = 0, batch_norm: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    layers = [nn.Linear(6, 8)] + ([nn.BatchNorm1d(8)] if batch_norm else []) + [nn.ReLU(), nn.Linear(8, 3)]
    return nn.Sequential(*layers)


def batches(count: int = 4, size: int = 12):
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(size, 6, generator=generator), torch.randint(0, 3, (size,), generator=generator))
            for _ in range(count)]


def trajectory(optimizer_config, seed: int = 0) -> list[torch.Tensor]:
    model = tiny_model(seed)
    optimizer = optimizer_config.build(model.named_parameters())
    for x, y in batches():
        train_step(model, optimizer, objective, x, y)
    return [p.detach().clone() for p in model.parameters()]


def assert_identical(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert all(torch.equal(p, q) for p, q in zip(a, b))


def perturbation(optimizer_config, model=None):
    """ε after first_step on one batch, and the gradient g it was computed from."""
    model = model or tiny_model()
    optimizer = optimizer_config.build(model.named_parameters())
    x, y = batches(1)[0]
    objective(model, x, y).backward()
    before = [p.detach().clone() for p in model.parameters()]
    grads = [p.grad.clone() for p in model.parameters()]
    optimizer.first_step()
    return [p.detach() - w for p, w in zip(model.parameters(), before)], grads, before


def test_zero_radius_is_the_base_optimizer_exactly():
    base = trajectory(SGD)
    for config in (SAMConfig(rho=0, base=SGD), ASAMConfig(rho=0, base=SGD), FisherSAMConfig(gamma=0, base=SGD)):
        assert_identical(trajectory(config), base)
    # m-SAM sums sub-batch gradients, which equals the batch gradient up to float rounding
    for p, q in zip(trajectory(MSAMConfig(rho=0, m=4, base=SGD)), base):
        torch.testing.assert_close(p, q)


def test_sam_perturbation_has_norm_rho():
    eps, grads, _ = perturbation(SAMConfig(rho=0.3))
    assert torch.linalg.vector_norm(torch.cat([e.flatten() for e in eps])).item() == pytest.approx(0.3, rel=1e-5)
    # and it points along the gradient
    cosine = F.cosine_similarity(torch.cat([e.flatten() for e in eps]), torch.cat([g.flatten() for g in grads]), 0)
    assert cosine.item() == pytest.approx(1.0, abs=1e-5)


def test_asam_perturbation_has_norm_rho_in_the_adaptive_metric():
    eta = 0.01
    eps, _, weights = perturbation(ASAMConfig(rho=0.5, eta=eta, scaled="all"))
    scaled = torch.cat([(e / (w.abs() + eta)).flatten() for e, w in zip(eps, weights)])
    assert torch.linalg.vector_norm(scaled).item() == pytest.approx(0.5, rel=1e-4)


def test_asam_scales_only_weights_by_default_as_the_official_code():
    eta = 0.01
    names = [name for name, _ in tiny_model().named_parameters()]
    eps, grads, weights = perturbation(ASAMConfig(rho=0.5, eta=eta))
    scales = [(w.abs() + eta) if "weight" in name else torch.ones_like(w) for name, w in zip(names, weights)]
    # ε = ρ T²g / ‖T g‖ with T = 1 on the biases: a bias moves along its plain gradient
    tg = torch.linalg.vector_norm(torch.cat([(t * g).flatten() for t, g in zip(scales, grads)]))
    for name, e, t, g in zip(names, eps, scales, grads):
        torch.testing.assert_close(e, 0.5 * t.square() * g / tg, rtol=1e-4, atol=1e-7)
    bias = names.index("0.bias")
    assert not torch.allclose(eps[bias], perturbation(ASAMConfig(rho=0.5, eta=eta, scaled="all"))[0][bias])


def test_asam_by_name_needs_named_parameters():
    with pytest.raises(ValueError, match="named_parameters"):
        ASAMConfig().build(tiny_model().parameters())


def test_fisher_sam_ends_on_the_fisher_ellipsoid():
    gamma, eta = 0.2, 50.0  # large η so that f = 1 + η g² is far from 1
    eps, grads, _ = perturbation(FisherSAMConfig(gamma=gamma, eta=eta))
    quadratic = sum(((1 + eta * g.square()) * e.square()).sum() for e, g in zip(eps, grads))
    assert quadratic.item() == pytest.approx(gamma**2, rel=1e-4)
    # it is not SAM's ball: f ≥ 1 shrinks the Euclidean norm below γ
    assert torch.linalg.vector_norm(torch.cat([e.flatten() for e in eps])).item() < gamma * 0.99


def test_fisher_sam_gradient_scale_sum_is_mean_with_eta_times_batch_size_squared():
    x, y = batches(1)[0]
    size = len(x)

    def epsilon(config):
        reference = tiny_model()
        optimizer = config.build(reference.named_parameters())
        optimizer.batch_size = size  # what step_on_batch records
        objective(reference, x, y).backward()
        before = [p.detach().clone() for p in reference.parameters()]
        optimizer.first_step()
        return [p.detach() - w for p, w in zip(reference.parameters(), before)]

    summed = epsilon(FisherSAMConfig(gamma=0.1, eta=2.0, gradient_scale="sum"))
    for a, b in zip(summed, epsilon(FisherSAMConfig(gamma=0.1, eta=2.0 * size**2))):
        torch.testing.assert_close(a, b)
    assert not all(torch.allclose(a, b) for a, b in zip(summed, epsilon(FisherSAMConfig(gamma=0.1, eta=2.0))))


def test_fisher_sam_without_fisher_weight_is_sam_step_for_step():
    assert_identical(trajectory(FisherSAMConfig(gamma=0.1, eta=0.0, base=SGD)), trajectory(SAMConfig(rho=0.1, base=SGD)))


def test_msam_with_m_equal_to_the_batch_is_sam_step_for_step():
    assert_identical(trajectory(MSAMConfig(rho=0.1, m=12, base=SGD)), trajectory(SAMConfig(rho=0.1, base=SGD)))
    assert_identical(trajectory(MSAMConfig(rho=0.1, m=100, base=SGD)), trajectory(SAMConfig(rho=0.1, base=SGD)))


def test_msam_averages_the_sub_batch_gradients_at_their_own_perturbations():
    rho = 0.2
    plain = SGDConfig(lr=1.0, momentum=0.0, weight_decay=0.0)
    x, y = batches(1)[0]
    model = tiny_model()
    start = [p.detach().clone() for p in model.parameters()]
    expected = [torch.zeros_like(p) for p in start]
    for half in (slice(0, 6), slice(6, 12)):  # the same as two SAM gradients, each at its own ε
        reference = tiny_model()
        sam = SAMConfig(rho=rho, base=plain).build(reference.parameters())
        objective(reference, x[half], y[half]).backward()
        sam.first_step()
        sam.zero_grad()
        objective(reference, x[half], y[half]).backward()
        for acc, p in zip(expected, reference.parameters()):
            acc += p.grad / 2
    optimizer = MSAMConfig(rho=rho, m=6, base=plain).build(model.parameters())
    train_step(model, optimizer, objective, x, y)
    for p, w, g in zip(model.parameters(), start, expected):
        torch.testing.assert_close(p.detach(), w - g)
    # and it is not SAM's step on the whole batch
    assert not all(torch.equal(a, b) for a, b in zip(model.parameters(), trajectory(SAMConfig(rho=rho, base=plain))))


def test_msam_refuses_a_bare_closure():
    model = tiny_model()
    optimizer = MSAMConfig(m=4).build(model.parameters())
    with pytest.raises(ValueError, match="step_on_batch"):
        optimizer.step(lambda: objective(model, *batches(1)[0]))


def test_perturbed_pass_leaves_batchnorm_statistics_alone():
    x, y = batches(1)[0]
    model = tiny_model(batch_norm=True)
    optimizer = SAMConfig(rho=0.5, base=SGDConfig(lr=1e-9, momentum=0.0, weight_decay=0.0)).build(model.parameters())
    reference = tiny_model(batch_norm=True)
    reference(x)  # one unperturbed forward: what the running statistics should see
    train_step(model, optimizer, objective, x, y)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.equal(getattr(model[1], name), getattr(reference[1], name))


def test_scheduler_and_state_dict_resume_exactly():
    data = batches(6)
    config = SAMConfig(rho=0.1, base=SGD)

    def run(model, optimizer, scheduler, part):
        for x, y in part:
            train_step(model, optimizer, objective, x, y)
            scheduler.step()

    model = tiny_model()
    optimizer = config.build(model.parameters())
    scheduler = build_scheduler(CosineScheduleConfig(), optimizer, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "scheduler.step() before optimizer.step()" warning
        run(model, optimizer, scheduler, data)
    assert optimizer.base_optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)

    resumed = tiny_model()
    first = config.build(resumed.parameters())
    first_scheduler = build_scheduler(CosineScheduleConfig(), first, 6)
    run(resumed, first, first_scheduler, data[:3])
    saved = (first.state_dict(), first_scheduler.state_dict(), resumed.state_dict())
    assert all("momentum_buffer" in s for s in saved[0]["state"].values())
    model2 = tiny_model(seed=5)
    model2.load_state_dict(saved[2])
    second = config.build(model2.parameters())
    second_scheduler = build_scheduler(CosineScheduleConfig(), second, 6)
    second.load_state_dict(saved[0])
    second_scheduler.load_state_dict(saved[1])
    run(model2, second, second_scheduler, data[3:])
    assert_identical(list(model2.parameters()), list(model.parameters()))


@pytest.mark.parametrize("kind", ["sam", "asam", "fisher-sam", "m-sam"])
def test_every_kind_trains_from_a_training_config(kind):
    config = TrainConfig.model_validate({"optimizer": {"kind": kind, "base": {"kind": "sgd", "lr": 0.1}}})
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(96, 6, generator=generator)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    model = tiny_model()
    optimizer = config.optimizer.build(model.named_parameters())
    scheduler = build_scheduler(config.schedule, optimizer, 8)
    history = fit(model, optimizer, scheduler, objective, (x, y), (x[:0], y[:0]), task="classification",
                  epochs=8, batch_size=32, seed=0)
    assert history[-1].train_loss < 0.8 * history[0].train_loss


def test_bad_settings_are_rejected():
    with pytest.raises(ValidationError):
        SAMConfig(rho=-1)
    with pytest.raises(ValidationError):
        MSAMConfig(m=0)
    with pytest.raises(ValidationError):
        TrainConfig.model_validate({"optimizer": {"kind": "sam", "base": {"kind": "sam"}}})


class DDPStandIn(nn.Module):
    """Stands in for DistributedDataParallel: records whether each forward runs inside ``no_sync`` (``calls``) and
    carries a process group when given one (SAM then averages its final gradients over it)."""

    def __init__(self, module, process_group=None):
        super().__init__()
        self.module, self.syncing, self.calls, self.process_group = module, True, [], process_group

    @contextlib.contextmanager
    def no_sync(self):
        self.syncing = False
        try:
            yield
        finally:
            self.syncing = True

    def forward(self, x):
        self.calls.append(self.syncing)
        return self.module(x)


def test_under_ddp_only_the_first_backward_skips_the_gradient_sync():
    model = DDPStandIn(tiny_model())
    train_step(model, SAMConfig(base=SGD).build(model.parameters()), objective, *batches(1)[0])
    assert model.calls == [False, True]


def test_msam_under_ddp_syncs_once_per_step(monkeypatch):
    reduced = []
    monkeypatch.setattr(torch.distributed, "all_reduce", lambda tensor, group: reduced.append(tensor.clone()))
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda group: 1)
    model = DDPStandIn(tiny_model(), process_group=object())
    reference = tiny_model()
    x, y = batches(1)[0]
    train_step(model, MSAMConfig(rho=0.1, m=4, base=SGD).build(model.parameters()), objective, x, y)
    train_step(reference, MSAMConfig(rho=0.1, m=4, base=SGD).build(reference.parameters()), objective, x, y)
    assert not any(model.calls)  # DDP's own per-backward all-reduce never runs
    assert len(reduced) == 1 and reduced[0].numel() == sum(p.numel() for p in reference.parameters())
    assert_identical(list(model.module.parameters()), list(reference.parameters()))
