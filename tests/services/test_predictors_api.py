"""Predictor API on the real app (SQLite): fit requests run by the worker's task body,
versions with holdout metrics, batch prediction, calibration data and plot, training jobs."""

from __future__ import annotations

import random
import struct

import pytest
from fastapi.testclient import TestClient

from latency_db.db import session_scope
from latency_db.predictors.versions import run_fit
from latency_db.repositories import devices as device_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.repositories import predictors as predictor_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.spaces import get_space

from .conftest import N_NETWORKS, RUNTIME, Measured


def _fit(client: TestClient, measured: Measured, kind: str, **extra: object) -> dict:
    """Submit a fit, run it as the worker task does, return the finished fit request."""
    reply = client.post(
        "/v1/predictors/fits",
        json={"device_id": measured.device_id, "space_ref": measured.space.ref, "kind": kind}
        | extra,
    )
    assert reply.status_code == 202, reply.text
    fit = reply.json()
    assert fit["state"] == "queued" and fit["runtime_config_id"] == measured.runtime_config_id
    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        run_fit(session=session, fit=predictor_repo.get_fit(session=session, fit_id=fit["id"]))
    return dict(client.get(f"/v1/predictors/fits/{fit['id']}").json())


def test_fitted_versions_report_holdout_metrics(client: TestClient, measured: Measured) -> None:
    results = {}
    for kind in ("lut", "linear", "mlp"):
        fit = _fit(client, measured, kind, holdout=0.25, seed=3)
        assert fit["state"] == "succeeded", fit
        predictor = client.get(f"/v1/predictors/{fit['predictor_id']}").json()
        assert (predictor["kind"], predictor["version"], predictor["batch_size"]) == (kind, 1, 32)
        assert predictor["n_measurements"] == N_NETWORKS
        metrics = predictor["metrics"]
        assert metrics["n_holdout"] == N_NETWORKS // 4
        assert metrics["n_train"] == N_NETWORKS - N_NETWORKS // 4
        results[kind] = metrics
    # The LUT sum over-predicts this device by ~25%; the fitted models learn its scale.
    assert results["lut"]["within10_pct"] == 0.0
    assert results["linear"]["mape_pct"] < 1.0 < results["lut"]["mape_pct"]
    assert results["linear"]["kendall_tau"] > 0.95
    again = _fit(client, measured, "linear", holdout=0.25, seed=3)
    second = client.get(f"/v1/predictors/{again['predictor_id']}").json()
    assert second["version"] == 2 and second["metrics"] == results["linear"]
    listed = client.get("/v1/predictors", params={"kind": "linear"}).json()
    assert [p["version"] for p in listed] == [2, 1]


def test_predict_a_thousand_architectures(client: TestClient, measured: Measured) -> None:
    space = measured.space
    lut = _fit(client, measured, "lut")["predictor_id"]
    archs = [space.format(space.sample(10_000 + i)) for i in range(1000)]
    reply = client.post(f"/v1/predictors/{lut}/predict", json={"architectures": archs})
    assert reply.status_code == 200
    answers = reply.json()
    assert [a["architecture"] for a in answers] == archs
    for answer in answers[:20]:
        hand = sum(measured.lut_ms[k] for k in space.op_keys(space.parse(answer["architecture"])))
        assert answer["latency_ms"] == pytest.approx(hand, rel=1e-9)
        assert answer["std_ms"] == 0.0
    mlp = _fit(client, measured, "mlp")["predictor_id"]
    spread = client.post(f"/v1/predictors/{mlp}/predict", json={"architectures": archs[:50]})
    assert any(a["std_ms"] > 0 for a in spread.json())


def test_calibration_data_and_plot(client: TestClient, measured: Measured) -> None:
    predictor_id = _fit(client, measured, "linear", holdout=0.2)["predictor_id"]
    data = client.get(f"/v1/predictors/{predictor_id}/calibration").json()
    assert len(data["architectures"]) == len(data["measured_ms"]) == N_NETWORKS // 5
    space = measured.space
    for arch, ms in zip(data["architectures"], data["measured_ms"], strict=True):
        assert ms == pytest.approx(measured.true_ms(space.parse(arch)))
    png = client.get(f"/v1/predictors/{predictor_id}/calibration.png")
    assert png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n" and len(png.content) > 10_000
    width, height = struct.unpack(">II", png.content[16:24])
    assert (width, height) == (600, 600)


