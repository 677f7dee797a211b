"""Robustness evaluation: run a list of attacks on the same examples and summarise each as one table row."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from spotlab.tasks.attack.base import AttackResult, AttackSettings
from spotlab.tasks.attack.threat import norms
from spotlab.tasks.train.loop import predict


def attack_label(attack: AttackSettings) -> str:
    """A short human-readable name, e.g. ``apgd-dlr-targeted linf eps=0.031``."""
    targeted = "-targeted" if attack.targeted else ""
    return f"{attack.kind}-{attack.loss}{targeted} {attack.norm} eps={attack.eps:.4g}"


def summarise(attack: AttackSettings, result: AttackResult, x: torch.Tensor, y: torch.Tensor,
              clean_prediction: torch.Tensor, adversarial_prediction: torch.Tensor) -> dict:
    delta = result.x_adv - x
    return {
        "attack": attack_label(attack),
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
                     bounds: tuple[float, float], seed: int) -> tuple[list[dict], dict[str, np.ndarray]]:
    """(one summary row per attack, per-example arrays keyed ``<i>.<field>`` for attack i)."""
    clean_prediction = predict(model, x).argmax(1)
    rows, arrays = [], {"x": x.numpy(), "y": y.numpy(), "clean_prediction": clean_prediction.numpy()}
    for i, attack in enumerate(attacks):
        result = attack.run(model, x, y, bounds, seed)
        adversarial_prediction = predict(model, result.x_adv).argmax(1)
        rows.append(summarise(attack, result, x, y, clean_prediction, adversarial_prediction))
        arrays |= {
            f"{i}.x_adv": result.x_adv.numpy(),
            f"{i}.prediction": adversarial_prediction.numpy(),
            f"{i}.success": result.success.numpy(),
            f"{i}.iterations": result.iterations.numpy(),
            f"{i}.target": result.target.numpy(),
            f"{i}.norm": norms(result.x_adv - x, attack.norm).numpy(),
        }
    return rows, arrays
