"""Predictor fidelity on published whole-network latencies (issue 11), no lookup table.

Reads every ``<device>.csv`` of ``--data`` (columns ``arch``, ``latency_ms`` and an optional
``batch``; default ``../shared/data/help-fbnet``: HW-NAS-Bench FBNet-space latencies of six
devices as packaged by HELP). For each device and seed (0, 1, 2 by default), a random 80/20
split: share of the test networks within +-10% and +-5% of the measured latency, MAPE and
Kendall tau of

- ``baseline``: one-hot linear least squares (22x9 indicators + bias), computed here;
- each learned kind (``linear``, ``mlp``, ``gbdt``) with the service's own fitting code;
- ``auto``: the kind of ``--kinds`` that 5-fold cross-validation on the training split
  picks (``chosen``);
- ``fewshot``: leave-one-device-out transfer (``latency_db.predictors.transfer``): the
  other devices' ``linear`` tables, fit on their rows outside this device's test split, are
  combined and adapted to k = 10, 20, 50 of this device's training rows that the service's
  reference-architecture choice picks; ``scratch`` is ``linear`` fit on the same k rows alone;
- ``order_drift``: whether the device's speed drifted while it measured, read from file order
  (taken as measurement order): the lag-1 autocorrelation of the baseline's relative
  residuals, and the baseline's figures when each test network's latency is scaled by the
  device's speed at its time, estimated from the training networks next to it in the file
  (the median measured/predicted ratio of the nearest ``DRIFT_NEIGHBOURS``). Drift-free
  devices gain nothing; a phone that drifted gains what no architecture feature can give.

Figures are means over the seeds; ``fit_s`` is the mean fit time on the training split.
A device's batch is its file's ``batch`` column (one value) or ``--batch device=N``; data at
several batches needs ``--batch``. Last line: one JSON object, per device
``{baseline: {...}, <kind>: {...}, auto: {...}, fewshot: {"10": {..., scratch: {...}}}}``.

    python bench/published_fidelity.py [--data DIR] [--batch 1080ti_32=32] [--seeds 0 1 2]
        [--kinds linear mlp gbdt] [--devices essential_ph_1 samsung_a50] [--shots 10 20 50]
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from latency_db.predictors import (
    PREDICTOR_KINDS,
    ArchitectureFeatures,
    LinearPredictor,
    encode_architectures,
    holdout_metrics,
)
from latency_db.predictors.encoding import FloatArray, IntArray
from latency_db.predictors.fitting import AUTO_CANDIDATES, choose_kind
from latency_db.predictors.transfer import reference_architectures
from latency_db.spaces import SearchSpace, resolve_space

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "help-fbnet"
FIGURES = ("within10_pct", "within5_pct", "mape_pct", "kendall_tau")
TEST_SHARE = 0.2
DRIFT_NEIGHBOURS = 8
DRIFT_ROUNDS = 3


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--space", default="fbnet-cifar100")
    parser.add_argument("--batch", action="append", default=[], metavar="DEVICE=N")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--kinds", nargs="+", default=list(AUTO_CANDIDATES))
    parser.add_argument("--devices", nargs="+", help="default: every CSV file of --data")
    parser.add_argument("--shots", type=int, nargs="*", default=[10, 20, 50])
    args = parser.parse_args(argv)
    space = resolve_space(args.space)
    batches = dict(_device_batch(text) for text in args.batch)
    files = sorted(args.data.glob("*.csv"))
    if args.devices:
        files = [f for f in files if f.stem in set(args.devices)]
    if not files:
        parser.error(f"no <device>.csv files in {args.data}")
    data = {path.stem: _read(path, batches.get(path.stem)) for path in files}
    devices = {}
    for name, (batch, archs, y) in data.items():
        x = encode_architectures(space, archs)
        devices[name] = {
            "batch": batch,
            "rows": int(y.size),
            **_device_figures(space, x, y, args),
        }
        devices[name]["order_drift"] = _order_drift(
            ArchitectureFeatures.of_space(space, {}), x, y, args.seeds
        )
        if len(data) > 1 and args.shots:
            sources = {other: rows for other, rows in data.items() if other != name}
            devices[name]["fewshot"] = _fewshot(space, archs, y, sources, args)
        _print_device(name, devices[name], args.kinds)
    result = {"data": str(args.data), "space": space.ref, "seeds": args.seeds, "devices": devices}
    print(json.dumps(result))
    return result


def _device_batch(text: str) -> tuple[str, int]:
    device, _, value = text.partition("=")
    if not device or not value.isdigit() or int(value) < 1:
        raise SystemExit(f"--batch wants DEVICE=N with N a positive integer, got {text!r}")
    return device, int(value)


def _read(path: Path, batch: int | None) -> tuple[int | None, list[str], FloatArray]:
    """The rows of the device's batch: the one in the file, or the one asked for."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    found = sorted({int(r["batch"]) for r in rows if r.get("batch")})
    if batch is None and len(found) > 1:
        raise SystemExit(
            f"{path.name} holds batches {', '.join(map(str, found))}: "
            f"choose one with --batch {path.stem}=N"
        )
    if batch is not None and found:
        rows = [r for r in rows if int(r["batch"]) == batch]
    if not rows:
        raise SystemExit(f"{path.name} has no rows at batch {batch}")
    chosen = batch if batch is not None else (found[0] if found else None)
    return chosen, [r["arch"] for r in rows], np.array([float(r["latency_ms"]) for r in rows])


