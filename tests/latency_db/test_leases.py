"""Leasing on real databases: claims, results, idempotency, stale leases, expiry on the
database clock, failures and concurrency (design sections 7 and 8)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from latency_db.db import db_now, session_scope
from latency_db.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    StaleLeaseError,
    ValidationError,
)
from latency_db.models import Agent, JobLease, JobState, LeaseState, Measurement, ProfilingJob
from latency_db.repositories import devices, enrollment, jobs, leases

from .conftest import OP_SHAPE, Database, World, make_artifact, make_world, queue_job

TIMES = [2.0, 2.1, 1.9, 2.0, 2.05]
ENV = {"cpu": "test-cpu", "onnxruntime": "1.32"}


def _count(session: Session, model: type[object]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _complete(session: Session, agent: Agent, token: str, key: str) -> Measurement:
    """The agent's result for its lease: ``TIMES`` on ``ENV`` under ``key``."""
    return leases.complete_lease(
        session=session,
        agent=agent,
        lease_token=token,
        idempotency_key=key,
        times_ms=TIMES,
        environment=ENV,
    )


def _push_expiry_into_the_past(session: Session, lease: JobLease) -> None:
    session.execute(
        update(JobLease)
        .where(JobLease.id == lease.id)
        .values(expires_at=db_now(session) - timedelta(seconds=1))
    )
    session.expire_all()


def test_claim_order_device_backend_and_artifact(session: Session, world: World) -> None:
    low = queue_job(session, world, "op-low")
    high = queue_job(session, world, "op-high", priority=5)
    old = queue_job(session, world, "op-old")
    waiting = jobs.create_job(
        session=session,
        device=world.device,
        runtime_config=world.runtime_config,
        kind="op",
        subject="op-no-artifact",
        batch_size=32,
        input_shape=OP_SHAPE,
        max_attempts=3,
    )
    other = make_world(session, name="cpu-other")
    queue_job(session, other, "op-elsewhere")
    torch_agent, _ = enrollment.enroll_agent(
        session=session,
        token=enrollment.issue_enrollment_token(session=session, device=world.device)[1],
        name="torch",
        backend="torch-cpu",
    )
    assert leases.claim_job(session=session, agent=torch_agent, lease_seconds=60) is None

    order = []
    while claim := leases.claim_job(session=session, agent=world.agent, lease_seconds=60):
        assert claim.lease.state is LeaseState.LIVE and claim.job.state is JobState.LEASED
        assert claim.lease.expires_at - claim.lease.leased_at == timedelta(seconds=60)
        order.append(claim.job.id)
    assert order == [high.id, low.id, old.id]

    jobs.attach_artifact(session=session, job=waiting, artifact=make_artifact(session, "late"))
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None and claim.job.id == waiting.id


def test_draining_device_takes_no_new_work(session: Session, world: World) -> None:
    queue_job(session, world, "op-a")
    devices.set_device_state(session=session, device=world.device, state="draining")
    assert leases.claim_job(session=session, agent=world.agent, lease_seconds=60) is None


def test_the_same_upload_twice_writes_one_measurement(db: Database) -> None:
    with session_scope(db.factory) as s:
        world = make_world(s)
        job_id = queue_job(s, world, "op-a").id
        claim = leases.claim_job(session=s, agent=world.agent, lease_seconds=60)
        assert claim is not None
        token = claim.token
    results = []
    for _ in range(2):
        with session_scope(db.factory) as s:
            agent = s.merge(world.agent)
            m = _complete(s, agent, token, "upload-1")
            results.append(m.id)
    with session_scope(db.factory) as s:
        assert results[0] == results[1]
        assert _count(s, Measurement) == 1
        job = jobs.get_job(session=s, job_id=job_id)
        assert job.state is JobState.SUCCEEDED and job.measurement is not None
        assert job.measurement.median_ms == pytest.approx(2.0)
        assert job.measurement.source.value == "agent"
        with pytest.raises(StaleLeaseError):
            _complete(s, s.merge(world.agent), token, "upload-2")


