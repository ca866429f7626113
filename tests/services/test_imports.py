"""Importing published tables and measurement sets: the API routes and the ``hwnas`` CLI,
locally on an embedded database and through the API (one service layer for both)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from latency_db.spaces import resolve_space
from services.cli.main import app

from .conftest import ADMIN_TOKEN

LUT_FILE = Path(__file__).resolve().parents[1] / "data" / "proxylessnas_mobile_trim.yaml"
CIFAR = resolve_space("fbnet-cifar100")
runner = CliRunner()


def _csv_text(*latencies: str) -> str:
    rows = [f"{CIFAR.format(CIFAR.sample(i))},{ms}" for i, ms in enumerate(latencies)]
    return "arch,latency_ms\n" + "\n".join(rows) + "\n"


def _lut_body(**extra: object) -> dict[str, object]:
    return {"text": LUT_FILE.read_text(), "device": "pixel1", "space": "proxyless", **extra}


def test_lut_import_route_reports_coverage(client: TestClient) -> None:
    answer = client.post("/v1/lookup-tables/import", json=_lut_body(resolution=224, batch_size=1))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["coverage"] == {
        "expected": 70,
        "found": 70,
        "missing": [],
        "extra": 2,
        "complete": True,
    }
    summary = body["summary"]
    assert summary["stored"] == 70 and summary["device_created"]
    assert summary["space_ref"] == "proxyless-r224-w1-c1000"
    table = client.get(
        "/v1/lookup-tables",
        params={
            "device_id": summary["device_id"],
            "runtime_config_id": summary["runtime_config_id"],
            "space_ref": summary["space_ref"],
            "batch_size": 1,
        },
    ).json()
    assert len(table["entries"]) == 70


def test_import_routes_need_a_token_and_name_bad_input(client: TestClient) -> None:
    anonymous = client.post(
        "/v1/lookup-tables/import", json=_lut_body(), headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401
    bad_key = "Logits-input:7x7x1280-output:1000"
    bad_lut = _lut_body(text=f"{bad_key}:\n  mean: -3\n")
    refused = client.post("/v1/lookup-tables/import", json=bad_lut)
    assert refused.status_code == 422 and bad_key in refused.json()["message"]
    bad_rows = {"text": _csv_text("3.5", "nan"), "device": "edgegpu", "space": "fbnet-cifar100"}
    refused = client.post("/v1/measurements/import", json={**bad_rows, "source_name": "x"})
    assert refused.status_code == 422 and "row 2" in refused.json()["message"]
    bad_space = client.post("/v1/lookup-tables/import", json=_lut_body(space="resnet"))
    assert bad_space.status_code == 422 and "space" in bad_space.json()["message"]
    assert client.get("/v1/devices").json() == []
    assert client.get("/v1/measurements").json() == []


def test_measurement_import_route_stores_network_rows(client: TestClient) -> None:
    body = {
        "text": _csv_text("3.5", "4.0", "5.5"),
        "device": "edgegpu",
        "space": "fbnet-cifar100",
        "source_name": "hw-nas-bench",
        "batch_size": 4,
    }
    answer = client.post("/v1/measurements/import", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == 3 and answer.json()["batch_sizes"] == [4]
    rows = client.get("/v1/measurements", params={"subject_kind": "network"}).json()
    assert len(rows) == 3


def test_cli_imports_into_the_embedded_database(local_cli: Path) -> None:
    lut = runner.invoke(
        app,
        [
            "lut", "import", "--format", "proxylessnas", "--device", "pixel1",
            "--space", "proxyless", "--resolution", "224", "--batch", "1", "--json",
            str(LUT_FILE),
        ],
    )  # fmt: skip
    assert lut.exit_code == 0, lut.output
    result = json.loads(lut.output)
    assert result["coverage"]["complete"] and result["summary"]["stored"] == 70
    assert (local_cli / "hwnas.sqlite3").exists()

    csv_file = local_cli / "edgegpu.csv"
    csv_file.write_text(_csv_text("3.5", "4.0"))
    args = ["measurement", "import", "--space", "fbnet-cifar100", "--device", "pixel1"]
    imported = runner.invoke(app, [*args, str(csv_file)])
    assert imported.exit_code == 0, imported.output
    assert "edgegpu.csv" in imported.output and "stored" in imported.output

    csv_file.write_text(_csv_text("3.5", "-4.0"))
    refused = runner.invoke(app, [*args, str(csv_file), "--json"])
    assert refused.exit_code == 2
    assert "row 2 (line 3)" in refused.output and "must be positive" in refused.output

    again = runner.invoke(app, ["lut", "import", "--device", "pixel1", "--json", str(LUT_FILE)])
    assert json.loads(again.output)["summary"]["already_stored"] == 70


def test_cli_goes_through_the_api_when_a_server_is_configured(
    client: TestClient, local_cli: Path, cli_server: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HWNAS_API_TOKEN", raising=False)
    command = ["lut", "import", "--device", "pixel1", "--json", str(LUT_FILE)]
    no_token = runner.invoke(app, command)
    assert no_token.exit_code == 2 and "HWNAS_API_TOKEN" in no_token.output

    monkeypatch.setenv("HWNAS_API_TOKEN", ADMIN_TOKEN)
    answer = runner.invoke(app, command)
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.output)["coverage"]["found"] == 70
    assert [d["name"] for d in client.get("/v1/devices").json()] == ["pixel1"]
    assert not (local_cli / "hwnas.sqlite3").exists()

    csv_file = local_cli / "bad.csv"
    csv_file.write_text("arch,latency_ms\nk3_e1,3.5\n")
    refused = runner.invoke(
        app,
        ["measurement", "import", str(csv_file), "--space", "fbnet-cifar100", "--device", "pixel1"],
    )
    assert refused.exit_code == 2 and "422 invalid: row 1 (line 2)" in refused.output
