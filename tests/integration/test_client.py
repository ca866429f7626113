"""The Python client and ``hwnas profile`` against a real stack: an API process and an
``hwnas-agent`` process measuring an uploaded ONNX model with its per-layer profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import Stack


def _run(stack: Stack, argv: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HWNAS_SERVER_URL": stack.url,
        "HWNAS_API_TOKEN": stack.token,
        "HWNAS_DATA_DIR": str(tmp_path / "cli"),
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, *argv], env=env, capture_output=True, text=True, timeout=180
    )


def test_the_example_and_hwnas_profile_measure_a_model(
    stack: Stack, new_device, tiny_onnx: Path, repo_root: Path, tmp_path: Path
) -> None:
    device_id, token = new_device("cpu-client")
    agent = stack.start_agent("agent-client", token)

    example = _run(
        stack,
        [
            str(repo_root / "examples" / "profile_model.py"),
            str(tiny_onnx),
            "--device",
            "cpu-client",
            "--timeout",
            "120",
        ],
        tmp_path,
    )
    assert example.returncode == 0, (example.stderr, agent.log_tail())
    summary = json.loads(example.stdout.strip().splitlines()[-1])
    assert summary["state"] == "succeeded" and summary["median_ms"] > 0
    assert summary["verdict"] in ("clean", "unstable", "disturbed")
    assert summary["layers"] >= 3  # the tiny network's convolutions, profiled per node
    assert summary["measurements_of_this_model"] == 1

    cli = ["-m", "services.cli.main"]
    printed = _run(stack, [*cli, "profile", str(tiny_onnx), "--device", "cpu-client"], tmp_path)
    assert printed.returncode == 0, (printed.stderr, agent.log_tail())
    assert "median ms" in printed.stdout and "per-layer times" in printed.stdout
    assert "/layers.0/" in printed.stdout  # a node of the tiny network, by its scope

    as_json = _run(
        stack, [*cli, "profile", str(tiny_onnx), "--device", "cpu-client", "--json"], tmp_path
    )
    assert as_json.returncode == 0, as_json.stderr
    answer = json.loads(as_json.stdout)
    assert answer["job"]["state"] == "succeeded" and answer["job"]["device_id"] == device_id
    measurement = answer["measurement"]
    assert measurement["subject_kind"] == "model" and measurement["median_ms"] > 0
    layers = measurement["layer_profile"]["layers"]
    assert {layer["op_type"] for layer in layers} >= {"Conv"}
