"""``bench/gpu_check.sh --dry-run``: the device check's code paths on the CPU at a tiny size,
one JSON line whose GPU figures are null with the reason (issue 15)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_dry_run_prints_one_line_with_every_part() -> None:
    done = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_check.sh"), "--dry-run"],
        env={**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["dry_run"] is True and report["device"] == "cpu"
    # every GPU figure is null and says why; nothing else failed or ran out of time
    assert set(report["latency"]) == {"ort-cuda", "ort-tensorrt", "tensorrt", "torch-cuda"}
    assert all(v is None for v in report["latency"].values())
    assert all(v is None for v in report["peak_memory_mb"].values())
    assert report["search"]["cuda"] is None and report["search"]["cpu_over_cuda"] is None
    assert len(report["reasons"]) == 7
    assert set(report["reasons"].values()) == {"dry run: CPU only"}
    # the CPU stand-ins ran the agent's measurement path, the search stepped on the CPU
    for backend in ("ort-cpu", "torch-cpu"):
        for network in ("all_k3_e6", "all_k7_e6"):
            figure = report["cpu_stand_ins"][backend][network]
            assert figure["median_ms"] > 0 and figure["cv"] >= 0 and figure["verdict"]
    cpu = report["search"]["cpu"]
    assert cpu["device"] == "cpu" and cpu["step_ms"] > 0 and math.isfinite(cpu["final_weight_loss"])
    assert cpu["steps"] == cpu["steps_planned"] == 2
    lut = report["lut_vs_measured"]
    assert lut["backend"] == "ort-cpu" and lut["networks"] == 2
    assert lut["mape_pct"] >= abs(lut["bias_pct"]) and math.isfinite(lut["max_abs_pct"])
