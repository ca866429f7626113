"""``hwnas measurements``: import published whole-network latencies from CSV."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from latency_db.importers.measurement_csv import import_measurement_csv
from latency_db.models import DeviceKind
from latency_db.settings import get_settings
from services.cli.dispatch import read_text, run_action, space_option
from services.cli.output import emit_json, emit_mapping

app = typer.Typer(help="Measurements: import published whole-network latencies.")


@app.command("import")
def import_csv(
    csv_file: Annotated[Path, typer.Option("--csv", help="columns arch, latency_ms[, batch]")],
    space: Annotated[str, typer.Option(help="space family or full ref, e.g. fbnet-cifar100")],
    device: Annotated[str, typer.Option(help="device name; created when missing")],
    resolution: Annotated[int | None, typer.Option(help="default: the space's")] = None,
    width: Annotated[float | None, typer.Option(help="width multiplier (default 1.0)")] = None,
    batch: Annotated[int, typer.Option(min=1, help="batch of rows without one")] = 1,
    source_name: Annotated[
        str | None, typer.Option(help="where the numbers come from (default: the file name)")
    ] = None,
    kind: Annotated[DeviceKind, typer.Option(help="kind of a created device")] = DeviceKind.EDGE,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Store each row as a ``network`` measurement; any bad row stores nothing."""
    text = read_text(csv_file)
    source = source_name or csv_file.name

    def local(session: Session) -> dict[str, Any]:
        result = import_measurement_csv(
            session=session,
            text=text,
            device_name=device,
            space=space_option(space, resolution, width),
            source_name=source,
            default_batch=batch,
            device_kind=kind,
        )
        return asdict(result)

    body = {
        "text": text,
        "device": device,
        "space": space,
        "resolution": resolution,
        "width_mult": width,
        "batch_size": batch,
        "kind": kind.value,
        "source_name": source,
    }
    result = run_action(
        get_settings(), local=local, remote=lambda api: api.post("/measurements/import", body)
    )
    if as_json:
        emit_json(result)
        return
    emit_mapping(
        f"imported {csv_file.name}",
        {
            **result["summary"],
            "source_name": result["source_name"],
            "rows": result["rows"],
            "batch sizes": ", ".join(str(b) for b in result["batch_sizes"]),
        },
    )
