"""The ``measured`` oracle: a cached clean whole-network measurement, else a ``network`` job
that the device's agents run (the worker exports the network first), collected when it
finishes with its verdict (a non-clean one goes to ``unclean``, see ``oracle.base``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from latency_db.db import session_scope
from latency_db.models import JobKind, JobState, Measurement, ProfilingJob
from latency_db.repositories import devices as device_repo
from latency_db.repositories import jobs as job_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.spaces import SearchSpace
from search_worker.oracle.base import Arch, LatencyOracle

ExportRequest = Callable[[Sequence[str]], None]  # job ids -> ask a worker to export them


class MeasuredOracle(LatencyOracle):
    """True latency on a device at the deploy shape (``space`` at the deploy resolution)."""

    mode = "measured"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        device_id: str,
        runtime_config_id: str,
        space: SearchSpace,
        batch_size: int,
        request_exports: ExportRequest,
        max_attempts: int = 3,
        include_unclean: bool = False,
    ) -> None:
        super().__init__(include_unclean=include_unclean)
        self.sessions = sessions
        self.device_id = device_id
        self.runtime_config_id = runtime_config_id
        self.space = space
        self.batch_size = batch_size
        self.request_exports = request_exports
        self.max_attempts = max_attempts
        self.pending: dict[Arch, str] = {}

    def _subject(self, arch: Arch) -> str:
        return self.space.format(self.space.parse(list(arch)))

    def _start(self, arch: Arch) -> float | None:
        if arch in self.pending or arch in self.failed:
            return None
        subject = self._subject(arch)
        with session_scope(self.sessions) as session:
            device = device_repo.get_device(session=session, device_id=self.device_id)
            runtime = runtime_repo.get_runtime_config(
                session=session, runtime_config_id=self.runtime_config_id
            )
            cached = measurement_repo.latest_measurements(
                session=session,
                device=device,
                runtime_config=runtime,
                subject_kind="network",
                batch_size=self.batch_size,
                subjects=[subject],
                space_ref=self.space.ref,
            ).get(subject)
            if cached is not None:
                return float(cached.median_ms)
            resolution = self.space.resolution
            job = job_repo.create_job(
                session=session,
                device=device,
                runtime_config=runtime,
                kind=JobKind.NETWORK,
                subject=subject,
                batch_size=self.batch_size,
                input_shape=[self.batch_size, 3, resolution, resolution],
                max_attempts=self.max_attempts,
                space_ref=self.space.ref,
            )
            job_id = job.id
        self.pending[arch] = job_id
        self.request_exports([job_id])  # after the commit, so the exporter finds the job
        return None

    def _poll(self) -> None:
        if not self.pending:
            return
        by_job = {job_id: arch for arch, job_id in self.pending.items()}
        with session_scope(self.sessions) as session:
            states = dict(
                session.execute(
                    select(ProfilingJob.id, ProfilingJob.state).where(
                        ProfilingJob.id.in_(list(by_job))
                    )
                ).all()
            )
            done = [j for j, s in states.items() if s is JobState.SUCCEEDED]
            answers = {
                job_id: (median, verdict, detail)
                for job_id, median, verdict, detail in session.execute(
                    select(
                        Measurement.job_id,
                        Measurement.median_ms,
                        Measurement.verdict,
                        Measurement.verdict_detail,
                    ).where(Measurement.job_id.in_(done))
                )
            }
        for job_id, state in states.items():
            arch = by_job[job_id]
            if state is JobState.SUCCEEDED and job_id in answers:
                del self.pending[arch]
                median, verdict, detail = answers[job_id]
                self._record(arch, float(median), verdict.value, str(detail.get("reason", "")))
            elif state in (JobState.FAILED, JobState.CANCELED):
                del self.pending[arch]
                self.failed.add(arch)

    @property
    def in_flight(self) -> int:
        return len(self.pending)

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | {"pending": [[list(a), j] for a, j in self.pending.items()]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.pending = {tuple(a): j for a, j in state.get("pending", [])}
