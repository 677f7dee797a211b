"""The bounded queue of the REST API's local runs: at most ``max_running`` run processes at once, at most
``max_waiting`` more waiting (as ``scheduled``) for a slot, and :class:`QueueFull` beyond that (the API answers 429).

A local run is a whole Python process with torch in it, so the machine holds only a few; on the Prefect-deployment
path the same bound is a Prefect deployment concurrency limit instead (see ``spotlab deploy --max-concurrent-runs``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from multiprocessing.connection import wait
from typing import Any, Callable

MAX_RUNNING_ENV = "SPOTLAB_MAX_CONCURRENT_RUNS"
MAX_WAITING_ENV = "SPOTLAB_MAX_QUEUED_RUNS"
log = logging.getLogger("spotlab.api")
RETRY_AFTER_S = 30  # what a refused client is told to wait: about one tiny run
DEFAULT_MAX_WAITING = 100


def default_max_running() -> int:
    """$SPOTLAB_MAX_CONCURRENT_RUNS, else half the CPUs this process may use (a run uses more than one core)."""
    if os.environ.get(MAX_RUNNING_ENV):
        return int(os.environ[MAX_RUNNING_ENV])
    return max(1, len(os.sched_getaffinity(0)) // 2)


def default_max_waiting() -> int:
    return int(os.environ.get(MAX_WAITING_ENV) or DEFAULT_MAX_WAITING)


class QueueFull(Exception):
    def __init__(self, waiting: int):
        super().__init__(f"{waiting} runs are already waiting for a slot; retry later")
        self.retry_after_s = RETRY_AFTER_S


class RunQueue:
    """Starts queued runs in submission order as slots free. ``start(item)`` launches a run and returns its
    ``multiprocessing.Process``; a watcher thread notices processes ending and starts the next waiting run."""

    def __init__(self, start: Callable[[Any], Any], max_running: int, max_waiting: int):
        if max_running < 1 or max_waiting < 0:
            raise ValueError(f"max_running must be ≥ 1 and max_waiting ≥ 0, got {max_running}, {max_waiting}")
        self.max_running, self.max_waiting = max_running, max_waiting
        self._start = start
        self._waiting: deque = deque()
        self._running: dict[int, Any] = {}  # process sentinel → process
        self._changed = threading.Condition()
        self._watcher: threading.Thread | None = None
        self._closed = False

    @property
    def running(self) -> int:
        with self._changed:
            return len(self._running)

    @property
    def waiting(self) -> int:
        with self._changed:
            return len(self._waiting)

    def submit(self, item: Any) -> None:
        """Start ``item`` now when a slot is free, else queue it; raises :class:`QueueFull` when the queue is."""
        with self._changed:
            if len(self._running) < self.max_running:
                self._launch(item)
            elif len(self._waiting) >= self.max_waiting:
                raise QueueFull(len(self._waiting))
            else:
                self._waiting.append(item)
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, daemon=True, name="spotlab-run-queue")
                self._watcher.start()
            self._changed.notify()

    def withdraw(self, item: Any) -> bool:
        """Remove a waiting ``item``; False when it is not waiting (already started, or never queued)."""
        with self._changed:
            if item in self._waiting:
                self._waiting.remove(item)
                return True
            return False

    def close(self) -> None:
        """Stop the watcher (runs already started keep running; waiting ones are dropped)."""
        with self._changed:
            self._closed = True
            self._waiting.clear()
            self._changed.notify()
        if self._watcher is not None:
            self._watcher.join(5)

    def _launch(self, item: Any) -> None:
        process = self._start(item)
        self._running[process.sentinel] = process

    def _watch(self) -> None:
        while True:
            with self._changed:
                while not self._running and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
                sentinels = list(self._running)
            # Wakes when a run ends; the timeout picks up runs started meanwhile by submit().
            ended = wait(sentinels, timeout=1.0)
            with self._changed:
                for sentinel in ended:
                    self._running.pop(sentinel).join()
                while self._waiting and len(self._running) < self.max_running and not self._closed:
                    item = self._waiting.popleft()
                    try:
                        self._launch(item)
                    except Exception:  # the watcher must outlive one run that could not start
                        log.exception("could not start queued run %s", item)
