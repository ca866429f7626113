"""Devices, one-time enrollment, agent credentials and heartbeats on the database clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from latency_db.db import db_now, session_scope
from latency_db.errors import Conflict, NotFound, Unauthenticated, ValidationError
from latency_db.models import Agent, AgentState, DeviceState, EnrollmentToken
from latency_db.repositories import agents, devices, enrollment, jobs, leases
from latency_db.security import hash_token

from .conftest import Database, World, make_world, queue_job


def test_devices_create_list_get_and_change_state(session: Session) -> None:
    gpu = devices.create_device(session=session, name="a100", kind="gpu", attributes={"mem": 80})
    devices.create_device(session=session, name="pixel-8", kind="phone")
    assert [d.name for d in devices.list_devices(session=session)] == ["a100", "pixel-8"]
    assert devices.get_device(session=session, device_id=gpu.id) is gpu
    assert devices.get_device_by_name(session=session, name="a100").attributes == {"mem": 80}
    assert devices.set_device_state(session=session, device=gpu, state="draining").state is (
        DeviceState.DRAINING
    )
    with pytest.raises(Conflict):
        devices.create_device(session=session, name="a100", kind="gpu")
    with pytest.raises(NotFound):
        devices.get_device_by_name(session=session, name="missing")


@pytest.mark.parametrize(
    ("name", "kind", "attributes", "problem"),
    [
        ("ok", "toaster", None, "kind must be one of gpu, cpu, phone, edge"),
        ("bad name!", "cpu", None, "device name"),
        ("ok", "cpu", {"x": float("nan")}, "attributes"),
    ],
)
def test_bad_devices_are_refused(
    session: Session, name: str, kind: str, attributes: dict[str, float] | None, problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        devices.create_device(session=session, name=name, kind=kind, attributes=attributes)
    assert devices.list_devices(session=session) == []


def test_enrollment_token_is_one_time_and_credential_hashed(session: Session) -> None:
    device = devices.create_device(session=session, name="cpu-9", kind="cpu")
    row, token = enrollment.issue_enrollment_token(session=session, device=device)
    assert row.token_hash == hash_token(token) and row.used_at is None
    agent, credential = enrollment.enroll_agent(
        session=session, token=token, name="agent-a", backend="ort-cpu", environment={"cpu": "x"}
    )
    assert agent.device is device and agent.state is AgentState.ONLINE
    assert agent.credential_hash == hash_token(credential) != credential
    assert session.scalars(select(EnrollmentToken)).one().used_at is not None
    with pytest.raises(Unauthenticated):
        enrollment.enroll_agent(session=session, token=token, name="agent-b", backend="ort-cpu")
    assert agents.authenticate_agent(session=session, credential=credential) is agent
    assert agents.authenticate_agent(session=session, credential=token) is None


def test_expired_or_unknown_enrollment_tokens_are_refused(session: Session) -> None:
    device = devices.create_device(session=session, name="cpu-8", kind="cpu")
    row, token = enrollment.issue_enrollment_token(session=session, device=device, ttl_seconds=60)
    row.expires_at = db_now(session) - timedelta(seconds=1)
    for attempt in (token, "hwe_made-up"):
        with pytest.raises(Unauthenticated):
            enrollment.enroll_agent(session=session, token=attempt, name="a", backend="ort-cpu")
    assert session.scalars(select(Agent)).all() == []


def test_disabled_agents_cannot_authenticate(session: Session, world: World) -> None:
    agents.set_agent_state(session=session, agent=world.agent, state="disabled")
    assert agents.authenticate_agent(session=session, credential=world.credential) is None
    with pytest.raises(ValidationError, match="stale"):
        agents.set_agent_state(session=session, agent=world.agent, state="stale")


def test_heartbeat_tells_the_agent_which_leases_to_drop(session: Session, world: World) -> None:
    first = queue_job(session, world, "op-a")
    second = queue_job(session, world, "op-b")
    claim_a = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    claim_b = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim_a is not None and claim_b is not None
    beat = agents.heartbeat(
        session=session, agent=world.agent, lease_tokens=[claim_a.token, claim_b.token]
    )
    assert beat.cancel == [] and beat.server_time == world.agent.last_heartbeat_at
    canceled = jobs.cancel_job(session=session, job=claim_a.job)
    assert canceled.state.value == "leased" and canceled.cancel_requested
    beat = agents.heartbeat(
        session=session, agent=world.agent, lease_tokens=[claim_a.token, claim_b.token, "hwl_x"]
    )
    assert beat.cancel == [claim_a.token, "hwl_x"]
    other = make_world(session, name="cpu-2")
    assert agents.heartbeat(session=session, agent=other.agent, lease_tokens=[claim_b.token]).cancel
    # the canceled agent gives the job back: it ends CANCELED, not QUEUED
    job = leases.release_lease(session=session, agent=world.agent, lease_token=claim_a.token)
    assert job.state.value == "canceled"
    assert {first.id, second.id} == {claim_a.job.id, claim_b.job.id}


def test_silent_agents_go_stale_then_offline_on_the_db_clock(db: Database) -> None:
    with session_scope(db.factory) as s:
        world = make_world(s)
        quiet = make_world(s, name="cpu-quiet").agent
        agent_id, quiet_id = world.agent.id, quiet.id
        now = db_now(s)
        s.execute(
            update(Agent)
            .where(Agent.id == quiet_id)
            .values(last_heartbeat_at=now - timedelta(seconds=45))
        )
    with session_scope(db.factory) as s:
        moved = agents.mark_stale_and_offline(
            session=s, stale_after_seconds=30, offline_after_seconds=120
        )
        assert moved[AgentState.STALE] == 1 and moved[AgentState.OFFLINE] == 0
        s.execute(
            update(Agent)
            .where(Agent.id == quiet_id)
            .values(last_heartbeat_at=db_now(s) - timedelta(seconds=121))
        )
    with session_scope(db.factory) as s:
        agents.mark_stale_and_offline(session=s, stale_after_seconds=30, offline_after_seconds=120)
        assert agents.get_agent(session=s, agent_id=quiet_id).state is AgentState.OFFLINE
        assert agents.get_agent(session=s, agent_id=agent_id).state is AgentState.ONLINE
        back = agents.heartbeat(session=s, agent=agents.get_agent(session=s, agent_id=quiet_id))
        assert back.cancel == []
        assert agents.get_agent(session=s, agent_id=quiet_id).state is AgentState.ONLINE
