"""``bench/search_quality.py`` in a tiny configuration: real searches, measurements and
training, one seed, one estimator (all four by default); the report's last line is the JSON
the issue asks for."""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "search_quality.py"
TINY = [
    *("--seeds", "0", "--warmup-steps", "1", "--arch-steps", "1", "--train-steps", "2"),
    *("--pool", "3", "--random", "1"),
    *("--candidates", "2", "--eval-batches", "1", "--batch-size", "8", "--threads", "1"),
    *("--proxy-resolution", "16", "--proxy-width", "0.35"),
    *("--deploy-resolution", "32", "--deploy-width", "0.35"),
    *("--quick-timing", "--include-unclean", "--estimators", "proxyless"),
]


def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("search_quality", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_main() -> Callable[[Sequence[str]], dict[str, Any]]:
    main: Callable[[Sequence[str]], dict[str, Any]] = bench_module().main
    return main


def test_a_tiny_run_reports_every_network_in_the_issues_shape(
    tiny_imagenet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench_main()([*TINY, "--random", "2", "--dataset", str(tiny_imagenet)])
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["budget_ms"] > 0 and report["pool"] >= 2
    lut_keys = report["latency_model"]["lut_keys"]
    assert lut_keys["used"] == lut_keys["of"] > 0  # --include-unclean: every key
    assert set(report) >= {"proxyless", "random_best", "mobilenetv2_like"}
    for name in ("proxyless", "random_best", "mobilenetv2_like"):
        row = report[name]
        assert set(row) >= {"within_budget_pct", "latency_over_budget_mean", "top1_mean", "top1_se"}
        (seed,) = row["seeds"]
        assert seed["seed"] == 0 and 0.0 <= seed["top1"] <= 1.0
        assert row["top1_mean"] == seed["top1"] and row["top1_se"] is None  # one seed
        ratio = seed["latency_ms"] / report["budget_ms"]
        assert math.isclose(row["latency_over_budget_mean"], ratio)
        within = seed["clean"] and ratio <= 1.0  # a busy machine: maybe not clean
        assert row["within_budget_pct"] == (100.0 if within else 0.0)
    best = report["random_best"]["seeds"][0]
    assert best["latency_ms"] <= report["budget_ms"]
    assert len(best["tried"]) == 2
    assert best["score_top1"] == max(t["score_top1"] for t in best["tried"])


def test_the_best_random_network_is_picked_on_the_held_out_split_not_on_val() -> None:
    tried = [
        {"arch": "a", "score_top1": 0.30, "top1": 0.20},
        {"arch": "b", "score_top1": 0.25, "top1": 0.40},  # luckiest on val/: not the pick
    ]
    best = bench_module().random_best(tried)
    assert best["arch"] == "a" and best["top1"] == 0.20
    assert best["tried"] == [{"score_top1": 0.30, "top1": 0.20}, {"score_top1": 0.25, "top1": 0.40}]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seeds", "0,x"], "--seeds"),
        (["--estimators", "proxyless,magic"], "unknown magic"),
        (["--dataset", "/nonexistent"], "an ImageFolder root"),
    ],
)
def test_bad_arguments_are_one_line_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_main()(args)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
