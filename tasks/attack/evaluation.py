"""Robustness evaluation: run a list of attacks on the same examples, summarise each as one table row, and run
AutoAttack-style sanity checks whose failures are reported as warnings (never silently):

- zero gradients: examples whose DLR loss has an all-zero input gradient at the clean point (gradient masking,
  or a model DLR does not suit), for every attack that uses a DLR loss;
- robust accuracy non-increasing in ε across the configured radii of one attack;
- attack success at least that of uniform random noise in the same ε-ball, judged by the attack's own criterion
  (misclassification, or the attack's target)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spotlab.tasks.attack.base import AttackResult, AttackSettings
from spotlab.tasks.attack.losses import attack_objective
from spotlab.tasks.attack.threat import Norm, norms, random_start
from spotlab.tasks.train.loop import predict


def attack_label(attack: AttackSettings) -> str:
    """A short human-readable name, e.g. ``apgd-dlr-targeted linf eps=0.031``."""
    targeted = "-targeted" if attack.targeted else ""
    return f"{attack.kind}-{attack.loss}{targeted} {attack.norm} eps={attack.eps:.4g}"


def noise_success_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: Norm,
                       bounds: tuple[float, float], seed: int, target: torch.Tensor | None = None) -> float:
    """Success of one uniform random point of the ε-ball per example: misclassified, or (``target``) on target."""
    generator = torch.Generator(device=x.device).manual_seed(seed)
    prediction = predict(model, random_start(x, eps, norm, bounds, generator)).argmax(1)
    return float((prediction != y if target is None else prediction == target).float().mean())


def zero_dlr_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, targeted: bool) -> int:
    """Examples whose (targeted: towards the strongest other class) DLR loss has an all-zero input gradient at the
    clean point, as AutoAttack's ``check_zero_gradients``."""
    was_training = model.training
    model.eval()
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        target = logits.detach().scatter(1, y[:, None], float("-inf")).argmax(1) if targeted else None
        (grad,) = torch.autograd.grad(attack_objective("dlr", logits, y, target).sum(), x)
    model.train(was_training)
    return int((grad.flatten(1).abs().sum(1) == 0).sum())


def sanity_warnings(rows: list[dict], zero_gradients: dict[str, int] | None = None) -> list[str]:
    """The failed sanity checks, one sentence each, from summary rows (``eps``, ``robust_accuracy``,
    ``success_rate``, ``noise_success_rate``; the attack's settings other than ``eps`` in ``attack_family``) and
    from the zero-gradient counts per attack label."""
    found = [f"{label}: {count} examples have an all-zero DLR gradient at the clean input; gradient-based attacks "
             "may be unreliable here (gradient masking?)" for label, count in (zero_gradients or {}).items() if count]
    families: dict[str, list[dict]] = {}
    for row in rows:
        families.setdefault(row["attack_family"], []).append(row)
        if row["success_rate"] < row["noise_success_rate"]:
            found.append(f"{row['attack']}: success {row['success_rate']:.4g} is below uniform random noise's "
                         f"{row['noise_success_rate']:.4g} at the same eps")
    for family, members in families.items():
        members = sorted(members, key=lambda r: r["eps"])
        for smaller, larger in zip(members, members[1:]):
            if larger["robust_accuracy"] > smaller["robust_accuracy"]:
                found.append(f"{family}: robust accuracy rises with eps ({smaller['robust_accuracy']:.4g} at "
                             f"eps={smaller['eps']:.4g}, {larger['robust_accuracy']:.4g} at eps={larger['eps']:.4g})")
    return found


def summarise(attack: AttackSettings, result: AttackResult, x: torch.Tensor, y: torch.Tensor,
              clean_prediction: torch.Tensor, adversarial_prediction: torch.Tensor) -> dict:
    delta = result.x_adv - x
    return {
        "attack": attack_label(attack),
        "attack_family": attack_label(attack).rsplit(" eps=", 1)[0] + f" steps={attack.steps} "
                         f"restarts={attack.restarts}",
        "kind": attack.kind,
        "loss": attack.loss,
        "targeted": attack.targeted,
        "norm": attack.norm,
        "eps": attack.eps,
        "steps": attack.steps,
        "restarts": attack.restarts,
        "n": len(y),
        "clean_accuracy": float((clean_prediction == y).float().mean()),
        "success_rate": float(result.success.float().mean()),
        "robust_accuracy": float((adversarial_prediction == y).float().mean()),
        "mean_linf": float(norms(delta, "linf").mean()),
        "mean_l2": float(norms(delta, "l2").mean()),
        "mean_iterations": float(result.iterations.float().mean()),
        "seconds": round(result.seconds, 4),
        "cpu_seconds": round(result.cpu_seconds, 4),
    }


def evaluate_attacks(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attacks: list[AttackSettings],
                     bounds: tuple[float, float], seed: int) -> tuple[list[dict], dict[str, np.ndarray], list[str]]:
    """(one summary row per attack, per-example arrays keyed ``<i>.<field>`` for attack i, sanity warnings)."""
    clean_prediction = predict(model, x).argmax(1)
    rows, arrays = [], {"x": x.numpy(), "y": y.numpy(), "clean_prediction": clean_prediction.numpy()}
    zero_gradients = {}
    for i, attack in enumerate(attacks):
        result = attack.run(model, x, y, bounds, seed)
        adversarial_prediction = predict(model, result.x_adv).argmax(1)
        row = summarise(attack, result, x, y, clean_prediction, adversarial_prediction)
        row["noise_success_rate"] = noise_success_rate(model, x, y, attack.eps, attack.norm, bounds, seed,
                                                       result.target if attack.targeted else None)
        rows.append(row)
        if attack.loss == "dlr":
            zero_gradients[row["attack"]] = zero_dlr_gradients(model, x, y, attack.targeted)
        arrays |= {
            f"{i}.x_adv": result.x_adv.numpy(),
            f"{i}.prediction": adversarial_prediction.numpy(),
            f"{i}.success": result.success.numpy(),
            f"{i}.iterations": result.iterations.numpy(),
            f"{i}.target": result.target.numpy(),
            f"{i}.norm": norms(result.x_adv - x, attack.norm).numpy(),
        }
    return rows, arrays, sanity_warnings(rows, zero_gradients)
