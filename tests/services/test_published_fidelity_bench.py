"""``bench/published_fidelity.py`` on any folder of ``<device>.csv`` files: a real run on real
rows (one seed, two kinds), and the batch rules (a file's one batch, or ``--batch``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "published_fidelity.py"
PHONE_CSV = ROOT / "tests" / "data" / "help_fbnet_essential_ph_1_200.csv"


def _run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), "--data", str(data), "--seeds", "0", *args],
        capture_output=True,
        text=True,
        timeout=120,
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


def test_several_batches_in_a_file_need_a_choice(tmp_path: Path) -> None:
    rows = PHONE_CSV.read_text().splitlines()[1:41]
    (tmp_path / "gpu.csv").write_text(
        "arch,latency_ms,batch\n" + "\n".join(f"{r},{1 + 31 * (i % 2)}" for i, r in enumerate(rows))
    )
    refused = _run(tmp_path)
    assert refused.returncode != 0 and "--batch gpu=N" in refused.stderr
    assert "batches 1, 32" in refused.stderr
    bad = _run(tmp_path, "--batch", "gpu=x")
    assert bad.returncode != 0 and "DEVICE=N" in bad.stderr
    none = _run(tmp_path, "--batch", "gpu=8")
    assert none.returncode != 0 and "no rows at batch 8" in none.stderr
