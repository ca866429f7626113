"""The device-busy lock with real processes: no training step overlaps a measurement, and
an agent waits for at most the step in flight."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from profiler_agent.host_lock import HostLock

from ..threads import ReportingThread

STEP_S = 0.15
HOLD_S = 0.3
HOLDS = 5
SLACK_S = 1.0  # scheduling on a busy machine; a starved agent waits for many steps

AGENT_SIDE = """
import json, sys, time
from pathlib import Path
from profiler_agent.host_lock import HostLock
lock, out = HostLock(Path(sys.argv[1])), Path(sys.argv[2])
holds, hold_s = int(sys.argv[3]), float(sys.argv[4])
records = []
time.sleep(0.3)  # let the worker's step loop run first
for _ in range(holds):
    with lock.measuring() as waited:
        start = time.monotonic()
        time.sleep(hold_s)
        records.append({"start": start, "end": time.monotonic(), "waited": waited})
    time.sleep(0.05)
out.write_text(json.dumps(records))
"""


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_steps_never_overlap_a_measurement_and_the_agent_waits_one_step_at_most(
    tmp_path: Path,
) -> None:
    lock_dir, out = tmp_path / "lock", tmp_path / "agent.json"
    agent = subprocess.Popen(
        [sys.executable, "-c", AGENT_SIDE, str(lock_dir), str(out), str(HOLDS), str(HOLD_S)]
    )
    lock = HostLock(lock_dir)
    steps: list[tuple[float, float]] = []
    paused: list[float] = []
    while agent.poll() is None:
        with lock.worker_turn() as paused_s:
            start = time.monotonic()
            time.sleep(STEP_S)  # a training step's busy time
            steps.append((start, time.monotonic()))
            paused.append(paused_s)
    assert agent.wait() == 0
    held = json.loads(out.read_text())
    assert len(held) == HOLDS
    measuring = [(r["start"], r["end"]) for r in held]
    overlapping = [(s, m) for s in steps for m in measuring if _overlaps(s, m)]
    assert overlapping == []
    assert max(r["waited"] for r in held) < STEP_S + SLACK_S
    assert max(paused) >= HOLD_S * 0.9  # the worker did wait for the agent
    assert len(steps) >= HOLDS


def test_a_stream_of_steps_from_threads_cannot_starve_the_agent(tmp_path: Path) -> None:
    """Two step loops keep the device busy back to back; the agent still gets it within a
    step (``request.lock`` stops new steps once the agent asks)."""
    lock = HostLock(tmp_path)
    stop = threading.Event()

    def step_loop() -> None:
        while not stop.is_set():
            with lock.worker_turn():
                time.sleep(STEP_S)

    def agent_side() -> None:
        time.sleep(0.2)
        for _ in range(3):
            with lock.measuring() as waited:
                waits.append(waited)
            time.sleep(0.05)

    waits: list[float] = []
    threads = [ReportingThread(step_loop) for _ in range(2)]
    agent = ReportingThread(agent_side)
    for thread in (*threads, agent):
        thread.start()
    timeout_s = 3 * (STEP_S + SLACK_S) + 1.0
    agent.join(timeout=timeout_s)
    starved = agent.is_alive()
    stop.set()
    for thread in (*threads, agent):
        thread.join()
    assert not starved, f"agent still waiting after {timeout_s} s ({len(waits)} of 3 holds begun)"
    assert len(waits) == 3 and max(waits) < STEP_S + SLACK_S


def test_a_turn_inside_a_turn_holds_on_while_an_agent_waits(tmp_path: Path) -> None:
    """A training step that exports the network it needs opens a turn inside its turn while
    an agent has asked for the device: the inner turn must not queue behind the agent (which
    waits for the outer one), or neither ever moves."""
    lock = HostLock(tmp_path)
    outer_open, agent_asked = threading.Event(), threading.Event()
    finished: list[str] = []

    def step() -> None:
        with lock.worker_turn():
            outer_open.set()
            agent_asked.wait(timeout=10)
            time.sleep(0.2)  # the agent is now blocked on busy.lock, holding request.lock
            with lock.worker_turn() as paused_s:
                finished.append(f"inner paused {paused_s}")
            finished.append("outer")

    def agent_side() -> None:
        outer_open.wait(timeout=10)
        agent_asked.set()
        with lock.measuring():
            finished.append("agent")

    threads = [ReportingThread(f, daemon=True) for f in (step, agent_side)]
    for thread in threads:
        thread.start()
    threads[0].join(timeout=10)
    deadlocked = threads[0].is_alive()
    if not deadlocked:
        threads[1].join(timeout=10)
    assert not deadlocked, "the inner turn waited for the agent, which waits for the outer turn"
    assert finished == ["inner paused 0.0", "outer", "agent"]
