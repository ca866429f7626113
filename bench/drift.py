"""Drift on this CPU: the sentinel's speed index and what normalizing by it buys a predictor.

Through a real API server, worker and ort-cpu agent (the embedded stack, sentinel on:
``--sentinel-every-jobs`` / ``--sentinel-every-minutes``): builds the ProxylessNAS lookup
table (op keys measured only unclean measured again, up to two rounds), then measures
``--networks`` random architectures in a random order spread over at least
``--min-minutes`` (ten blocks, the last started ``--min-minutes`` after the first),
so that the device's speed changes between them. Every measurement carries the speed index
of its time; the series comes from ``GET /v1/devices/{id}/health``.

On one seeded holdout split, each predictor kind (``lut``, ``linear``, ``mlp``) is fitted on
the raw medians and the raw table, and again on drift-normalized ones, as the database
normalizes them (each latency x the speed index of its time, bracketed by the sentinels
around it: at the reference speed; ``latency_db.repositories.speed``). Figures: ``within5_pct`` and
``within5_normalized_pct`` of the best kind (holdout share within +-5 %; goal >= 90),
``speed_index_range`` [min, max] of the stable sentinels, and per kind both rows. The
networks' measurements (architecture, median, its interval, stored and bracketed speed
index, time, verdict, holdout or not) and the sentinel series are written to
``DATA_DIR/networks.json`` for a look at where the error comes from.

    python bench/drift.py [--networks 60] [--min-minutes 30] [--resolution 224] [--batch 32]

Smoke run: ``--networks 4 --min-minutes 0 --resolution 64 --batch 2``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from latency_db.db import make_engine, make_session_factory, session_scope
from latency_db.models import Measurement
from latency_db.predictors import (
    PREDICTOR_KINDS,
    ArchitectureFeatures,
    encode_architectures,
    holdout_metrics,
)
from latency_db.predictors import layer_table as build_layer_table
from latency_db.repositories.speed import speed_indices_at
from latency_db.settings import Settings
from latency_db.spaces import get_space
from services.cli.stack import running_stack
from services.cli.workflows import Target, build_lookup_table, measure_architectures

DATA_DIR = Path(__file__).resolve().parent.parent / "bench-output" / "drift"
KINDS = ("lut", "linear", "mlp")
BLOCKS = 10


def _bracketed_indices(data_dir: Path, rows: list[dict[str, Any]]) -> list[float | None]:
    """The speed index of each measurement's time as the database normalizes with it
    (bracketed by the sentinels around it), read from the embedded database."""
    engine = make_engine(Settings(data_dir=data_dir))
    try:
        with session_scope(make_session_factory(engine)) as session:
            ids = [r["id"] for r in rows]
            stored = {
                m.id: m for m in session.scalars(select(Measurement).where(Measurement.id.in_(ids)))
            }
            return speed_indices_at(session=session, rows=[stored[i] for i in ids])
    finally:
        engine.dispose()


def _within5(
    lut: dict[str, float], space: Any, x: np.ndarray, y: np.ndarray, train: Any, held: Any
) -> dict[str, float | None]:
    table = build_layer_table(space, lut)
    scores: dict[str, float | None] = {}
    for kind in KINDS:
        model = PREDICTOR_KINDS[kind].fit(
            ArchitectureFeatures.of_lut(table), x[train], y[train], seed=0
        )
        predicted, _ = model.predict(x[held])
        scores[kind] = holdout_metrics(predicted, y[held])["within5_pct"]
    return scores


def _dump(
    path: Path,
    archs: list[str],
    rows: list[dict[str, Any]],
    indices: list[float | None],
    held: set[int],
    health: Any,
) -> None:
    keep = ("median_ms", "median_ci_low_ms", "median_ci_high_ms", "speed_index", "created_at")
    networks = [
        {"architecture": a, "holdout": i in held, "verdict": r["verdict"]}
        | {k: r[k] for k in keep}
        | {"bracketed_speed_index": index}
        for i, (a, r, index) in enumerate(zip(archs, rows, indices, strict=True))
    ]
    path.write_text(json.dumps({"networks": networks, "health": health}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=60)
    parser.add_argument("--min-minutes", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sentinel-every-jobs", type=int, default=10)
    parser.add_argument("--sentinel-every-minutes", type=float, default=5.0)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="embedded database")
    args = parser.parse_args()
    # The stack's API process reads its sentinel schedule from the environment.
    os.environ["HWNAS_SENTINEL"] = "true"
    os.environ["HWNAS_SENTINEL_EVERY_JOBS"] = str(args.sentinel_every_jobs)
    os.environ["HWNAS_SENTINEL_EVERY_MINUTES"] = str(args.sentinel_every_minutes)
    space = get_space("proxyless", args.resolution)
    rng = np.random.default_rng(args.seed)
    archs = [space.format(space.sample(int(s))) for s in rng.integers(0, 2**31, args.networks)]
    runtime = {"backend": "ort-cpu", "settings": {"threads": args.threads}}
    with running_stack(
        Settings(data_dir=args.data_dir), secrets.token_urlsafe(24), args.threads
    ) as (
        api,
        device,
    ):
        target = Target(device, runtime, args.batch)
        lut_table = build_lookup_table(
            api, target, space, timeout_s=3600, export_first=True, remeasure_rounds=2
        )
        query = lut_table["query"]
        order = rng.permutation(len(archs))
        blocks = [b for b in np.array_split(order, min(BLOCKS, len(archs))) if b.size]
        # The last block starts --min-minutes after the first: the networks span that long.
        slot_s = 60.0 * args.min_minutes / max(1, len(blocks) - 1)
        started = time.monotonic()
        measured: dict[int, dict[str, Any]] = {}
        for i, block in enumerate(blocks):
            time.sleep(max(0.0, started + i * slot_s - time.monotonic()))
            rows = measure_architectures(
                api, target, space, [archs[j] for j in block], 6 * 3600, export_first=True
            )
            measured.update(zip((int(j) for j in block), rows, strict=True))
        normalized_table = api.get("/lookup-tables", **query, normalize_drift=True)
        health = api.get(f"/devices/{device}/health", runtime_config_id=query["runtime_config_id"])
    rows = [measured[i] for i in range(len(archs))]
    x = encode_architectures(space, archs)
    raw_y = np.asarray([r["median_ms"] for r in rows], dtype=float)
    split = np.random.default_rng(args.seed + 1).permutation(len(archs))
    n_held = max(1, round(args.holdout * len(archs)))
    held, train = np.sort(split[:n_held]), np.sort(split[n_held:])
    raw_lut = {k: e["measured_median_ms"] for k, e in normalized_table["entries"].items()}
    norm_lut = {k: e["median_ms"] for k, e in normalized_table["entries"].items()}
    indices = _bracketed_indices(args.data_dir, rows)
    norm_y = np.asarray([y * (i or 1.0) for y, i in zip(raw_y, indices, strict=True)])
    raw = _within5(raw_lut, space, x, raw_y, train, held)
    norm = _within5(norm_lut, space, x, norm_y, train, held)
    _dump(args.data_dir / "networks.json", archs, rows, indices, set(held.tolist()), health)
    stable = [p["speed_index"] for p in health["points"] if not p["unstable"]]
    best = max(KINDS, key=lambda k: raw[k] or 0.0)
    best_normalized = max(KINDS, key=lambda k: norm[k] or 0.0)
    for kind in KINDS:
        print(f"{kind:7s} within5 raw {raw[kind]}  normalized {norm[kind]}")
    result = {
        "space": space.ref,
        "batch_size": args.batch,
        "networks": len(archs),
        "n_train": int(train.size),
        "n_holdout": int(held.size),
        "minutes": round((time.monotonic() - started) / 60.0, 1),
        "sentinels": len(health["points"]),
        "stable_sentinels": len(stable),
        "speed_index_range": [round(min(stable), 4), round(max(stable), 4)] if stable else None,
        "networks_with_index": sum(r["speed_index"] is not None for r in rows),
        "best_kind": best,
        "within5_pct": raw[best],
        "best_normalized_kind": best_normalized,
        "within5_normalized_pct": norm[best_normalized],
        "per_kind": {k: {"within5_pct": raw[k], "within5_normalized_pct": norm[k]} for k in KINDS},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
