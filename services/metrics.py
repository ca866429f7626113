"""Prometheus metrics of one app, served at ``GET /metrics`` (no auth; keep it internal).

Requests are counted and timed by method, route *template* (``/v1/jobs/{job_id}``, never the
raw path, so ids do not multiply the series) and status. The work in the database (jobs,
searches, predictor fits, agents, devices by state) is counted when Prometheus scrapes.
Each app has its own registry, so several apps in one process do not collide. Under
``hwnas server --workers N`` (``PROMETHEUS_MULTIPROC_DIR`` set) every worker writes its
request metrics to files there and a scrape of any worker reads all of them
(prometheus_client's multiprocess mode), so the figures are the server's, not one worker's.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from enum import Enum
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from latency_db.models import (
    Agent,
    AgentState,
    Device,
    DeviceState,
    FitState,
    JobState,
    PredictorFit,
    ProfilingJob,
    Search,
    SearchState,
)
from latency_db.repositories.stats import count_by_state
from services.long_polls import LongPollSlots

log = logging.getLogger(__name__)

UNMATCHED_ROUTE = "<unmatched>"  # requests no route matched: unknown paths, slash redirects
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

# name, help, state column, its states: every state is reported, zero included.
_STATE_GAUGES: list[tuple[str, str, InstrumentedAttribute[Any], type[Enum]]] = [
    ("hwnas_profiling_jobs", "Profiling jobs by state.", ProfilingJob.state, JobState),
    ("hwnas_searches", "Searches by state.", Search.state, SearchState),
    ("hwnas_predictor_fits", "Predictor fits by state.", PredictorFit.state, FitState),
    ("hwnas_agents", "Enrolled agents by state.", Agent.state, AgentState),
    ("hwnas_devices", "Devices by state.", Device.state, DeviceState),
]


class DatabaseCollector:
    """Rows by state, counted in one read per scrape; ``hwnas_database_up`` is 0 (and the
    state gauges absent) when the database cannot be read."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    def describe(self) -> Iterator[Metric]:
        for name, documentation, _, _ in _STATE_GAUGES:
            yield GaugeMetricFamily(name, documentation, labels=["state"])
        yield self._up(1)

    def collect(self) -> Iterator[Metric]:
        families = []
        try:
            with self._factory() as session:
                for name, documentation, column, states in _STATE_GAUGES:
                    counts = count_by_state(session=session, state=column)
                    family = GaugeMetricFamily(name, documentation, labels=["state"])
                    for state in states:
                        family.add_metric([state.value], counts.get(state, 0))
                    families.append(family)
        except SQLAlchemyError as err:
            log.warning("metrics: cannot count rows by state: %s", err)
            yield self._up(0)
            return
        yield from families
        yield self._up(1)

    @staticmethod
    def _up(value: int) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "hwnas_database_up", "1 when the last scrape could read the database.", value
        )


class RouteTemplates:
    """The full path template of the route a request matched. FastAPI (>= 0.137.2) puts the
    route in the scope as its router declared it, without the prefixes the router was
    included under; ``iter_route_contexts`` knows the full paths."""

    def __init__(self) -> None:
        self._paths: dict[int, str] = {}  # by id(): routes compare by value, unhashable

    def of(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return UNMATCHED_ROUTE
        if id(route) not in self._paths:
            self._paths = {
                id(context.original_route): context.path or UNMATCHED_ROUTE
                for context in iter_route_contexts(scope["app"].routes)
            }
        return self._paths.get(id(route), UNMATCHED_ROUTE)


class RequestMetrics:
    """ASGI middleware: count and time every HTTP request by method, route template and
    status (500 when the app raised before answering)."""

    def __init__(self, app: ASGIApp, requests: Counter, durations: Histogram) -> None:
        self.app = app
        self.requests = requests
        self.durations = durations
        self.templates = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_record)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = self.templates.of(scope)
            self.requests.labels(method, route, str(status)).inc()
            self.durations.labels(method, route).observe(time.perf_counter() - start)


def multiprocess_dir() -> str | None:
    """Where the workers of one server write their metrics, when there are several."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def forget_this_process() -> None:
    """Drop this worker's live gauges from the shared metrics as it stops."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(os.getpid())


router = APIRouter(tags=["monitoring"])


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    """Prometheus text format (OpenMetrics when the scraper asks for it), no auth:
    ``hwnas_http_requests_total{method,route,status}``,
    ``hwnas_http_request_duration_seconds{method,route}`` and, counted at scrape time,
    ``hwnas_profiling_jobs``, ``hwnas_searches``, ``hwnas_predictor_fits``, ``hwnas_agents``,
    ``hwnas_devices`` by ``state``, ``hwnas_database_up``, and
    ``hwnas_long_polls_waiting``."""
    registry: CollectorRegistry = request.app.state.metrics_registry
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry), media_type=content_type)


def install_metrics(
    app: FastAPI, factory: sessionmaker[Session], long_polls: LongPollSlots
) -> None:
    """Give ``app`` its own registry, the request middleware (outermost, so it also sees
    the answers of the other middlewares) and ``GET /metrics``."""
    registry = CollectorRegistry()  # this process's metrics
    requests = Counter(
        "hwnas_http_requests",
        "HTTP requests answered, by method, route template and status.",
        ["method", "route", "status"],
        registry=registry,
    )
    durations = Histogram(
        "hwnas_http_request_duration_seconds",
        "Time to answer an HTTP request, by method and route template.",
        ["method", "route"],
        registry=registry,
    )
    long_polls.on_count = Gauge(
        "hwnas_long_polls_waiting",
        "Long-polls (search events with ?wait=) held open now, all users together.",
        registry=registry,
        multiprocess_mode="livesum",
    ).set
    scraped = registry
    if multiprocess_dir() is not None:
        scraped = CollectorRegistry()
        multiprocess.MultiProcessCollector(scraped)
    scraped.register(DatabaseCollector(factory))
    app.state.metrics_registry = scraped
    app.add_middleware(RequestMetrics, requests=requests, durations=durations)
    app.include_router(router)
