"""Agent load on a real API server on PostgreSQL (issue 18): ``--agents`` simulated agents
enroll, heartbeat, claim, renew and complete ``--jobs`` ``model`` jobs while ``--pollers``
clients long-poll search events.

A load test of the server, not a latency measurement: the agents are HTTP clients in this
process (asyncio + httpx, 127.0.0.1 only) that report synthetic times at once and never run
the model. The bench makes a temporary PostgreSQL database, migrates it, starts ``hwnas
server`` on it as a child process (stopped, and the database dropped, when the bench ends),
uploads a tiny ONNX model and queues one ``model`` job per ``--jobs`` on one device, so no
worker is needed. The pollers wait on searches stored directly (they never run), five per
user, below the per-user bound.

Each agent heartbeats at once and then after pauses of 75-100 % of ``--heartbeat-s``
(default: the server's 10 s), as the real agent does, and loops as the real one once its
first heartbeat is answered: claim with a long-poll of ``CLAIM_WAIT_S``, renew the lease
once, complete it and claim the next job in the same request (renew and complete are sent
again when no answer came). Figures:

- ``completed_per_s``: jobs completed (the server's sentinel jobs among them) / seconds from
  the agents' start to the last completion
- ``claim_p50_ms``, ``claim_p99_ms``: requests that returned a lease: claims, and results
  that brought the next job's (no job is added or given back during the run, so these never
  waited for work)
- ``heartbeat_p99_ms``, ``renew_p99_ms``, ``complete_p99_ms``; ``server_heartbeat_p99_ms``:
  the same percentile inside the server (its request histogram, a bucket bound);
  ``first_heartbeat_p99_ms`` of each agent's first beat (all agents start at once, beside
  their first claims) and ``later_heartbeat_p99_ms`` of the others
- ``lost``: jobs not succeeded in the database at the end
- ``double_leased``: jobs whose leases overlap in time or that completed (or were measured)
  more than once, from the database
- ``errors_5xx`` over every request, ``transport_errors`` (tries with no answer),
  ``poll_refused_429``
- ``server_cpu_ms_per_job``: the server process's CPU time over the run per completed job
  (heartbeats and long-polls included), steadier than throughput on a shared machine
- ``client_cpu_ms_per_job``: this process's own CPU time (the simulated agents and pollers)
  over the same span per completed job: on a small machine the clients compete with the
  server and PostgreSQL for the same cores
- ``db_connections_opened``: PostgreSQL connections the server opened during the load (a
  pool too small for the load opens and closes them all the time)

    python bench/agent_load.py [--agents 200] [--jobs 2000] [--pollers 50] [--duration-cap 300]
        [--server-workers 1]

PostgreSQL: ``--postgres`` (default ``HWNAS_BENCH_POSTGRES_DSN`` or the local ``test``
database), a role that may create databases.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import psycopg
from onnx import TensorProto, helper
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from latency_db import migrate
from latency_db.db import make_engine, make_session_factory, session_scope
from latency_db.models import JobLease, JobState, LeaseState, Measurement, ProfilingJob
from latency_db.repositories import devices as device_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.repositories import searches as search_repo
from latency_db.repositories import users as user_repo
from profiler_agent.loop import heartbeat_pause
from services import processes

RUNTIME: dict[str, Any] = {"backend": "ort-cpu", "settings": {"threads": 1}}
POLLERS_PER_USER = 5
POLL_WAIT_S = 20.0
CLAIM_WAIT_S = 20.0
TRIES = 3  # renew and complete are sent again when no answer came
SETUP_CONCURRENCY = 16
MAX_AGENTS, MAX_POLLERS, MAX_JOBS = 1000, 500, 100_000
MAX_SERVER_WORKERS = 16
DEFAULT_POSTGRES = os.environ.get(
    "HWNAS_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)


@dataclass
class Tally:
    """What the clients saw, filled by every task (one event loop: no locks needed)."""

    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    completed: set[str] = field(default_factory=set)  # sentinel jobs included
    waiting: set[str] = field(default_factory=set)  # the bench's own jobs not completed yet
    all_done: asyncio.Event = field(default_factory=asyncio.Event)  # set when none waits
    last_completion: float = 0.0

    async def call(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str,
        what: str = "",
        *,
        tries: int = 1,
        **kwargs: Any,
    ) -> httpx.Response | None:
        """One request, counted by status; its latency kept under ``what`` when given and
        the answer is a 200. A request that got no answer is counted and, while ``tries``
        last, sent again (as an agent repeats an idempotent call)."""
        started = time.perf_counter()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(tries),
            wait=wait_fixed(0.2),
            retry=retry_if_exception_type(httpx.TransportError),
            before_sleep=lambda _: self._no_answer(),
            reraise=True,
        )
        try:
            reply: httpx.Response = await retrying(client.request, method, url, **kwargs)
        except httpx.TransportError:
            self._no_answer()
            return None
        self.statuses[reply.status_code] += 1
        if what and reply.status_code == 200:
            self.latencies_ms[what].append(1000 * (time.perf_counter() - started))
        return reply

    def _no_answer(self) -> None:
        self.transport_errors += 1


def tiny_model() -> bytes:
    """A one-node ONNX model with a static input, as uploaded models must have."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["input"], ["output"])],
        "load",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


