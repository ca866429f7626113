"""Queue whole-network profiling jobs for architectures of a space instance."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from latency_db.models import Device, JobKind, ProfilingJob, RuntimeConfig
from latency_db.repositories import jobs as job_repo
from latency_db.spaces import Architecture, SearchSpace


def queue_network_jobs(
    *,
    session: Session,
    device: Device,
    runtime_config: RuntimeConfig,
    space: SearchSpace,
    architectures: Sequence[Architecture],
    batch_size: int,
    max_attempts: int,
    kind: JobKind | str = JobKind.NETWORK,
    priority: int = 0,
) -> list[ProfilingJob]:
    """One QUEUED job per architecture, measured at the space's resolution and ``batch_size``;
    a worker exports each network before agents see the job (enqueue after the commit)."""
    shape = [batch_size, 3, space.resolution, space.resolution]
    return [
        job_repo.create_job(
            session=session,
            device=device,
            runtime_config=runtime_config,
            kind=kind,
            subject=space.format(arch),
            batch_size=batch_size,
            input_shape=shape,
            max_attempts=max_attempts,
            space_ref=space.ref,
            priority=priority,
        )
        for arch in architectures
    ]
