"""``hwnas demo``: the main job end to end on embedded defaults, with real processes.

It starts the API (SQLite under the data directory), a worker (embedded filesystem broker)
and a local ``ort-cpu`` agent; enrolls this CPU as a device; has the worker export
architectures of the ProxylessNAS space and the agent measure them at batch 32; builds the
device's lookup table; prints measured and LUT latencies; submits a search with a budget
below the median random architecture, watches it, prints its result (architecture, measured
latency against the budget, accuracy), writes its Pareto plot; and stops everything.
"""

from __future__ import annotations

import secrets
import statistics
from dataclasses import dataclass
from typing import Any

from latency_db.settings import Settings
from latency_db.spaces import SearchSpace, get_space
from services.cli.api_client import ApiClient
from services.cli.output import console, emit_mapping, emit_table
from services.cli.search_commands import print_result, watch_search
from services.cli.stack import running_stack
from services.cli.workflows import Target, build_lookup_table, lut_latencies, measure_architectures

BUDGET_BELOW_MEDIAN = 0.9  # the search's budget, relative to the median random architecture


@dataclass(frozen=True)
class DemoOptions:
    resolution: int = 224
    batch_size: int = 32
    threads: int = 2
    seed: int = 0
    lut_resolution: int | None = 224  # None: no lookup table (and no search)
    timeout_s: float = 1800.0
    estimator: str = "proxyless"
    search_steps: int = 60
    proxy_resolution: int = 32


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
        if lut_ms:
            budget = _budget(api, table, space, options.seed, rows[0])
            _search(api, settings, device_id, budget, options)
    console.print(f"database: {settings.effective_database_url}")


def _budget(
    api: ApiClient, table: dict[str, Any], space: SearchSpace, seed: int, random_row: dict[str, Any]
) -> float:
    """Below the median random architecture: the median LUT sum of 200 random architectures,
    scaled by the measured/LUT ratio of the random one measured, times 0.9."""
    samples = [space.format(space.sample(10_000 + seed + i)) for i in range(200)]
    lut_sums = [ms for ms in lut_latencies(api, table, samples).values() if ms is not None]
    median_ms = statistics.median(lut_sums) / random_row["LUT / measured"]
    console.print(
        f"median random architecture: {median_ms:.1f} ms (LUT sums of 200, scaled to this "
        f"device); budget {BUDGET_BELOW_MEDIAN:g} x that"
    )
    return round(BUDGET_BELOW_MEDIAN * median_ms, 1)


def _search(
    api: ApiClient, settings: Settings, device_id: str, budget: float, options: DemoOptions
) -> None:
    config = {
        "proxy_resolution": options.proxy_resolution,
        "steps": options.search_steps,
        "warmup_steps": options.search_steps // 5,
        "segment_steps": 20,
        "batch_size": 32,
        "finetune_steps": 40,
        "seed": options.seed,
        "deploy_resolution": options.resolution,
        "deploy_batch": options.batch_size,
    }
    search = api.post(
        "/searches",
        {
            "device_id": device_id,
            "budget_ms": budget,
            "estimator": options.estimator,
            "config": config,
        },
    )
    console.print(f"search {search['id']}: {options.estimator}, budget {budget} ms")
    final = watch_search(api, search["id"], options.timeout_s)
    if final["state"] != "succeeded":
        console.print(f"[red]search {final['state']}[/]: {final.get('error')}")
        return
    print_result(api, search["id"], as_json=False)
    plot = settings.data_dir / f"pareto-{search['id']}.png"
    plot.write_bytes(api.get_bytes(f"/searches/{search['id']}/pareto.png"))
    console.print(f"Pareto plot: {plot}")


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