def test_bad_predictor_requests(client: TestClient, measured: Measured) -> None:
    space = measured.space
    predictor_id = _fit(client, measured, "lut")["predictor_id"]
    good = space.format(space.sample(1))
    bad = client.post(
        f"/v1/predictors/{predictor_id}/predict", json={"architectures": [good, "k3_e6 oops"]}
    )
    assert bad.status_code == 422 and "architectures.1" in bad.json()["message"]
    assert client.get("/v1/predictors/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404
    assert (
        client.post(
            f"/v1/predictors/{predictor_id}/predict", json={"architectures": []}
        ).status_code
        == 422
    )
    unmeasured = client.post(
        "/v1/predictors/fits",
        json={"device_id": measured.device_id, "space_ref": "fbnet-r32-w0.35-c10", "kind": "lut"},
    )
    assert unmeasured.status_code == 422 and "no measurements" in unmeasured.json()["message"]
    for body in ({"holdout": 1.0}, {"kind": "forest"}, {"batch_size": 0}):
        payload = {"device_id": measured.device_id, "space_ref": space.ref, "kind": "lut"} | body
        assert client.post("/v1/predictors/fits", json=payload).status_code == 422


def test_too_few_networks_fail_the_fit_with_a_reason(client: TestClient) -> None:
    sessions = client.app.state.session_factory  # type: ignore[attr-defined]
    space = get_space("proxyless", resolution=32, width_mult=0.35, num_classes=10)
    with session_scope(sessions) as session:
        device = device_repo.create_device(session=session, name="cpu-few", kind="cpu")
        runtime = runtime_repo.get_or_create_runtime_config(
            session=session, backend="ort-cpu", settings={}
        )
        measurement_repo.add_measurement(
            session=session,
            device=device,
            runtime_config=runtime,
            subject_kind="network",
            subject=space.format(space.sample(0)),
            batch_size=32,
            input_shape=[32, 3, 32, 32],
            times_ms=[5.0, 5.1],
            environment={},
            source="local",
            space_ref=space.ref,
        )
        device_id = device.id
    reply = client.post(
        "/v1/predictors/fits", json={"device_id": device_id, "space_ref": space.ref, "kind": "mlp"}
    )
    fit = reply.json()
    with session_scope(sessions) as session:
        run_fit(session=session, fit=predictor_repo.get_fit(session=session, fit_id=fit["id"]))
    done = client.get(f"/v1/predictors/fits/{fit['id']}").json()
    assert done["state"] == "failed" and done["predictor_id"] is None
    assert "at least" in done["error_message"]


def test_training_jobs_random_and_active(client: TestClient, measured: Measured) -> None:
    space = measured.space
    base = {"device_id": measured.device_id, "runtime": RUNTIME, "space_ref": space.ref}
    random_jobs = client.post("/v1/predictors/training-jobs", json=base | {"count": 4})
    assert random_jobs.status_code == 202, random_jobs.text
    body = random_jobs.json()
    assert len(body["job_ids"]) == len(body["architectures"]) == 4 - body["skipped_measured"]
    jobs = [client.get(f"/v1/jobs/{j}").json() for j in body["job_ids"]]
    assert {(j["kind"], j["state"]) for j in jobs} == {("network", "queued")}
    mlp = _fit(client, measured, "mlp")["predictor_id"]
    uncertain = client.post(
        "/v1/predictors/training-jobs?dry_run=true",
        json=base | {"count": 3, "strategy": "uncertain", "predictor_id": mlp, "pool": 200},
    ).json()
    assert len(uncertain["architectures"]) == 3 and uncertain["job_ids"] == []
    rng = random.Random(0)  # the route draws its pool from the request's seed
    pool = list(dict.fromkeys(space.format(space.sample(rng)) for _ in range(200)))
    spread = client.post(f"/v1/predictors/{mlp}/predict", json={"architectures": pool}).json()
    by_spread = sorted(spread, key=lambda a: a["std_ms"], reverse=True)
    assert set(uncertain["architectures"]) == {a["architecture"] for a in by_spread[:3]}
    budget = client.post(
        "/v1/predictors/training-jobs?dry_run=true",
        json=base | {"count": 2, "strategy": "budget", "predictor_id": mlp, "budget_ms": 20.0},
    )
    assert budget.status_code == 202 and len(budget.json()["architectures"]) == 2
    missing = client.post(
        "/v1/predictors/training-jobs", json=base | {"count": 2, "strategy": "uncertain"}
    )
    assert missing.status_code == 422


def test_lut_and_predictor_latency_in_one_call(client: TestClient, measured: Measured) -> None:
    fit = _fit(client, measured, "linear", holdout=0.25, seed=3)
    archs = [measured.space.sample(random.Random(i)) for i in range(5)]
    query = {"device_id": measured.device_id, "space_ref": measured.space.ref}
    reply = client.post(
        "/v1/lookup-tables/latency",
        json=query
        | {"architectures": [" ".join(a) for a in archs], "predictor_id": fit["predictor_id"]},
    )
    assert reply.status_code == 200, reply.text
    for arch, answer in zip(archs, reply.json(), strict=True):
        hand = sum(measured.lut_ms[k] for k in measured.space.op_keys(arch))
        assert answer["lut_ms"] == pytest.approx(hand) and answer["missing_keys"] == []
        assert answer["predicted_ms"] == pytest.approx(measured.true_ms(arch), rel=0.02)
        assert answer["std_ms"] == 0.0
    without = client.post(
        "/v1/lookup-tables/latency", json=query | {"architectures": [" ".join(archs[0])]}
    )
    assert without.json()[0]["predicted_ms"] is None
    other_batch = client.post(
        "/v1/lookup-tables/latency",
        json=query
        | {
            "batch_size": 8,
            "runtime_config_id": measured.runtime_config_id,
            "architectures": [" ".join(archs[0])],
            "predictor_id": fit["predictor_id"],
        },
    )
    assert other_batch.status_code == 422, other_batch.text
    assert other_batch.json()["details"][0]["field"] == "predictor_id"
