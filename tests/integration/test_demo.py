"""``hwnas demo --quick`` end to end, as a user runs it: real API, worker and agent processes
on embedded defaults; it prints the machine's state, measures (each figure marked with its
verdict), builds the lookup table, and either fits a predictor, searches and plots, or, when
too few networks measured clean on this machine, refuses saying why and what to do."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from services.cli.stack import enroll_device

from .conftest import Stack


@pytest.mark.slow
def test_quick_demo_searches_and_writes_the_pareto_plot(tmp_path: Path) -> None:
    env = {**os.environ, "HWNAS_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    env.pop("HWNAS_SERVER_URL", None)
    env.pop("HWNAS_DATABASE_URL", None)
    env.pop("HWNAS_BROKER_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "demo", "--quick", "--threads", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    state = out.splitlines()[0]
    quiet_or_busy = r"machine state: (quiet \(|busy: )other processes use [0-9.]+ cores.*"
    assert re.fullmatch(quiet_or_busy, state), state
    assert re.search(r"dashboard: http://127\.0\.0\.1:\d+/ui/ \(sign in with", out), out
    verdicts = re.findall(r"│ (clean|unstable: |disturbed: )", out)
    assert len(verdicts) >= 3, out  # each measured architecture is marked
    assert "lookup table: built on clean measurements only" in out, out
    if "refusing to fit predictors" in out:  # a busy machine: too few clean networks
        assert "re-run on a quiet machine, or pass --include-unclean" in out
        assert "networks measured not clean" in out or "measured only unclean" in out
        assert "the search uses the" not in out
        assert not list(tmp_path.glob("pareto-*.png"))
        return
    assert "measured_latency_ms" in out and "meets_budget" in out and "budget_verdict" in out
    assert re.search(r"follow it live: http://127\.0\.0\.1:\d+/ui/searches/\w+", out), out
    assert "predictors fit on" in out and "(clean)" in out and "the search uses the" in out
    (calibration,) = tmp_path.glob("calibration-*.png")
    assert calibration.stat().st_size > 10_000
    (plot,) = tmp_path.glob("pareto-*.png")
    with Image.open(plot) as image:
        assert image.size == (800, 500)
    assert plot.stat().st_size > 10_000


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_second_demo_run_enrolls_its_device_again(stack: Stack) -> None:
    """The demo's device exists after a first run: a second run finds it by name and gets a
    fresh one-time token for its new agent."""
    with stack.api() as api:
        device_id, first_token = enroll_device(api)
        again_id, second_token = enroll_device(api)
    assert again_id == device_id
    assert second_token != first_token
