"""Measurement verdicts through the real app (issue 16): an agent uploads evidence and its
verdict, the server settles and shows them, bad uploads are 422s that write nothing, and
lookup tables and predictor fits rest on clean measurements unless asked."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from latency_db.db import session_scope
from latency_db.predictors.versions import run_fit
from latency_db.repositories import devices as device_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.repositories import predictors as predictor_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.verdicts import Verdict, VerdictDetail

from ..lookup_tables import add_op_keys
from .conftest import N_NETWORKS, RUNTIME, Measured, app_sessions

STEADY = [2.0, 2.01, 1.99, 2.0, 2.0, 2.02, 1.98, 2.0, 2.01, 1.99]
NOISY = [2.0, 2.6, 1.6, 2.0, 2.4, 1.7, 2.2, 1.8, 2.5, 1.5]
DISTURBED = {
    "verdict": "disturbed",
    "reason": "other processes used 0.93 cores",
    "figure": 0.93,
    "threshold": 0.1,
    "tries": 3,
}
EVIDENCE = {"interval_s": 1.1, "other_cpu_cores": 0.93, "steal_share": 0.0, "usable_cores": 2}


def _complete(client: TestClient, lease: dict[str, Any], body: dict[str, Any] | str) -> Any:
    path = "/v1/leases/complete"
    if isinstance(body, str):  # raw JSON: NaN is not in standard JSON, python's parser takes it
        headers = {**lease["lease_headers"], "Content-Type": "application/json"}
        return client.post(path, content=body, headers=headers)
    return client.post(path, json=body, headers=lease["lease_headers"])


def test_uploaded_evidence_and_verdict_are_shown_and_filterable(
    client: TestClient, lease: dict[str, Any]
) -> None:
    body = {
        "idempotency_key": "k1",
        "times_ms": STEADY,
        "evidence": EVIDENCE,
        "verdict": {**DISTURBED, "evidence_version": 2},  # newer agents may send more
        "median_ci_ms": [1.99, 2.01],
        "some_future_field": 1,  # newer agents may send more: ignored
    }
    reply = _complete(client, lease, body)
    assert reply.status_code == 200, reply.text
    out = reply.json()
    assert (out["verdict"], out["verdict_reason"]) == ("disturbed", DISTURBED["reason"])
    assert (out["median_ci_low_ms"], out["median_ci_high_ms"]) == (1.98, 2.02)  # the server's
    detail = client.get(f"/v1/measurements/{out['id']}").json()
    assert detail["evidence"] == EVIDENCE
    assert detail["verdict_detail"] == {
        "reason": DISTURBED["reason"],
        "figure": 0.93,
        "threshold": 0.1,
        "tries": 3,
    }
    listed = client.get("/v1/measurements", params={"verdict": "disturbed"}).json()
    assert [m["id"] for m in listed] == [out["id"]]
    assert client.get("/v1/measurements", params={"verdict": "clean"}).json() == []
    bad = client.get("/v1/measurements", params={"verdict": "noisy"})
    assert bad.status_code == 422 and "verdict" in bad.json()["message"]


def test_server_stores_a_clean_claim_with_a_high_cv_as_unstable(
    client: TestClient, lease: dict[str, Any]
) -> None:
    claim = {"verdict": "clean", "reason": "others used 0.01 cores", "figure": 0.01}
    reply = _complete(client, lease, {"idempotency_key": "k", "times_ms": NOISY, "verdict": claim})
    assert reply.status_code == 200, reply.text
    out = reply.json()
    assert out["verdict"] == "unstable" and out["unstable"]
    assert (
        "CV of the raw times" in out["verdict_reason"]
        and "agent said clean" in out["verdict_reason"]
    )


def test_an_agent_without_verdicts_is_judged_by_the_cv(
    client: TestClient, lease: dict[str, Any]
) -> None:
    reply = _complete(client, lease, {"idempotency_key": "k", "times_ms": STEADY})
    assert reply.status_code == 200, reply.text
    assert reply.json()["verdict"] == "clean"
    assert reply.json()["verdict_reason"] == "no interference evidence from the agent"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"verdict": {**DISTURBED, "figure": "NaN"}}, "verdict.figure"),
        ({"verdict": {**DISTURBED, "threshold": "Infinity"}}, "verdict.threshold"),
        ({"verdict": {**DISTURBED, "verdict": "noisy"}}, "verdict.verdict"),
        ({"verdict": {**DISTURBED, "tries": -1}}, "verdict.tries"),
        ({"evidence": {f"key{i}": i for i in range(65)}}, "evidence"),
        ({"evidence": {"other_cpu_cores": "NaN"}}, "evidence"),
        ({"evidence": {"other_cpu_cores": {"nested": 1}}}, "evidence"),
        ({"median_ci_ms": [1.0, "Infinity"]}, "median_ci_ms.1"),
    ],
)
def test_bad_uploads_are_422_naming_the_field_and_write_nothing(
    client: TestClient, lease: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    text = json.dumps({"idempotency_key": "k", "times_ms": STEADY, **body})
    for literal in ("NaN", "Infinity"):  # as a JSON number, not a string
        text = text.replace(f'"{literal}"', literal)
    reply = _complete(client, lease, text)
    assert reply.status_code == 422, reply.text
    assert field in [d["field"] for d in reply.json()["details"]], reply.json()
    assert client.get("/v1/measurements").json() == []
    jobs = client.get("/v1/jobs").json()
    assert [j["state"] for j in jobs] == ["leased"]
    assert _complete(client, lease, {"idempotency_key": "k", "times_ms": STEADY}).status_code == 200


def _add_unclean(client: TestClient, measured: Measured, factor: float, verdict: Verdict) -> None:
    """Re-measure every op key of the table and 10 new networks ``factor`` x slower under
    ``verdict`` (newer than the clean rows)."""
    space = measured.space
    with session_scope(app_sessions(client)) as session:
        device = device_repo.get_device(session=session, device_id=measured.device_id)
        runtime = runtime_repo.get_or_create_runtime_config(
            session=session, backend=RUNTIME["backend"], settings=RUNTIME["settings"]
        )
        common = {
            "session": session,
            "device": device,
            "runtime_config": runtime,
            "batch_size": 32,
            "environment": {},
            "source": "agent",
            "space_ref": space.ref,
            "evidence": EVIDENCE,
            "verdict": VerdictDetail(verdict, "other processes used 0.93 cores", 0.93, 0.1),
        }
        for key, block in space.candidate_blocks().items():
            measurement_repo.add_measurement(
                **common,
                subject_kind="op",
                subject=key,
                input_shape=[32, block.in_ch, block.in_hw, block.in_hw],
                times_ms=[factor * measured.lut_ms[key]] * 5,
            )
        for seed in range(N_NETWORKS, N_NETWORKS + 10):
            arch = space.sample(seed)
            measurement_repo.add_measurement(
                **common,
                subject_kind="network",
                subject=space.format(arch),
                input_shape=[32, 3, 32, 32],
                times_ms=[factor * measured.true_ms(arch)] * 5,
            )


def test_lookup_table_rests_on_clean_measurements_unless_asked(
    client: TestClient, measured: Measured
) -> None:
    _add_unclean(client, measured, 3.0, Verdict.DISTURBED)
    query = {"device_id": measured.device_id, "space_ref": measured.space.ref}
    table = client.get("/v1/lookup-tables", params=query).json()
    assert table["trust"] == "built on clean measurements only"
    assert (table["unclean_entries"], table["verdicts_included"]) == (0, ["clean"])
    assert {k: e["median_ms"] for k, e in table["entries"].items()} == pytest.approx(
        measured.lut_ms
    )
    assert {e["verdict"] for e in table["entries"].values()} == {"clean"}
    n_keys = len(measured.lut_ms)
    with_disturbed = client.get("/v1/lookup-tables", params={**query, "include": "disturbed"})
    table = with_disturbed.json()
    assert table["unclean_entries"] == n_keys and table["trust"].startswith("WARNING: ")
    assert "disturbed" in table["trust"] and table["verdicts_included"] == ["clean", "disturbed"]
    assert {k: e["median_ms"] for k, e in table["entries"].items()} == pytest.approx(
        {k: 3.0 * ms for k, ms in measured.lut_ms.items()}
    )
    arch = measured.space.format(measured.space.sample(0))
    body = {**query, "architectures": [arch]}
    clean_sum = client.post("/v1/lookup-tables/latency", json=body).json()[0]
    assert clean_sum["unclean_keys"] == []
    both = client.post("/v1/lookup-tables/latency", json={**body, "include": ["disturbed"]})
    answer = both.json()[0]
    assert answer["lut_ms"] == pytest.approx(3.0 * clean_sum["lut_ms"])
    assert answer["unclean_keys"] == sorted(set(measured.space.op_keys(measured.space.parse(arch))))
    bad = client.get("/v1/lookup-tables", params={**query, "include": "noisy"})
    assert bad.status_code == 422 and "include" in bad.json()["message"]


def _fit(client: TestClient, measured: Measured, **extra: object) -> dict[str, Any]:
    body = {"device_id": measured.device_id, "space_ref": measured.space.ref, "kind": "linear"}
    reply = client.post("/v1/predictors/fits", json=body | extra)
    assert reply.status_code == 202, reply.text
    with session_scope(app_sessions(client)) as session:
        fit = predictor_repo.get_fit(session=session, fit_id=reply.json()["id"])
        run_fit(session=session, fit=fit)
    fit_out = client.get(f"/v1/predictors/fits/{reply.json()['id']}").json()
    assert fit_out["state"] == "succeeded", fit_out
    return {"fit": fit_out, **client.get(f"/v1/predictors/{fit_out['predictor_id']}").json()}


def test_predictor_fits_train_on_clean_measurements_unless_asked(
    client: TestClient, measured: Measured
) -> None:
    _add_unclean(client, measured, 3.0, Verdict.UNSTABLE)
    clean = _fit(client, measured)
    assert clean["fit"]["include_verdicts"] == ["clean"]
    assert clean["training_verdicts"] == ["clean"] and clean["n_measurements"] == N_NETWORKS
    assert clean["metrics"]["mape_pct"] < 1.0
    everything = _fit(client, measured, include_verdicts=["unstable", "disturbed"])
    assert everything["training_verdicts"] == ["clean", "unstable", "disturbed"]
    assert everything["n_measurements"] == N_NETWORKS + 10
    bad = client.post(
        "/v1/predictors/fits",
        json={
            "device_id": measured.device_id,
            "space_ref": measured.space.ref,
            "kind": "linear",
            "include_verdicts": ["noisy"],
        },
    )
    assert bad.status_code == 422 and "include_verdicts" in bad.json()["message"]


def test_a_search_needs_a_clean_lookup_table_unless_it_includes_unclean(
    client: TestClient, measured: Measured
) -> None:
    space = measured.space
    with session_scope(app_sessions(client)) as session:
        busy = device_repo.create_device(session=session, name="cpu-busy", kind="cpu")
        runtime = runtime_repo.get_or_create_runtime_config(
            session=session, backend=RUNTIME["backend"], settings=RUNTIME["settings"]
        )
        add_op_keys(
            session,
            busy,
            runtime,
            space,
            32,
            measured.lut_ms.__getitem__,
            source="agent",
            verdict=VerdictDetail(Verdict.DISTURBED, "other processes used 0.93 cores"),
        )
        busy_id = busy.id
    deploy = {"deploy_resolution": 32, "deploy_width": 0.35, "deploy_classes": 10}
    body = {"device_id": busy_id, "budget_ms": 20.0, "estimator": "proxyless", "config": deploy}
    refused = client.post("/v1/searches", json=body)
    assert refused.status_code == 422, refused.text
    assert "complete lookup table" in refused.json()["message"]
    assert "include_unclean" in refused.json()["message"]
    body["config"] = {**deploy, "include_unclean": True}
    accepted = client.post("/v1/searches", json=body)
    assert accepted.status_code == 201, accepted.text
    model = accepted.json()["latency_model"]
    assert model["kind"] == "lut" and model["verdicts"] == ["clean", "unstable", "disturbed"]
    clean_device = client.post(
        "/v1/searches", json={**body, "device_id": measured.device_id, "config": deploy}
    )
    assert clean_device.json()["latency_model"]["verdicts"] == ["clean"]
