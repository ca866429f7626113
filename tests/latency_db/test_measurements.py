"""Measurements, lookup tables, runtime configs, artifacts and building a LUT's jobs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from latency_db.errors import Conflict, ValidationError
from latency_db.models import Measurement, ProfilingJob
from latency_db.repositories import artifacts, jobs, leases, measurements, runtime_configs

from .conftest import OP_SHAPE, World, make_artifact, make_world

ENV = {"cpu": "test-cpu"}


def _measure(
    session: Session, world: World, subject: str, ms: float, **extra: object
) -> Measurement:
    return measurements.add_measurement(
        session=session,
        device=world.device,
        runtime_config=world.runtime_config,
        subject_kind=extra.pop("subject_kind", "op"),  # type: ignore[arg-type]
        subject=subject,
        batch_size=extra.pop("batch_size", 32),  # type: ignore[arg-type]
        input_shape=OP_SHAPE,
        times_ms=[ms, ms, ms],
        environment=ENV,
        source="import",
        **extra,  # type: ignore[arg-type]
    )


def test_lookup_table_is_the_latest_accepted_measurement_per_key(
    session: Session, world: World
) -> None:
    old = _measure(session, world, "op-a", 3.0)
    new = _measure(session, world, "op-a", 2.0)
    _measure(session, world, "op-a", 1.0, accepted=False)
    only_b = _measure(session, world, "op-b", 5.0)
    _measure(session, world, "op-b", 9.0, batch_size=1)
    _measure(session, world, "net", 40.0, subject_kind="network")
    other = make_world(session, name="cpu-other")
    _measure(session, other, "op-a", 7.0)
    other_config = runtime_configs.get_or_create_runtime_config(
        session=session, backend="ort-cpu", settings={"threads": 8}
    )
    measurements.add_measurement(
        session=session,
        device=world.device,
        runtime_config=other_config,
        subject_kind="op",
        subject="op-a",
        batch_size=32,
        input_shape=OP_SHAPE,
        times_ms=[0.5],
        environment=ENV,
        source="local",
    )
    assert old.created_at <= new.created_at
    table = measurements.lookup_table(
        session=session, device=world.device, runtime_config=world.runtime_config, batch_size=32
    )
    assert {k: m.id for k, m in table.items()} == {"op-a": new.id, "op-b": only_b.id}
    assert table["op-a"].median_ms == 2.0
    subset = measurements.lookup_table(
        session=session,
        device=world.device,
        runtime_config=world.runtime_config,
        batch_size=32,
        op_keys=["op-b", "op-missing"],
    )
    assert list(subset) == ["op-b"]
    # a newer row wins even when it was written with an older id
    old_row = _measure(session, world, "op-b", 4.0)
    session.execute(
        update(Measurement)
        .where(Measurement.id == old_row.id)
        .values(created_at=only_b.created_at - timedelta(days=1))
    )
    session.expire_all()
    table = measurements.lookup_table(
        session=session, device=world.device, runtime_config=world.runtime_config, batch_size=32
    )
    assert table["op-b"].id == only_b.id


def test_a_table_read_leaves_the_raw_times_and_evidence_in_the_database(
    session: Session, world: World
) -> None:
    """A lookup table (and the progress poll that reads it every second while a table is
    built) selects the statistics only; the raw times load on access."""
    _measure(session, world, "op-a", 3.0)
    session.expire_all()
    statements: list[str] = []

    def kept(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", kept)
    try:
        table = measurements.lookup_table(
            session=session, device=world.device, runtime_config=world.runtime_config, batch_size=32
        )
        assert table["op-a"].median_ms == 3.0
        read = list(statements)
        assert table["op-a"].times_ms == [3.0, 3.0, 3.0]
    finally:
        event.remove(engine, "before_cursor_execute", kept)
    assert read, "the table read ran no statement"
    for column in ("times_ms", "environment", "evidence", "layer_profile", "verdict_detail"):
        assert not any(column in statement for statement in read), column


def test_measurements_are_immutable(session: Session, world: World) -> None:
    row = _measure(session, world, "op-a", 2.0)
    row.median_ms = 1.0
    with pytest.raises(ValueError, match="immutable"):
        session.flush()


def test_statistics_are_derived_on_the_server(session: Session, world: World) -> None:
    row = measurements.add_measurement(
        session=session,
        device=world.device,
        runtime_config=world.runtime_config,
        subject_kind="model",
        subject="resnet18.onnx",
        batch_size=32,
        input_shape=[32, 3, 224, 224],
        times_ms=[10.0, 12.0, 11.0, 30.0],
        environment=ENV,
        source="agent",
    )
    assert (row.min_ms, row.median_ms, row.mean_ms) == (10.0, 11.5, 15.75)
    assert row.unstable and row.cv > 0.05
    assert row.times_ms == [10.0, 12.0, 11.0, 30.0]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"times_ms": [float("nan")]}, "NaN"),
        ({"batch_size": 0}, "batch_size"),
        ({"input_shape": [32, -3]}, r"input_shape\[1\]"),
        ({"source": "guess"}, "source must be one of"),
        ({"environment": {"t": float("inf")}}, "environment"),
    ],
)
def test_bad_measurements_write_nothing(
    session: Session, world: World, change: dict[str, object], problem: str
) -> None:
    args: dict[str, object] = {
        "subject_kind": "op",
        "subject": "op-a",
        "batch_size": 32,
        "input_shape": OP_SHAPE,
        "times_ms": [1.0],
        "environment": ENV,
        "source": "import",
    } | change
    with pytest.raises(ValidationError, match=problem):
        measurements.add_measurement(
            session=session,
            device=world.device,
            runtime_config=world.runtime_config,
            **args,  # type: ignore[arg-type]
        )
    assert session.scalar(select(func.count()).select_from(Measurement)) == 0


def test_runtime_configs_are_one_row_per_canonical_settings(session: Session) -> None:
    a = runtime_configs.get_or_create_runtime_config(
        session=session, backend="ort-cpu", settings={"threads": 4, "ep": "cpu"}
    )
    b = runtime_configs.get_or_create_runtime_config(
        session=session, backend="ort-cpu", settings={"ep": "cpu", "threads": 4}
    )
    c = runtime_configs.get_or_create_runtime_config(
        session=session,
        backend="ort-cpu",
        settings={"ep": "cpu", "threads": 4},
        runtime_version="1.32.0",
    )
    d = runtime_configs.get_or_create_runtime_config(
        session=session, backend="torch-cpu", settings={"ep": "cpu", "threads": 4}
    )
    assert a is b and len({a.id, c.id, d.id}) == 3
    assert a.settings_hash == runtime_configs.settings_hash({"threads": 4, "ep": "cpu"})
    with pytest.raises(ValidationError, match="settings"):
        runtime_configs.get_or_create_runtime_config(
            session=session, backend="ort-cpu", settings={"threads": float("nan")}
        )


def test_artifacts_are_content_addressed(session: Session) -> None:
    first = make_artifact(session, "op-a")
    assert make_artifact(session, "op-a") is first
    assert artifacts.get_artifact(session=session, sha256=first.sha256) is first
    with pytest.raises(Conflict):
        artifacts.register_artifact(
            session=session,
            sha256=first.sha256,
            kind="onnx",
            size_bytes=1,
            subject="op-a",
            input_shape=OP_SHAPE,
        )
    with pytest.raises(ValidationError, match="sha256"):
        artifacts.get_artifact(session=session, sha256="../../etc/passwd")


def test_enqueue_op_jobs_only_for_missing_keys(session: Session, world: World) -> None:
    ops = {f"op-{i}": OP_SHAPE for i in range(5)}
    _measure(session, world, "op-0", 1.0)
    kwargs = {
        "session": session,
        "device": world.device,
        "runtime_config": world.runtime_config,
        "space_ref": "proxyless-r224-w1.0-c1000",
        "batch_size": 32,
        "ops": ops,
        "max_attempts": 3,
    }
    created = jobs.enqueue_op_jobs(**kwargs)
    assert sorted(j.subject for j in created) == ["op-1", "op-2", "op-3", "op-4"]
    assert all(j.artifact_sha256 is None for j in created)
    assert jobs.enqueue_op_jobs(**kwargs) == []
    with pytest.raises(Conflict, match="already queued or leased"):
        jobs.create_job(
            session=session,
            device=world.device,
            runtime_config=world.runtime_config,
            kind="op",
            subject="op-1",
            batch_size=32,
            input_shape=OP_SHAPE,
            max_attempts=3,
        )
    progress = jobs.lut_progress(
        session=session,
        device=world.device,
        runtime_config=world.runtime_config,
        batch_size=32,
        op_keys=list(ops),
    )
    assert (progress.total, progress.measured, progress.queued) == (5, 1, 4)

    for job in created[:2]:
        jobs.attach_artifact(session=session, job=job, artifact=make_artifact(session, job.subject))
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None
    leases.complete_lease(
        session=session,
        agent=world.agent,
        lease_token=claim.token,
        idempotency_key="k1",
        times_ms=[1.0, 1.01],
        environment=ENV,
    )
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None
    leases.fail_lease(
        session=session, agent=world.agent, lease_token=claim.token, error_code="export_error"
    )
    progress = jobs.lut_progress(
        session=session,
        device=world.device,
        runtime_config=world.runtime_config,
        batch_size=32,
        op_keys=list(ops),
    )
    assert (progress.measured, progress.queued, progress.leased, progress.failed) == (2, 2, 0, 1)
    again = jobs.enqueue_op_jobs(**kwargs)
    assert [j.subject for j in again] == [claim.job.subject]  # the failed key is retried
    assert session.scalar(select(func.count()).select_from(ProfilingJob)) == 5
