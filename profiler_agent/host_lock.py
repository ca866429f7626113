"""The device-busy lock between a profiler agent and a training worker on one host.

When a search worker trains on the CPU an agent measures on, both slow down and the agent's
figures are worthless (docs/results.md: about 3x slow). Two ``fcntl.flock`` files in a
host-local directory let the worker pause while the agent measures:

- the agent takes ``request.lock`` exclusively (announcing that it wants the device), then
  ``busy.lock`` exclusively, holds both through its timed phases, and releases both;
- the worker, before each training step, takes ``request.lock`` shared (so it blocks while
  an agent wants or holds the device), then ``busy.lock`` shared, releases ``request.lock``,
  runs the step and releases ``busy.lock``.

So an agent waits at most for the step in flight, and a stream of steps cannot starve it:
once the agent holds ``request.lock`` no new step can start. Locks are per open file, taken
on files opened for each use, so a forked process never shares one. The kernel drops a lock
when its holder dies, so a killed process never leaves the device busy.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

HOST_LOCK_DIR_ENV = "HWNAS_HOST_LOCK_DIR"
REQUEST_FILE = "request.lock"
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
            try:
                yield time.monotonic() - start
            finally:
                fcntl.flock(busy, fcntl.LOCK_UN)
                fcntl.flock(request, fcntl.LOCK_UN)

    @contextmanager
    def training_step(self) -> Iterator[float]:
        """The worker side: one step while no agent measures; yields the seconds paused."""
        start = time.monotonic()
        with ExitStack() as stack:
            request = self._open(stack, REQUEST_FILE)
            busy = self._open(stack, BUSY_FILE)
            fcntl.flock(request, fcntl.LOCK_SH)
            try:
                fcntl.flock(busy, fcntl.LOCK_SH)
            finally:
                fcntl.flock(request, fcntl.LOCK_UN)
            try:
                yield time.monotonic() - start
            finally:
                fcntl.flock(busy, fcntl.LOCK_UN)
