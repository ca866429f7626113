"""``hwnas search`` through the API (in-process app): submit, list, result before the end,
cancel; without a server it says how to get one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli.main import app

from .conftest import ADMIN_TOKEN, Measured

runner = CliRunner()
DEPLOY = [
    "--set",
    "deploy_resolution=32",
    "--set",
    "deploy_width=0.35",
    "--set",
    "deploy_classes=10",
]


def test_submit_list_cancel_through_the_api(
    client: TestClient,
    measured: Measured,
    local_cli: Path,
    cli_server: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HWNAS_API_TOKEN", ADMIN_TOKEN)
    submitted = runner.invoke(
        app,
        ["search", "submit", "--device", "cpu-pred", "--budget", "25", "--estimator", "unas",
         *DEPLOY, "--set", "steps=40", "--set", "latency_form=hinge", "--json"],
    )  # fmt: skip
    assert submitted.exit_code == 0, submitted.output
    search = json.loads(submitted.output)
    assert search["estimator"] == "unas" and search["spec"]["latency_form"] == "hinge"
    assert search["spec"]["steps"] == 40 and search["budget_ms"] == 25.0
    listed = json.loads(runner.invoke(app, ["search", "list", "--json"]).output)
    assert [s["id"] for s in listed] == [search["id"]]
    early = runner.invoke(app, ["search", "result", search["id"]])
    assert early.exit_code == 2 and "pending" in early.output
    canceled = runner.invoke(app, ["search", "cancel", search["id"]])
    assert canceled.exit_code == 0 and "canceled" in canceled.output
    bad = runner.invoke(
        app, ["search", "submit", "--device", "cpu-pred", "--budget", "25", "--set", "nonsense"]
    )
    assert bad.exit_code == 2 and "key=value" in bad.output
    unknown = runner.invoke(app, ["search", "submit", "--device", "nope", "--budget", "25"])
    assert unknown.exit_code == 2 and "not found" in unknown.output


def test_without_a_server_the_cli_says_what_to_set(local_cli: Path) -> None:
    reply = runner.invoke(app, ["search", "list"])
    assert reply.exit_code == 2 and "HWNAS_SERVER_URL" in reply.output
