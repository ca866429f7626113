"""Printing results: rich tables for people, one JSON object for scripts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


def emit_json(payload: Any) -> None:
    print(json.dumps(payload, default=str, sort_keys=True))


def emit_table(title: str, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """A table whose identifiers (``id``, ``*_id``, ``sha256``) are never cut or wrapped,
    so they can be copied whole."""
    table = Table(title=title)
    for column in columns:
        if _is_identifier(column):
            widest = max((len(_cell(row.get(column))) for row in rows), default=0)
            table.add_column(column, no_wrap=True, min_width=max(widest, len(column)))
        else:
            table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    console.print(table)


def emit_mapping(title: str, mapping: Mapping[str, Any]) -> None:
    emit_table(title, [{"field": k, "value": v} for k, v in mapping.items()], ["field", "value"])


def _is_identifier(column: str) -> bool:
    return column in ("id", "sha256") or column.endswith(("_id", " id", "sha256"))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
