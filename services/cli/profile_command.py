"""``hwnas profile model.onnx --device NAME``: your own ONNX model measured on a device.

Uploads the model, queues a ``model`` job, waits with a progress line and prints the
median, CV and verdict with the per-layer table (ONNX Runtime's profiler per node). Needs a
server (``HWNAS_SERVER_URL`` or ``hwnas login``): the embedded one is ``hwnas server``
with ``hwnas worker`` and an agent (``hwnas-agent run``) of the device.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console

from hwnas import Client, HwnasError, ProfileJob
from latency_db.settings import get_settings
from services.cli.backend_choice import Backend
from services.cli.dispatch import client_config, fail, run_action
from services.cli.output import emit_json, emit_mapping, emit_table
from services.onnx_check import UploadRefused, inspect_onnx


def profile(
    model: Annotated[Path, typer.Argument(help="an ONNX file with static input shapes")],
    device: Annotated[str, typer.Option(help="the device's name (hwnas device list)")],
    backend: Annotated[Backend, typer.Option(help="runtime the agent measures with")] = (
        Backend.ORT_CPU
    ),
    batch: Annotated[
        int | None,
        typer.Option(min=1, help="expected batch size: the model's static input fixes it"),
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="runtime threads")] = None,
    timeout: Annotated[float, typer.Option(min=1, help="seconds to wait for the job")] = 600,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Measure your own ONNX model on a device: median, CV, verdict and per-layer times."""
    shape = _checked_model(model, batch)
    if not client_config(get_settings()).server_url:
        fail(
            "hwnas profile needs a server: start 'hwnas server' (with 'hwnas worker' and an "
            "agent of the device), then set HWNAS_SERVER_URL and HWNAS_API_TOKEN or run "
            "'hwnas login'"
        )
    settings = {"threads": threads} if threads else {}

    def remote(api: Client) -> dict[str, Any]:
        device_id = _device_with_backend(api, device, backend.value)
        artifact = api.jobs.upload(model)
        job = api.jobs.submit_model(
            device_id, artifact["sha256"], backend=backend.value, settings=settings
        )
        _wait_with_progress(job, timeout)
        result = job.result()
        return {
            "device": device,
            "artifact": artifact,
            "job": job.job,
            "measurement": result.measurement,
        }

    answer = run_action(get_settings(), local=_unreachable, remote=remote)
    if as_json:
        emit_json(answer)
        return
    _print_report(model, shape, answer)


def _unreachable(_: object) -> dict[str, Any]:
    raise AssertionError("profile runs against a server only")


def _checked_model(model: Path, batch: int | None) -> list[int]:
    try:
        data = model.read_bytes()
    except OSError as err:
        fail(f"cannot read {model}: {err.strerror}")
    try:
        found = inspect_onnx(data, get_settings().onnx_max_nodes)
    except UploadRefused as err:
        fail(f"{model}: {err}")
    shape = cast(list[int], found["input_shape"])
    if batch is not None and batch != shape[0]:
        fail(
            f"--batch {batch}: {model} has the static input shape {shape} (batch {shape[0]}); "
            f"export it at batch {batch} to measure that batch"
        )
    return shape


def _device_with_backend(api: Client, name: str, backend: str) -> str:
    """The device's id; a clear error if none of its agents runs ``backend``."""
    try:
        device = api.devices.find(name)
    except HwnasError as err:
        fail(str(err))
    agents = api.devices.agents(device["id"])
    if not any(agent["backend"] == backend for agent in agents):
        have = ", ".join(sorted({a["backend"] for a in agents})) or "no agent enrolled"
        fail(
            f"--backend {backend}: no agent of device {name!r} runs it ({have}); start one "
            f"with 'hwnas-agent run --backend {backend}' or pick another --backend"
        )
    return str(device["id"])


def _wait_with_progress(job: ProfileJob, timeout_s: float) -> None:
    console = Console(stderr=True)
    started = time.monotonic()
    with console.status(f"job {job.id}: queued") as status:

        def show(state: dict[str, Any]) -> None:
            elapsed = time.monotonic() - started
            status.update(f"job {job.id}: {state['state']} ({elapsed:.0f} s)")

        try:
            job.wait(timeout_s, on_poll=show)
        except TimeoutError:
            state = job.state
            job.cancel()
            fail(
                f"job {job.id} still {state} after {timeout_s:g} s, canceled: is an agent "
                "of the device online? ('hwnas device list')"
            )


def _print_report(model: Path, shape: list[int], answer: dict[str, Any]) -> None:
    m = answer["measurement"]
    emit_mapping(
        f"{model.name} on {answer['device']} ({answer['job']['device_id']})",
        {
            "median ms": m["median_ms"],
            "cv": m["cv"],
            "verdict": f"{m['verdict']} ({m['verdict_reason']})",
            "95% CI of the median ms": (
                f"[{m['median_ci_low_ms']:.4g}, {m['median_ci_high_ms']:.4g}]"
                if m["median_ci_low_ms"] is not None
                else "n < 8"
            ),
            "runs": len(m["times_ms"]),
            "input shape": shape,
            "measurement": m["id"],
            "artifact sha256": answer["artifact"]["sha256"],
        },
    )
    layers = (m.get("layer_profile") or {}).get("layers", [])
    total = sum(layer["time_ms"] for layer in layers) or 1.0
    rows = [{**layer, "share": f"{100 * layer['time_ms'] / total:.1f}%"} for layer in layers]
    emit_table("per-layer times (ms, profiled run)", rows, ["name", "op_type", "time_ms", "share"])
