"""``hwnas demo --quick`` end to end, as a user runs it: real API, worker and agent processes
on embedded defaults; it measures, builds the lookup table, fits a predictor, searches and plots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image


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
    assert "measured_latency_ms" in done.stdout and "meets_budget" in done.stdout
    assert "predictors fit on" in done.stdout and "the search uses the" in done.stdout
    (calibration,) = tmp_path.glob("calibration-*.png")
    assert calibration.stat().st_size > 10_000
    (plot,) = tmp_path.glob("pareto-*.png")
    with Image.open(plot) as image:
        assert image.size == (800, 500)
    assert plot.stat().st_size > 10_000
