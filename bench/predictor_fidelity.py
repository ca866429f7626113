"""Predictor fidelity on this CPU (ort-cpu, ProxylessNAS space, 224, batch 32).

Measures ``--n`` random architectures through a real API server, worker and agent (kept in
``bench-output/ort-cpu-proxyless``, an embedded database shared with lut_vs_network.py, so
reruns measure only what is missing), fits ``lut``, ``linear`` and ``mlp`` on a seeded 80%
with the service's own fitting code, and reports holdout MAPE, share within +-5% / +-10% and
Kendall tau. The ``lut`` row is the baseline of the same run.

Learning curve: within +-10% on the same holdout after 50, 100, 200 training architectures,
chosen at random or actively (the MLP ensemble's most uncertain first, in rounds of 10 from
the measured training pool: pool-based active learning, simulated on measured data).

``predict_1000_ms``: one vectorized call for 1000 architectures (mean of 5), against a
per-architecture Python loop over the LUT in the same run.

    python bench/predictor_fidelity.py [--n 300] [--threads 2] [--resolution 224] [--reruns 1]

``--reruns 0`` skips the protocol's re-run of an unstable timed phase (it still flags it),
which halves the cost per network on a noisy machine; use its own ``--data-dir``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from latency_db.predictors import (
    PREDICTOR_KINDS,
    ArchitectureFeatures,
    encode_architectures,
    holdout_metrics,
    layer_table,
)
from latency_db.predictors.encoding import FloatArray, IntArray, LayerTable
from latency_db.settings import Settings
from latency_db.spaces import SearchSpace, get_space
from services.cli.stack import running_stack
from services.cli.workflows import Target, build_lookup_table, measure_missing

DATA_DIR = Path(__file__).resolve().parent.parent / "bench-output" / "ort-cpu-proxyless"
KINDS = ("lut", "linear", "mlp")
REPORTED = ("mape_pct", "within5_pct", "within10_pct", "kendall_tau")
ACTIVE_START, ACTIVE_ROUND = 20, 10


def _fit_eval(
    kind: str, table: LayerTable, x: IntArray, y: FloatArray, train: IntArray, held: IntArray
) -> dict[str, Any]:
    model = PREDICTOR_KINDS[kind].fit(
        ArchitectureFeatures.of_lut(table), x[train], y[train], seed=0
    )
    predicted, _ = model.predict(x[held])
    return holdout_metrics(predicted, y[held])


def _active_order(
    table: LayerTable, x: IntArray, y: FloatArray, pool: IntArray, n: int
) -> IntArray:
    """Training positions chosen by ensemble disagreement, ``ACTIVE_ROUND`` at a time."""
    rng = np.random.default_rng(1)
    chosen = list(rng.choice(pool, size=ACTIVE_START, replace=False))
    while len(chosen) < n:
        rest = np.setdiff1d(pool, chosen)
        model = PREDICTOR_KINDS["mlp"].fit(
            ArchitectureFeatures.of_lut(table), x[chosen], y[chosen], seed=0
        )
        _, std = model.predict(x[rest])
        take = min(ACTIVE_ROUND, n - len(chosen))
        chosen += list(rest[np.argsort(-std, kind="stable")[:take]])
    return np.asarray(chosen)


def _learning_curve(
    table: LayerTable,
    x: IntArray,
    y: FloatArray,
    train: IntArray,
    held: IntArray,
    sizes: Sequence[int],
) -> dict[str, dict[str, float | None]]:
    random_order = np.random.default_rng(1).permutation(train)
    active = _active_order(table, x, y, train, max(sizes))
    curve: dict[str, dict[str, float | None]] = {}
    for size in sizes:
        curve[str(size)] = {
            f"{name}_within10_pct": _fit_eval("mlp", table, x, y, order[:size], held)[
                "within10_pct"
            ]
            for name, order in (("random", random_order), ("active", active))
        }
    return curve


def _predict_timing(
    space: SearchSpace, table: LayerTable, lut: dict[str, float]
) -> dict[str, float]:
    archs = [space.format(space.sample(10_000 + i)) for i in range(1000)]
    x = encode_architectures(space, archs)
    model = PREDICTOR_KINDS["lut"].fit(
        ArchitectureFeatures.of_lut(table), x[:0], np.zeros(0), seed=0
    )
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        model.predict(encode_architectures(space, archs))
        timings.append(time.perf_counter() - start)
    start = time.perf_counter()
    for arch in archs:
        sum(lut[k] for k in space.op_keys(space.parse(arch)))
    loop_s = time.perf_counter() - start
    vectorized_s = float(np.mean(timings))
    return {
        "predict_1000_ms": round(1000 * vectorized_s, 3),
        "python_loop_1000_ms": round(1000 * loop_s, 3),
        "speedup_vs_loop": round(loop_s / vectorized_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--holdout", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--curve", default="50,100,200", help="training sizes")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="embedded database")
    parser.add_argument("--reruns", type=int, default=1, help="agent re-runs while CV > 5%%")
    args = parser.parse_args()
    space = get_space("proxyless", args.resolution)
    archs = [space.format(space.sample(seed)) for seed in range(args.n)]
    runtime = {"backend": "ort-cpu", "settings": {"threads": args.threads}}
    with running_stack(
        Settings(data_dir=args.data_dir),
        secrets.token_urlsafe(24),
        args.threads,
        agent_options=("--reruns", str(args.reruns)),
    ) as (
        api,
        device,
    ):
        target = Target(device, runtime, args.batch)
        lut_table = build_lookup_table(api, target, space, timeout_s=3600, export_first=True)
        runtime_id = lut_table["query"]["runtime_config_id"]
        measured = measure_missing(api, target, space, archs, runtime_id, timeout_s=12 * 3600)
    lut = {key: entry["median_ms"] for key, entry in lut_table["entries"].items()}
    table = layer_table(space, lut)
    x = encode_architectures(space, archs)
    y = np.asarray([m["median_ms"] for m in measured], dtype=np.float64)
    order = np.random.default_rng(args.seed).permutation(len(archs))
    n_holdout = round(args.holdout * len(archs))
    held, train = np.sort(order[:n_holdout]), np.sort(order[n_holdout:])
    result: dict[str, Any] = {
        "space": space.ref,
        "n_train": int(train.size),
        "n_holdout": int(held.size),
        "median_measured_ms": round(float(np.median(y)), 2),
        "reruns": args.reruns,
    }
    for kind in KINDS:
        metrics = _fit_eval(kind, table, x, y, train, held)
        result[kind] = {key: metrics[key] for key in REPORTED}
        print(f"{kind:7s}", *(f"{k} {metrics[k]}" for k in REPORTED))
    sizes = [int(s) for s in args.curve.split(",") if int(s) <= train.size]
    result["learning_curve"] = _learning_curve(table, x, y, train, held, sizes)
    result |= _predict_timing(space, table, lut)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
