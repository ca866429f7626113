"""The write step shared by the importers: one device, one runtime config, new rows only.

Published numbers get the ``published`` backend; its settings name the source format, and
their verdict is ``clean`` with reason "imported" (no evidence exists for them). Every
row carries an idempotency key derived from the file's SHA-256, so importing the same file
again into the same place stores nothing twice.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from latency_db.errors import ValidationError
from latency_db.models import DeviceKind, MeasurementSource, SubjectKind
from latency_db.repositories import devices as device_repo
from latency_db.repositories import measurements as measurement_repo
from latency_db.repositories import runtime_configs as runtime_repo
from latency_db.verdicts import IMPORTED_VERDICT

PUBLISHED_BACKEND = "published"


@dataclass(frozen=True)
class ImportedValue:
    """One published latency: its subject (op key or architecture) and how it was run."""

    subject: str
    batch_size: int
    input_shape: tuple[int, ...]
    latency_ms: float
    details: dict[str, Any]  # recorded in the measurement's environment


@dataclass(frozen=True)
class ImportSummary:
    device_id: str
    device_name: str
    device_created: bool
    runtime_config_id: str
    space_ref: str
    sha256: str
    stored: int
    already_stored: int


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_latency(value: object, where: str) -> float:
    """A finite, positive number of milliseconds, or ``ValidationError`` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{where}: latency {value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(f"{where}: latency {value!r} is not finite")
    if number <= 0:
        raise ValidationError(f"{where}: latency {value!r} must be positive")
    return number


def write_import(
    *,
    session: Session,
    text: str,
    source: dict[str, Any],
    device_name: str,
    device_kind: DeviceKind | str,
    runtime_settings: dict[str, Any],
    space_ref: str,
    subject_kind: SubjectKind,
    values: Sequence[ImportedValue],
) -> ImportSummary:
    """Store ``values`` (already validated) as imported measurements of the device,
    creating the device when it does not exist; rows stored by an earlier import of the
    same file are skipped."""
    digest = sha256_text(text)
    device, created = device_repo.get_or_create_device(
        session=session, name=device_name, kind=device_kind
    )
    runtime = runtime_repo.get_or_create_runtime_config(
        session=session, backend=PUBLISHED_BACKEND, settings=runtime_settings
    )
    prefix = f"{digest}\n{device.id}\n{runtime.id}\n{space_ref}\n{subject_kind.value}"
    keys = [
        "import:" + sha256_text(f"{prefix}\n{i}\n{v.batch_size}\n{v.subject}")
        for i, v in enumerate(values)
    ]
    done = measurement_repo.existing_idempotency_keys(session=session, keys=keys)
    environment_source = {**source, "sha256": digest}
    for key, value in zip(keys, values, strict=True):
        if key in done:
            continue
        measurement_repo.add_measurement(
            session=session,
            device=device,
            runtime_config=runtime,
            subject_kind=subject_kind,
            subject=value.subject,
            batch_size=value.batch_size,
            input_shape=value.input_shape,
            times_ms=[value.latency_ms],
            environment={"source": environment_source, **value.details},
            source=MeasurementSource.IMPORT,
            space_ref=space_ref,
            idempotency_key=key,
            verdict=IMPORTED_VERDICT,
        )
    return ImportSummary(
        device_id=device.id,
        device_name=device.name,
        device_created=created,
        runtime_config_id=runtime.id,
        space_ref=space_ref,
        sha256=digest,
        stored=len(values) - len(done),
        already_stored=len(done),
    )
