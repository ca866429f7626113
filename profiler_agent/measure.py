"""One measurement of a local model file: prepare once, time per the protocol, profile.

Shared by ``hwnas-agent measure`` and the server loop, so both report the same record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from profiler_agent.backends.base import Backend, BackendSettings
from profiler_agent.protocol import MeasurementPolicy, measure, profile


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def measurement_record(
    backend: Backend[Any],
    prepared: Any,
    *,
    policy: MeasurementPolicy,
    with_profile: bool,
    check: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Times, statistics, environment and (optionally) the per-layer profile, as JSON data."""
    result = measure(backend, prepared, policy, check)
    record: dict[str, Any] = {
        "backend": backend.name,
        "model_sha256": file_sha256(prepared.model_path),
        "input_shape": list(prepared.input_shape),
        "runtime_settings": prepared.settings,
        **result.to_dict(),
        "environment": backend.describe_environment(),
    }
    if with_profile:
        check()
        record["layer_profile"] = profile(backend, prepared, policy).to_dict()
    return record


def measure_file(
    backend: Backend[Any],
    model_path: Path,
    input_shape: Sequence[int] | None,
    settings: BackendSettings,
    *,
    policy: MeasurementPolicy,
    with_profile: bool,
) -> dict[str, Any]:
    """Prepare ``model_path``, measure it, release it."""
    prepared = backend.prepare(model_path, input_shape, settings)
    try:
        return measurement_record(backend, prepared, policy=policy, with_profile=with_profile)
    finally:
        backend.release(prepared)
