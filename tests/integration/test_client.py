"""The Python client and ``hwnas profile`` against a real stack: an API process and an
``hwnas-agent`` process measuring an uploaded ONNX model with its per-layer profile. The
agent enrolls as in the compose stack (``scripts/compose_enroll.py``); ``hwnas login``
saves the server for the later commands, which talk real HTTP to it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hwnas import Client
from services.cli.main import app

from .conftest import Stack

runner = CliRunner()


def _script(stack: Stack, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """A repository script run as a user runs it, its server and token in the environment."""
    env = {**os.environ, "HWNAS_SERVER_URL": stack.url, "HWNAS_API_TOKEN": stack.token}
    return subprocess.run(
        [sys.executable, *argv], env=env, capture_output=True, text=True, timeout=180
    )


def test_the_example_and_hwnas_profile_measure_a_model(
    stack: Stack,
    tiny_onnx: Path,
    repo_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token_file = tmp_path / "enroll" / "cpu.token"
    enroll = repo_root / "scripts" / "compose_enroll.py"
    argv = [str(enroll), "--device", "cpu-client", "--kind", "cpu", "--out", str(token_file)]
    enrolled = _script(stack, argv)
    assert enrolled.returncode == 0, enrolled.stderr
    # Run again (every `docker compose up`): the device exists, a fresh token is issued.
    spec = importlib.util.spec_from_file_location("compose_enroll", enroll)
    assert spec is not None and spec.loader is not None
    compose_enroll = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compose_enroll)
    with Client(stack.url, stack.token) as client:
        again = compose_enroll.enrollment_token(client, "cpu-client", "cpu")
    assert again != token_file.read_text()
    agent = stack.start_agent("agent-client", token_file.read_text())

    example = repo_root / "examples" / "profile_model.py"
    ran = _script(stack, [str(example), str(tiny_onnx), "--device", "cpu-client"])
    assert ran.returncode == 0, (ran.stderr, agent.log_tail())
    summary = json.loads(ran.stdout.strip().splitlines()[-1])
    assert summary["state"] == "succeeded" and summary["median_ms"] > 0
    assert summary["verdict"] in ("clean", "unstable", "disturbed")
    assert summary["layers"] >= 3  # the tiny network's nodes, profiled one by one
    assert summary["measurements_of_this_model"] == 1

    # The CLI in-process, over real HTTP, with what `hwnas login` saved (no server variables).
    monkeypatch.setenv("HWNAS_CONFIG", str(tmp_path / "login.json"))
    monkeypatch.setenv("HWNAS_DATA_DIR", str(tmp_path / "cli"))
    monkeypatch.delenv("HWNAS_SERVER_URL", raising=False)
    monkeypatch.delenv("HWNAS_API_TOKEN", raising=False)
    login = runner.invoke(app, ["login", "--server", stack.url, "--token", stack.token])
    assert login.exit_code == 0 and "logged in" in login.output, login.output
    assert oct((tmp_path / "login.json").stat().st_mode & 0o777) == "0o600"
    profile = ["profile", str(tiny_onnx), "--device", "cpu-client"]
    printed = runner.invoke(app, profile, env={"COLUMNS": "200"})
    assert printed.exit_code == 0, (printed.output, agent.log_tail())
    assert "median ms" in printed.output and "per-layer times" in printed.output
    assert "/layers.0/" in printed.output  # a node of the tiny network, by its scope

    as_json = runner.invoke(app, [*profile, "--json"])
    assert as_json.exit_code == 0, as_json.output
    answer = json.loads(as_json.stdout)
    assert answer["job"]["state"] == "succeeded" and answer["device"] == "cpu-client"
    measurement = answer["measurement"]
    assert measurement["subject_kind"] == "model" and measurement["median_ms"] > 0
    assert {layer["op_type"] for layer in measurement["layer_profile"]["layers"]} >= {"Conv"}
