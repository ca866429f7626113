"""The device-busy lock between a profiler agent and a worker on one host.

When a worker trains, exports or fits on the CPU an agent measures on, both slow down and the
agent's figures are worthless (docs/results.md: about 3x slow). Two ``fcntl.flock`` files in a
host-local directory let the worker pause while the agent measures:

- the agent takes ``request.lock`` exclusively (announcing that it wants the device), then
  ``busy.lock`` exclusively, holds both through its timed phases, and releases both;
- the worker, before each unit of CPU work (a training step, one model's export, a predictor
  fit), takes ``request.lock`` shared (so it blocks while an agent wants or holds the
  device), then ``busy.lock`` shared, releases ``request.lock``, does the work and releases
  ``busy.lock``.

So an agent waits at most for the unit in flight, and a stream of units cannot starve it:
once the agent holds ``request.lock`` no new one can start. Locks are per open file, taken
on files opened for each use, so a forked process never shares one. The kernel drops a lock
when its holder dies, so a killed process never leaves the device busy.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

HOST_LOCK_DIR_ENV = "HWNAS_HOST_LOCK_DIR"
REQUEST_FILE = "request.lock"
NOTABLE_PAUSE_S = 0.01  # a worker turn that waited longer than this is worth a log line
BUSY_FILE = "busy.lock"


def default_lock_dir() -> Path:
    """``$HWNAS_HOST_LOCK_DIR``, else a folder of this user's under the system temp dir."""
    configured = os.environ.get(HOST_LOCK_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(tempfile.gettempdir()) / f"hwnas-host-lock-{os.getuid()}"


class HostLock:
    """The two lock files of one host-local directory (created on first use)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None else default_lock_dir()
        self._turns = threading.local()  # this thread's open worker turns (nesting depth)

    def _open(self, stack: ExitStack, name: str) -> IO[bytes]:
        self.directory.mkdir(parents=True, exist_ok=True)
        return stack.enter_context((self.directory / name).open("ab"))

    @contextmanager
    def measuring(self) -> Iterator[float]:
        """The agent side: hold the device for the block; yields the seconds waited for it."""
        start = time.monotonic()
        with ExitStack() as stack:
            request = self._open(stack, REQUEST_FILE)
            busy = self._open(stack, BUSY_FILE)
            fcntl.flock(request, fcntl.LOCK_EX)
            fcntl.flock(busy, fcntl.LOCK_EX)
            self._turns.depth = 1
            try:
                yield time.monotonic() - start
            finally:
                self._turns.depth = 0
                fcntl.flock(busy, fcntl.LOCK_UN)
                fcntl.flock(request, fcntl.LOCK_UN)

    @contextmanager
    def worker_turn(self) -> Iterator[float]:
        """The worker side: one unit of CPU work (a training step, a model export, a
        predictor fit) while no agent measures; yields the seconds paused.

        Reentrant per thread: a unit inside a unit (a step exporting the network it needs)
        holds the device already. Taking ``request.lock`` again there would deadlock with an
        agent that took it and waits for ``busy.lock``."""
        depth = getattr(self._turns, "depth", 0)
        if depth:
            self._turns.depth = depth + 1
            try:
                yield 0.0
            finally:
                self._turns.depth = depth
            return
        start = time.monotonic()
        with ExitStack() as stack:
            request = self._open(stack, REQUEST_FILE)
            busy = self._open(stack, BUSY_FILE)
            fcntl.flock(request, fcntl.LOCK_SH)
            try:
                fcntl.flock(busy, fcntl.LOCK_SH)
            finally:
                fcntl.flock(request, fcntl.LOCK_UN)
            self._turns.depth = 1
            try:
                yield time.monotonic() - start
            finally:
                self._turns.depth = 0
                fcntl.flock(busy, fcntl.LOCK_UN)
