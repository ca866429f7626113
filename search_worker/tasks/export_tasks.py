"""Export the ONNX artifacts that profiling jobs wait for, and attach them.

Idempotent: a job that has its artifact already is skipped, and the artifact store and
table are content-addressed, so a redelivered task (``acks_late``) repeats nothing.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from sqlalchemy.orm import Session

from latency_db.artifact_store import ArtifactStore
from latency_db.broker import TASK_EXPORT_JOBS
from latency_db.db import session_scope
from latency_db.models import Artifact, JobKind, JobState, ProfilingJob
from latency_db.repositories import artifacts as artifact_repo
from latency_db.repositories import jobs as job_repo
from latency_db.spaces import space_from_ref
from profiler_agent.host_lock import NOTABLE_PAUSE_S
from search_worker.context import WorkerContext, worker_context
from search_worker.export import (
    ExportedArtifact,
    export_architecture,
    export_op_block,
    verify_artifact,
)

log = logging.getLogger(__name__)


def register_exported(session: Session, exported: ExportedArtifact) -> Artifact:
    """The artifact row of an exported file (idempotent: the store is content-addressed)."""
    return artifact_repo.register_artifact(
        session=session,
        sha256=exported.sha256,
        kind=exported.kind,
        size_bytes=exported.size_bytes,
        subject=exported.subject,
        input_shape=exported.input_shape,
        space_ref=exported.space_ref,
        opset=exported.opset,
    )


def export_job_artifact(job: ProfilingJob, store: ArtifactStore) -> ExportedArtifact:
    """Export the network or op block a job measures, verified against PyTorch in ORT."""
    if job.space_ref is None:
        raise ValueError(f"job {job.id} ({job.kind.value}) has no space instance to export")
    space = space_from_ref(job.space_ref)
    if job.kind is JobKind.OP:
        block = space.candidate_blocks().get(job.subject)
        if block is None:
            raise ValueError(f"op key {job.subject!r} is not a block of {space.ref}")
        exported = export_op_block(block, batch=job.batch_size, store=store, space_ref=space.ref)
    else:
        exported = export_architecture(
            space, space.parse(job.subject), batch=job.batch_size, store=store
        )
    verify_artifact(exported)
    return exported


def export_one(context: WorkerContext, job_id: str) -> None:
    """Export outside any transaction (minutes of torch work must not hold the database),
    then attach the artifact, or fail the job, in a short one."""
    with session_scope(context.sessions) as session:
        job = job_repo.get_job(session=session, job_id=job_id)
        if job.artifact_sha256 is not None or job.state is not JobState.QUEUED:
            return
    try:
        with context.host_lock.worker_turn() as paused_s:
            if paused_s > NOTABLE_PAUSE_S:
                log.info("export of job %s waited %.2f s for the agent measuring", job_id, paused_s)
            exported = export_job_artifact(job, context.store)
    except Exception as err:  # any export failure is the job's, reported as such
        log.exception("export of job %s failed", job_id)
        with session_scope(context.sessions) as session:
            job = job_repo.get_job(session=session, job_id=job_id)
            if job.state is JobState.QUEUED:
                job_repo.fail_unleased_job(
                    session=session, job=job, error_code="export_error", message=str(err)
                )
        return
    with session_scope(context.sessions) as session:
        artifact = register_exported(session, exported)
        job = job_repo.get_job(session=session, job_id=job_id)
        job_repo.attach_artifact(session=session, job=job, artifact=artifact)


@shared_task(bind=True, name=TASK_EXPORT_JOBS, acks_late=True)
def export_jobs(self: Task, job_ids: list[str]) -> int:
    """Export and attach the artifacts of the given profiling jobs; returns how many ran."""
    context = worker_context(self.app.conf.hwnas_settings)
    for job_id in job_ids:
        export_one(context, job_id)
    return len(job_ids)
