"""Multi-step user flows over the API, shared by ``hwnas demo`` and the benchmarks:
measure architectures on a device, build its lookup table, ask LUT latencies."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hwnas import Client
from latency_db.spaces import SearchSpace
from services.cli.output import console

FINISHED = ("succeeded", "failed", "canceled")
PAGE = 1000


@dataclass(frozen=True)
class Target:
    """Where latency is measured: a device, a runtime configuration and a batch size."""

    device_id: str
    runtime: dict[str, Any]
    batch_size: int = 32


def output_console(to_stderr: bool) -> Console:
    """Where progress goes: stderr when stdout carries JSON."""
    return Console(stderr=True) if to_stderr else console


def progress_bar(to_stderr: bool = False) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=output_console(to_stderr),
    )


def measure_architectures(
    api: Client,
    target: Target,
    space: SearchSpace,
    archs: Sequence[str],
    timeout_s: float,
    export_first: bool = False,
) -> list[dict[str, Any]]:
    """Queue a ``network`` job per architecture and wait: their measurements, in order.

    ``export_first`` drains the device while the worker exports every network and re-activates
    it after, so PyTorch never shares the CPU with a timed run (for a device dedicated to this).
    """
    with _exports_before_measuring(api, target.device_id, export_first, timeout_s):
        jobs = [
            api.post(
                "/jobs",
                {
                    "device_id": target.device_id,
                    "runtime": target.runtime,
                    "kind": "network",
                    "space_ref": space.ref,
                    "architecture": arch,
                    "batch_size": target.batch_size,
                },
            )
            for arch in archs
        ]
    deadline = time.monotonic() + timeout_s
    ours = {job["id"] for job in jobs}
    with progress_bar() as progress:
        bar = progress.add_task("networks measured", total=len(jobs))
        while True:
            waiting = ours & unfinished_job_ids(api, target.device_id)
            progress.update(bar, completed=len(ours) - len(waiting))
            if not waiting:
                return [job_measurement(api, api.get(f"/jobs/{job['id']}")) for job in jobs]
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(waiting)} network job(s) unfinished after {timeout_s:.0f}s"
                )
            time.sleep(2.0)


def unfinished_job_ids(api: Client, device_id: str) -> set[str]:
    """Ids of the device's queued and leased jobs: two requests, however many jobs wait (a
    poll per job would load the CPU that the device measures on)."""
    ids: set[str] = set()
    for state in ("queued", "leased"):
        offset = 0
        while True:
            page = api.get("/jobs", device_id=device_id, state=state, limit=PAGE, offset=offset)
            ids.update(job["id"] for job in page)
            if len(page) < PAGE:
                break
            offset += PAGE
    return ids


@contextmanager
def _exports_before_measuring(
    api: Client, device_id: str, enabled: bool, timeout_s: float
) -> Iterator[None]:
    """With ``enabled``: the device takes no work while the jobs queued in the block are
    exported, then is re-activated, so PyTorch never shares the CPU with a timed run."""
    if not enabled:
        yield
        return
    api.post(f"/devices/{device_id}/state", {"state": "draining"})
    try:
        yield
        deadline = time.monotonic() + timeout_s
        with progress_bar() as progress:
            bar = progress.add_task("exports", total=None)
            while True:
                queued = api.get("/jobs", device_id=device_id, state="queued", limit=1000)
                waiting = sum(job["artifact_sha256"] is None for job in queued)
                progress.update(bar, description=f"exports ({waiting} to go)")
                if not waiting:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{waiting} export(s) unfinished after {timeout_s:.0f}s")
                time.sleep(1.0)
    finally:
        api.post(f"/devices/{device_id}/state", {"state": "active"})


def measured_networks(
    api: Client, target: Target, space: SearchSpace, runtime_config_id: str
) -> dict[str, dict[str, Any]]:
    """The device's latest accepted ``network`` measurement per architecture of ``space`` at
    the target's batch size under one runtime configuration (newest first, paged)."""
    found: dict[str, dict[str, Any]] = {}
    query = {
        "device_id": target.device_id,
        "runtime_config_id": runtime_config_id,
        "subject_kind": "network",
        "limit": PAGE,
    }
    offset = 0
    while True:
        page = api.get("/measurements", **query, offset=offset)
        for row in page:
            if row["space_ref"] == space.ref and row["batch_size"] == target.batch_size:
                found.setdefault(row["subject"], row)
        if len(page) < PAGE:
            return found
        offset += PAGE


def measure_missing(
    api: Client,
    target: Target,
    space: SearchSpace,
    archs: Sequence[str],
    runtime_config_id: str,
    timeout_s: float,
    export_first: bool = True,
) -> list[dict[str, Any]]:
    """Measurements of ``archs`` in order: those already in the database are reused, only the
    others are queued and measured."""
    known = measured_networks(api, target, space, runtime_config_id)
    missing = [a for a in dict.fromkeys(archs) if a not in known]
    if missing:
        fresh = measure_architectures(api, target, space, missing, timeout_s, export_first)
        known.update(zip(missing, fresh, strict=True))
    return [known[a] for a in archs]


