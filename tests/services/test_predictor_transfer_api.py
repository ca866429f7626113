"""Few-shot transfer through the API (issue 11): the service picks the reference
architectures a new device should measure and queues their ``network`` jobs; a ``linear``
fit from 20 of the new device's measurements starts from another device's version; bad
sources are refused before anything is queued or stored."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from latency_db.db import session_scope
from latency_db.predictors.versions import run_fit
from latency_db.repositories import predictors as predictor_repo

from .conftest import BOTH_DATABASES, RUNTIME

DEVICES_CSV = Path(__file__).resolve().parents[1] / "data" / "help_fbnet_four_devices_600.csv"
SPACE = "fbnet-cifar100"


def _import(client: TestClient, device: str, column: str, rows: range) -> str:
    with DEVICES_CSV.open() as f:
        table = list(csv.DictReader(f))
    text = "arch,latency_ms\n" + "\n".join(f"{table[i]['arch']},{table[i][column]}" for i in rows)
    body = {"text": text, "device": device, "space": SPACE, "source_name": "help"}
    reply = client.post("/v1/measurements/import", json=body)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["summary"]["device_id"])


def _fit(client: TestClient, body: dict[str, object]) -> dict[str, object]:
    reply = client.post("/v1/predictors/fits", json={"space_ref": SPACE, **body})
    assert reply.status_code == 202, reply.text
    fit_id = reply.json()["id"]
    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        run_fit(session=session, fit=predictor_repo.get_fit(session=session, fit_id=fit_id))
    done = client.get(f"/v1/predictors/fits/{fit_id}").json()
    assert done["state"] == "succeeded", done
    return dict(client.get(f"/v1/predictors/{done['predictor_id']}").json())


@pytest.mark.parametrize("database", BOTH_DATABASES, indirect=True)
def test_a_new_device_learns_from_another_devices_version(client: TestClient) -> None:
    silver = _import(client, "silver", "silver_4114", range(300))
    source = _fit(client, {"device_id": silver, "kind": "linear"})
    gold = _import(client, "gold", "gold_6240", range(300, 320))

    planned = client.post(
        "/v1/predictors/training-jobs",
        params={"dry_run": True},
        json={"device_id": gold, "runtime": RUNTIME, "space_ref": SPACE, "batch_size": 1,
              "count": 20, "strategy": "transfer", "source_predictor_ids": [source["id"]],
              "pool": 500},
    )  # fmt: skip
    assert planned.status_code == 202, planned.text
    assert len(set(planned.json()["architectures"])) == 20 and planned.json()["job_ids"] == []
    queued = client.post(
        "/v1/predictors/training-jobs",
        json={"device_id": gold, "runtime": RUNTIME, "space_ref": SPACE, "batch_size": 1,
              "count": 2, "strategy": "transfer", "source_predictor_ids": [source["id"]]},
    )  # fmt: skip
    assert queued.status_code == 202 and len(queued.json()["job_ids"]) == 2
    jobs = [client.get(f"/v1/jobs/{job_id}").json() for job_id in queued.json()["job_ids"]]
    assert {job["kind"] for job in jobs} == {"network"}

    adapted = _fit(
        client, {"device_id": gold, "kind": "linear", "holdout": 0.0,
                 "transfer_from": [source["id"]]},
    )  # fmt: skip
    assert adapted["metrics"]["transfer_from"] == [source["id"]]
    assert adapted["n_measurements"] == 20
    scratch = _fit(client, {"device_id": gold, "kind": "linear", "holdout": 0.0})
    assert "transfer_from" not in scratch["metrics"]

    with DEVICES_CSV.open() as f:
        held_out = list(csv.DictReader(f))[400:500]

    def mape(predictor: dict[str, object]) -> float:
        reply = client.post(
            f"/v1/predictors/{predictor['id']}/predict",
            json={"architectures": [r["arch"] for r in held_out]},
        )
        assert reply.status_code == 200, reply.text
        errors = [
            abs(p["latency_ms"] - float(r["gold_6240"])) / float(r["gold_6240"])
            for p, r in zip(reply.json(), held_out, strict=True)
        ]
        return 100 * sum(errors) / len(errors)

    assert mape(adapted) < 0.6 * mape(scratch)


def test_bad_sources_are_refused_and_nothing_is_stored(client: TestClient) -> None:
    silver = _import(client, "silver", "silver_4114", range(60))
    mlp = _fit(client, {"device_id": silver, "kind": "mlp"})
    gold = _import(client, "gold", "gold_6240", range(300, 320))
    base = {"device_id": gold, "space_ref": SPACE}

    wrong_kind = client.post(
        "/v1/predictors/fits", json={**base, "kind": "mlp", "transfer_from": [mlp["id"]]}
    )
    assert wrong_kind.status_code == 422 and "fits kind 'linear'" in wrong_kind.text
    no_table = client.post(
        "/v1/predictors/fits", json={**base, "kind": "linear", "transfer_from": [mlp["id"]]}
    )
    assert no_table.status_code == 422 and "name lut or linear versions" in no_table.text
    unknown = client.post(
        "/v1/predictors/fits", json={**base, "kind": "linear", "transfer_from": ["nope"]}
    )
    assert unknown.status_code == 404
    no_sources = client.post(
        "/v1/predictors/training-jobs",
        json={"device_id": gold, "runtime": RUNTIME, "space_ref": SPACE, "count": 5,
              "strategy": "transfer"},
    )  # fmt: skip
    assert no_sources.status_code == 422 and "source_predictor_ids" in no_sources.text
    listed = client.get("/v1/predictors", params={"device_id": gold}).json()
    assert listed == []
