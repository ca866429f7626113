"""The measured oracle and a search's budget verdict on trustworthy numbers only (issue 16):
a cached measurement is reused only if clean, a disturbed answer is reported with its verdict
and kept out of the latency terms, and a budget is judged only on a clean measurement."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from latency_db import migrate
from latency_db.artifact_store import ArtifactStore
from latency_db.db import make_engine, make_session_factory, session_scope
from latency_db.models import ProfilingJob
from latency_db.repositories import (
    agents,
    artifacts,
    devices,
    enrollment,
    jobs,
    leases,
    runtime_configs,
)
from latency_db.repositories import measurements as measurement_repo
from latency_db.spaces import SearchSpace
from latency_db.verdicts import Verdict, VerdictDetail
from search_worker.oracle import PredictorOracle
from search_worker.oracle.base import Arch
from search_worker.oracle.measured import MeasuredOracle
from search_worker.search.finish import budget_verdict, finish_search

from .conftest import small_space
from .test_search_run import make_run

STEADY = [5.0, 5.01, 4.99, 5.0, 5.0, 5.02, 4.98, 5.0]
BUSY = "other processes used 0.9 cores"


@dataclass
class Device:
    sessions: sessionmaker[Session]
    device_id: str
    runtime_config_id: str
    agent_credential: str
    space: SearchSpace

    def oracle(self, **options: Any) -> MeasuredOracle:
        return MeasuredOracle(
            self.sessions,
            device_id=self.device_id,
            runtime_config_id=self.runtime_config_id,
            space=self.space,
            batch_size=2,
            request_exports=lambda _: None,
            **options,
        )

    def arch(self, seed: int) -> Arch:
        return tuple(self.space.indices(self.space.sample(seed)))

    def subject(self, arch: Arch) -> str:
        return self.space.format(self.space.parse(list(arch)))

    def jobs(self) -> int:
        with session_scope(self.sessions) as session:
            return session.scalar(select(func.count()).select_from(ProfilingJob)) or 0

    def stored(self, arch: Arch, verdict: Verdict) -> None:
        """A measurement of ``arch`` already in the database, with ``verdict``."""
        with session_scope(self.sessions) as session:
            measurement_repo.add_measurement(
                session=session,
                device=devices.get_device(session=session, device_id=self.device_id),
                runtime_config=runtime_configs.get_runtime_config(
                    session=session, runtime_config_id=self.runtime_config_id
                ),
                subject_kind="network",
                subject=self.subject(arch),
                batch_size=2,
                input_shape=[2, 3, 32, 32],
                times_ms=STEADY,
                environment={},
                source="agent",
                space_ref=self.space.ref,
                verdict=VerdictDetail(verdict, BUSY if verdict is Verdict.DISTURBED else ""),
            )

    def agent_measures(self, verdict: dict[str, Any] | None) -> None:
        """The device's agent claims the one queued job and uploads steady times."""
        with session_scope(self.sessions) as session:
            job = session.scalars(select(ProfilingJob)).one()
            artifact = artifacts.register_artifact(
                session=session,
                sha256=hashlib.sha256(job.subject.encode()).hexdigest(),
                kind="onnx",
                size_bytes=10,
                subject=job.subject,
                input_shape=job.input_shape,
                opset=17,
            )
            jobs.attach_artifact(session=session, job=job, artifact=artifact)
        with session_scope(self.sessions) as session:
            agent = agents.authenticate_agent(session=session, credential=self.agent_credential)
            assert agent is not None
            claim = leases.claim_job(session=session, agent=agent, lease_seconds=60)
            assert claim is not None
            leases.complete_lease(
                session=session,
                agent=agent,
                lease_token=claim.token,
                idempotency_key=claim.job.id,
                times_ms=STEADY,
                environment={},
                verdict=verdict,
            )


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Device]:
    url = f"sqlite:///{tmp_path / 'oracle.sqlite3'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        row = devices.create_device(session=session, name="cpu", kind="cpu")
        config = runtime_configs.get_or_create_runtime_config(
            session=session, backend="ort-cpu", settings={"threads": 1}
        )
        _, token = enrollment.issue_enrollment_token(session=session, device=row)
        _, credential = enrollment.enroll_agent(
            session=session, token=token, name="agent", backend="ort-cpu"
        )
        ids = (row.id, config.id)
    yield Device(sessions, *ids, credential, small_space("proxyless"))
    engine.dispose()


