"""Import published whole-network latencies from CSV, such as HW-NAS-Bench's (Li et al.,
ICLR 2021) measurements of the FBNet space.

Columns: ``arch`` (op tokens separated by spaces, design section 2), ``latency_ms`` and an
optional ``batch``; others are ignored. Every row is checked before anything is written, and
an error names the data row (1-based) and its line in the file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy.orm import Session

from latency_db.errors import ValidationError
from latency_db.importers.common import (
    ImportedValue,
    ImportSummary,
    check_latency,
    write_import,
)
from latency_db.models import DeviceKind, SubjectKind
from latency_db.repositories.common import check_name, check_positive_int
from latency_db.spaces import Architecture, SearchSpace

FORMAT = "csv"
REQUIRED_COLUMNS = ("arch", "latency_ms")


@dataclass(frozen=True)
class CsvRow:
    arch: Architecture
    latency_ms: float
    batch_size: int
    row: int  # 1-based data row
    line: int  # line of the file where the row ends


@dataclass(frozen=True)
class CsvImport:
    summary: ImportSummary
    source_name: str
    rows: int
    batch_sizes: list[int]


def parse_measurement_csv(text: str, space: SearchSpace, default_batch: int = 1) -> list[CsvRow]:
    """Every row, validated against ``space``; ``ValidationError`` names the first bad row."""
    check_positive_int(default_batch, "batch_size")
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    columns = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise ValidationError(
            f"CSV header lacks column(s) {', '.join(missing)} (has: {', '.join(columns) or '-'})"
        )
    reader.fieldnames = columns
    rows: list[CsvRow] = []
    try:
        for number, record in enumerate(reader, start=1):
            rows.append(_row(record, number, reader.line_num, space, default_batch))
    except csv.Error as err:
        raise ValidationError(f"line {reader.line_num}: malformed CSV: {err}") from None
    if not rows:
        raise ValidationError("CSV has a header but no data rows")
    return rows


def _row(
    record: dict[str | None, object], number: int, line: int, space: SearchSpace, batch: int
) -> CsvRow:
    where = f"row {number} (line {line})"
    if None in record:
        raise ValidationError(f"{where}: more fields than the header has columns")
    cells = {k: "" if v is None else str(v).strip() for k, v in record.items()}
    try:
        arch = space.parse(cells["arch"])
    except ValueError as err:
        raise ValidationError(f"{where}: arch: {err}") from None
    return CsvRow(
        arch=arch,
        latency_ms=check_latency(_number(cells["latency_ms"], where), where),
        batch_size=_batch(cells.get("batch", ""), where) or batch,
        row=number,
        line=line,
    )


def _number(cell: str, where: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise ValidationError(f"{where}: latency_ms {cell!r} is not a number") from None


def _batch(cell: str | None, where: str) -> int | None:
    if not cell:
        return None
    try:
        value = int(cell)
    except ValueError:
        raise ValidationError(f"{where}: batch {cell!r} is not an integer") from None
    if value <= 0:
        raise ValidationError(f"{where}: batch {value} must be positive")
    return value


def import_measurement_csv(
    *,
    session: Session,
    text: str,
    device_name: str,
    space: SearchSpace,
    source_name: str,
    default_batch: int = 1,
    device_kind: DeviceKind | str = DeviceKind.EDGE,
) -> CsvImport:
    """Validate every row, then store one ``network`` measurement per row."""
    source_name = check_name(source_name, "source_name", 200)
    rows = parse_measurement_csv(text, space, default_batch)
    res = space.resolution
    values = [
        ImportedValue(
            subject=space.format(r.arch),
            batch_size=r.batch_size,
            input_shape=(r.batch_size, 3, res, res),
            latency_ms=r.latency_ms,
            details={"row": r.row},
        )
        for r in rows
    ]
    summary = write_import(
        session=session,
        text=text,
        source={"format": FORMAT, "name": source_name},
        device_name=device_name,
        device_kind=device_kind,
        runtime_settings={"format": FORMAT, "source": source_name},
        space_ref=space.ref,
        subject_kind=SubjectKind.NETWORK,
        values=values,
    )
    return CsvImport(
        summary=summary,
        source_name=source_name,
        rows=len(rows),
        batch_sizes=sorted({r.batch_size for r in rows}),
    )
