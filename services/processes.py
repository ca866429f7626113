"""Child processes of the embedded stack (API server, worker, agent) for ``hwnas demo``.

Each child runs in its own process group with its output in a log file, and is stopped with
SIGTERM (the agent gives its lease back, the worker finishes its task) before a SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class ChildProcess:
    """A started child with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    _log: object = field(repr=False, default=None)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float = 15.0) -> int:
        """SIGTERM the process group, then SIGKILL after ``grace_s``; returns the exit code."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        close = getattr(self._log, "close", None)
        if close is not None:
            close()
        return self.popen.returncode


def start(
    name: str,
    argv: Sequence[str],
    *,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
) -> ChildProcess:
    """Start ``argv`` (a Python module call when it begins with ``-m``) in a new session."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")
    command = [sys.executable, *argv] if argv[0] == "-m" else list(argv)
    popen = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    return ChildProcess(name, popen, log_path, log)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    ready: Callable[[], bool], *, child: ChildProcess, timeout_s: float, what: str
) -> None:
    """Poll ``ready`` until true; fail early with the child's log when it exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if not child.alive():
            raise RuntimeError(f"{child.name} exited before {what}:\n{child.log_tail()}")
        time.sleep(0.2)
    raise TimeoutError(f"{what} not reached within {timeout_s:.0f}s:\n{child.log_tail()}")


def http_ok(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            return httpx.get(url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    return probe
