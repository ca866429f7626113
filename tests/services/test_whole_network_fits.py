"""Fits on whole-network measurements alone (issue 11): a published latency set imported with
``hwnas measurement import`` fits ``linear``, ``mlp`` and ``gbdt`` predictors without a
lookup table, at the batch the import stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli.main import app

PHONE_CSV = Path(__file__).resolve().parents[1] / "data" / "help_fbnet_essential_ph_1_200.csv"
IMPORT = ["measurement", "import", "--space", "fbnet-cifar100", "--device", "phoneA"]
FIT = ["predictor", "fit", "--device", "phoneA", "--space", "fbnet-cifar100", "--json"]
runner = CliRunner()


@pytest.mark.parametrize("kind", ["linear", "mlp", "gbdt"])
def test_a_published_set_fits_at_its_own_batch_without_a_lookup_table(
    local_cli: Path, kind: str
) -> None:
    imported = runner.invoke(app, [*IMPORT, str(PHONE_CSV)])
    assert imported.exit_code == 0, imported.output
    fitted = runner.invoke(app, [*FIT, "--kind", kind])
    assert fitted.exit_code == 0, fitted.output
    version = json.loads(fitted.output)
    assert version["batch_size"] == 1 and version["kind"] == kind
    metrics = version["metrics"]
    assert metrics["n_train"] == 160 and metrics["n_holdout"] == 40
    assert metrics["lut_features"] is False
    assert metrics["mape_pct"] < 15  # phone timings in whole ms; one-hot linear ~9.4% at 4k rows
    predicted = runner.invoke(
        app,
        ["predictor", "predict", "--predictor", version["id"], "--json",
         PHONE_CSV.read_text().splitlines()[1].split(",")[0]],
    )  # fmt: skip
    assert predicted.exit_code == 0, predicted.output
    assert 10 < json.loads(predicted.output)["predictions"][0]["latency_ms"] < 100


def test_several_batches_ask_for_one_and_a_missing_one_names_the_import(local_cli: Path) -> None:
    rows = PHONE_CSV.read_text().splitlines()[1:21]
    mixed = local_cli / "mixed.csv"
    mixed.write_text(
        "arch,latency_ms,batch\n" + "\n".join(f"{r},{1 + i % 2}" for i, r in enumerate(rows))
    )
    assert runner.invoke(app, [*IMPORT, str(mixed)]).exit_code == 0
    ambiguous = runner.invoke(app, [*FIT, "--kind", "linear"])
    assert ambiguous.exit_code == 2
    assert "batches 1, 2" in ambiguous.output and "--batch" in ambiguous.output
    chosen = runner.invoke(app, [*FIT, "--kind", "linear", "--batch", "2"])
    assert chosen.exit_code == 0, chosen.output
    assert json.loads(chosen.output)["batch_size"] == 2
    nothing = runner.invoke(app, [*FIT, "--kind", "linear", "--batch", "4"])
    assert nothing.exit_code == 2
    assert "no measurements" in nothing.output and "hwnas measurement import" in nothing.output


def test_the_fit_route_finds_the_batch_or_asks_for_one(client: TestClient) -> None:
    rows = PHONE_CSV.read_text().splitlines()
    body = {
        "text": "\n".join(rows[:21]),
        "device": "phoneA",
        "space": "fbnet-cifar100",
        "source_name": "help",
    }
    imported = client.post("/v1/measurements/import", json=body)
    assert imported.status_code == 200, imported.text
    device_id = imported.json()["summary"]["device_id"]
    fit = {"device_id": device_id, "space_ref": "fbnet-cifar100", "kind": "auto"}
    queued = client.post("/v1/predictors/fits", json=fit)
    assert queued.status_code == 202, queued.text
    assert queued.json()["batch_size"] == 1 and queued.json()["kind"] == "auto"

    again = client.post("/v1/measurements/import", json={**body, "batch_size": 8})
    assert again.status_code == 200, again.text
    ambiguous = client.post("/v1/predictors/fits", json=fit)
    assert ambiguous.status_code == 422 and "batches 1, 8" in ambiguous.json()["message"]


def test_a_fit_transfers_from_another_devices_version(local_cli: Path) -> None:
    """``--transfer-from``: a linear fit of 20 phone rows that starts from a version of
    another device (here the same phone's first 150 rows, imported as a second device)."""
    rows = PHONE_CSV.read_text().splitlines()
    source_csv, target_csv = local_cli / "source.csv", local_cli / "target.csv"
    source_csv.write_text("\n".join(rows[:151]))
    target_csv.write_text("\n".join([rows[0], *rows[151:171]]))
    source_import = ["measurement", "import", "--space", "fbnet-cifar100", "--device", "phoneB"]
    assert runner.invoke(app, [*source_import, str(source_csv)]).exit_code == 0
    source_fit = ["predictor", "fit", "--device", "phoneB", "--space", "fbnet-cifar100", "--json"]
    source = json.loads(runner.invoke(app, source_fit).output)
    assert runner.invoke(app, [*IMPORT, str(target_csv)]).exit_code == 0
    fitted = runner.invoke(app, [*FIT, "--transfer-from", source["id"]])
    assert fitted.exit_code == 0, fitted.output
    assert json.loads(fitted.output)["metrics"]["transfer_from"] == [source["id"]]
    refused = runner.invoke(app, [*FIT, "--kind", "gbdt", "--transfer-from", source["id"]])
    assert refused.exit_code == 2 and "fits kind 'linear'" in refused.output

    references = ["predictor", "references", "--device", "phoneA", "--space", "fbnet-cifar100",
                  "--from", source["id"], "--count", "5", "--pool", "50"]  # fmt: skip
    chosen = runner.invoke(app, [*references, "--json"])
    assert chosen.exit_code == 0, chosen.output
    assert len(set(json.loads(chosen.output)["architectures"])) == 5
    no_server = runner.invoke(app, [*references, "--queue"])
    assert no_server.exit_code == 2 and "--queue needs a server" in no_server.output
