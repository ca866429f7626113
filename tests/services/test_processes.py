"""Children started by ``services.processes`` end with their parent however it ends: a real
parent process starts the API, a worker, a plain ``sleep`` and a child that ignores SIGTERM
and has a child of its own, and is SIGKILLed; every one of them is gone within seconds."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from services import processes

REPO_ROOT = Path(__file__).resolve().parents[2]

STACK_PARENT = """
import json, pathlib, sys, time
from services import processes
logs, port = pathlib.Path(sys.argv[1]), sys.argv[2]
env = {"HWNAS_DATA_DIR": str(logs)}
server = ["-m", "services.cli.main", "server", "--port", port]
api = processes.start("api", server, log_dir=logs, env=env)
children = [
    api,
    processes.start("worker", ["-m", "search_worker"], log_dir=logs, env=env),
    processes.start("sleep", ["sleep", "300"], log_dir=logs),
    processes.start("stubborn", ["-m", "tests.services.stubborn_child"], log_dir=logs),
]
url = f"http://127.0.0.1:{port}/v1/health"
processes.wait_until(processes.http_ok(url), child=api, timeout_s=120, what="API up")
print(json.dumps({c.name: c.popen.pid for c in children}), flush=True)
time.sleep(600)
"""

# The watchdog alone: the child is started without the parent-death signal.
BARE_PARENT = """
import json, os, subprocess, sys, time
watched = [sys.executable, "-m", "services.parent_watch", str(os.getpid()), "1"]
child = subprocess.Popen(
    [*watched, "-m", "tests.services.stubborn_child"], start_new_session=True,
    stdout=open(sys.argv[1], "w"),
)
print(json.dumps({"stubborn": child.pid}), flush=True)
time.sleep(600)
"""


def _start_parent(code: str, *args: str) -> tuple[subprocess.Popen[str], dict[str, int]]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    parent = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    line = parent.stdout.readline()
    assert line, f"the parent exited with {parent.wait()}"
    return parent, json.loads(line)


def _grandchild(log: Path) -> int:
    """The stubborn child's child, once it has printed its pid."""
    deadline = time.monotonic() + 60
    while not log.exists() or not log.read_text().strip().isdigit():
        assert time.monotonic() < deadline, "the stubborn child never started its child"
        time.sleep(0.1)
    return int(log.read_text().strip())


def _alive(pids: dict[str, int], timeout_s: float) -> dict[str, int]:
    """The pids still running (zombies count as gone) after waiting up to ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = {}
        for name, pid in pids.items():
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive[name] = pid
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def _kill_survivors(pids: dict[str, int]) -> None:
    for pid in pids.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


def test_the_embedded_stack_ends_when_its_parent_is_sigkilled(tmp_path: Path) -> None:
    parent, pids = _start_parent(STACK_PARENT, str(tmp_path), str(processes.free_port()))
    pids["grandchild"] = _grandchild(tmp_path / "stubborn.log")
    tree = {p.pid for p in psutil.Process(parent.pid).children(recursive=True)}
    assert set(pids.values()) <= tree, (pids, tree)
    everyone = pids | {f"pid {pid}": pid for pid in tree - set(pids.values())}
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    survivors = _alive(everyone, timeout_s=processes.ORPHAN_GRACE_S + 10)
    _kill_survivors(survivors)
    assert survivors == {}


def test_the_watchdog_alone_ends_a_stubborn_child_and_its_group(tmp_path: Path) -> None:
    log = tmp_path / "stubborn.log"
    parent, pids = _start_parent(BARE_PARENT, str(log))
    pids["grandchild"] = _grandchild(log)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    survivors = _alive(pids, timeout_s=10)
    _kill_survivors(survivors)
    assert survivors == {}
