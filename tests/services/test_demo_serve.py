"""``hwnas demo --serve`` holds the stack until Ctrl-C, also when the shell started it with
SIGINT ignored (a background job), and then lets it stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

SERVE = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); "
    "from services.cli.demo import serve_until_stopped; "
    "serve_until_stopped('http://127.0.0.1:1'); print('returned', flush=True)"
)


def test_ctrl_c_ends_the_serving_even_when_the_shell_ignored_it(repo_root: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(repo_root), "COLUMNS": "200"}
    child = subprocess.Popen(
        [sys.executable, "-c", SERVE], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        first = child.stdout.readline()
        assert "the dashboard stays at http://127.0.0.1:1/ui/ until Ctrl-C" in first, first
        child.send_signal(signal.SIGINT)
        out, _ = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 0
    assert out.splitlines() == ["stopping the stack", "returned"], out
