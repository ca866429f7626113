"""``hwnas measurements list|show``, ``hwnas lut show --include-unclean`` and ``hwnas
predictor fit --include-unclean`` on an embedded database and through the API: verdicts,
reasons, evidence and intervals shown; clean-only tables and fits unless asked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from latency_db.db import session_scope
from latency_db.repositories import devices as device_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.verdicts import Verdict, VerdictDetail
from services.cli.main import app

from .conftest import RUNTIME, seed_measurements

runner = CliRunner()
BUSY = "other processes used 0.93 cores"
EVIDENCE = {"interval_s": 1.1, "other_cpu_cores": 0.93, "gpu_throttle_reasons": ["none"]}
STEADY = [2.0, 2.01, 1.99, 2.0, 2.0, 2.02, 1.98, 2.0, 2.01, 1.99]


def _invoke(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def _json(*args: str) -> Any:
    return json.loads(_invoke(*args, "--json").stdout)


def _measure(served: TestClient, device: str, subject: str, verdict: Verdict) -> str:
    with session_scope(served.app.state.session_factory) as session:  # type: ignore[attr-defined]
        row = device_repo.get_or_create_device(session=session, name=device, kind="cpu")[0]
        measured = measurement_repo.add_measurement(
            session=session,
            device=row,
            runtime_config=runtime_repo.get_or_create_runtime_config(
                session=session, backend=RUNTIME["backend"], settings=RUNTIME["settings"]
            ),
            subject_kind="op",
            subject=subject,
            batch_size=32,
            input_shape=[32, 8, 8, 8],
            times_ms=STEADY,
            environment={},
            source="agent",
            evidence=EVIDENCE if verdict is Verdict.DISTURBED else {},
            verdict=VerdictDetail(verdict, BUSY if verdict is Verdict.DISTURBED else "", 0.93, 0.1),
        )
        return measured.id


def test_list_and_show_verdicts_and_evidence(served: TestClient) -> None:
    clean = _measure(served, "cpu-1", "op-a", Verdict.CLEAN)
    disturbed = _measure(served, "cpu-1", "op-b", Verdict.DISTURBED)
    _measure(served, "cpu-2", "op-c", Verdict.DISTURBED)
    listed = _json("measurements", "list", "--device", "cpu-1")["measurements"]
    assert [(m["id"], m["verdict"]) for m in listed] == [
        (disturbed, "disturbed"),
        (clean, "clean"),
    ]
    assert listed[0]["verdict_reason"] == BUSY
    only = _json("measurements", "list", "--device", "cpu-1", "--verdict", "disturbed")
    assert [m["id"] for m in only["measurements"]] == [disturbed]
    assert len(_json("measurements", "list", "--verdict", "disturbed")["measurements"]) == 2
    table = _invoke("measurements", "list", "--device", "cpu-1").output
    assert f"{disturbed}: disturbed: {BUSY}" in table and f"{clean}:" not in table
    shown = _json("measurements", "show", disturbed)
    assert shown["evidence"] == EVIDENCE and shown["verdict_detail"]["figure"] == 0.93
    assert (shown["median_ci_low_ms"], shown["median_ci_high_ms"]) == (1.98, 2.02)
    text = _invoke("measurements", "show", disturbed).output
    for expected in ("disturbed", "other_cpu_cores", "0.93 / 0.1", "1.98 - 2.02", "reason"):
        assert expected in text, text
    assert "the agent sent none" in _invoke("measurements", "show", clean).output
    refused = runner.invoke(app, ["measurements", "list", "--verdict", "noisy"])
    assert refused.exit_code == 2
    missing = runner.invoke(app, ["measurements", "show", "01ARZ3NDEKTSV4RRFFQ69G5FAV"])
    assert missing.exit_code == 2 and "not found" in missing.output


def test_lut_show_rests_on_clean_entries_unless_asked(served: TestClient) -> None:
    sessions = served.app.state.session_factory  # type: ignore[attr-defined]
    measured = seed_measurements(sessions, "cpu-lut")
    key = sorted(measured.lut_ms)[0]
    _measure(served, "cpu-lut", key, Verdict.DISTURBED)  # newer, 2 ms
    space = ["--device", "cpu-lut", "--space", measured.space.ref]
    table = _json("lut", "show", *space)
    assert table["entries"][key]["median_ms"] == pytest.approx(measured.lut_ms[key])
    assert table["trust"] == "built on clean measurements only"
    assert "built on clean measurements only" in _invoke("lut", "show", *space).output
    unclean = _json("lut", "show", *space, "--include-unclean")
    assert unclean["entries"][key]["verdict"] == "disturbed"
    assert unclean["unclean_entries"] == 1
    assert unclean["trust"].startswith("WARNING: 1 entries")
    assert "1 on disturbed" in unclean["trust"]
    assert unclean["verdicts_included"] == ["clean", "unstable", "disturbed"]
    only_disturbed = _json("lut", "show", *space, "--include", "disturbed")
    assert only_disturbed["verdicts_included"] == ["clean", "disturbed"]
    assert only_disturbed["entries"] == unclean["entries"]
    refused = runner.invoke(app, ["lut", "show", *space, "--include", "noisy"])
    assert refused.exit_code == 2 and "--include[0] must be one of" in refused.output