def test_late_upload_from_an_expired_lease_is_refused(db: Database) -> None:
    with session_scope(db.factory) as s:
        world = make_world(s)
        second = make_world(s, name="cpu-2")
        second_agent, second_credential = enrollment.enroll_agent(
            session=s,
            token=enrollment.issue_enrollment_token(session=s, device=world.device)[1],
            name="standby",
            backend="ort-cpu",
        )
        del second, second_credential
        job_id = queue_job(s, world, "op-a").id
        claim = leases.claim_job(session=s, agent=world.agent, lease_seconds=60)
        assert claim is not None
        first_token = claim.token
        _push_expiry_into_the_past(s, claim.lease)
    with session_scope(db.factory) as s:
        with pytest.raises(StaleLeaseError, match="expired"):
            _complete(s, s.merge(world.agent), first_token, "late")
        assert _count(s, Measurement) == 0
    with session_scope(db.factory) as s:  # the standby agent's claim sweeps and re-leases
        claim = leases.claim_job(session=s, agent=s.merge(second_agent), lease_seconds=60)
        assert claim is not None and claim.job.id == job_id
        assert claim.job.attempt == 2 and claim.lease.attempt == 2
        assert claim.job.error_code == "lease_expired"
        _complete(s, s.merge(second_agent), claim.token, "second")
    with session_scope(db.factory) as s:
        with pytest.raises(StaleLeaseError, match="expired"):  # still refused afterwards
            _complete(s, s.merge(world.agent), first_token, "late")
        assert _count(s, Measurement) == 1
        states = sorted(lease.state.value for lease in s.scalars(select(JobLease)))
        assert states == ["completed", "expired"]


def test_expiry_counts_attempts_then_fails_with_lease_expired(
    session: Session, world: World
) -> None:
    job = queue_job(session, world, "op-a", max_attempts=2)
    for attempt in (1, 2):
        claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
        assert claim is not None and claim.lease.attempt == attempt
        assert leases.expire_leases(session=session) == []  # not due yet
        _push_expiry_into_the_past(session, claim.lease)
        assert leases.expire_leases(session=session) == [job]
    assert job.state is JobState.FAILED and job.error_code == "lease_expired"
    assert job.attempt == 2
    assert leases.claim_job(session=session, agent=world.agent, lease_seconds=60) is None


def test_renew_extends_a_live_lease_only(session: Session, world: World) -> None:
    queue_job(session, world, "op-a")
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=5)
    assert claim is not None
    renewed = leases.renew_lease(
        session=session, agent=world.agent, lease_token=claim.token, lease_seconds=90
    )
    assert renewed.expires_at >= db_now(session) + timedelta(seconds=89)
    _push_expiry_into_the_past(session, claim.lease)
    with pytest.raises(StaleLeaseError):
        leases.renew_lease(
            session=session, agent=world.agent, lease_token=claim.token, lease_seconds=90
        )


def test_renew_moves_only_a_live_lease_of_this_agent(session: Session, world: World) -> None:
    """The renewal is one conditional update; each of its conditions has a case here."""
    job = queue_job(session, world, "op-a")
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None and claim.job is job
    deadline = claim.lease.expires_at
    intruder = make_world(session, name="cpu-intruder").agent
    with pytest.raises(PermissionDenied):
        leases.renew_lease(
            session=session, agent=intruder, lease_token=claim.token, lease_seconds=900
        )
    with pytest.raises(NotFound):
        leases.renew_lease(
            session=session, agent=world.agent, lease_token="hwl_unknown", lease_seconds=900
        )
    session.expire_all()
    assert claim.lease.expires_at == deadline
    _complete(session, world.agent, claim.token, "done")
    with pytest.raises(StaleLeaseError, match="completed"):
        leases.renew_lease(
            session=session, agent=world.agent, lease_token=claim.token, lease_seconds=900
        )
    session.expire_all()
    assert claim.lease.expires_at == deadline


