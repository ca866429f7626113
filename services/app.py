"""The FastAPI application, built by a factory from injected settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from anyio import CapacityLimiter, to_thread
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from latency_db.artifact_store import ArtifactStore
from latency_db.db import ensure_schema, make_engine, make_session_factory, session_scope
from latency_db.settings import Settings, get_settings
from services.bootstrap import ensure_admin
from services.errors import install_error_handlers
from services.limits import BodySizeLimit
from services.long_polls import LongPollSlots, answer_long_polls_on_exit_signals
from services.maintenance import Sweeper
from services.metrics import forget_this_process, install_metrics
from services.nul_guard import reject_nul
from services.parent_watch import end_with_supervisor
from services.routers import ROUTERS
from services.routers.agents import AGENT_REPORT_BYTES, HEARTBEAT_THREADS
from services.schemas.common import ERROR_RESPONSES
from services.search_notices import SearchNotices, listener_dsn
from services.task_queue import TaskQueue
from services.ui import UI_PREFIX, install_ui

API_PREFIX = "/v1"
ONNX_CHECK_PROCESSES = 2  # uploads checked at once, each in its own worker process


def operation_id(route: APIRoute) -> str:
    """A route's OpenAPI operationId: its function's name (``list_devices``), so generated
    clients get readable method names (FastAPI's default glues on the path and method)."""
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app bound to one database; an embedded SQLite database is migrated on start."""
    settings = settings or get_settings()
    engine = make_engine(settings)
    ensure_schema(engine)
    factory = make_session_factory(engine)
    if settings.admin_token:
        with session_scope(factory) as session:
            ensure_admin(session, settings.admin_token)
    task_queue = TaskQueue(settings)
    sweeper = Sweeper(factory, settings, task_queue)

    notices = SearchNotices(
        listener_dsn(engine.url) if engine.dialect.name == "postgresql" else None
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        answer_long_polls_on_exit_signals()
        end_with_supervisor()
        sweeper.start()
        listener = asyncio.create_task(notices.listen_forever(), name="search-notices")
        yield
        listener.cancel()
        with suppress(asyncio.CancelledError):
            await listener
        sweeper.stop()
        engine.dispose()
        forget_this_process()

    app = FastAPI(
        title="hwnas",
        version="0.1.0",
        summary="Hardware-aware neural architecture search: devices, agents, lookup tables.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.session_factory = factory
    app.state.task_queue = task_queue
    app.state.search_notices = notices
    app.state.long_poll_slots = long_polls = LongPollSlots(settings.long_polls_per_user)
    app.state.artifact_store = ArtifactStore(settings.artifact_dir)
    app.state.heartbeat_limiter = CapacityLimiter(HEARTBEAT_THREADS)
    app.state.onnx_check_limiter = CapacityLimiter(ONNX_CHECK_PROCESSES)
    app.add_middleware(
        BodySizeLimit,
        default_bytes=settings.max_json_bytes,
        path_bytes={
            f"{API_PREFIX}/artifacts": settings.max_upload_bytes,
            f"{UI_PREFIX}/jobs/model": settings.max_upload_bytes,  # the dashboard's upload form
            f"{API_PREFIX}/agents/heartbeat": AGENT_REPORT_BYTES,
            f"{API_PREFIX}/agents/enroll": AGENT_REPORT_BYTES,
        },
    )
    install_metrics(app, factory, long_polls)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(
            router, prefix=API_PREFIX, responses=ERROR_RESPONSES, dependencies=[Depends(reject_nul)]
        )
    install_ui(app)
    return app
