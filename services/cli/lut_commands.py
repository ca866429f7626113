"""``hwnas lut``: build a device's per-op lookup table, show it (table, heatmap), or import
a published one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from hwnas import Client
from latency_db.importers.proxylessnas_lut import import_lut
from latency_db.models import DeviceKind
from latency_db.repositories import devices as device_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.settings import get_settings
from latency_db.verdicts import Verdict
from services.cli.backend_choice import Backend
from services.cli.dispatch import device_id_by_name, fail, read_text, run_action, space_option
from services.cli.output import emit_json, emit_mapping, emit_table
from services.cli.verdict_options import IncludeOption, IncludeUncleanOption, included_verdicts
from services.cli.workflows import Target, lut_query, request_lookup_table, wait_remeasuring
from services.lookup_tables import (
    TableRef,
    heatmap_png,
    progress,
    queue_table,
    read_table,
    table_ref,
)
from services.lut_grid import LutGrid, lut_grid
from services.task_queue import TaskQueue, commit_and_dispatch

app = typer.Typer(help="Lookup tables: build, show (with a heatmap), import published ones.")

DeviceOption = Annotated[str, typer.Option("--device", help="device name")]
SpaceOption = Annotated[str, typer.Option(help="space family or full space ref")]
ResolutionOption = Annotated[int | None, typer.Option(help="default: the space's")]
WidthOption = Annotated[float | None, typer.Option(help="width multiplier (default 1.0)")]
BatchOption = Annotated[int, typer.Option(min=1, help="batch size the ops are timed at")]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]
NOT_MEASURED = "?"


class LutFormat(str, Enum):
    PROXYLESSNAS = "proxylessnas"


@app.command("import")
def import_table(
    file: Annotated[Path, typer.Argument(help="the table (ProxylessNAS/OFA YAML)", metavar="FILE")],
    device: Annotated[str, typer.Option(help="device name; created when missing")],
    table_format: Annotated[LutFormat, typer.Option("--format")] = LutFormat.PROXYLESSNAS,
    space: SpaceOption = "proxyless",
    resolution: ResolutionOption = None,
    width: WidthOption = None,
    batch: BatchOption = 1,
    kind: Annotated[
        DeviceKind, typer.Option("--device-kind", help="kind of a created device")
    ] = DeviceKind.PHONE,
    as_json: JsonOption = False,
) -> None:
    """Store a published table as the device's op measurements (runtime backend
    'published') and report its coverage of the space instance's op keys."""
    text = read_text(file)

    def local(session: Session) -> dict[str, Any]:
        result = import_lut(
            session=session,
            text=text,
            device_name=device,
            space=space_option(space, resolution, width),
            batch_size=batch,
            device_kind=kind,
            source_name=file.name,
        )
        return asdict(result)

    body = {
        "text": text,
        "format": table_format.value,
        "device": device,
        "space": space,
        "resolution": resolution,
        "width_mult": width,
        "batch_size": batch,
        "kind": kind.value,
        "source_name": file.name,
    }
    result = run_action(
        get_settings(), local=local, remote=lambda api: api.post("/lookup-tables/import", body)
    )
    if as_json:
        emit_json(result)
        return
    coverage = result["coverage"]
    emit_mapping(
        f"imported {file.name}",
        {
            **result["summary"],
            "batch_size": result["batch_size"],
            "op keys found": f"{coverage['found']} of {coverage['expected']}",
            "extra keys (not stored)": coverage["extra"],
        },
    )
    for key in coverage["missing"]:
        typer.echo(f"missing: {key}")


@app.command("build")
def build(
    device: DeviceOption,
    space: SpaceOption = "proxyless",
    resolution: ResolutionOption = None,
    width: WidthOption = None,
    batch: BatchOption = 32,
    backend: Annotated[
        Backend, typer.Option(help="runtime backend of the device's agent")
    ] = Backend.ORT_CPU,
    threads: Annotated[int, typer.Option(min=1, help="runtime threads per timed run")] = 1,
    wait: Annotated[bool, typer.Option(help="show progress until every key is done")] = True,
    remeasure: Annotated[
        int,
        typer.Option(
            min=0,
            max=10,
            help="with --wait: rounds of measuring again the keys measured only unstable or "
            "disturbed",
        ),
    ] = 2,
    timeout: Annotated[float, typer.Option(help="seconds to wait")] = 3600,
    as_json: JsonOption = False,
) -> None:
    """Queue a profiling job for every op key of the space instance not yet measured
    (idempotent); with --wait, show measured/total keys until the table is done, and queue
    the keys measured only unstable or disturbed again (--remeasure rounds). A worker
    exports each op and an agent of the device times it: on the embedded database, run
    'hwnas server', 'hwnas worker' and the device's 'hwnas-agent run' (token from 'hwnas
    device add') on the same data directory."""
    settings = get_settings()
    target = space_option(space, resolution, width)
    runtime: dict[str, Any] = {"backend": backend.value, "settings": {"threads": threads}}

    def local(session: Session) -> dict[str, Any]:
        ref = TableRef(
            device=device_repo.get_device_by_name(session=session, name=device),
            space=target,
            runtime_config=runtime_repo.get_or_create_runtime_config(
                session=session, backend=backend.value, settings=runtime["settings"]
            ),
            batch_size=batch,
        )
        status, jobs = queue_table(session=session, ref=ref, max_attempts=settings.max_attempts)
        commit_and_dispatch(session, TaskQueue(settings), jobs)
        return status.model_dump(mode="json")

    def remote(api: Client) -> dict[str, Any]:
        lut_target = Target(device_id_by_name(api, device), runtime, batch)
        return request_lookup_table(api, lut_target, target)  # the server has them exported

    status = run_action(settings, local=local, remote=remote)
    if wait:
        query = lut_query(status)
        try:
            status["progress"] = wait_remeasuring(
                lambda: run_action(settings, local=local, remote=remote),
                lambda: _progress(query),
                f"lookup table {target.ref}",
                timeout,
                remeasure,
                to_stderr=as_json,
            )
        except TimeoutError as err:
            fail(f"{err}: are a worker and an agent of {device!r} running?")
    if as_json:
        emit_json(status)
        return
    emit_mapping(
        f"lookup table of {device} on {status['space_ref']}",
        {
            "runtime_config_id": status["runtime_config_id"],
            "batch_size": status["batch_size"],
            "jobs created": status["created_jobs"],
            **status["progress"],
        },
    )


