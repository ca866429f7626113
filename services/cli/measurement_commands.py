"""``hwnas measurement`` (formerly ``measurements``): list and show measurements with their
verdicts and interference evidence; import published whole-network latencies from CSV."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from hwnas import Client
from latency_db.importers.measurement_csv import import_measurement_csv
from latency_db.models import DeviceKind
from latency_db.repositories import devices as device_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.settings import get_settings
from latency_db.verdicts import Verdict, describe
from services.cli.dispatch import device_id_by_name, read_text, run_action, space_option
from services.cli.output import emit_json, emit_mapping, emit_table
from services.schemas.jobs import MeasurementDetail, MeasurementOut

app = typer.Typer(
    help="Measurements: list and show them with their verdicts, import published latencies."
)
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON object")]


@app.command("list")
def list_measurements(
    device: Annotated[str | None, typer.Option("--device", help="device name")] = None,
    verdict: Annotated[Verdict | None, typer.Option(help="only this verdict")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="newest first, at most")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Measurements, newest first, each with its verdict (clean, unstable, disturbed)."""

    def local(session: Session) -> list[dict[str, Any]]:
        row = device_repo.get_device_by_name(session=session, name=device) if device else None
        rows = measurement_repo.list_measurements(
            session=session, device=row, verdict=verdict, limit=limit
        )
        return [MeasurementOut.model_validate(m).model_dump(mode="json") for m in rows]

    def remote(api: Client) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"limit": limit}
        if device:
            query["device_id"] = device_id_by_name(api, device)
        if verdict:
            query["verdict"] = verdict.value
        return list(api.get("/measurements", **query))

    rows = run_action(get_settings(), local=local, remote=remote)
    if as_json:
        emit_json({"measurements": rows})
        return
    table = [{**m, "95% CI ms": _interval(m)} for m in rows]
    columns = ["id", "subject_kind", "median_ms", "95% CI ms", "cv", "verdict"]
    emit_table("measurements (newest first)", table, columns)
    for m in rows:
        if m["verdict"] != Verdict.CLEAN.value:
            typer.echo(f"{m['id']}: {describe(m['verdict'], {'reason': m['verdict_reason']})}")


@app.command("show")
def show(
    measurement_id: Annotated[str, typer.Argument(help="measurement id")],
    as_json: JsonOption = False,
) -> None:
    """One measurement: its statistics, the 95% interval of its median, its verdict with the
    deciding figure and threshold, and the agent's interference evidence."""

    def local(session: Session) -> dict[str, Any]:
        row = measurement_repo.get_measurement(session=session, measurement_id=measurement_id)
        return MeasurementDetail.model_validate(row).model_dump(mode="json")

    def remote(api: Client) -> dict[str, Any]:
        return dict(api.get(f"/measurements/{measurement_id}"))

    found = run_action(get_settings(), local=local, remote=remote)
    if as_json:
        emit_json(found)
        return
    detail = found["verdict_detail"]
    emit_mapping(
        f"measurement {found['id']}",
        {
            "subject": found["subject"],
            "device_id": found["device_id"],
            "runs": len(found["times_ms"]),
            "median ms": found["median_ms"],
            "95% interval of the median (ms)": _interval(found),
            "CV": found["cv"],
            "verdict": found["verdict"],
            "reason": detail.get("reason"),
            "figure / threshold": f"{detail.get('figure')} / {detail.get('threshold')}",
            "tries": detail.get("tries"),
            "measured at": found["created_at"],
        },
    )
    evidence = found["evidence"]
    if evidence:
        emit_mapping("interference evidence", evidence)
    else:
        typer.echo("interference evidence: none (the agent sent none)")


def _interval(measurement: dict[str, Any]) -> str:
    low, high = measurement["median_ci_low_ms"], measurement["median_ci_high_ms"]
    return "" if low is None else f"{low:.4g} - {high:.4g}"


@app.command("import")
def import_csv(
    csv_file: Annotated[
        Path, typer.Argument(help="the CSV: columns arch, latency_ms[, batch]", metavar="FILE")
    ],
    space: Annotated[str, typer.Option(help="space family or full ref, e.g. fbnet-cifar100")],
    device: Annotated[str, typer.Option(help="device name; created when missing")],
    resolution: Annotated[int | None, typer.Option(help="default: the space's")] = None,
    width: Annotated[float | None, typer.Option(help="width multiplier (default 1.0)")] = None,
    batch: Annotated[int, typer.Option(min=1, help="batch of rows without one")] = 1,
    source_name: Annotated[
        str | None, typer.Option(help="where the numbers come from (default: the file name)")
    ] = None,
    kind: Annotated[
        DeviceKind, typer.Option("--device-kind", help="kind of a created device")
    ] = DeviceKind.EDGE,
    as_json: JsonOption = False,
) -> None:
    """Store each row as a 'network' measurement; any bad row stores nothing."""
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
