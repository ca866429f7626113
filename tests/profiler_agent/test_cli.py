from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from profiler_agent.cli import EXIT_INVALID_MODEL, EXIT_UNAVAILABLE, main

FAST = [
    *("--warmup-runs", "2", "--warmup-seconds", "0", "--runs", "5", "--seconds", "0.02"),
    *("--max-seconds", "0", "--max-disturbed-tries", "1"),
]


def _agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "profiler_agent.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_measure_prints_one_json_object(tiny_onnx: Path) -> None:
    done = _agent(
        "measure",
        str(tiny_onnx),
        "--backend",
        "ort-cpu",
        "--threads",
        "1",
        "--json",
        "--profile",
        *FAST,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["backend"] == "ort-cpu"
    assert record["input_shape"] == [2, 3, 16, 16]
    assert record["runtime_settings"]["intra_op_num_threads"] == 1
    assert len(record["times_ms"]) >= 5
    assert record["median_ms"] == record["stats"]["median_ms"] > 0
    assert isinstance(record["unstable"], bool)
    assert record["verdict"]["verdict"] in ("clean", "unstable", "disturbed")
    assert record["verdict"]["tries"] == record["evidence"]["tries"] == record["attempts"]
    assert record["evidence"]["other_cpu_cores"] >= 0
    assert record["evidence"]["own_cpu_cores"] > 0
    assert record["policy"]["max_disturbed_tries"] == 1
    low, high = record["median_ci_ms"]  # hundreds of sub-millisecond runs: enough for a CI
    assert low <= record["median_ms"] <= high
    assert record["environment"]["runtime"]["name"] == "onnxruntime"
    assert {"stem", "layers.0", "layers.1", "classifier"} <= set(record["layer_profile"]["blocks"])


def test_measure_text_output(tiny_onnx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["measure", str(tiny_onnx), "--threads", "1", *FAST]) == 0
    out = capsys.readouterr().out
    assert "median" in out and "ort-cpu" in out
    assert "verdict: " in out and "other_cpu_cores" in out


def test_measure_a_corrupt_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    assert main(["measure", str(bad), *FAST]) == EXIT_INVALID_MODEL
    assert "cannot load bad.onnx" in capsys.readouterr().err


def test_measure_on_a_missing_backend(tiny_onnx: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert main(["measure", str(tiny_onnx), "--backend", "tensorrt"]) == EXIT_UNAVAILABLE
        assert "tensorrt" in capsys.readouterr().err
    else:
        pytest.skip("tensorrt is installed here")


def test_backends_lists_availability() -> None:
    done = _agent("backends", "--json")
    assert done.returncode == 0, done.stderr
    rows = {row["backend"]: row for row in json.loads(done.stdout)}
    assert rows["ort-cpu"]["available"] is True
    assert len(rows) == 7
    assert all(row["available"] or row["reason"] for row in rows.values())


def test_bad_shape_is_a_usage_error(tiny_onnx: Path) -> None:
    done = _agent("measure", str(tiny_onnx), "--input-shape", "2,three")
    assert done.returncode == 2
    assert "not a shape" in done.stderr
