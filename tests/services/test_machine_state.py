"""The demo's machine-state line: a real busy child process makes the machine busy; the line
says quiet or busy as the thresholds decide."""

from __future__ import annotations

import subprocess
import sys

from services.cli.machine_state import MachineState, sample_machine_state


def test_a_busy_process_makes_the_machine_busy() -> None:
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        state = sample_machine_state(interval_s=1.0)
    finally:
        spinner.kill()
        spinner.wait()
    assert state.busy_cores >= 0.7  # the spinner alone keeps about one core busy
    assert not state.quiet
    line = state.line()
    assert line.startswith("machine state: busy: other processes use ")
    assert line.endswith("; figures will be marked")


def test_the_line_of_a_quiet_and_of_a_stolen_machine() -> None:
    quiet = MachineState(0.04, 2, 0.0, 0.12, 2.0)
    assert quiet.quiet
    assert quiet.line() == (
        "machine state: quiet (other processes use 0.04 cores; 2 cores, sampled 2 s, "
        "load average 0.12, steal 0.0%)"
    )
    stolen = MachineState(0.04, 2, 0.05, None, 2.0)
    assert not stolen.quiet and "steal 5.0%" in stolen.line()
    assert MachineState(0.2, 2, None, None, 2.0).line().startswith("machine state: busy")


def test_the_demo_leaves_one_usable_core_to_its_own_stack(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from services.cli import demo

    for cores, threads in [(1, 1), (2, 1), (8, 7)]:
        monkeypatch.setattr(demo.os, "sched_getaffinity", lambda _pid, n=cores: set(range(n)))
        assert demo.demo_threads() == threads