def test_a_disturbed_answer_is_reported_and_kept_out_of_the_latencies(device: Device) -> None:
    oracle = device.oracle()
    arch = device.arch(0)
    assert oracle.request(arch) is None and device.jobs() == 1
    device.agent_measures({"verdict": "disturbed", "reason": BUSY, "figure": 0.9})
    assert oracle.collect() == {}
    assert oracle.settled(arch) and oracle.known(arch) is None
    assert oracle.verdict(arch) == {"verdict": "disturbed", "reason": BUSY}
    assert oracle.unclean[arch]["latency_ms"] == pytest.approx(5.0)
    assert oracle.stats.unclean == 1 and oracle.stats.measurements_used == 0
    assert oracle.request(arch) is None and device.jobs() == 1  # not queued again
    restored = device.oracle()
    restored.load_state_dict(oracle.state_dict())
    assert restored.verdict(arch)["verdict"] == "disturbed"
    included = device.oracle(include_unclean=True)
    assert included.request(arch) is None  # the cache holds no clean one: measure again
    assert device.jobs() == 2


def test_a_clean_answer_is_a_known_latency(device: Device) -> None:
    oracle = device.oracle()
    arch = device.arch(0)
    oracle.request(arch)
    assert oracle.in_flight == 1  # the search page's "measurements pending"
    device.agent_measures({"verdict": "clean", "reason": "others used 0.01 cores"})
    assert oracle.collect() == {arch: pytest.approx(5.0)}
    assert oracle.in_flight == 0
    assert oracle.verdict(arch) == {"verdict": "clean", "reason": ""}


def test_only_clean_cached_measurements_are_reused(device: Device) -> None:
    clean, disturbed = device.arch(1), device.arch(2)
    device.stored(clean, Verdict.CLEAN)
    device.stored(disturbed, Verdict.DISTURBED)
    oracle = device.oracle()
    assert oracle.request(clean) == pytest.approx(5.0) and device.jobs() == 0
    assert oracle.request(disturbed) is None and device.jobs() == 1  # measured again


def test_budget_is_judged_only_on_a_clean_measurement() -> None:
    clean = {"verdict": "clean", "reason": ""}
    assert budget_verdict(9.0, 10.0, clean)["budget_verdict"] == "met"
    missed = budget_verdict(11.0, 10.0, clean)
    assert (missed["meets_budget"], missed["budget_verdict"]) == (False, "missed")
    disturbed = budget_verdict(9.0, 10.0, {"verdict": "disturbed", "reason": BUSY})
    assert disturbed["meets_budget"] is None
    assert disturbed["budget_verdict"] == f"not judged: measurement disturbed ({BUSY})"
    assert "could NOT be judged" in disturbed["message"]


class DisturbedDevice(PredictorOracle):
    """A device whose every answer comes back disturbed (the predictor stands in for its
    times, as in ``test_search_run``)."""

    def _start(self, arch: Arch) -> float | None:
        value = super()._start(arch)
        self._record(arch, value, "disturbed", BUSY)
        return self.known(arch)


def test_a_search_on_a_disturbed_device_does_not_judge_its_budget(
    tiny_imagenet: Path, tmp_path: Path
) -> None:
    run = make_run("evolution", tiny_imagenet)
    assert isinstance(run.oracle, PredictorOracle)
    run.oracle = DisturbedDevice(run.oracle.predictor)
    while not run.done:
        run.step()
    result = finish_search(run, ArtifactStore(tmp_path), heartbeat=lambda: None).result
    assert result["meets_budget"] is None
    assert result["budget_verdict"] == f"not judged: measurement disturbed ({BUSY})"
    assert result["measurement_verdict"] == {"verdict": "disturbed", "reason": BUSY}
    chosen = tuple(result["op_indices"])
    assert result["measured_latency_ms"] == run.oracle.unclean[chosen]["latency_ms"]
    assert run.oracle.known(chosen) is None and result["unclean_measurements"] >= 1


def test_a_measured_latency_search_drops_disturbed_answers_at_once(tiny_imagenet: Path) -> None:
    run = make_run("unas", tiny_imagenet, latency_form="hinge")
    assert isinstance(run.oracle, PredictorOracle)
    run.oracle = DisturbedDevice(run.oracle.predictor)
    applied = []
    while not run.done:
        applied.append(run.step().get("latency_terms_applied", 0.0))
    estimator = run.estimator
    assert estimator.pending == [] and estimator.dropped >= 1  # settled: no wait for staleness
    assert sum(applied) == 0.0 and run.oracle.stats.measurements_used == 0
