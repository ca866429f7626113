"""The agent's server loop: enroll, heartbeat, claim, download, prepare once, measure, report.

Wire format (the server's routes follow :mod:`profiler_agent.client`):

- enroll answers ``{"agent_id", "device_id", "credential"}``; the identity is stored under
  ``--data-dir`` so a restart does not enroll again.
- heartbeat sends the held lease tokens and may answer ``{"heartbeat_s": float,
  "canceled": [lease tokens]}``; a canceled lease stops its measurement before the next batch.
- claim answers 204 or ``{"lease_token", "lease_s", "job": {"id", "kind",
  "artifact_sha256", "input_shape", "settings", "profile", "timeout_s", "require_stable"}}``
  (``settings`` overrides the agent's backend settings, e.g. precision; ``profile`` asks for
  the per-layer profile, implied by kind ``layers``).
- complete posts the measurement record (see :func:`profiler_agent.measure.measurement_record`)
  with ``idempotency_key`` = the SHA-256 of the lease token (one key per lease; the server
  stores no usable token); fail posts an error code of :data:`ERROR_CODES`. The lease token
  travels in the ``Lease-Token`` header. An agent that goes on working posts its result to
  complete-and-claim instead, which answers ``{"measurement", "next"}``: ``next`` is the
  following job's claim (as claim answers it), null when none is queued.

The lease is renewed every ``lease_s / 3`` while a job runs; a refused renewal (409: the lease
was superseded) abandons the job without uploading. SIGTERM releases a held lease and exits.
When the server is away every call backs off and retries (in the client), and the loop itself
keeps retrying after a call gives up, so a server restart costs the agent nothing.
"""

from __future__ import annotations

import hashlib
import logging
import random
import signal
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from profiler_agent.backends import (
    Backend,
    BackendSettings,
    BackendUnavailable,
    DeviceLost,
    InvalidModel,
    create_backend,
)
from profiler_agent.client import Backoff, ServerClient, ServerRefused
from profiler_agent.credentials import AgentIdentity, load_identity, save_identity
from profiler_agent.host_lock import HostLock
from profiler_agent.measure import measurement_record
from profiler_agent.protocol import MeasurementPolicy
from profiler_agent.stats import InvalidTimings

log = logging.getLogger(__name__)
# Settings that belong to the agent's host, never to a job (see ``Backend.job_options``).
_HOST_SETTINGS = frozenset({"cache_dir"})

ERROR_CODES = (
    "export_error",
    "runtime_error",
    "timeout",
    "unstable",
    "device_lost",
    "invalid_artifact",
)

# Jobs whose measurement carries the per-layer profile: layer jobs, and a user's own model
# (what ``hwnas profile`` shows); a network job is timed only.
PROFILED_KINDS = frozenset({"layers", "model"})

# A pause between heartbeats is 75-100 % of the server's interval, at random.
HEARTBEAT_JITTER = 0.25


def heartbeat_pause(heartbeat_s: float) -> float:
    """The pause before the next heartbeat: up to a quarter shorter than the interval, so
    agents started together (a fleet after a server restart) drift apart instead of beating
    in step and queueing behind each other; never longer, so the server hears from each
    agent within its interval."""
    return heartbeat_s * (1.0 - HEARTBEAT_JITTER * random.random())


class JobAborted(Exception):
    """Stop measuring the current job; ``code`` is the failure to report, None for none."""

    def __init__(self, reason: str, code: str | None) -> None:
        super().__init__(reason)
        self.code = code


class Terminated(Exception):
    """SIGTERM/SIGINT while no job was running."""


@dataclass(frozen=True)
class AgentConfig:
    server_url: str
    backend: str
    settings: BackendSettings
    data_dir: Path
    enroll_token: str | None = None
    name: str | None = None
    heartbeat_s: float = 10.0
    claim_wait_s: float = 20.0
    retry: Backoff = field(default_factory=Backoff)
    policy: MeasurementPolicy = field(default_factory=MeasurementPolicy)
    prepared_cache_size: int = 8
    host_lock_dir: Path | None = None  # None: profiler_agent.host_lock.default_lock_dir()