def job_measurement(api: Client, job: dict[str, Any]) -> dict[str, Any]:
    """The measurement a finished job wrote (with its raw times)."""
    if job["state"] != "succeeded":
        raise RuntimeError(
            f"job {job['id']} {job['state']}: {job['error_code']} {job['error_message']}"
        )
    rows = api.get("/measurements", device_id=job["device_id"], subject=job["subject"])
    row = next(r for r in rows if r["job_id"] == job["id"])
    return dict(api.get(f"/measurements/{row['id']}"))


def request_lookup_table(api: Client, target: Target, space: SearchSpace) -> dict[str, Any]:
    """Queue the op jobs of ``space``'s keys not yet measured: the table's status."""
    return dict(
        api.post(
            "/lookup-tables/build",
            {
                "device_id": target.device_id,
                "runtime": target.runtime,
                "space": space.name,
                "resolution": space.resolution,
                "width_mult": space.width_mult,
                "num_classes": space.num_classes,
                "batch_size": target.batch_size,
            },
        )
    )


def lut_query(status: Mapping[str, Any]) -> dict[str, Any]:
    """The query parameters of ``GET /lookup-tables`` that read a built table again."""
    return {k: status[k] for k in ("device_id", "runtime_config_id", "space_ref", "batch_size")}


def wait_lookup_table(
    read_progress: Callable[[], Mapping[str, int]],
    label: str,
    timeout_s: float,
    *,
    to_stderr: bool = False,
) -> dict[str, int]:
    """Poll ``read_progress`` (the table's ``progress``) with a measured/total bar until every
    key is measured or failed; the last progress. ``to_stderr`` keeps stdout for JSON."""
    deadline = time.monotonic() + timeout_s
    with progress_bar(to_stderr) as progress:
        bar = progress.add_task(label, total=None)
        while True:
            state = dict(read_progress())
            progress.update(bar, total=state["total"], completed=state["measured"])
            if state["measured"] + state["failed"] >= state["total"]:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"lookup table unfinished after {timeout_s:.0f}s: {state}")
            time.sleep(1.0)
    if state["failed"]:
        progress.console.print(f"[yellow]{state['failed']} op job(s) failed; see the agent log[/]")
    return state


def wait_remeasuring(
    request_again: Callable[[], object],
    read_progress: Callable[[], Mapping[str, int]],
    label: str,
    timeout_s: float,
    remeasure_rounds: int,
    *,
    to_stderr: bool = False,
) -> dict[str, int]:
    """Wait for a table's keys (:func:`wait_lookup_table`); then, up to ``remeasure_rounds``
    times while keys are measured only unstable or disturbed, ``request_again`` (a build
    request: the server queues those keys again) and wait, so a key disturbed once gets
    another chance. The last progress."""
    state = wait_lookup_table(read_progress, label, timeout_s, to_stderr=to_stderr)
    for round_number in range(1, remeasure_rounds + 1):
        if not state["unclean"]:
            break
        output_console(to_stderr).print(
            f"re-measuring the {state['unclean']} op keys measured only unstable or disturbed "
            f"(round {round_number} of {remeasure_rounds})"
        )
        request_again()
        state = wait_lookup_table(read_progress, label, timeout_s, to_stderr=to_stderr)
    return state


def build_lookup_table(
    api: Client,
    target: Target,
    space: SearchSpace,
    timeout_s: float,
    export_first: bool = False,
    remeasure_rounds: int = 0,
) -> dict[str, Any]:
    """Queue the missing op jobs of ``space`` and wait until every key is measured or failed
    (``export_first``: as in :func:`measure_architectures`), re-measuring unclean keys up to
    ``remeasure_rounds`` times (:func:`wait_remeasuring`).

    Returns the table (``entries``, ``progress``) and the query that reads it again.
    """
    with _exports_before_measuring(api, target.device_id, export_first, timeout_s):
        query = lut_query(request_lookup_table(api, target, space))

    def read_progress() -> Mapping[str, int]:
        return api.get("/lookup-tables", **query)["progress"]

    wait_remeasuring(
        lambda: request_lookup_table(api, target, space),
        read_progress,
        f"lookup table {space.ref}",
        timeout_s,
        remeasure_rounds,
    )
    return {**api.get("/lookup-tables", **query), "query": query}


def lut_latencies(
    api: Client, table: dict[str, Any], archs: Sequence[str]
) -> dict[str, float | None]:
    """LUT latency (ms) of each architecture; None where the table misses a key."""
    answers = api.post("/lookup-tables/latency", {**table["query"], "architectures": list(archs)})
    return {a["architecture"]: a["lut_ms"] for a in answers}