def _device_figures(
    space: SearchSpace, x: IntArray, y: FloatArray, args: argparse.Namespace
) -> dict[str, Any]:
    features = ArchitectureFeatures.of_space(space, {})
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in ("baseline", *args.kinds)}
    runs["auto"] = []
    for seed in args.seeds:
        order = np.random.default_rng(seed).permutation(y.size)
        n_test = round(TEST_SHARE * y.size)
        test, train = order[:n_test], order[n_test:]
        predicted = {"baseline": _baseline(features, x[train], y[train], x[test])}
        runs["baseline"].append(holdout_metrics(predicted["baseline"], y[test]))
        for kind in args.kinds:
            start = time.perf_counter()
            model = PREDICTOR_KINDS[kind].fit(features, x[train], y[train], seed=seed)
            fit_s = time.perf_counter() - start
            predicted[kind] = model.predict(x[test])[0]
            runs[kind].append({**holdout_metrics(predicted[kind], y[test]), "fit_s": fit_s})
        start = time.perf_counter()
        why = choose_kind(features, x[train], y[train], seed, args.kinds)
        choose_s = time.perf_counter() - start
        chosen = why["chosen"]
        runs["auto"].append(
            {**holdout_metrics(predicted[chosen], y[test]), "chosen": chosen, "choose_s": choose_s}
        )
    return {name: _mean(rows) for name, rows in runs.items()}


