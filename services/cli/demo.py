"""``hwnas demo``: the main job end to end on embedded defaults, with real processes.

It starts the API (SQLite under the data directory), a worker (embedded filesystem broker)
and a local ``ort-cpu`` agent; enrolls this CPU as a device; has the worker export
architectures of the ProxylessNAS space and the agent measure them at batch 32; builds the
device's lookup table; prints measured and LUT latencies; and stops everything.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from latency_db.settings import Settings
from latency_db.spaces import SearchSpace, get_space
from services.cli.output import console, emit_mapping, emit_table
from services.cli.stack import running_stack
from services.cli.workflows import Target, build_lookup_table, lut_latencies, measure_architectures


@dataclass(frozen=True)
class DemoOptions:
    resolution: int = 224
    batch_size: int = 32
    threads: int = 2
    seed: int = 0
    lut_resolution: int | None = 224  # None: no lookup table
    timeout_s: float = 1800.0


def demo_architectures(space: SearchSpace, seed: int) -> dict[str, str]:
    """A seeded random architecture and the two uniform extremes of the space."""
    uniform = {t: " ".join([t] * len(space.layers)) for t in ("k3_e6", "k7_e6")}
    return {
        f"random (seed {seed})": space.format(space.sample(seed)),
        **{f"all {t}": arch for t, arch in uniform.items()},
    }


def run_demo(settings: Settings, options: DemoOptions) -> None:
    space = get_space("proxyless", options.resolution)
    emit_mapping("search space", space.describe())
    archs = demo_architectures(space, options.seed)
    emit_table(
        "architectures",
        [{"name": k, "architecture": v} for k, v in archs.items()],
        ["name", "architecture"],
    )
    token = settings.admin_token or secrets.token_urlsafe(24)
    with running_stack(settings, token, options.threads) as (api, device_id):
        target = Target(
            device_id,
            {"backend": "ort-cpu", "settings": {"threads": options.threads}},
            options.batch_size,
        )
        measured = measure_architectures(
            api, target, space, list(archs.values()), options.timeout_s, export_first=True
        )
        lut_ms: dict[str, float | None] = {}
        if options.lut_resolution is not None:
            lut_space = get_space("proxyless", options.lut_resolution)
            table = build_lookup_table(api, target, lut_space, options.timeout_s, export_first=True)
            if lut_space == space:
                lut_ms = lut_latencies(api, table, list(archs.values()))
    rows = [
        _row(name, m, lut_ms.get(arch))
        for (name, arch), m in zip(archs.items(), measured, strict=True)
    ]
    emit_table(
        f"measured on this CPU: ONNX Runtime (ort-cpu, {options.threads} threads), "
        f"batch {options.batch_size}, {space.resolution}x{space.resolution}",
        rows,
        ["architecture", "median ms", "CV", "runs", "LUT ms", "LUT / measured"],
    )
    console.print(f"database: {settings.effective_database_url}")


def _row(name: str, measurement: dict[str, Any], lut: float | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "architecture": name,
        "median ms": measurement["median_ms"],
        "CV": measurement["cv"],
        "runs": len(measurement["times_ms"]),
    }
    if lut is not None:
        row["LUT ms"] = lut
        row["LUT / measured"] = lut / measurement["median_ms"]
    return row