def _texts(grid: LutGrid, ms_by_key: Mapping[str, float]) -> list[dict[str, str]]:
    """Each row's cells as text, by op: ms to 3 digits, ``?`` not measured, blank no op."""
    missing = grid.missing(ms_by_key)
    return [
        {
            op: NOT_MEASURED if (r, c) in missing else "" if ms is None else f"{ms:.3g}"
            for c, (op, ms) in enumerate(zip(grid.ops, row, strict=True))
        }
        for r, row in enumerate(grid.cell_ms(ms_by_key))
    ]


def _progress(query: Mapping[str, Any]) -> dict[str, int]:
    """The table's progress now, each time in a transaction (or request) of its own."""

    def local(session: Session) -> dict[str, int]:
        return progress(session=session, ref=table_ref(session=session, **query)).model_dump()

    def remote(api: Client) -> dict[str, int]:
        return dict(api.get("/lookup-tables", **query)["progress"])

    return run_action(get_settings(), local=local, remote=remote)


@app.command("show")
def show(
    device: DeviceOption,
    space: SpaceOption = "proxyless",
    resolution: ResolutionOption = None,
    width: WidthOption = None,
    batch: BatchOption = 32,
    runtime_config: Annotated[
        str | None, typer.Option(help="runtime config id (default: the one measured)")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="write the heatmap PNG here")] = None,
    normalize_drift: Annotated[
        bool, typer.Option(help="latencies at the device's reference speed (sentinel)")
    ] = False,
    include: IncludeOption = None,
    include_unclean: IncludeUncleanOption = False,
    as_json: JsonOption = False,
) -> None:
    """Print the device's table as layer x op rows (median ms; '?': not measured yet) and
    its coverage; --plot writes the same grid as a heatmap PNG. Entries are the latest clean
    measurements unless --include / --include-unclean adds other verdicts."""
    target = space_option(space, resolution, width)
    verdicts = [v for v in included_verdicts(include, include_unclean) if v != "clean"]

    def local(session: Session) -> tuple[dict[str, Any], bytes | None]:
        ref = table_ref(
            session=session,
            device_id=device_repo.get_device_by_name(session=session, name=device).id,
            space_ref=target.ref,
            batch_size=batch,
            runtime_config_id=runtime_config,
            normalize_drift=normalize_drift,
            include=verdicts,
        )
        table = read_table(session=session, ref=ref)
        return table.model_dump(mode="json"), heatmap_png(ref, table) if plot else None

    def remote(api: Client) -> tuple[dict[str, Any], bytes | None]:
        query: dict[str, Any] = {
            "device_id": device_id_by_name(api, device),
            "space_ref": target.ref,
            "batch_size": batch,
            "normalize_drift": normalize_drift,
            "include": verdicts,
        }
        if runtime_config:
            query["runtime_config_id"] = runtime_config
        table = dict(api.get("/lookup-tables", **query))
        return table, api.get_bytes("/lookup-tables/heatmap.png", **query) if plot else None

    table, png = run_action(get_settings(), local=local, remote=remote)
    if plot is not None and png is not None:
        try:
            plot.write_bytes(png)
        except OSError as err:
            fail(f"cannot write {plot}: {err}")
    grid = lut_grid(target)
    ms_by_key = {key: entry["median_ms"] for key, entry in table["entries"].items()}
    found, expected = len(ms_by_key), table["progress"]["total"]
    if as_json:
        missing = sorted(set(target.all_op_keys()) - set(ms_by_key))
        emit_json(
            {
                **table,
                "coverage": {"found": found, "expected": expected, "missing": missing},
                "grid": {"layers": grid.layers, "ops": grid.ops, "ms": grid.cell_ms(ms_by_key)},
                "plot": str(plot) if plot else None,
            }
        )
        return
    texts = _texts(grid, ms_by_key)
    rows = [{"layer": layer, **cells} for layer, cells in zip(grid.layers, texts, strict=True)]
    emit_table(f"{device} · {table['space_ref']} · batch {batch} · ms", rows, ["layer", *grid.ops])
    typer.echo(
        f"coverage: {found} of {expected} op keys measured "
        f"(runtime config {table['runtime_config_id']})"
    )
    typer.echo(f"verdicts: {', '.join(table['verdicts_included'])}; {table['trust']}")
    if table["progress"]["unclean"] and len(table["verdicts_included"]) < len(Verdict):
        typer.echo(
            f"{table['progress']['unclean']} op keys have only unstable or disturbed "
            "measurements: 'hwnas lut build' again on a quiet device re-measures them, "
            "--include-unclean shows them"
        )
    if plot is not None:
        typer.echo(f"heatmap: {plot}")
