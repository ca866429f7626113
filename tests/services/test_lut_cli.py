"""``hwnas lut build|show`` on an embedded database and through the API: jobs per op key, a
wait that ends when an agent has measured every key, the layer x op table and its heatmap."""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from latency_db.db import session_scope
from latency_db.repositories import devices as device_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.spaces import SearchSpace, get_space
from services.cli import output
from services.cli.main import app
from services.lut_grid import IDENTITY, lut_grid

from ..lookup_tables import add_op_keys
from .conftest import RUNTIME, seed_measurements, time_queued_op_jobs

runner = CliRunner()
SMALL = ["--space", "proxyless", "--resolution", "32", "--width", "0.35"]
SEEDED = "proxyless-r32-w0.35-c10"  # the instance seed_measurements measures


def _sessions(client: TestClient) -> sessionmaker[Session]:
    return client.app.state.session_factory  # type: ignore[attr-defined]


def _device(client: TestClient, name: str = "cpu-1") -> str:
    answer = client.post("/v1/devices", json={"name": name, "kind": "cpu"})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["device"]["id"])


def _measure_queued_ops(sessions: sessionmaker[Session], timeout_s: float) -> None:
    """Once op jobs are queued, time every one of them (0.5 ms, steady)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if time_queued_op_jobs(sessions, lambda job: [0.5, 0.5, 0.5]):
            return
        time.sleep(0.2)


def _seed_partial(sessions: sessionmaker[Session], space: SearchSpace, skip: Sequence[str]) -> None:
    """Device ``cpu-part`` with every op key of ``space`` measured (1 ms) but ``skip``."""
    with session_scope(sessions) as session:
        device = device_repo.create_device(session=session, name="cpu-part", kind="cpu")
        runtime = runtime_repo.get_or_create_runtime_config(session=session, **RUNTIME)
        add_op_keys(session, device, runtime, space, 32, lambda _: 1.0, skip=skip)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_build_queues_one_job_per_op_key(served: TestClient) -> None:
    device_id = _device(served)
    space = get_space("proxyless", resolution=32, width_mult=0.35)
    built = runner.invoke(app, ["lut", "build", "--device", "cpu-1", *SMALL, "--no-wait", "--json"])
    assert built.exit_code == 0, built.output
    status = json.loads(built.stdout)
    keys = space.all_op_keys()
    assert status["space_ref"] == space.ref and status["created_jobs"] == len(keys) == 58
    assert status["progress"] == {
        "total": 58,
        "measured": 0,
        "queued": 58,
        "leased": 0,
        "failed": 0,
        "unclean": 0,
    }
    jobs = served.get("/v1/jobs", params={"device_id": device_id, "limit": 1000}).json()
    assert sorted(job["subject"] for job in jobs) == keys
    assert {(job["kind"], job["state"], job["batch_size"]) for job in jobs} == {
        ("op", "queued", 32)
    }
    config = served.get(f"/v1/jobs/{jobs[0]['id']}").json()["runtime_config_id"]
    assert config == status["runtime_config_id"]
    # One export task on the broker of the database's side (embedded: the CLI's own).
    broker = served.app.state.settings.data_dir / "broker" / "queue"  # type: ignore[attr-defined]
    assert len(list(broker.iterdir())) == 1

    again = runner.invoke(app, ["lut", "build", "--device", "cpu-1", *SMALL, "--no-wait"])
    assert again.exit_code == 0, again.output
    created = next(line for line in again.output.splitlines() if "jobs created" in line)
    assert created.split("│")[2].strip() == "0"
    assert len(list(broker.iterdir())) == 1


def test_build_waits_until_every_key_is_measured(served: TestClient) -> None:
    _device(served)
    with ThreadPoolExecutor(max_workers=1) as pool:
        agent = pool.submit(_measure_queued_ops, _sessions(served), 60.0)
        built = runner.invoke(
            app, ["lut", "build", "--device", "cpu-1", *SMALL, "--timeout", "60", "--json"]
        )
        agent.result(timeout=90)  # re-raises what the agent raised
    assert built.exit_code == 0, built.output
    progress = json.loads(built.stdout)["progress"]  # the bar went to stderr
    assert progress["measured"] == progress["total"] == 58
    assert "58/58" in built.stderr and "lookup table proxyless-r32-w0.35-c1000" in built.stderr


def test_build_fails_clearly(served: TestClient) -> None:
    _device(served)
    waiting = runner.invoke(app, ["lut", "build", "--device", "cpu-1", *SMALL, "--timeout", "1"])
    assert waiting.exit_code == 2
    assert "unfinished after 1s" in waiting.output and "agent of 'cpu-1'" in waiting.output
    unknown = runner.invoke(app, ["lut", "build", "--device", "nope", *SMALL, "--no-wait"])
    assert unknown.exit_code == 2 and "device 'nope' not found" in unknown.output
    bad_space = runner.invoke(app, ["lut", "build", "--device", "cpu-1", "--space", "resnet"])
    assert bad_space.exit_code == 2 and "space" in bad_space.output


def test_show_prints_layer_rows_and_writes_the_heatmap(
    served: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    measured = seed_measurements(_sessions(served), "cpu-lut")
    plot = tmp_path / "lut.png"
    shown = runner.invoke(
        app,
        ["lut", "show", "--device", "cpu-lut", "--space", SEEDED, "--plot", str(plot), "--json"],
    )
    assert shown.exit_code == 0, shown.output
    table = json.loads(shown.stdout)
    assert table["coverage"] == {"found": 58, "expected": 58, "missing": []}
    assert table["runtime_config_id"] == measured.runtime_config_id  # the one measured
    grid = lut_grid(measured.space)
    assert table["grid"]["layers"] == list(grid.layers)
    for keys, row in zip(grid.keys, table["grid"]["ms"], strict=True):
        for key, ms in zip(keys, row, strict=True):
            expected = None if key is None else 0.0 if key == IDENTITY else measured.lut_ms[key]
            assert ms == pytest.approx(expected)
    assert _png_size(plot) == (900, 1000)

    monkeypatch.setattr(output.console, "width", 150)  # a row per line, whatever COLUMNS was
    text = runner.invoke(app, ["lut", "show", "--device", "cpu-lut", "--space", SEEDED])
    assert text.exit_code == 0, text.output
    assert "coverage: 58 of 58 op keys measured" in text.output
    stem_key = measured.space.stem.key
    stem = next(line for line in text.output.splitlines() if "stem 32x32x3 /2" in line)
    assert f"{measured.lut_ms[stem_key]:.3g}" in stem
    first = next(line for line in text.output.splitlines() if "L0 16x16x8 /2" in line)
    assert len([c for c in first.split("│") if c.strip()]) == 1 + 6  # the layer, no zero


def test_show_marks_missing_keys(served: TestClient, tmp_path: Path) -> None:
    space = get_space("proxyless", resolution=32, width_mult=0.35, num_classes=10)
    grid = lut_grid(space)
    layer1 = grid.keys[grid.layers.index("L1 8x8x8")]  # L2 and L3 have its shape: its keys too
    skip = sorted(key for key in layer1[:3] if key)
    _seed_partial(_sessions(served), space, skip)
    plot = tmp_path / "partial.png"
    args = ["lut", "show", "--device", "cpu-part", "--space", SEEDED, "--plot", str(plot)]
    shown = runner.invoke(app, [*args, "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["coverage"] == {"found": 55, "expected": 58, "missing": skip}
    assert _png_size(plot) == (900, 1000)
    text = runner.invoke(app, args)
    assert "coverage: 55 of 58" in text.output
    measured = {key: 1.0 for key in space.all_op_keys() if key not in skip}
    assert text.output.count("?") == len(grid.missing(measured)) == 3 * len(skip)


def test_show_fails_clearly(served: TestClient) -> None:
    _device(served, "empty")
    unknown = runner.invoke(app, ["lut", "show", "--device", "nope"])
    assert unknown.exit_code == 2 and "device 'nope' not found" in unknown.output
    nothing = runner.invoke(app, ["lut", "show", "--device", "empty", *SMALL])
    assert nothing.exit_code == 2 and "has no measurements of proxyless" in nothing.output
    config = runner.invoke(
        app, ["lut", "show", "--device", "empty", "--runtime-config", "01ARZ3NDEKTSV4RRFFQ69G5FAV"]
    )
    assert config.exit_code == 2 and "runtime config" in config.output