@contextmanager
def temporary_database(admin_dsn: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (SQLAlchemy URL), dropped afterwards."""
    name = f"hwnas_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        url = f"{base}/{name}"
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def api_server(
    database_url: str, data_dir: Path, admin_token: str, workers: int
) -> Iterator[tuple[str, psutil.Process]]:
    """``hwnas server --workers N`` on a free port of 127.0.0.1: its URL and process, stopped
    when the block ends."""
    port = processes.free_port()
    env = {
        "HWNAS_DATA_DIR": str(data_dir),
        "HWNAS_DATABASE_URL": database_url,
        "HWNAS_ADMIN_TOKEN": admin_token,
    }
    server = processes.start(
        "api",
        ["-m", "services.cli.main", "server", "--port", str(port), "--workers", str(workers)],
        log_dir=data_dir / "logs",
        env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        processes.wait_until(
            processes.http_ok(f"{url}/v1/health"), child=server, timeout_s=120, what="API up"
        )
        yield url, psutil.Process(server.popen.pid)
        if not server.alive():
            raise RuntimeError(f"the API server died:\n{server.log_tail()}")
    finally:
        server.stop()


def expect(reply: httpx.Response | None, status: int) -> dict[str, Any]:
    if reply is None or reply.status_code != status:
        text = "no answer" if reply is None else f"{reply.status_code} {reply.text[:300]}"
        raise RuntimeError(f"setup request failed: {text}")
    return dict(reply.json())


async def bounded(count: int, make: Any) -> list[Any]:
    """``make(i)`` for i < count, at most ``SETUP_CONCURRENCY`` at once, in order."""
    gate = asyncio.Semaphore(SETUP_CONCURRENCY)

    async def one(i: int) -> Any:
        async with gate:
            return await make(i)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


@dataclass
class Setup:
    device_id: str
    enrollment_tokens: list[str]
    job_ids: list[str]
    poller_users: list[dict[str, Any]]  # the answers of POST /users: token, user


async def set_up(
    client: httpx.AsyncClient, tally: Tally, admin: dict[str, str], args: argparse.Namespace
) -> Setup:
    """A device with one enrollment token per agent, the model jobs, the pollers' users."""
    device = expect(
        await tally.call(
            client, "POST", "/devices", json={"name": "load", "kind": "cpu"}, headers=admin
        ),
        201,
    )
    device_id = device["device"]["id"]

    async def enrollment(_: int) -> str:
        reply = await tally.call(
            client, "POST", f"/devices/{device_id}/enrollment-tokens", headers=admin
        )
        return str(expect(reply, 201)["token"])

    tokens = [device["enrollment"]["token"], *await bounded(args.agents - 1, enrollment)]
    artifact = expect(
        await tally.call(
            client,
            "POST",
            "/artifacts",
            params={"name": "load"},
            content=tiny_model(),
            headers=admin,
        ),
        201,
    )
    body = {
        "device_id": device_id,
        "runtime": RUNTIME,
        "kind": "model",
        "artifact_sha256": artifact["sha256"],
    }

    async def job(_: int) -> str:
        reply = await tally.call(client, "POST", "/jobs", json=body, headers=admin)
        return str(expect(reply, 201)["id"])

    job_ids = await bounded(args.jobs, job)

    async def user(i: int) -> dict[str, Any]:
        reply = await tally.call(
            client, "POST", "/users", json={"name": f"poller-{i}"}, headers=admin
        )
        return expect(reply, 201)

    users = await bounded(-(-args.pollers // POLLERS_PER_USER), user)
    return Setup(device_id, tokens, job_ids, users)


def searches_to_wait_on(database_url: str, device_id: str, user_ids: list[str]) -> list[str]:
    """One pending search per user, stored directly: it never runs, so waits last."""
    engine = make_engine(database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            device = device_repo.get_device(session=session, device_id=device_id)
            runtime = runtime_repo.get_or_create_runtime_config(
                session=session, backend=RUNTIME["backend"], settings=RUNTIME["settings"]
            )
            return [
                search_repo.create_search(
                    session=session,
                    owner=user_repo.get_user(session=session, user_id=user_id),
                    device=device,
                    runtime_config=runtime,
                    space_ref="proxyless-r32",
                    config={},
                    budget_ms=10.0,
                    estimator="proxyless",
                ).id
                for user_id in user_ids
            ]
    finally:
        engine.dispose()


@dataclass
class Agent:
    name: str
    headers: dict[str, str]
    first_beat_answered: asyncio.Event = field(default_factory=asyncio.Event)


async def enroll(client: httpx.AsyncClient, tally: Tally, token: str, name: str) -> Agent:
    reply = await tally.call(
        client,
        "POST",
        "/agents/enroll",
        json={"enrollment_token": token, "name": name, "backend": RUNTIME["backend"]},
    )
    credential = expect(reply, 201)["credential"]
    return Agent(name, {"Authorization": f"Bearer {credential}"})


async def heartbeats(
    client: httpx.AsyncClient, tally: Tally, agent: Agent, every_s: float, stop: asyncio.Event
) -> None:
    first = True
    while not stop.is_set():
        what = "first_heartbeat" if first else "heartbeat"
        await tally.call(client, "POST", "/agents/heartbeat", what, json={}, headers=agent.headers)
        first = False
        agent.first_beat_answered.set()
        with suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=heartbeat_pause(every_s))


async def work(client: httpx.AsyncClient, tally: Tally, agent: Agent, stop: asyncio.Event) -> None:
    """Claim, renew once, complete with synthetic times and the next job's claim in the same
    request (``/leases/complete-and-claim``, as the real agent does), long-polling a claim
    only when none came along; until every job the bench queued is done (the server's
    sentinel jobs come on top, and are counted as completed)."""
    await agent.first_beat_answered.wait()  # as the real agent: its first claim follows it
    lease: dict[str, Any] | None = None
    while not stop.is_set() and tally.waiting:
        if lease is None:
            claim = await tally.call(
                client,
                "POST",
                "/agents/claim",
                "claim",
                params={"wait": CLAIM_WAIT_S},
                headers=agent.headers,
            )
            if claim is None or claim.status_code != 200:
                continue
            lease = claim.json()
        lease = await run_lease(client, tally, agent, lease)


async def run_lease(
    client: httpx.AsyncClient, tally: Tally, agent: Agent, lease: dict[str, Any]
) -> dict[str, Any] | None:
    """Renew the lease once and complete it; the next job's lease that came with the result,
    None when none did (or the result got no answer)."""
    job_id = lease["job"]["id"]
    on_lease = {**agent.headers, "Lease-Token": lease["lease_token"]}
    await tally.call(client, "POST", "/leases/renew", "renew", tries=TRIES, headers=on_lease)
    result = {
        "idempotency_key": f"{job_id}-{lease['job']['attempt']}",
        "times_ms": [1.0, 1.1, 0.9, 1.05, 0.95],
        "environment": {"synthetic": True, "agent": agent.name},
    }
    done = await tally.call(
        client,
        "POST",
        "/leases/complete-and-claim",
        "complete",
        tries=TRIES,
        json=result,
        headers=on_lease,
    )
    if done is None or done.status_code != 200:
        return None
    tally.completed.add(job_id)
    tally.waiting.discard(job_id)
    if not tally.waiting:
        tally.all_done.set()
    tally.last_completion = time.monotonic()
    next_lease: dict[str, Any] | None = done.json()["next"]
    if next_lease is not None:  # this request was the next job's claim too
        tally.latencies_ms["claim"].append(tally.latencies_ms["complete"][-1])
    return next_lease


async def long_poll(
    client: httpx.AsyncClient, tally: Tally, search_id: str, token: str, stop: asyncio.Event
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        await tally.call(
            client,
            "GET",
            f"/searches/{search_id}/events",
            params={"wait": POLL_WAIT_S},
            headers=headers,
        )


async def load(
    url: str,
    database_url: str,
    admin_token: str,
    args: argparse.Namespace,
    server: psutil.Process,
) -> dict[str, Any]:
    with sigterm_cancels(asyncio.current_task()):
        return await _load(url, database_url, admin_token, args, server)


@contextmanager
def sigterm_cancels(task: asyncio.Task[Any] | None) -> Iterator[None]:
    """While the load runs, SIGTERM cancels it and the clean-up runs as on any error. The
    handler of ``main`` (``sys.exit``) raised SystemExit inside whichever task was running,
    which then held it and printed its traceback at exit."""
    assert task is not None
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, previous)


async def _load(
    url: str,
    database_url: str,
    admin_token: str,
    args: argparse.Namespace,
    server: psutil.Process,
) -> dict[str, Any]:
    tally = Tally()
    admin = {"Authorization": f"Bearer {admin_token}"}
    own: list[httpx.AsyncClient] = []

    def client_of_its_own(connections: int) -> httpx.AsyncClient:
        """Every agent and poller has its own client, as real ones do. One client for all
        of them had one pool of every connection, which each request scans (httpcore):
        at 200 agents this process then spent twice the server's CPU per job and was what
        limited the throughput."""
        own.append(client_over(url, connections))
        return own[-1]

    try:
        async with client_over(url, SETUP_CONCURRENCY) as client:
            return await _run(client, client_of_its_own, tally, admin, database_url, args, server)
    finally:
        await asyncio.gather(*(c.aclose() for c in own))


def client_over(url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        base_url=f"{url}/v1", limits=limits, timeout=max(POLL_WAIT_S, CLAIM_WAIT_S) + 30
    )


async def _run(
    client: httpx.AsyncClient,
    client_of_its_own: Callable[[int], httpx.AsyncClient],
    tally: Tally,
    admin: dict[str, str],
    database_url: str,
    args: argparse.Namespace,
    server: psutil.Process,
) -> dict[str, Any]:
    """Set up through ``client``, then run the agents and pollers on clients of their own."""
    setup = await set_up(client, tally, admin, args)
    tally.waiting = set(setup.job_ids)
    user_ids = [u["user"]["id"] for u in setup.poller_users]
    search_ids = searches_to_wait_on(database_url, setup.device_id, user_ids)
    agents = await bounded(
        args.agents, lambda i: enroll(client, tally, setup.enrollment_tokens[i], f"sim-{i}")
    )
    agent_clients = [client_of_its_own(2) for _ in agents]  # heartbeats beside the work
    stop = asyncio.Event()
    pollers = [
        asyncio.create_task(
            long_poll(
                client_of_its_own(1),
                tally,
                search_ids[i // POLLERS_PER_USER],
                setup.poller_users[i // POLLERS_PER_USER]["token"],
                stop,
            )
        )
        for i in range(args.pollers)
    ]
    beating = [
        asyncio.create_task(heartbeats(own, tally, a, args.heartbeat_s, stop))
        for own, a in zip(agent_clients, agents, strict=True)
    ]
    print(f"load: {len(agents)} agents on {args.jobs} queued jobs", file=sys.stderr, flush=True)
    started, cpu_before = time.monotonic(), server_cpu_s(server)
    client_cpu_before = time.process_time()
    sessions_before = database_sessions(args.postgres, database_url)
    workers = [
        asyncio.create_task(work(own, tally, a, stop))
        for own, a in zip(agent_clients, agents, strict=True)
    ]
    # Done when the last queued job is: agents still in a claim's long-poll are not waited for.
    with suppress(TimeoutError):
        await asyncio.wait_for(tally.all_done.wait(), timeout=args.duration_cap)
    server_cpu = server_cpu_s(server) - cpu_before
    client_cpu = time.process_time() - client_cpu_before
    sessions = database_sessions(args.postgres, database_url) - sessions_before
    stop.set()
    for task in [*workers, *pollers]:
        task.cancel()
    await asyncio.gather(*workers, *pollers, *beating, return_exceptions=True)
    elapsed = (tally.last_completion or time.monotonic()) - started
    scrape = await client.get(client.base_url.copy_with(path="/metrics"))
    return {
        "server_heartbeat_p99_ms": server_p99_ms(scrape.text, "/v1/agents/heartbeat"),
        "completed_per_s": round(len(tally.completed) / elapsed, 1) if elapsed > 0 else 0.0,
        "run_s": round(elapsed, 2),
        "server_cpu_ms_per_job": round(1000 * server_cpu / max(1, len(tally.completed)), 2),
        "client_cpu_ms_per_job": round(1000 * client_cpu / max(1, len(tally.completed)), 2),
        "db_connections_opened": sessions,
        "capped": not tally.all_done.is_set(),
        "tally": tally,
        "job_ids": setup.job_ids,
    }


def server_p99_ms(metrics: str, route: str) -> float | None:
    """The upper bound of the server histogram's bucket holding the 99th percentile of
    ``route``'s request durations (time inside the app, queueing for the event loop and
    threads included, the wait before the app reads the request not)."""
    buckets: dict[float, float] = defaultdict(float)  # bound -> cumulative count, all workers
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if (
                sample.name == "hwnas_http_request_duration_seconds_bucket"
                and sample.labels.get("route") == route
            ):
                buckets[float(sample.labels["le"])] += sample.value
    if not buckets or not (total := buckets[math.inf]):
        return None
    bound = next(le for le, count in sorted(buckets.items()) if count >= 0.99 * total)
    return round(1000 * bound, 1)


def database_sessions(admin_dsn: str, database_url: str) -> int:
    """Connections ever opened to the bench's database (PostgreSQL's own count)."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        row = admin.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


def server_cpu_s(server: psutil.Process) -> float:
    """CPU seconds the server has used: its process and its worker processes, all threads."""
    total = 0.0
    for process in (server, *server.children(recursive=True)):
        with suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def database_findings(database_url: str, job_ids: list[str]) -> dict[str, int]:
    """Lost jobs and double leases as the database has them."""
    engine = make_engine(database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            succeeded = session.scalar(
                select(func.count())
                .select_from(ProfilingJob)
                .where(ProfilingJob.id.in_(job_ids), ProfilingJob.state == JobState.SUCCEEDED)
            )
            measured_twice: set[str | None] = set(
                session.scalars(
                    select(Measurement.job_id).group_by(Measurement.job_id).having(func.count() > 1)
                )
            )
            leases = session.execute(
                select(
                    JobLease.job_id,
                    JobLease.state,
                    JobLease.leased_at,
                    JobLease.finished_at,
                    JobLease.expires_at,
                ).order_by(JobLease.job_id, JobLease.leased_at)
            ).all()
    finally:
        engine.dispose()
    double: set[str | None] = set(measured_twice)
    completions: Counter[str] = Counter()
    last_end: dict[str, Any] = {}
    for job_id, state, leased_at, finished_at, expires_at in leases:
        completions[job_id] += state is LeaseState.COMPLETED
        if job_id in last_end and leased_at < last_end[job_id]:
            double.add(job_id)  # leased again while an earlier lease still held
        last_end[job_id] = finished_at or expires_at
    double |= {job for job, count in completions.items() if count > 1}
    return {"lost": len(job_ids) - int(succeeded or 0), "double_leased": len(double)}


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--duration-cap", type=float, default=300.0, help="seconds of load")
    parser.add_argument("--heartbeat-s", type=float, default=10.0)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="admin DSN")
    parser.add_argument(
        "--server-workers", type=int, default=1, help="``hwnas server --workers``: processes"
    )
    args = parser.parse_args()
    for name, most in (("agents", MAX_AGENTS), ("jobs", MAX_JOBS), ("pollers", MAX_POLLERS)):
        if not 1 <= getattr(args, name) <= most:
            parser.error(f"--{name} must be between 1 and {most}")
    if not 0 < args.duration_cap <= 3600 or not 0.1 <= args.heartbeat_s <= 60:
        parser.error("--duration-cap must be in (0, 3600], --heartbeat-s in [0.1, 60]")
    if not 1 <= args.server_workers <= MAX_SERVER_WORKERS:
        parser.error(f"--server-workers must be between 1 and {MAX_SERVER_WORKERS}")
    return args


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-up below
    load_at_start = [round(v, 2) for v in os.getloadavg()]
    admin_token = secrets.token_urlsafe(24)
    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hwnas-load-")))
        database_url = stack.enter_context(temporary_database(args.postgres))
        url, server = stack.enter_context(
            api_server(database_url, data_dir, admin_token, args.server_workers)
        )
        try:
            run = asyncio.run(load(url, database_url, admin_token, args, server))
        except asyncio.CancelledError:  # SIGTERM during the load (sigterm_cancels)
            sys.exit(143)
        findings = database_findings(database_url, run["job_ids"])
    tally: Tally = run["tally"]
    latencies = tally.latencies_ms
    figures = {
        "completed_per_s": run["completed_per_s"],
        "claim_p50_ms": percentile(latencies["claim"], 50),
        "claim_p99_ms": percentile(latencies["claim"], 99),
        "heartbeat_p99_ms": percentile(latencies["heartbeat"] + latencies["first_heartbeat"], 99),
        "later_heartbeat_p99_ms": percentile(latencies["heartbeat"], 99),
        "first_heartbeat_p99_ms": percentile(latencies["first_heartbeat"], 99),
        "server_heartbeat_p99_ms": run["server_heartbeat_p99_ms"],
        "renew_p99_ms": percentile(latencies["renew"], 99),
        "complete_p99_ms": percentile(latencies["complete"], 99),
        **findings,
        "errors_5xx": sum(n for status, n in tally.statuses.items() if status >= 500),
        "transport_errors": tally.transport_errors,
        "poll_refused_429": tally.statuses[429],
        "agents": args.agents,
        "completed": len(tally.completed),
        "run_s": run["run_s"],
        "server_cpu_ms_per_job": run["server_cpu_ms_per_job"],
        "client_cpu_ms_per_job": run["client_cpu_ms_per_job"],
        "db_connections_opened": run["db_connections_opened"],
        "capped": run["capped"],
        "params": {
            "agents": args.agents,
            "jobs": args.jobs,
            "pollers": args.pollers,
            "duration_cap_s": args.duration_cap,
            "heartbeat_s": args.heartbeat_s,
            "poll_wait_s": POLL_WAIT_S,
            "server_workers": args.server_workers,
        },
        "cpus": os.cpu_count(),
        "loadavg_at_start": load_at_start,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
