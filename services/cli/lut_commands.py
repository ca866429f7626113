"""``hwnas lut``: import a published per-op lookup table for a device."""

from __future__ import annotations

from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from latency_db.importers.proxylessnas_lut import import_lut
from latency_db.models import DeviceKind
from latency_db.settings import get_settings
from services.cli.dispatch import read_text, run_action, space_option
from services.cli.output import emit_json, emit_mapping

app = typer.Typer(help="Lookup tables: import published per-op tables.")


class LutFormat(str, Enum):
    PROXYLESSNAS = "proxylessnas"


@app.command("import")
def import_table(
    file: Annotated[Path, typer.Argument(help="the table (ProxylessNAS/OFA YAML)")],
    device: Annotated[str, typer.Option(help="device name; created when missing")],
    table_format: Annotated[LutFormat, typer.Option("--format")] = LutFormat.PROXYLESSNAS,
    space: Annotated[str, typer.Option(help="space family or full space ref")] = "proxyless",
    resolution: Annotated[int | None, typer.Option(help="default: the space's")] = None,
    width: Annotated[float | None, typer.Option(help="width multiplier (default 1.0)")] = None,
    batch: Annotated[int, typer.Option(min=1, help="batch size of the table")] = 1,
    kind: Annotated[DeviceKind, typer.Option(help="kind of a created device")] = DeviceKind.PHONE,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Store a published table as the device's op measurements (runtime backend
    ``published``) and report its coverage of the space instance's op keys."""
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
