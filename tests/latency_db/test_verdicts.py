"""Verdicts and evidence on real databases (issue 16): what the server stores for an agent's
claim, bounded evidence, and lookup tables built on clean measurements unless asked."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from latency_db.errors import ValidationError
from latency_db.models import JobState, LeaseState, Measurement
from latency_db.predictors.versions import fit_version, training_set
from latency_db.repositories import jobs, leases, measurements
from latency_db.spaces import get_space
from latency_db.verdicts import NO_EVIDENCE, Verdict, VerdictDetail

from .conftest import OP_SHAPE, World, make_artifact, queue_job

STEADY = [2.0, 2.01, 1.99, 2.0, 2.0, 2.02, 1.98, 2.0, 2.01, 1.99]  # CV ~ 0.01
NOISY = [2.0, 2.6, 1.6, 2.0, 2.4, 1.7, 2.2, 1.8, 2.5, 1.5]  # CV ~ 0.18
# 400 runs at 2.0 ms but every eighth 3 to 5 times slower: CV ~ 0.6, the median's 95 % interval
# within +-0.5 %
PINNED = [2.0 + 0.001 * (i % 10) if i % 8 else 6.0 + (i % 3) for i in range(400)]
BUSY = {"interval_s": 1.2, "other_cpu_cores": 0.93, "steal_share": 0.0, "tries": 3}
DISTURBED = {
    "verdict": "disturbed",
    "reason": "other processes used 0.93 cores",
    "figure": 0.93,
    "threshold": 0.10,
    "tries": 3,
}


def _complete(session: Session, world: World, subject: str, **body: Any) -> Measurement:
    queue_job(session, world, subject)
    claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
    assert claim is not None and claim.job.subject == subject
    return leases.complete_lease(
        session=session,
        agent=world.agent,
        lease_token=claim.token,
        idempotency_key=f"key-{subject}-{len(body)}",
        environment={},
        **{"times_ms": STEADY, **body},
    )


def _measure(session: Session, world: World, subject: str, ms: float, verdict: Verdict) -> str:
    row = measurements.add_measurement(
        session=session,
        device=world.device,
        runtime_config=world.runtime_config,
        subject_kind="op",
        subject=subject,
        batch_size=32,
        input_shape=OP_SHAPE,
        times_ms=[ms] * 10,
        environment={},
        source="agent",
        verdict=VerdictDetail(verdict, f"{verdict.value} on purpose"),
    )
    return row.id


def test_agent_verdict_and_evidence_are_stored_with_the_servers_interval(
    session: Session, world: World
) -> None:
    row = _complete(session, world, "op-a", evidence=BUSY, verdict=DISTURBED)
    assert row.verdict is Verdict.DISTURBED
    assert row.verdict_detail == {
        k: DISTURBED[k] for k in ("reason", "figure", "threshold", "tries")
    }
    assert row.evidence == BUSY
    assert (row.median_ci_low_ms, row.median_ci_high_ms) == (1.98, 2.02)  # ranks 1, 10 of 10
    assert not row.unstable  # the CV flag stays the server's own, apart from the verdict


@pytest.mark.parametrize(
    ("times", "claim", "verdict", "reason"),
    [
        (STEADY, None, Verdict.CLEAN, NO_EVIDENCE),
        (NOISY, None, Verdict.UNSTABLE, NO_EVIDENCE),
        (NOISY, {"verdict": "clean", "reason": "quiet"}, Verdict.UNSTABLE, "CV of the raw times"),
        (STEADY, {"verdict": "clean", "reason": "quiet"}, Verdict.CLEAN, "quiet"),
        (NOISY, DISTURBED, Verdict.DISTURBED, "0.93 cores"),
        (STEADY, {"verdict": "unstable", "reason": "cv 0.08"}, Verdict.UNSTABLE, "cv 0.08"),
        (PINNED, None, Verdict.CLEAN, NO_EVIDENCE),
        (PINNED, {"verdict": "clean", "reason": "pinned"}, Verdict.CLEAN, "pinned"),
    ],
)
def test_the_server_settles_the_verdict_from_its_own_cv(
    session: Session,
    world: World,
    times: list[float],
    claim: dict[str, Any] | None,
    verdict: Verdict,
    reason: str,
) -> None:
    row = _complete(session, world, "op-a", times_ms=times, verdict=claim)
    assert row.verdict is verdict
    assert reason in row.verdict_reason
    if verdict is Verdict.UNSTABLE and (claim is None or claim["verdict"] == "clean"):
        assert row.verdict_detail["figure"] == pytest.approx(row.cv)
        assert row.verdict_detail["threshold"] == 0.05


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"evidence": {f"k{i}": i for i in range(65)}}, "65 keys"),
        ({"evidence": {"other_cpu_cores": float("nan")}}, r"evidence\.other_cpu_cores"),
        ({"evidence": {"x" * 65: 1}}, "keys must be 1 to 64"),
        ({"evidence": {"names": ["a"] * 65}}, r"evidence\.names"),
        ({"evidence": {"nested": {"a": 1}}}, r"evidence\.nested"),
        ({"evidence": {"long": "x" * 257}}, r"evidence\.long"),
        ({"evidence": {f"k{i}": "x" * 256 for i in range(64)}}, "bytes of JSON, at most"),
        ({"verdict": {**DISTURBED, "figure": float("nan")}}, r"verdict\.figure"),
        ({"verdict": {**DISTURBED, "threshold": float("inf")}}, r"verdict\.threshold"),
        ({"verdict": {**DISTURBED, "verdict": "fine"}}, r"verdict\.verdict"),
        ({"verdict": {**DISTURBED, "tries": -1}}, r"verdict\.tries"),
    ],
)
def test_bad_evidence_or_verdict_writes_nothing(
    session: Session, world: World, body: dict[str, Any], problem: str
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
            times_ms=STEADY,
            environment={},
            **body,
        )
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Measurement)) == 0
    assert job.state is JobState.LEASED and claim.lease.state is LeaseState.LIVE


def test_lookup_table_uses_the_latest_clean_entry_unless_asked(
    session: Session, world: World
) -> None:
    clean_a = _measure(session, world, "op-a", 2.0, Verdict.CLEAN)
    disturbed_a = _measure(session, world, "op-a", 6.0, Verdict.DISTURBED)  # newer
    unstable_b = _measure(session, world, "op-b", 3.0, Verdict.UNSTABLE)
    table = {
        "session": session,
        "device": world.device,
        "runtime_config": world.runtime_config,
        "batch_size": 32,
    }
    default = measurements.lookup_table(**table)
    assert {k: m.id for k, m in default.items()} == {"op-a": clean_a}
    everything = measurements.lookup_table(**table, include=set(Verdict))
    assert {k: m.id for k, m in everything.items()} == {"op-a": disturbed_a, "op-b": unstable_b}
    unstable = measurements.lookup_table(**table, include={Verdict.CLEAN, Verdict.UNSTABLE})
    assert {k: m.id for k, m in unstable.items()} == {"op-a": clean_a, "op-b": unstable_b}


def test_measurements_filter_by_verdict(session: Session, world: World) -> None:
    clean = _measure(session, world, "op-a", 2.0, Verdict.CLEAN)
    disturbed = _measure(session, world, "op-b", 6.0, Verdict.DISTURBED)
    listed = measurements.list_measurements
    assert [m.id for m in listed(session=session, verdict="disturbed")] == [disturbed]
    assert [m.id for m in listed(session=session, verdict=Verdict.CLEAN)] == [clean]
    with pytest.raises(ValidationError, match="verdict must be one of"):
        listed(session=session, verdict="quiet")


def test_a_key_measured_only_disturbed_counts_as_unclean_and_is_measured_again(
    session: Session, world: World
) -> None:
    ops = {"op-a": OP_SHAPE, "op-b": OP_SHAPE}
    queue = {
        "session": session,
        "device": world.device,
        "runtime_config": world.runtime_config,
        "space_ref": "proxyless-r224-w1.0-c1000",
        "batch_size": 32,
        "ops": ops,
        "max_attempts": 3,
    }
    first = jobs.enqueue_op_jobs(**queue)
    for job in first:
        jobs.attach_artifact(session=session, job=job, artifact=make_artifact(session, job.subject))
    for verdict in (DISTURBED, None):
        claim = leases.claim_job(session=session, agent=world.agent, lease_seconds=60)
        assert claim is not None
        leases.complete_lease(
            session=session,
            agent=world.agent,
            lease_token=claim.token,
            idempotency_key=claim.job.subject,
            times_ms=STEADY,
            environment={},
            verdict=verdict,
        )
    progress = {k: v for k, v in queue.items() if k not in ("space_ref", "ops", "max_attempts")}
    state = jobs.lut_progress(**progress, op_keys=list(ops))
    assert (state.measured, state.unclean, state.queued, state.failed) == (2, 1, 0, 0)
    again = jobs.enqueue_op_jobs(**queue)
    assert [j.subject for j in again] == [first[0].subject]  # the disturbed one
    state = jobs.lut_progress(**progress, op_keys=list(ops))
    assert (state.measured, state.unclean, state.queued) == (1, 0, 1)


def test_predictor_training_sets_hold_clean_networks_unless_asked(
    session: Session, world: World
) -> None:
    space = get_space("proxyless", resolution=32, width_mult=0.35, num_classes=10)
    by_verdict: dict[Verdict, list[str]] = {v: [] for v in Verdict}
    for seed, verdict in enumerate([Verdict.CLEAN] * 3 + [Verdict.UNSTABLE, Verdict.DISTURBED]):
        arch = space.format(space.sample(seed))
        by_verdict[verdict].append(arch)
        measurements.add_measurement(
            session=session,
            device=world.device,
            runtime_config=world.runtime_config,
            subject_kind="network",
            subject=arch,
            batch_size=32,
            input_shape=[32, 3, 32, 32],
            times_ms=STEADY,
            environment={},
            source="agent",
            space_ref=space.ref,
            verdict=VerdictDetail(verdict, verdict.value),
        )
    where = {
        "session": session,
        "device": world.device,
        "runtime_config": world.runtime_config,
        "space": space,
        "batch_size": 32,
    }
    assert sorted(training_set(**where).architectures) == sorted(by_verdict[Verdict.CLEAN])
    with_unstable = training_set(**where, include={Verdict.CLEAN, Verdict.UNSTABLE})
    assert sorted(with_unstable.architectures) == sorted(
        by_verdict[Verdict.CLEAN] + by_verdict[Verdict.UNSTABLE]
    )
    with pytest.raises(ValidationError, match="2 more were measured unstable or disturbed"):
        fit_version(**where, kind="linear")  # 3 clean networks are too few
    everything = training_set(**where, include=set(Verdict))
    assert len(everything.architectures) == len(everything.measurement_ids) == 5
