"""``bench/published_fidelity.py`` on any folder of ``<device>.csv`` files: a real run on real
rows (one seed, two kinds), and the batch rules (a file's one batch, or ``--batch``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from latency_db.predictors import encode_architectures
from latency_db.spaces import resolve_space

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "published_fidelity.py"
PHONE_CSV = ROOT / "tests" / "data" / "help_fbnet_essential_ph_1_200.csv"
DEVICES_CSV = ROOT / "tests" / "data" / "help_fbnet_four_devices_600.csv"


def _run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), "--data", str(data), "--seeds", "0", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_the_bench_reports_every_kind_against_the_baseline(tmp_path: Path) -> None:
    rows = PHONE_CSV.read_text().splitlines()
    (tmp_path / "phone.csv").write_text(
        "arch,latency_ms,batch\n" + "\n".join(f"{r},1" for r in rows[1:])
    )
    done = _run(tmp_path, "--kinds", "linear", "gbdt")
    assert done.returncode == 0, done.stderr
    phone = json.loads(done.stdout.splitlines()[-1])["devices"]["phone"]
    assert phone["batch"] == 1 and phone["rows"] == 200
    assert set(phone) >= {"baseline", "linear", "gbdt", "auto"}
    for name in ("baseline", "linear", "gbdt", "auto"):
        assert 0 < phone[name]["within10_pct"] <= 100 and phone[name]["mape_pct"] > 0
    assert phone["auto"]["chosen"][0] in {"linear", "mlp", "gbdt"}
    assert phone["linear"]["mape_pct"] < phone["baseline"]["mape_pct"]  # 160 rows: ridge wins
    assert "fewshot" not in phone  # one device: nothing to transfer from


def test_the_bench_finds_a_device_that_drifted_while_it_measured(tmp_path: Path) -> None:
    """Two synthetic devices with one per-layer table: one measured at a steady speed, one
    whose speed swung by +-20% over the file; only the second shows order drift, and knowing
    its speed at each row's time (from the neighbouring rows) removes most of its error."""
    space = resolve_space("fbnet-cifar100")
    archs = [space.format(space.sample(i)) for i in range(3000)]
    rng = np.random.default_rng(0)
    table = rng.uniform(0.2, 2.0, size=(22, 9))
    ops = encode_architectures(space, archs)
    steady = table[np.arange(22), ops].sum(axis=1) + 5.0
    swings = 1.0 + 0.2 * np.sin(np.arange(len(archs)) / 100.0)
    for name, latencies in (("steady", steady), ("drifting", steady * swings)):
        (tmp_path / f"{name}.csv").write_text(
            "arch,latency_ms\n"
            + "\n".join(f"{a},{v:.4f}" for a, v in zip(archs, latencies, strict=True))
        )
    done = _run(tmp_path, "--kinds", "linear", "--shots")
    assert done.returncode == 0, done.stderr
    devices = json.loads(done.stdout.splitlines()[-1])["devices"]
    steady_drift, drifting = devices["steady"]["order_drift"], devices["drifting"]["order_drift"]
    assert abs(steady_drift["lag1_autocorr"]) < 0.2 < 0.5 < drifting["lag1_autocorr"]
    assert devices["steady"]["baseline"]["mape_pct"] < 0.01
    assert devices["drifting"]["baseline"]["mape_pct"] > 5.0
    assert drifting["speed_indexed"]["mape_pct"] < 1.0
