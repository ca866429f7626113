"""Child processes of the embedded stack (API server, worker, agent) for ``hwnas demo``, the
``hwnas`` commands and the benchmarks.

Each child runs in its own process group with its output in a log file, and is stopped with
SIGTERM to the group (the agent gives its lease back, the worker finishes its task) before a
SIGKILL. Children end with their parent however it ends, SIGKILL included: on Linux the
kernel sends them SIGTERM when it dies (``prctl(PR_SET_PDEATHSIG)``, armed between fork and
exec), and a Python child (``-m module``) also runs under ``services.parent_watch``, whose
watchdog thread ends the child's whole group once its parent is gone.

The death signal follows the parent *thread* that started the child: start children from a
thread that lives as long as they should (the main thread).
"""

from __future__ import annotations

import ctypes
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

from services.parent_watch import ORPHAN_GRACE_S

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
STOP_GRACE_S = 15.0


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

    def stop(self, grace_s: float = STOP_GRACE_S) -> int:
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
    """Start ``argv`` (a Python module call, under the parent watchdog, when it begins with
    ``-m``) in a new session, to end when this process ends."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")
    command = list(argv)
    if argv[0] == "-m":
        watch = ["-m", "services.parent_watch", str(os.getpid()), str(ORPHAN_GRACE_S)]
        command = [sys.executable, *watch, *argv]
    popen = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )
    return ChildProcess(name, popen, log_path, log)


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has Linux send the child SIGTERM when this process dies; None on
    other systems (the watchdog of ``services.parent_watch`` still covers Python children).

    libc is loaded here, in the parent: between fork and exec the child only makes the call.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent, sigterm = os.getpid(), int(signal.SIGTERM)

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, sigterm)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), sigterm)

    return arm


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
