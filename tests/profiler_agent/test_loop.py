"""Pieces of the server loop that need no server (its HTTP integration test is the lead's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from profiler_agent.backends import BackendSettings, create_backend
from profiler_agent.client import ServerClient
from profiler_agent.loop import Agent, AgentConfig, Job, JobAborted, heartbeat_pause

from ..threads import ReportingThread

CLAIM: dict[str, Any] = {
    "lease_token": "lt-1",
    "lease_s": 30,
    "job": {
        "id": "j1",
        "kind": "layers",
        "artifact_sha256": "ab" * 32,
        "input_shape": [2, 3, 16, 16],
        "settings": {"precision": "fp32"},
        "timeout_s": 0.001,
    },
}


def _agent(tmp_path: Path) -> Agent:
    config = AgentConfig(
        server_url="http://127.0.0.1:9",
        backend="ort-cpu",
        settings=BackendSettings(threads=1),
        data_dir=tmp_path,
    )
    return Agent(config, ServerClient(config.server_url), create_backend("ort-cpu"))


def test_job_from_a_claim() -> None:
    job = Job.from_claim(CLAIM)
    assert job.lease_token == "lt-1" and job.job_id == "j1"
    assert job.input_shape == (2, 3, 16, 16)
    assert job.profile  # kind "layers" implies the per-layer profile
    assert not job.require_stable
    assert Job.from_claim({**CLAIM, "job": {**CLAIM["job"], "kind": "model"}}).profile
    assert not Job.from_claim({**CLAIM, "job": {**CLAIM["job"], "kind": "network"}}).profile


def test_job_settings_override_the_agent_defaults(tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    job = Job.from_claim({**CLAIM, "job": {**CLAIM["job"], "settings": {"threads": 2}}})
    settings = agent._settings(job)
    assert (settings.threads, settings.precision) == (2, "fp32")
    bad = Job.from_claim({**CLAIM, "job": {**CLAIM["job"], "settings": {"warp": 1}}})
    with pytest.raises(ValueError, match="unknown backend settings"):
        agent._settings(bad)


def test_a_job_never_sets_the_hosts_paths_or_binaries(tmp_path: Path) -> None:
    """A job's ``cache_dir`` and Android tool ``options`` reached the agent verbatim."""
    agent = _agent(tmp_path)
    for settings, refused in [
        ({"cache_dir": "/etc"}, "cache_dir"),
        ({"options": {"perf_test": "/system/bin/sh"}}, "options.perf_test"),
        ({"options": "x"}, "options must be a mapping"),
    ]:
        job = Job.from_claim({**CLAIM, "job": {**CLAIM["job"], "settings": settings}})
        with pytest.raises(ValueError, match=refused):
            agent._settings(job)
    assert agent._settings(Job.from_claim(CLAIM)).cache_dir is None


def test_checks_abort_on_timeout_cancel_and_stop(tmp_path: Path) -> None:
    import time

    agent = _agent(tmp_path)
    job = Job.from_claim(CLAIM)
    check = agent._checker(job)
    time.sleep(0.01)
    with pytest.raises(JobAborted, match="timeout") as err:
        check()
    assert err.value.code == "timeout"
    job = Job.from_claim({**CLAIM, "job": {**CLAIM["job"], "timeout_s": None}})
    agent._canceled.add(job.lease_token)
    with pytest.raises(JobAborted, match="canceled") as err:
        agent._checker(job)()
    assert err.value.code is None
    agent.stopping.set()
    with pytest.raises(JobAborted, match="stopping"):
        agent._checker(job)()


def test_prepare_once_per_artifact(tmp_path: Path, tiny_onnx: Path) -> None:
    agent = _agent(tmp_path)
    job = Job.from_claim(CLAIM)
    settings = agent._settings(job)
    first = agent._prepare(job, tiny_onnx, settings)
    assert agent._prepare(job, tiny_onnx, settings) is first


def test_the_first_heartbeat_is_at_once_and_the_server_sets_the_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the first beat waited the 10 s default: a cancel sent meanwhile reached the
    agent only then, whatever interval the server asked for."""
    import time

    agent = _agent(tmp_path)
    assert agent.heartbeat_s == 10.0
    beats: list[float] = []

    def heartbeat(held: list[str]) -> dict[str, Any]:
        beats.append(time.monotonic())
        if len(beats) == 3:
            agent.stopping.set()
        return {"heartbeat_s": 0.05, "canceled": []}

    monkeypatch.setattr(agent.client, "heartbeat", heartbeat)
    start = time.monotonic()
    beating = ReportingThread(agent.heartbeat_forever, daemon=True)
    beating.start()
    beating.join(timeout=5)
    assert not beating.is_alive(), beats
    assert len(beats) == 3 and beats[0] - start < 1.0, [b - start for b in beats]


def test_heartbeat_pauses_spread_agents_within_the_interval() -> None:
    """Agents started together beat in step unless their pauses differ: in step, 200 agents'
    heartbeats queued behind each other for 1-2 s on the server every interval. A pause is
    never longer than the interval (the server hears from each agent within it)."""
    pauses = [heartbeat_pause(10.0) for _ in range(200)]
    assert all(7.5 <= p <= 10.0 for p in pauses)
    assert max(pauses) - min(pauses) > 2.0
