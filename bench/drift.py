"""Drift on this CPU: the sentinel's speed index and what normalizing by it buys a predictor.

Through a real API server, worker and ort-cpu agent (the embedded stack, sentinel on:
``--sentinel-every-jobs`` / ``--sentinel-every-minutes``): builds the ProxylessNAS lookup
table (op keys measured only unclean measured again, ``--remeasure-rounds``, 2), then measures
``--networks`` random architectures in a random order spread over at least
``--min-minutes`` (ten blocks, the last started ``--min-minutes`` after the first),
so that the device's speed changes between them. Every measurement carries the speed index
of its time; the series comes from ``GET /v1/devices/{id}/health``.

Each predictor kind (``lut``, ``linear``, ``mlp``, ``gbdt``) is fitted on the clean networks' raw
medians and the raw table, and again on drift-normalized ones, as the database normalizes
them (each latency x the speed index of its time, bracketed by the sentinels around it: at
the reference speed; ``latency_db.repositories.speed``). The table takes op keys that stayed
``unstable`` through the re-measuring rounds (their medians, counted in ``lut_keys``), never
``disturbed`` ones. Figures: ``within5_pct`` and ``within5_normalized_pct`` of the best kind
on one seeded holdout split (share within +-5 %; goal >= 90), the same share over
``--cv-repeats`` repeated 5-fold cross-validations (``within5_cv_pct``,
``within5_normalized_cv_pct``: every network predicted by a model that did not see it, the
mean over repeats, far less at the mercy of one split of a dozen networks),
``speed_index_range`` [min, max] of the stable sentinels, and per kind every row. The
networks' measurements (architecture, median, its interval, stored and bracketed speed
index, time, verdict, holdout or not), both tables and the sentinel series are written to
``DATA_DIR/networks.json`` for a look at where the error comes from.

    python bench/drift.py [--networks 60] [--min-minutes 30] [--resolution 224] [--batch 32]

Smoke run: ``--networks 10 --min-minutes 0 --resolution 64 --batch 2 --include-unstable``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
from collections import Counter
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
KINDS = ("lut", "linear", "mlp", "gbdt")
BLOCKS = 10
CV_FOLDS = 5


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


def _fit_predict(
    kind: str, table: Any, x: np.ndarray, y: np.ndarray, train: Any, held: Any
) -> np.ndarray:
    model = PREDICTOR_KINDS[kind].fit(
        ArchitectureFeatures.of_lut(table), x[train], y[train], seed=0
    )
    return model.predict(x[held])[0]


def _within5(
    table: Any, x: np.ndarray, y: np.ndarray, train: Any, held: Any
) -> dict[str, float | None]:
    """Per kind, the holdout share within +-5 % on one split."""
    return {
        kind: holdout_metrics(_fit_predict(kind, table, x, y, train, held), y[held])["within5_pct"]
        for kind in KINDS
    }


def _within5_cv(table: Any, x: np.ndarray, y: np.ndarray, repeats: int) -> dict[str, float]:
    """Per kind, the share within +-5 % of out-of-fold predictions of every network, the mean
    over ``repeats`` seeded 5-fold splits."""
    scores: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for repeat in range(repeats):
        folds = np.array_split(np.random.default_rng(repeat).permutation(y.size), CV_FOLDS)
        for kind in KINDS:
            predicted = np.empty_like(y)
            for fold in folds:
                train = np.setdiff1d(np.arange(y.size), fold)
                predicted[fold] = _fit_predict(kind, table, x, y, train, fold)
            scores[kind].append(float(holdout_metrics(predicted, y)["within5_pct"] or 0.0))
    return {kind: round(float(np.mean(s)), 1) for kind, s in scores.items()}


def _dump(
    path: Path,
    archs: list[str],
    rows: list[dict[str, Any]],
    indices: list[float | None],
    held: set[int],
    table: dict[str, Any],
    health: Any,
) -> None:
    keep = ("median_ms", "median_ci_low_ms", "median_ci_high_ms", "speed_index", "created_at")
    networks = [
        {"architecture": a, "holdout": i in held, "verdict": r["verdict"]}
        | {k: r[k] for k in keep}
        | {"bracketed_speed_index": index}
        for i, (a, r, index) in enumerate(zip(archs, rows, indices, strict=True))
    ]
    entries = {
        k: {f: e[f] for f in ("median_ms", "measured_median_ms", "speed_index", "verdict")}
        for k, e in table["entries"].items()
    }
    path.write_text(json.dumps({"networks": networks, "lut": entries, "health": health}, indent=1))


def _report(
    args: argparse.Namespace,
    space: Any,
    archs: list[str],
    rows: list[dict[str, Any]],
    normalized_table: dict[str, Any],
    health: dict[str, Any],
    minutes: float,
) -> dict[str, Any]:
    """Fit every kind on the raw and the normalized data; the figures, and the dump."""
    indices = _bracketed_indices(args.data_dir, rows)
    accepted = {"clean", "unstable"} if args.include_unstable else {"clean"}
    clean = [i for i, r in enumerate(rows) if r["verdict"] in accepted]
    if len(clean) < 2 * CV_FOLDS:
        raise SystemExit(
            f"only {len(clean)} of {len(rows)} networks measured {' or '.join(sorted(accepted))}"
            f" (verdicts: {dict(Counter(r['verdict'] for r in rows))}): run on a quiet machine"
        )
    x = encode_architectures(space, [archs[i] for i in clean])
    raw_y = np.asarray([rows[i]["median_ms"] for i in clean], dtype=float)
    norm_y = raw_y * np.asarray([indices[i] or 1.0 for i in clean])
    split = np.random.default_rng(args.seed + 1).permutation(len(clean))
    n_held = max(1, round(args.holdout * len(clean)))
    held, train = np.sort(split[:n_held]), np.sort(split[n_held:])
    entries = normalized_table["entries"]
    raw_table = build_layer_table(space, {k: e["measured_median_ms"] for k, e in entries.items()})
    norm_table = build_layer_table(space, {k: e["median_ms"] for k, e in entries.items()})
    raw = _within5(raw_table, x, raw_y, train, held)
    norm = _within5(norm_table, x, norm_y, train, held)
    raw_cv = _within5_cv(raw_table, x, raw_y, args.cv_repeats)
    norm_cv = _within5_cv(norm_table, x, norm_y, args.cv_repeats)
    held_ids = {clean[i] for i in held.tolist()}
    _dump(args.data_dir / "networks.json", archs, rows, indices, held_ids, normalized_table, health)
    stable = [p["speed_index"] for p in health["points"] if not p["unstable"]]
    best = max(KINDS, key=lambda k: raw[k] or 0.0)
    best_normalized = max(KINDS, key=lambda k: norm[k] or 0.0)
    best_cv = max(KINDS, key=lambda k: raw_cv[k])
    best_normalized_cv = max(KINDS, key=lambda k: norm_cv[k])
    for kind in KINDS:
        print(
            f"{kind:7s} within5 raw {raw[kind]}  normalized {norm[kind]}  "
            f"cv raw {raw_cv[kind]}  cv normalized {norm_cv[kind]}"
        )
    result = {
        "space": space.ref,
        "batch_size": args.batch,
        "networks": len(archs),
        "network_verdicts": dict(Counter(r["verdict"] for r in rows)),
        "lut_keys": dict(Counter(e["verdict"] for e in entries.values())),
        "n_train": int(train.size),
        "n_holdout": int(held.size),
        "minutes": round(minutes, 1),
        "sentinels": len(health["points"]),
        "stable_sentinels": len(stable),
        "speed_index_range": [round(min(stable), 4), round(max(stable), 4)] if stable else None,
        "networks_with_index": sum(r["speed_index"] is not None for r in rows),
        "best_kind": best,
        "within5_pct": raw[best],
        "best_normalized_kind": best_normalized,
        "within5_normalized_pct": norm[best_normalized],
        "cv_repeats": args.cv_repeats,
        "best_cv_kind": best_cv,
        "within5_cv_pct": raw_cv[best_cv],
        "best_normalized_cv_kind": best_normalized_cv,
        "within5_normalized_cv_pct": norm_cv[best_normalized_cv],
        "per_kind": {
            k: {
                "within5_pct": raw[k],
                "within5_normalized_pct": norm[k],
                "within5_cv_pct": raw_cv[k],
                "within5_normalized_cv_pct": norm_cv[k],
            }
            for k in KINDS
        },
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=60)
    parser.add_argument("--min-minutes", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cv-repeats", type=int, default=5)
    parser.add_argument(
        "--include-unstable",
        action="store_true",
        help="fit on unstable networks too (a smoke run's tiny networks are rarely clean)",
    )
    parser.add_argument(
        "--sentinel-every-jobs",
        type=int,
        default=3,
        help="a shared VM's speed moves within minutes: every 10 jobs left a 2.5 %% residual "
        "correlated in time (docs/results.md, tenth session)",
    )
    parser.add_argument("--sentinel-every-minutes", type=float, default=5.0)
    parser.add_argument(
        "--remeasure-rounds", type=int, default=2, help="rounds for op keys measured unclean"
    )
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
            api,
            target,
            space,
            timeout_s=3600,
            export_first=True,
            remeasure_rounds=args.remeasure_rounds,
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
        normalized_table = api.get(
            "/lookup-tables", **query, normalize_drift=True, include=["unstable"]
        )
        health = api.get(f"/devices/{device}/health", runtime_config_id=query["runtime_config_id"])
    rows = [measured[i] for i in range(len(archs))]
    minutes = (time.monotonic() - started) / 60.0
    print(json.dumps(_report(args, space, archs, rows, normalized_table, health, minutes)))


if __name__ == "__main__":
    main()