def test_failures_follow_the_taxonomy(session: Session, world: World) -> None:
    job = queue_job(session, world, "op-a", max_attempts=2)
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None
    with pytest.raises(ValidationError, match="error_code must be one of"):
        leases.fail_lease(
            session=session, agent=world.agent, lease_token=claim.token, error_code="oops"
        )
    leases.fail_lease(
        session=session,
        agent=world.agent,
        lease_token=claim.token,
        error_code="runtime_error",
        message="ORT crashed",
    )
    assert (job.state, job.attempt, job.error_code) == (JobState.QUEUED, 2, "runtime_error")
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None
    leases.fail_lease(
        session=session, agent=world.agent, lease_token=claim.token, error_code="timeout"
    )
    assert (job.state, job.error_code) == (JobState.FAILED, "timeout")

    broken = queue_job(session, world, "op-b", max_attempts=3)
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None and claim.job is broken
    leases.fail_lease(
        session=session, agent=world.agent, lease_token=claim.token, error_code="invalid_artifact"
    )
    assert (broken.state, broken.attempt) == (JobState.FAILED, 1)


def test_release_gives_the_job_back_without_using_an_attempt(
    session: Session, world: World
) -> None:
    job = queue_job(session, world, "op-a")
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None
    leases.release_lease(session=session, agent=world.agent, lease_token=claim.token)
    assert (job.state, job.attempt) == (JobState.QUEUED, 1)
    assert claim.lease.state is LeaseState.RELEASED
    again = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert again is not None and again.job is job and again.lease.attempt == 1


@pytest.mark.parametrize(
    ("times", "problem"),
    [([], "empty"), ([1.0, float("nan")], "NaN"), ([-1.0], "positive"), ([float("inf")], "inf")],
)
def test_bad_timings_are_refused_and_nothing_changes(
    session: Session, world: World, times: list[float], problem: str
) -> None:
    job = queue_job(session, world, "op-a")
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None
    with pytest.raises(ValidationError, match=problem):
        leases.complete_lease(
            session=session,
            agent=world.agent,
            lease_token=claim.token,
            idempotency_key="k",
            times_ms=times,
            environment=ENV,
        )
    session.expire_all()
    assert _count(session, Measurement) == 0
    assert job.state is JobState.LEASED and claim.lease.state is LeaseState.LIVE
    _complete(session, world.agent, claim.token, "k")
    assert job.state is JobState.SUCCEEDED


def test_agents_cannot_touch_other_agents_leases(session: Session, world: World) -> None:
    queue_job(session, world, "op-a")
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None
    intruder = make_world(session, name="cpu-intruder").agent
    with pytest.raises(PermissionDenied):
        _complete(session, intruder, claim.token, "x")
    with pytest.raises(PermissionDenied):
        jobs.get_job_for_agent(session=session, agent=intruder, job_id=claim.job.id)
    with pytest.raises(NotFound):
        leases.release_lease(session=session, agent=world.agent, lease_token="hwl_unknown")
    assert jobs.get_job_for_agent(session=session, agent=world.agent, job_id=claim.job.id)


def test_idempotency_keys_are_not_shared_between_jobs(session: Session, world: World) -> None:
    for subject in ("op-a", "op-b"):
        queue_job(session, world, subject)
    first = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    second = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert first is not None and second is not None
    kwargs: dict[str, Any] = {"idempotency_key": "same", "times_ms": TIMES, "environment": ENV}
    leases.complete_lease(session=session, agent=world.agent, lease_token=first.token, **kwargs)
    with pytest.raises(Conflict, match="another job"):
        leases.complete_lease(
            session=session, agent=world.agent, lease_token=second.token, **kwargs
        )
    # Nothing of the refused result stays, and its lease is still live for a fresh key.
    assert _count(session, Measurement) == 1
    assert second.lease.state is LeaseState.LIVE and second.job.state is JobState.LEASED
    kwargs["idempotency_key"] = "fresh"
    leases.complete_lease(session=session, agent=world.agent, lease_token=second.token, **kwargs)
    assert second.job.state is JobState.SUCCEEDED