def _fewshot(
    space: SearchSpace,
    archs: list[str],
    y: FloatArray,
    sources: dict[str, tuple[int | None, list[str], FloatArray]],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Per k: the transferred ``linear`` fit on k chosen training rows, and (``scratch``)
    ``linear`` fit on the same rows without sources, on this device's test split."""
    plain = ArchitectureFeatures.of_space(space, {})
    x = encode_architectures(space, archs)
    runs: dict[int, list[dict[str, Any]]] = {k: [] for k in args.shots}
    for seed in args.seeds:
        order = np.random.default_rng(seed).permutation(y.size)
        n_test = round(TEST_SHARE * y.size)
        test, train = order[:n_test], order[n_test:]
        held_out = {archs[i] for i in test}
        tables = []
        for _, source_archs, source_y in sources.values():
            keep = [i for i, a in enumerate(source_archs) if a not in held_out]
            fitted = LinearPredictor.fit(
                plain,
                encode_architectures(space, [source_archs[i] for i in keep]),
                source_y[keep],
                seed=seed,
            )
            tables.append(fitted.table)
        transfer = ArchitectureFeatures.of_space(space, {}, tables)
        for k in args.shots:
            rows = train[reference_architectures(tables, x[train], k)]
            adapted = LinearPredictor.fit(transfer, x[rows], y[rows], seed=seed)
            scratch = LinearPredictor.fit(plain, x[rows], y[rows], seed=seed)
            runs[k].append(
                {
                    **holdout_metrics(adapted.predict(x[test])[0], y[test]),
                    "scratch": holdout_metrics(scratch.predict(x[test])[0], y[test]),
                }
            )
    return {
        str(k): {**_mean(rows), "scratch": _mean([r["scratch"] for r in rows])}
        for k, rows in runs.items()
    }


def _order_drift(
    features: ArchitectureFeatures, x: IntArray, y: FloatArray, seeds: Sequence[int]
) -> dict[str, Any]:
    """Residual autocorrelation in file order, and the baseline at the device's speed of the
    time. The speed and the model are estimated in turns (``DRIFT_ROUNDS``): fit the model to
    the training latencies divided by their speed, then take each row's speed as the median
    measured/predicted ratio of the training rows nearest it in the file; a test row's own
    latency is never used."""
    autocorr, runs = [], []
    for seed in seeds:
        order = np.random.default_rng(seed).permutation(y.size)
        n_test = round(TEST_SHARE * y.size)
        test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
        predicted = _baseline(features, x[train], y[train], x)
        ratio = y / predicted
        autocorr.append(float(np.corrcoef(ratio[:-1], ratio[1:])[0, 1]))
        speed = np.ones(y.size)
        for _ in range(DRIFT_ROUNDS):
            predicted = _baseline(features, x[train], y[train] / speed[train], x)
            ratio = y[train] / predicted[train]
            speed = _nearest_median(ratio, np.searchsorted(train, np.arange(y.size)))
        runs.append(holdout_metrics(predicted[test] * speed[test], y[test]))
    return {"lag1_autocorr": round(float(np.mean(autocorr)), 4), "speed_indexed": _mean(runs)}


def _nearest_median(values: FloatArray, slots: IntArray) -> FloatArray:
    """Per slot (a position in ``values``' order), the median of the ``DRIFT_NEIGHBOURS``
    values around it."""
    half = DRIFT_NEIGHBOURS // 2
    window = np.clip(slots[:, None] + np.arange(-half, half), 0, values.size - 1)
    return np.asarray(np.median(values[window], axis=1))


def _baseline(
    features: ArchitectureFeatures, x_train: IntArray, y_train: FloatArray, x_test: IntArray
) -> FloatArray:
    """One-hot linear least squares with a bias (minimum-norm where rank-deficient)."""

    def design(x: IntArray) -> FloatArray:
        return np.hstack([np.ones((x.shape[0], 1)), features.layout.one_hot(x)])

    coef, *_ = np.linalg.lstsq(design(x_train), y_train, rcond=None)
    return design(x_test) @ coef


def _mean(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over seeds of the numeric figures; ``chosen`` as the list of choices."""
    out: dict[str, Any] = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if key == "chosen":
            out[key] = values
        elif key != "n" and all(isinstance(v, (int, float)) for v in values):
            out[key] = round(float(np.mean(values)), 4)
    return out


def _print_device(device: str, figures: dict[str, Any], kinds: Sequence[str]) -> None:
    print(
        f"{device} (batch {figures['batch']}, {figures['rows']} rows, residual lag-1 "
        f"autocorrelation in file order {figures['order_drift']['lag1_autocorr']:.2f})"
    )
    rows = {name: figures[name] for name in ("baseline", *kinds, "auto")}
    rows["at speed"] = figures["order_drift"]["speed_indexed"]
    for k, row in figures.get("fewshot", {}).items():
        rows[f"k={k}"] = row
        rows[f"k={k} bare"] = row["scratch"]
    for name, row in rows.items():
        cells = "  ".join(f"{k}={row[k]:.2f}" for k in FIGURES if k in row)
        extra = f"  fit_s={row['fit_s']:.1f}" if "fit_s" in row else ""
        chosen = f"  chosen={','.join(row['chosen'])}" if "chosen" in row else ""
        print(f"  {name:<11}{cells}{extra}{chosen}")


if __name__ == "__main__":
    main()
