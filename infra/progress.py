"""What the CLI shows while a flow runs: a live rich display on a terminal, plain log lines everywhere else.

Stages and algorithms report progress as log records (:mod:`spotlab.tasks.progress`); :func:`console_output`
routes them. On a terminal one bar per unit (paper, stage, epoch, step) shows done/total, elapsed time and ETA,
and ordinary log records print above the bars. Off a terminal (CI, pipes, ``--json``) nothing is animated: log
lines go to stderr at INFO, or DEBUG with ``-v`` (per-epoch lines are DEBUG).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from spotlab.tasks.progress import EVENT_ATTRIBUTE, ProgressEvent

LOG_FORMAT = "%(asctime)s %(name)s: %(message)s"
# Loggers whose per-request or per-step chatter would drown the stage lines.
_NOISY = ("httpx", "httpcore", "prefect.task_runs", "prefect.flow_runs")


class ProgressHandler(logging.Handler):
    """Turns :class:`ProgressEvent` records into bars of one :class:`rich.progress.Progress`."""

    def __init__(self, progress: Progress):
        super().__init__(logging.DEBUG)
        self.progress = progress
        self.bars: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        event: ProgressEvent | None = getattr(record, EVENT_ATTRIBUTE, None)
        if event is None:
            return
        description = f"{event.unit} {event.detail}".strip()
        if event.unit not in self.bars:
            self.bars[event.unit] = self.progress.add_task(description, total=event.total)
        bar = self.bars[event.unit]
        # A bar that restarts (the next stage's epochs) resets its clock, so the ETA is the current task's.
        if event.done < self.progress.tasks[bar].completed:
            self.progress.reset(bar, total=event.total)
        self.progress.update(bar, completed=event.done, total=event.total, description=description)


class _NotProgress(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not hasattr(record, EVENT_ATTRIBUTE)


def _lines_handler(live: bool, console: Console, level: int) -> logging.Handler:
    if live:
        handler: logging.Handler = RichHandler(console=console, show_path=False, markup=False, rich_tracebacks=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(level)
    handler.addFilter(_NotProgress())
    return handler


@contextlib.contextmanager
def console_output(verbose: bool = False, live: bool | None = None) -> Iterator[None]:
    """Route spotlab's logs (and progress) for one CLI command; ``live`` defaults to "stderr is a terminal"."""
    live = sys.stderr.isatty() if live is None else live
    level = logging.DEBUG if verbose else logging.INFO
    root, spotlab_logger = logging.getLogger(), logging.getLogger("spotlab")
    saved = (root.level, list(root.handlers), spotlab_logger.level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    console = Console(stderr=True)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("eta"), TimeRemainingColumn(), console=console)
    root.setLevel(level)
    root.handlers = [_lines_handler(live, console, level)] + ([ProgressHandler(progress)] if live else [])
    # Progress records are DEBUG: with a live display the spotlab logger lets them through at any console level.
    spotlab_logger.setLevel(logging.DEBUG if live else level)
    try:
        with progress if live else contextlib.nullcontext():
            yield
    finally:
        root.setLevel(saved[0])
        root.handlers = saved[1]
        spotlab_logger.setLevel(saved[2])
