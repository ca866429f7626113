"""``bench/architecture_signal.py``: the split of top-1 into architecture and seed, and a tiny
real run (real training, two architectures, two seeds) whose last line is the JSON report."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path
from types import ModuleType

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"
TINY = [
    *("--archs", "2", "--pool", "4", "--seeds", "0,1", "--train-steps", "2"),
    *("--batch-size", "8", "--proxy-resolution", "16", "--train-threads", "1"),
]


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # As when run from bench/: it imports search_quality, and spawned jobs import it by name.
    monkeypatch.syspath_prepend(str(BENCH_DIR))
    return importlib.import_module("architecture_signal")


def test_the_spread_splits_into_seed_and_architecture_parts(bench: ModuleType) -> None:
    # Seeds move each architecture by +-0.1 (variance 0.02); the two means 0.2 and 0.6 vary by
    # 0.08, of which 0.02 / 2 is the seeds' share of a two-seed mean.
    split = bench.variance_split([[0.1, 0.3], [0.5, 0.7]])
    assert math.isclose(split["within_sd"], 0.02**0.5)
    assert math.isclose(split["between_sd"], 0.07**0.5)
    assert math.isclose(split["anova_f"], 8.0)  # (2 x 0.08) / 0.02
    assert split["arch_means"] == pytest.approx([0.2, 0.6])


def test_architectures_that_differ_by_less_than_the_seeds_explain_nothing(
    bench: ModuleType,
) -> None:
    split = bench.variance_split([[0.1, 0.5], [0.2, 0.4], [0.5, 0.1]])
    assert split["between_sd"] == 0.0  # floored: the means vary less than seeds alone would
    assert split["anova_p"] > 0.5


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_tiny_run_trains_every_architecture_once_per_seed(
    bench: ModuleType, tiny_imagenet: Path, capsys: pytest.CaptureFixture[str], jobs: str
) -> None:
    bench.main([*TINY, "--dataset", str(tiny_imagenet), "--jobs", jobs])
    printed = capsys.readouterr()
    report = json.loads(printed.out.splitlines()[-1])
    assert report["archs"] == 2 and report["seeds"] == [0, 1] and report["train_steps"] == 2
    networks = report["networks"]
    assert sorted((n["arch"], n["seed"]) for n in networks) == sorted(
        (arch, seed) for arch in {n["arch"] for n in networks} for seed in (0, 1)
    )
    assert len({n["arch"] for n in networks}) == 2
    assert all(0.0 <= n["val_top1"] <= 1.0 and 0.0 <= n["held_out_top1"] <= 1.0 for n in networks)
    assert len(report["arch_means"]) == 2 and report["within_sd"] >= 0.0
    rows = [json.loads(line) for line in printed.err.splitlines() if line[0] == "{"]
    assert [row["seed"] for row in rows] == [0, 0, 1, 1]  # whole seeds first, in order


def test_the_smallest_architectures_of_the_pool_are_kept(bench: ModuleType) -> None:
    from latency_db.search_spec import SearchSpec
    from latency_db.spaces.cost import network_params

    space = SearchSpec.model_validate({}).proxy_space(10)
    whole_pool = bench.small_architectures(space, pool=10, archs=10)
    sizes = [network_params(space, space.parse(a)) for a in whole_pool]
    assert sizes == sorted(sizes) and len(set(sizes)) > 1
    assert bench.small_architectures(space, pool=10, archs=3) == whole_pool[:3]


@pytest.mark.parametrize(
    "args",
    [
        *(["--seeds", "0"], ["--seeds", "0,x"], ["--archs", "1"]),
        *(["--archs", "8", "--pool", "10"], ["--jobs", "0"], ["--device", "tpu"]),
    ],
)
def test_bad_arguments_are_refused_with_a_message(
    bench: ModuleType, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(args)
    assert "error" in capsys.readouterr().err
