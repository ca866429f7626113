"""Drift-normalized lookup tables and predictor fits (issue 16 item 4): a device measured
again while 25 % slower (speed index 0.8) reads like its reference-speed self once
normalized, and raw otherwise."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from latency_db.db import db_now, session_scope
from latency_db.models import Device, Measurement, RuntimeConfig
from latency_db.predictors.versions import fit_version, training_set
from latency_db.repositories import devices as device_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.repositories.speed import SpeedReading, add_speed_sample
from latency_db.sentinel import INPUT_SHAPE, SENTINEL_SUBJECT

from .conftest import Measured

SLOWER = 1.25  # the device runs 25 % slower: speed index 1 / 1.25 = 0.8


@pytest.fixture
def drifted(client: TestClient, measured: Measured) -> Measured:
    """Every LUT entry and network measured again while the device ran slower."""
    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        device = device_repo.get_device(session=session, device_id=measured.device_id)
        runtime = runtime_repo.get_runtime_config(
            session=session, runtime_config_id=measured.runtime_config_id
        )
        for row in measurement_repo.list_measurements(session=session, device=device, limit=1000):
            measurement_repo.add_measurement(
                session=session,
                device=device,
                runtime_config=runtime,
                subject_kind=row.subject_kind,
                subject=row.subject,
                batch_size=row.batch_size,
                input_shape=row.input_shape,
                times_ms=[row.median_ms * SLOWER] * 5,
                environment={},
                source="local",
                space_ref=row.space_ref,
                speed_index=1 / SLOWER,
            )
    return measured


def test_normalized_lookup_table_is_raw_times_the_index(
    client: TestClient, drifted: Measured
) -> None:
    query = {"device_id": drifted.device_id, "space_ref": drifted.space.ref, "batch_size": 32}
    raw = client.get("/v1/lookup-tables", params=query).json()
    normalized = client.get("/v1/lookup-tables", params={**query, "normalize_drift": True}).json()
    assert (raw["normalize_drift"], normalized["normalize_drift"]) == (False, True)
    assert raw["entries"].keys() == normalized["entries"].keys() == drifted.lut_ms.keys()
    for key, lut_ms in drifted.lut_ms.items():
        entry = normalized["entries"][key]
        assert raw["entries"][key]["median_ms"] == pytest.approx(lut_ms * SLOWER)
        assert entry["median_ms"] == pytest.approx(lut_ms)  # at the reference speed
        assert entry["measured_median_ms"] == pytest.approx(lut_ms * SLOWER)
        assert entry["speed_index"] == pytest.approx(0.8)
    arch = drifted.space.format(drifted.space.sample(7))
    body = {**query, "architectures": [arch]}
    (raw_sum,) = client.post("/v1/lookup-tables/latency", json=body).json()
    (normalized_sum,) = client.post(
        "/v1/lookup-tables/latency", json={**body, "normalize_drift": True}
    ).json()
    assert normalized_sum["lut_ms"] == pytest.approx(raw_sum["lut_ms"] * 0.8)
    bad = client.get("/v1/lookup-tables", params={**query, "normalize_drift": "sometimes"})
    assert bad.status_code == 422 and "normalize_drift" in bad.text


def test_normalized_fit_learns_the_reference_speed_and_says_so(
    client: TestClient, drifted: Measured
) -> None:
    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        device = device_repo.get_device(session=session, device_id=drifted.device_id)
        runtime = runtime_repo.get_runtime_config(
            session=session, runtime_config_id=drifted.runtime_config_id
        )
        common = {
            "session": session,
            "device": device,
            "runtime_config": runtime,
            "space": drifted.space,
            "batch_size": 32,
        }
        raw = training_set(**common)
        normalized = training_set(**common, normalize_drift=True)
        truth = [drifted.true_ms(drifted.space.parse(a)) for a in normalized.architectures]
        assert normalized.latencies_ms == pytest.approx(truth)
        assert raw.latencies_ms == pytest.approx([t * SLOWER for t in truth])
        assert normalized.lut_ms == pytest.approx(drifted.lut_ms)
        version = fit_version(**common, kind="linear", normalize_drift=True)
        assert version.metrics["normalize_drift"] is True
        assert fit_version(**common, kind="linear").metrics["normalize_drift"] is False
    queued = client.post(
        "/v1/predictors/fits",
        json={
            "device_id": drifted.device_id,
            "space_ref": drifted.space.ref,
            "kind": "lut",
            "normalize_drift": True,
        },
    )
    assert queued.status_code == 202 and queued.json()["normalize_drift"] is True


def _sentinel_point(session: Session, device: Device, runtime: RuntimeConfig, ms: float) -> str:
    """A clean sentinel measurement of ``ms`` with its point (reference 2 ms); its id."""
    measurement = measurement_repo.add_measurement(
        session=session,
        device=device,
        runtime_config=runtime,
        subject_kind="sentinel",
        subject=SENTINEL_SUBJECT,
        batch_size=INPUT_SHAPE[0],
        input_shape=list(INPUT_SHAPE),
        times_ms=[ms] * 5,
        environment={},
        source="local",
    )
    assert add_speed_sample(
        session=session, measurement=measurement, reading=SpeedReading(2.0 / ms, 2.0)
    )
    return measurement.id


def test_table_entries_take_the_index_bracketed_by_the_sentinels_around_them(
    client: TestClient, drifted: Measured
) -> None:
    """Sentinels an hour before (index 1.0) and an hour after (0.8) the drifted entries:
    each entry reads at about 0.9, not its stored 0.8, raw and normalized alike."""
    with session_scope(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        device = device_repo.get_device(session=session, device_id=drifted.device_id)
        runtime = runtime_repo.get_runtime_config(
            session=session, runtime_config_id=drifted.runtime_config_id
        )
        now = db_now(session)
        for ms, hours in ((2.0, -1), (2.5, 1)):
            session.execute(
                update(Measurement)
                .where(Measurement.id == _sentinel_point(session, device, runtime, ms))
                .values(created_at=now + timedelta(hours=hours))
            )
    query = {"device_id": drifted.device_id, "space_ref": drifted.space.ref, "batch_size": 32}
    for normalize in (False, True):
        table = client.get("/v1/lookup-tables", params={**query, "normalize_drift": normalize})
        for key, lut_ms in drifted.lut_ms.items():
            entry = table.json()["entries"][key]
            assert entry["speed_index"] == pytest.approx(0.9, abs=0.01)
            expected = lut_ms * SLOWER * (entry["speed_index"] if normalize else 1.0)
            assert entry["median_ms"] == pytest.approx(expected)
