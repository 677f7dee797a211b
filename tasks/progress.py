"""Progress events: what a long step reports so that a front end can show it, as plain log records.

Algorithms stay free of any display: they call :func:`advance`, which emits a DEBUG record on the
``spotlab.progress`` logger carrying a :class:`ProgressEvent`. The CLI turns these into a live progress display on
a terminal (``spotlab.infra.progress``); elsewhere they are ordinary debug lines (shown with ``-v``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("spotlab.progress")
EVENT_ATTRIBUTE = "spotlab_progress"


@dataclass(frozen=True)
class ProgressEvent:
    """``done`` of ``total`` units of ``unit`` (``stage``, ``epoch``, ``step``...); ``detail`` is a short status."""

    unit: str
    done: int
    total: int | None
    detail: str = ""


def advance(unit: str, done: int, total: int | None, detail: str = "") -> None:
    if not log.isEnabledFor(logging.DEBUG):
        return
    event = ProgressEvent(unit, done, total, detail)
    log.debug("%s %d/%s %s", unit, done, "?" if total is None else total, detail, extra={EVENT_ATTRIBUTE: event})