@dataclass(frozen=True)
class Job:
    """A claimed job and its lease."""

    lease_token: str
    lease_s: float
    job_id: str
    kind: str
    artifact_sha256: str
    input_shape: tuple[int, ...] | None
    settings: dict[str, Any]
    profile: bool
    timeout_s: float | None
    require_stable: bool

    @classmethod
    def from_claim(cls, data: dict[str, Any]) -> Job:
        job = data["job"]
        shape = job.get("input_shape")
        return cls(
            lease_token=str(data["lease_token"]),
            lease_s=float(data.get("lease_s", 60.0)),
            job_id=str(job["id"]),
            kind=str(job["kind"]),
            artifact_sha256=str(job["artifact_sha256"]),
            input_shape=tuple(int(d) for d in shape) if shape else None,
            settings=dict(job.get("settings") or {}),
            profile=bool(job.get("profile")) or job["kind"] in PROFILED_KINDS,
            timeout_s=float(job["timeout_s"]) if job.get("timeout_s") else None,
            require_stable=bool(job.get("require_stable")),
        )


class Agent:
    """One agent process: a backend, a server client and the jobs it holds."""

    def __init__(
        self,
        config: AgentConfig,
        client: ServerClient,
        backend: Backend[Any],
        stopping: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.client = client
        self.backend = backend
        self.stopping = stopping or threading.Event()
        self.heartbeat_s = config.heartbeat_s
        self._held: set[str] = set()
        self._canceled: set[str] = set()
        self._lost: set[str] = set()
        self._lock = threading.Lock()
        self._first_beat_sent = threading.Event()
        self._prepared: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.host_lock = HostLock(config.host_lock_dir)

    def holds_lease(self) -> bool:
        # No lock: the signal handler calls this on the main thread, which may hold it.
        return bool(self._held)

    # -- background threads ---------------------------------------------------------------
    def heartbeat_forever(self) -> None:
        """Beat at once, so the server's reply sets the interval from the start (a cancel
        then reaches this agent within the server's interval, not the default's), then
        every ``heartbeat_s`` until stopped."""
        while not self.stopping.is_set():
            with self._lock:
                held = sorted(self._held)
            try:
                reply = self.client.heartbeat(held) or {}
            except (ConnectionError, ServerRefused) as err:
                log.warning("heartbeat failed: %s", err)
            else:
                self.heartbeat_s = float(reply.get("heartbeat_s", self.heartbeat_s))
                with self._lock:
                    self._canceled.update(set(reply.get("canceled", [])) & self._held)
            self._first_beat_sent.set()
            self.stopping.wait(heartbeat_pause(self.heartbeat_s))

    @contextmanager
    def _renewing(self, job: Job) -> Iterator[None]:
        done = threading.Event()

        def renew() -> None:
            while not done.wait(max(job.lease_s / 3.0, 0.5)):
                try:
                    self.client.renew(job.lease_token)
                except ServerRefused as err:
                    log.warning("lease of job %s refused renewal: %s", job.job_id, err)
                    with self._lock:
                        self._lost.add(job.lease_token)
                    return
                except ConnectionError as err:
                    log.warning("lease renewal failed: %s", err)

        thread = threading.Thread(target=renew, name=f"renew-{job.job_id}", daemon=True)
        with self._lock:
            self._held.add(job.lease_token)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            with self._lock:
                self._held.discard(job.lease_token)
                self._canceled.discard(job.lease_token)
                self._lost.discard(job.lease_token)

    def _checker(self, job: Job) -> Callable[[], None]:
        deadline = time.monotonic() + job.timeout_s if job.timeout_s else None

        def check() -> None:
            with self._lock:
                canceled = job.lease_token in self._canceled
                lost = job.lease_token in self._lost
            if self.stopping.is_set():
                raise JobAborted("agent is stopping", None)
            if canceled:
                raise JobAborted("job canceled", None)
            if lost:
                raise JobAborted("lease superseded", None)
            if deadline is not None and time.monotonic() > deadline:
                raise JobAborted(f"job ran past its {job.timeout_s:.0f} s timeout", "timeout")

        return check

    # -- one job --------------------------------------------------------------------------
    def _prepare(self, job: Job, path: Path, settings: BackendSettings) -> Any:
        """The prepared model of this artifact, shape and settings; built once and kept."""
        key = (job.artifact_sha256, job.input_shape, repr(settings))
        if key in self._prepared:
            self._prepared.move_to_end(key)
            return self._prepared[key]
        prepared = self.backend.prepare(path, job.input_shape, settings)
        self._prepared[key] = prepared
        while len(self._prepared) > self.config.prepared_cache_size:
            _, evicted = self._prepared.popitem(last=False)
            self.backend.release(evicted)
        return prepared

    def _settings(self, job: Job) -> BackendSettings:
        """The agent's settings with the job's on top. A job never sets this host's own
        configuration (``cache_dir``, options its backend keeps to the host such as tool
        binaries): ``ValueError``, which fails the job."""
        base = self.config.settings
        job_settings = dict(job.settings)
        job_options = job_settings.pop("options", None) or {}
        if not isinstance(job_options, dict):
            raise ValueError(f"options must be a mapping, not {job_options!r}")
        refused = sorted(_HOST_SETTINGS & set(job_settings)) + sorted(
            f"options.{name}" for name in set(job_options) - self.backend.job_options
        )
        if refused:
            raise ValueError(
                f"a job may not set {', '.join(refused)}: the agent host's own configuration"
            )
        merged: dict[str, Any] = {
            "threads": base.threads,
            "precision": base.precision,
            "device_id": base.device_id,
            "cache_dir": base.cache_dir,
            "options": {**base.options, **job_options},
        }
        merged.update(job_settings)
        return BackendSettings.from_mapping(merged)

    def run_job(self, job: Job) -> dict[str, Any] | None:
        """Measure ``job`` under its lease and complete or fail it; never raises for a job.
        A completed job brings the claim of the next one with its result, unless the agent
        is stopping: that claim, None when there is none."""
        log.info("job %s (%s) leased", job.job_id, job.kind)
        with self._renewing(job):
            check = self._checker(job)
            try:
                record = self._measure(job, check)
            except JobAborted as err:
                self._abandon(job, err)
                return None
            except ConnectionError as err:
                log.warning("server away during job %s; its lease will expire: %s", job.job_id, err)
                return None
            except InvalidTimings as err:
                self._fail(job, "runtime_error", err)
                return None
            except (ServerRefused, InvalidModel, ValueError) as err:
                self._fail(job, "invalid_artifact", err)
                return None
            except (DeviceLost, BackendUnavailable) as err:
                self._fail(job, "device_lost", err)
                return None
            except Exception as err:  # a runtime's own errors have no common base class
                log.exception("job %s failed", job.job_id)
                self._fail(job, "runtime_error", err)
                return None
            if job.require_stable and record["unstable"]:
                self._fail(job, "unstable", f"CV {record['stats']['cv']:.1%} after a re-run")
                return None
            record["idempotency_key"] = hashlib.sha256(job.lease_token.encode()).hexdigest()
            record["job_id"] = job.job_id
            try:
                next_claim = self._report(job, record)
            except ServerRefused as err:
                log.warning("result of job %s refused: %s", job.job_id, err)
                return None
        verdict = record["verdict"]
        log.info(
            "job %s done: median %.3f ms, %s (%s)",
            job.job_id,
            record["median_ms"],
            verdict["verdict"],
            verdict["reason"],
        )
        return next_claim

    def _report(self, job: Job, record: dict[str, Any]) -> dict[str, Any] | None:
        """Upload the result; the next job's claim comes with it while the agent goes on."""
        if self.stopping.is_set():
            self.client.complete(job.lease_token, record)
            return None
        return self.client.complete_and_claim(job.lease_token, record)

    def _measure(self, job: Job, check: Callable[[], None]) -> dict[str, Any]:
        settings = self._settings(job)
        path = self.client.download_artifact(job.artifact_sha256, self.config.data_dir / "cache")
        check()
        prepared = self._prepare(job, path, settings)
        # A worker training on this host pauses while the device is held (host_lock).
        with self.host_lock.measuring() as waited_s:
            record = measurement_record(
                self.backend,
                prepared,
                policy=self.config.policy,
                with_profile=job.profile,
                check=check,
            )
        log.info("job %s waited %.3f s for a training step on this host", job.job_id, waited_s)
        record.setdefault("evidence", {})["waited_for_worker_s"] = waited_s
        return record

    def _fail(self, job: Job, code: str, err: object) -> None:
        log.warning("job %s failed (%s): %s", job.job_id, code, err)
        try:
            self.client.fail(job.lease_token, code, str(err))
        except (ServerRefused, ConnectionError) as refused:
            log.warning("failure report of job %s not accepted: %s", job.job_id, refused)

    def _abandon(self, job: Job, err: JobAborted) -> None:
        if err.code is not None:
            self._fail(job, err.code, err)
            return
        log.info("job %s abandoned: %s", job.job_id, err)
        if self.stopping.is_set():
            self._release(job)

    def _release(self, job: Job) -> None:
        try:
            self.client.release(job.lease_token)
        except (ServerRefused, ConnectionError) as refused:
            log.warning("could not release the lease of job %s: %s", job.job_id, refused)

    # -- main loop ------------------------------------------------------------------------
    def serve(self) -> None:
        """Claim and run jobs until stopped; server outages are waited out."""
        threading.Thread(target=self.heartbeat_forever, name="heartbeat", daemon=True).start()
        # The first claim waits for the first heartbeat's answer: a fleet that starts together
        # has its beats answered before its claims, instead of every beat queueing behind
        # every claim (bench/agent_load.py: first-beat p99 over 1 s at 200 agents).
        while not self._first_beat_sent.wait(0.5) and not self.stopping.is_set():
            pass
        delays = iter(())
        claimed: dict[str, Any] | None = None
        while not self.stopping.is_set():
            if claimed is None:
                try:
                    claimed = self.client.claim(self.config.claim_wait_s)
                except ConnectionError as err:
                    delay = next(delays, None) or self.config.retry.max_s
                    log.warning("server away (%s); retrying in %.1f s", err, delay)
                    self.stopping.wait(delay)
                    continue
                delays = self.config.retry.delays()
            if claimed is not None:
                claimed = self.run_job(Job.from_claim(claimed))
        if claimed is not None:  # leased with the last result as the agent was stopping
            self._release(Job.from_claim(claimed))
        for prepared in self._prepared.values():
            self.backend.release(prepared)
        self._prepared.clear()


def enroll(config: AgentConfig, client: ServerClient, backend: Backend[Any]) -> AgentIdentity:
    """The stored identity for this server, else a new one from the enrollment token."""
    identity = load_identity(config.data_dir, config.server_url)
    if identity is None:
        if not config.enroll_token:
            raise ValueError(
                f"no stored credential for {config.server_url} in {config.data_dir}; "
                "pass --enroll-token"
            )
        reply = client.enroll(
            config.enroll_token,
            config.name or socket.gethostname(),
            config.backend,
            backend.describe_environment(),
        )
        identity = AgentIdentity(
            server_url=config.server_url,
            agent_id=str(reply["agent_id"]),
            device_id=str(reply["device_id"]),
            credential=str(reply["credential"]),
        )
        save_identity(config.data_dir, identity)
        log.info("enrolled as agent %s of device %s", identity.agent_id, identity.device_id)
    client.set_credential(identity.credential)
    return identity


def run_agent(config: AgentConfig) -> int:
    """``hwnas-agent run``: SIGTERM/SIGINT release a held lease and end the process."""
    backend = create_backend(config.backend)
    stopping = threading.Event()
    client = ServerClient(config.server_url, backoff=config.retry, should_stop=stopping.is_set)
    agent = Agent(config, client, backend, stopping)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # With a job running, the job sees ``stopping`` before its next batch and gives its
        # lease back; otherwise leave at once, even from inside a claim long-poll.
        log.info("signal %d: stopping", signum)
        stopping.set()
        if not agent.holds_lease():
            raise Terminated()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        enroll(config, client, backend)
        agent.serve()
    except Terminated:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        client.close()
    return 0
