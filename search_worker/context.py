"""Per-process resources of a worker: settings, database sessions, the artifact store."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from sqlalchemy.orm import Session, sessionmaker

from latency_db.artifact_store import ArtifactStore
from latency_db.db import ensure_schema, make_engine, make_session_factory
from latency_db.settings import Settings
from profiler_agent.host_lock import HostLock
from search_worker.devices import CPU, resolve_device


@dataclass(frozen=True)
class WorkerContext:
    settings: Settings
    sessions: sessionmaker[Session]
    store: ArtifactStore
    host_lock: HostLock  # each unit of CPU work waits while an agent on this host measures
    device: torch.device = CPU  # where searches train (HWNAS_WORKER_DEVICE)


_CONTEXTS: dict[int, WorkerContext] = {}


def worker_context(settings: Settings) -> WorkerContext:
    """Built once per worker process and settings object, on first use (never at import)."""
    context = _CONTEXTS.get(id(settings))
    if context is None:
        engine = make_engine(settings)
        ensure_schema(engine)
        context = WorkerContext(
            settings,
            make_session_factory(engine),
            ArtifactStore(settings.artifact_dir),
            HostLock(settings.host_lock_dir),
            resolve_device(settings.worker_device),
        )
        _CONTEXTS[id(settings)] = context
    return context
