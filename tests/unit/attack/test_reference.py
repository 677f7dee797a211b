"""Our APGD-CE against the Adversarial Robustness Toolbox's Auto-PGD on the same model and examples.

torchattacks is not used: it pins requests~=2.25, which would downgrade requests/idna/urllib3 for the whole
environment. ART installs cleanly and is in the ``test`` extra.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spotlab.tasks.attack.apgd import APGDConfig

art = pytest.importorskip("art", reason="the reference needs the test extra (adversarial-robustness-toolbox)")


@pytest.mark.parametrize("eps", [0.05, 0.1])
def test_apgd_ce_matches_art_auto_pgd(mlp, digits, eps):
    from art.attacks.evasion import AutoProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    splits, _ = digits
    x, y = torch.as_tensor(splits.x_test[:200]), torch.as_tensor(splits.y_test[:200])
    ours = APGDConfig(eps=eps, steps=100).run(mlp, x, y, (0.0, 1.0), seed=0)
    classifier = PyTorchClassifier(mlp, loss=torch.nn.CrossEntropyLoss(), input_shape=(1, 8, 8), nb_classes=10,
                                   clip_values=(0.0, 1.0))
    reference = AutoProjectedGradientDescent(classifier, norm=np.inf, eps=eps, eps_step=2 * eps, max_iter=100,
                                             nb_random_init=1, batch_size=200, loss_type="cross_entropy",
                                             verbose=False)
    x_ref = torch.as_tensor(reference.generate(x.numpy(), y=y.numpy()))
    with torch.no_grad():
        ours_accuracy = float((mlp(ours.x_adv).argmax(1) == y).float().mean())
        reference_accuracy = float((mlp(x_ref).argmax(1) == y).float().mean())
    # Different random starts: allow about one binomial standard deviation at n = 200.
    assert abs(ours_accuracy - reference_accuracy) <= 0.035
