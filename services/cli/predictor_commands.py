"""``hwnas predictor``: fit versions, list them with their holdout metrics, predict."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from hwnas import Client
from latency_db.models import FitKind, PredictorKind
from latency_db.predictors.sampling import random_candidates
from latency_db.predictors.versions import (
    fit_version,
    load_version,
    measured_batch,
    reference_candidates,
    runtime_config_for,
)
from latency_db.repositories import devices as device_repo
from latency_db.repositories import predictors as predictor_repo
from latency_db.settings import get_settings
from services.cli.backend_choice import Backend
from services.cli.dispatch import device_id_by_name, fail, read_text, run_action, space_option
from services.cli.output import emit_json, emit_mapping, emit_table
from services.cli.verdict_options import IncludeOption, IncludeUncleanOption, included_verdicts
from services.schemas.predictors import PredictorOut

app = typer.Typer(help="Latency predictors: fit versions, show their accuracy, predict.")

METRIC_COLUMNS = ("mape_pct", "within5_pct", "within10_pct", "kendall_tau", "rmse_ms")
FINISHED = ("succeeded", "failed")

DeviceOption = Annotated[str, typer.Option("--device", help="device name")]
SpaceOption = Annotated[str, typer.Option(help="space family or full space ref")]
ResolutionOption = Annotated[int | None, typer.Option(help="default: the space's")]
WidthOption = Annotated[float | None, typer.Option(help="width multiplier (default 1.0)")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]


def fit_on_server(api: Client, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Submit a fit (``POST /predictors/fits``), wait for a worker to run it, and return the
    new predictor version (exit 2 if it failed or timed out)."""
    done = _wait_fit(api, api.post("/predictors/fits", body)["id"], timeout_s)
    return dict(api.get(f"/predictors/{done['predictor_id']}"))