def test_layers_jobs_need_a_layer_profile(session: Session, world: World) -> None:
    job = jobs.create_job(
        session=session,
        device=world.device,
        runtime_config=world.runtime_config,
        kind="layers",
        subject="k3_e6 " * 20 + "k3_e6",
        batch_size=32,
        input_shape=[32, 3, 224, 224],
        max_attempts=3,
        artifact=make_artifact(session, "net"),
    )
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None and claim.job is job
    common: dict[str, Any] = {"agent": world.agent, "lease_token": claim.token, "times_ms": TIMES}
    with pytest.raises(ValidationError, match="layer_profile"):
        leases.complete_lease(session=session, idempotency_key="a", environment=ENV, **common)
    m = leases.complete_lease(
        session=session,
        idempotency_key="b",
        environment=ENV,
        layer_profile={"blocks": {"first_conv": 0.5}},
        **common,
    )
    assert m.subject_kind.value == "network" and m.layer_profile == {"blocks": {"first_conv": 0.5}}


def test_cancel(session: Session, world: World) -> None:
    queued = queue_job(session, world, "op-a")
    assert jobs.cancel_job(session=session, job=queued).state is JobState.CANCELED
    assert jobs.cancel_job(session=session, job=queued).state is JobState.CANCELED
    assert leases.claim_job(session=session, agent=world.agent, lease_seconds=60) is None
    done = queue_job(session, world, "op-b")
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None
    _complete(session, world.agent, claim.token, "k")
    with pytest.raises(Conflict, match="succeeded"):
        jobs.cancel_job(session=session, job=done)


def test_concurrent_claims_lease_each_job_once(db: Database) -> None:
    n_jobs, n_agents = 12, 4
    with session_scope(db.factory) as s:
        world = make_world(s)
        for i in range(n_jobs):
            queue_job(s, world, f"op-{i}")
        agents = [world.agent] + [
            enrollment.enroll_agent(
                session=s,
                token=enrollment.issue_enrollment_token(session=s, device=world.device)[1],
                name=f"agent-{i}",
                backend="ort-cpu",
            )[0]
            for i in range(1, n_agents)
        ]
    claimed: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(n_agents)
    lock = threading.Lock()

    def work(agent_id: str) -> None:
        try:
            start.wait()
            while True:
                with session_scope(db.factory) as s:
                    agent = s.get_one(type(world.agent), agent_id)
                    claim = leases.claim_job(session=s, agent=agent, lease_seconds=60)
                    if claim is None:
                        return
                    with lock:
                        claimed.append(claim.job.id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a.id,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert len(claimed) == n_jobs and len(set(claimed)) == n_jobs
    with session_scope(db.factory) as s:
        live = s.execute(
            select(JobLease.job_id, func.count())
            .where(JobLease.state == LeaseState.LIVE)
            .group_by(JobLease.job_id)
        ).all()
        assert len(live) == n_jobs and all(count == 1 for _, count in live)
        assert {j.state for j in s.scalars(select(ProfilingJob))} == {JobState.LEASED}


def test_the_database_refuses_a_second_live_lease(session: Session, world: World) -> None:
    queue_job(session, world, "op-a")
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None
    duplicate = JobLease(
        job_id=claim.job.id,
        agent_id=world.agent.id,
        token_hash="0" * 64,
        attempt=1,
        state=LeaseState.LIVE,
        leased_at=claim.lease.leased_at,
        expires_at=claim.lease.expires_at,
    )
    session.add(duplicate)
    with pytest.raises(Exception, match=r"(?i)unique"):
        session.flush()
