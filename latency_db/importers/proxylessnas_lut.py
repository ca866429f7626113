"""Import a published per-op lookup table in the ProxylessNAS / Once-for-All YAML format.

ProxylessNAS (Cai et al., ICLR 2019) and Once-for-All (Cai et al., ICLR 2020) publish tables
that map op keys, in the key format of design section 3, to ``{count, mean, var}`` in ms:

    expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:3-stride:2-idskip:0:
      count: 164
      mean: 6.24
      var: 0.073

The ``mean`` becomes the measurement; ``count`` and ``var`` go to its environment. Only the
keys of the chosen space instance are stored; the others are counted as extra.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy.orm import Session

from latency_db.errors import ValidationError
from latency_db.importers.common import (
    ImportedValue,
    ImportSummary,
    check_latency,
    write_import,
)
from latency_db.models import DeviceKind, SubjectKind
from latency_db.repositories.common import check_positive_int
from latency_db.spaces import SearchSpace

FORMAT = "proxylessnas"
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*-input:(\d+)x(\d+)x(\d+)-output:[0-9x]+(-[a-z]+:\d+)*$")


@dataclass(frozen=True)
class LutEntry:
    """One published op: its input (height, width, channels) and statistics in ms."""

    key: str
    input_hwc: tuple[int, int, int]
    mean_ms: float
    count: int | None
    var: float | None


@dataclass(frozen=True)
class Coverage:
    """How the table covers a space instance's op keys."""

    expected: int
    found: int
    missing: list[str]
    extra: int
    complete: bool


@dataclass(frozen=True)
class LutImport:
    summary: ImportSummary
    batch_size: int
    coverage: Coverage


def parse_lut(text: str) -> dict[str, LutEntry]:
    """Every entry of the table, validated; ``ValidationError`` names the first bad key."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValidationError(f"lookup table is not valid YAML: {err}") from None
    if not isinstance(data, dict) or not data:
        raise ValidationError("lookup table must be a YAML mapping: op key -> {count, mean, var}")
    return {str(key): _entry(key, value) for key, value in data.items()}


def _entry(key: object, value: object) -> LutEntry:
    where = f"key {key!r}"
    if not isinstance(key, str) or (match := _KEY.match(key)) is None:
        raise ValidationError(f"{where}: not an op key like Conv-input:HxWxC-output:HxWxC")
    if not isinstance(value, dict) or "mean" not in value:
        raise ValidationError(f"{where}: expected a mapping with a 'mean' (and count, var)")
    h, w, c = (int(g) for g in match.groups()[:3])
    return LutEntry(
        key=key,
        input_hwc=(h, w, c),
        mean_ms=check_latency(value["mean"], where),
        count=_count(value.get("count"), where),
        var=_var(value.get("var"), where),
    )


def _count(value: Any, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{where}: count {value!r} must be a positive integer")
    return value


def _var(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{where}: var {value!r} is not a number")
    if not math.isfinite(value) or value < 0:
        raise ValidationError(f"{where}: var {value!r} must be finite and non-negative")
    return float(value)


def coverage(space: SearchSpace, keys: Collection[str]) -> Coverage:
    """Which op keys of ``space`` are among ``keys``, and how many of ``keys`` are not."""
    expected = space.all_op_keys()
    missing = [k for k in expected if k not in keys]
    return Coverage(
        expected=len(expected),
        found=len(expected) - len(missing),
        missing=missing,
        extra=len(set(keys) - set(expected)),
        complete=not missing,
    )


def import_lut(
    *,
    session: Session,
    text: str,
    device_name: str,
    space: SearchSpace,
    batch_size: int = 1,
    device_kind: DeviceKind | str = DeviceKind.PHONE,
    source_name: str = "",
) -> LutImport:
    """Validate the whole table, then store one ``op`` measurement per key of ``space``."""
    check_positive_int(batch_size, "batch_size")
    entries = parse_lut(text)
    cover = coverage(space, entries)
    if not cover.found:
        raise ValidationError(
            f"the table has none of the {cover.expected} op keys of {space.ref}: "
            "check the space, resolution and width"
        )
    wanted = set(space.all_op_keys())
    values = [
        ImportedValue(
            subject=entry.key,
            batch_size=batch_size,
            input_shape=(batch_size, entry.input_hwc[2], *entry.input_hwc[:2]),
            latency_ms=entry.mean_ms,
            details={"count": entry.count, "var": entry.var},
        )
        for key, entry in sorted(entries.items())
        if key in wanted
    ]
    summary = write_import(
        session=session,
        text=text,
        source={"format": FORMAT, "name": source_name},
        device_name=device_name,
        device_kind=device_kind,
        runtime_settings={"format": FORMAT, "batch_size": batch_size},
        space_ref=space.ref,
        subject_kind=SubjectKind.OP,
        values=values,
    )
    return LutImport(summary=summary, batch_size=batch_size, coverage=cover)