def _wait_fit(api: Client, fit_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while (fit := api.get(f"/predictors/fits/{fit_id}"))["state"] not in FINISHED:
        if time.monotonic() > deadline:
            fail(f"fit {fit_id} still {fit['state']} after {timeout_s:.0f}s: is a worker running?")
        time.sleep(0.5)
    if fit["state"] == "failed":
        fail(f"fit {fit_id} failed: {fit['error_message']}")
    return dict(fit)


@app.command("fit")
def fit(
    device: DeviceOption,
    space: SpaceOption = "proxyless",
    resolution: ResolutionOption = None,
    width: WidthOption = None,
    kind: Annotated[
        FitKind, typer.Option(help="predictor kind; auto: chosen by cross-validation")
    ] = FitKind.LINEAR,
    holdout: Annotated[float, typer.Option(min=0.0, max=0.95, help="holdout share")] = 0.2,
    seed: Annotated[int, typer.Option(min=0, help="seed of the split and the fit")] = 0,
    batch: Annotated[
        int | None, typer.Option(min=1, help="batch size measured (default: the one there is)")
    ] = None,
    runtime_config: Annotated[
        str | None, typer.Option(help="runtime config id (default: the one measured)")
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for a server fit")] = 600,
    normalize_drift: Annotated[
        bool, typer.Option(help="fit latencies at the device's reference speed (sentinel)")
    ] = False,
    include: IncludeOption = None,
    include_unclean: IncludeUncleanOption = False,
    transfer_from: Annotated[
        list[str] | None,
        typer.Option(
            help="few-shot transfer: a lut/linear predictor id of another device (repeat "
            "for several); fits kind linear from a few measurements of this device"
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Fit a new version on every network measured cleanly for the device (and, if asked,
    unstable or disturbed ones too) and print its holdout metrics (locally, or as a worker
    task when HWNAS_SERVER_URL is set)."""
    sources = transfer_from or []
    target = space_option(space, resolution, width)
    verdicts = included_verdicts(include, include_unclean)

    def local(session: Session) -> dict[str, Any]:
        row = device_repo.get_device_by_name(session=session, name=device)
        batch_size = batch or measured_batch(session=session, device=row, space=target)
        runtime = runtime_config_for(
            session=session,
            device=row,
            space=target,
            batch_size=batch_size,
            runtime_config_id=runtime_config,
        )
        predictor = fit_version(
            session=session,
            device=row,
            runtime_config=runtime,
            space=target,
            kind=kind,
            batch_size=batch_size,
            holdout_fraction=holdout,
            seed=seed,
            normalize_drift=normalize_drift,
            include_verdicts=verdicts,
            source_predictor_ids=sources,
        )
        return PredictorOut.from_row(predictor).model_dump(mode="json")

    def remote(api: Client) -> dict[str, Any]:
        body = {
            "device_id": device_id_by_name(api, device),
            "space_ref": target.ref,
            "kind": kind.value,
            "runtime_config_id": runtime_config,
            "batch_size": batch,
            "holdout": holdout,
            "seed": seed,
            "normalize_drift": normalize_drift,
            "include_verdicts": verdicts,
            "transfer_from": sources,
        }
        return fit_on_server(api, body, timeout)

    result = run_action(get_settings(), local=local, remote=remote)
    if as_json:
        emit_json(result)
        return
    title = f"{result['kind']} predictor v{result['version']} of {device} on {result['space_ref']}"
    trained_on = ", ".join(result["training_verdicts"])
    emit_mapping(title, {"id": result["id"], "trained on": trained_on, **result["metrics"]})


@app.command("list")
@app.command("show", hidden=True)  # the old name of 'list'
def list_versions(
    device: Annotated[str | None, typer.Option("--device", help="device name")] = None,
    space: Annotated[str | None, typer.Option(help="space family or ref")] = None,
    kind: Annotated[PredictorKind | None, typer.Option(help="predictor kind")] = None,
    as_json: JsonOption = False,
) -> None:
    """List predictor versions, newest first, with their holdout metrics."""
    space_ref = space_option(space, None, None).ref if space else None

    def local(session: Session) -> list[dict[str, Any]]:
        row = device_repo.get_device_by_name(session=session, name=device) if device else None
        rows = predictor_repo.list_predictors(
            session=session, device=row, space_ref=space_ref, kind=kind
        )
        return [PredictorOut.from_row(p).model_dump(mode="json") for p in rows]

    def remote(api: Client) -> list[dict[str, Any]]:
        query = {
            "device_id": device_id_by_name(api, device) if device else None,
            "space_ref": space_ref,
            "kind": kind.value if kind else None,
        }
        return list(api.get("/predictors", **{k: v for k, v in query.items() if v}))

    versions = run_action(get_settings(), local=local, remote=remote)
    if as_json:
        emit_json({"predictors": versions})
        return
    rows = [{**v, **v["metrics"], "trained on": ",".join(v["training_verdicts"])} for v in versions]
    columns = ["id", "kind", "version", "space_ref", "batch_size", "n_measurements", "trained on"]
    emit_table("predictor versions", rows, [*columns, *METRIC_COLUMNS])


@app.command("predict")
def predict(
    predictor: Annotated[str, typer.Option("--predictor", help="predictor version id")],
    architectures: Annotated[
        list[str] | None, typer.Argument(help="architecture strings (quoted)")
    ] = None,
    file: Annotated[Path | None, typer.Option(help="one architecture per line")] = None,
    as_json: JsonOption = False,
) -> None:
    """Predicted latency (ms) and uncertainty of architectures, in one vectorized call."""
    texts = list(architectures or [])
    if file is not None:
        texts += [line.strip() for line in read_text(file).splitlines() if line.strip()]
    if not texts:
        fail("give architectures as arguments or with --file")

    def local(session: Session) -> list[dict[str, Any]]:
        version = load_version(
            predictor_repo.get_predictor(session=session, predictor_id=predictor)
        )
        archs = [version.space.parse(text) for text in texts]
        mean, std = version.predict(archs)
        return [
            {"architecture": version.space.format(a), "latency_ms": float(m), "std_ms": float(s)}
            for a, m, s in zip(archs, mean, std, strict=True)
        ]

    def remote(api: Client) -> list[dict[str, Any]]:
        return list(api.post(f"/predictors/{predictor}/predict", {"architectures": texts}))

    try:
        answers = run_action(get_settings(), local=local, remote=remote)
    except ValueError as err:  # a malformed architecture on the local path
        fail(str(err))
    if as_json:
        emit_json({"predictions": answers})
        return
    emit_table("predicted latency", answers, ["architecture", "latency_ms", "std_ms"])


@app.command("references")
def references(
    device: DeviceOption,
    source: Annotated[
        list[str],
        typer.Option("--from", help="a lut/linear predictor id of another device (repeatable)"),
    ],
    space: SpaceOption = "proxyless",
    resolution: ResolutionOption = None,
    width: WidthOption = None,
    count: Annotated[int, typer.Option(min=1, max=1000, help="architectures to choose")] = 20,
    pool: Annotated[int, typer.Option(min=1, max=100_000, help="random candidates")] = 2000,
    seed: Annotated[int, typer.Option(min=0, help="seed of the candidate pool")] = 0,
    batch: Annotated[int, typer.Option(min=1, help="batch size to measure at")] = 32,
    backend: Annotated[
        Backend, typer.Option(help="runtime backend of the device's agent")
    ] = Backend.ORT_CPU,
    threads: Annotated[int, typer.Option(min=1, help="runtime threads per timed run")] = 1,
    queue: Annotated[
        bool, typer.Option(help="queue their network jobs on the device (needs a server)")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Few-shot transfer, step 1: the architectures a new device should measure so that a
    'predictor fit --transfer-from' learns most from them (greedy D-optimal in the source
    versions' predictions), and with --queue their network jobs. Step 2, once measured:
    'hwnas predictor fit --device NAME --transfer-from ID'."""
    target = space_option(space, resolution, width)
    runtime: dict[str, Any] = {"backend": backend.value, "settings": {"threads": threads}}

    def local(session: Session) -> dict[str, Any]:
        if queue:
            fail(
                "--queue needs a server (HWNAS_SERVER_URL or hwnas login): agents claim jobs there"
            )
        chosen = reference_candidates(
            session=session,
            space=target,
            predictor_ids=source,
            candidates=random_candidates(target, seed, pool),
            count=count,
        )
        return {"job_ids": [], "architectures": [target.format(a) for a in chosen]}

    def remote(api: Client) -> dict[str, Any]:
        return api.predictors.training_jobs(
            device_id_by_name(api, device),
            target.ref,
            runtime,
            count,
            dry_run=not queue,
            strategy="transfer",
            source_predictor_ids=source,
            batch_size=batch,
            pool=pool,
            seed=seed,
        )

    result = run_action(get_settings(), local=local, remote=remote)
    if as_json:
        emit_json({"architectures": result["architectures"], "job_ids": result["job_ids"]})
        return
    queued = f", {len(result['job_ids'])} network jobs queued" if result["job_ids"] else ""
    emit_table(
        f"reference architectures for {device}{queued}",
        [{"architecture": a} for a in result["architectures"]],
        ["architecture"],
    )
