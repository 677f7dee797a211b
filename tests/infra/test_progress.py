"""The live progress display: progress events become bars (done/total, one per unit) and never log lines."""

from __future__ import annotations

import io
import logging

from rich.console import Console

from spotlab.infra.progress import console_output
from spotlab.tasks.progress import advance
from spotlab.tasks.study.report import cell_text, significant


def test_events_drive_bars_and_restarting_units_reset(monkeypatch):
    import spotlab.infra.progress as progress_module

    screen = io.StringIO()
    monkeypatch.setattr(progress_module, "Console", lambda stderr: Console(file=screen, force_terminal=True,
                                                                         width=120))
    with console_output(live=True):
        root = logging.getLogger()
        [bars] = [h for h in root.handlers if isinstance(h, progress_module.ProgressHandler)]
        advance("stage", 1, 3, "train")
        advance("epoch", 5, 10, "loss 0.1")
        advance("epoch", 10, 10, "loss 0.05")
        advance("epoch", 1, 20, "loss 1.0")  # the next stage's training restarts the epoch bar
        tasks = {t.description.split()[0]: t for t in bars.progress.tasks}
        assert (tasks["stage"].completed, tasks["stage"].total) == (1, 3)
        assert (tasks["epoch"].completed, tasks["epoch"].total) == (1, 20)
        logging.getLogger("spotlab.test").info("a line")
    text = screen.getvalue()
    assert "a line" in text and "epoch 1/20" not in text  # events are bars, not printed records


def test_significant_digits_in_tables():
    assert significant(0.0009193880617735928) == 0.0009194
    assert significant({"a": [1.23456789, 2], "b": "x"}) == {"a": [1.235, 2], "b": "x"}
    assert cell_text(12345.678) == "1.235e+04" and cell_text(0.5) == "0.5" and cell_text(3) == "3"
