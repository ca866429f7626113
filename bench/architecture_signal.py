"""How much of a network's standalone top-1 is its architecture, and how much the seed it was
trained with? The noise floor of ``bench/search_quality.py`` (issue 17).

``--pool`` uniformly random proxy architectures are drawn (seed 0, as search_quality draws its
pool); the ``--archs`` with the fewest parameters among the smaller half are kept (a budget's
worth of networks without timing any: this asks what an architecture explains of top-1, not
which ones meet a budget). Each is trained from scratch once per ``--seeds`` exactly as
search_quality trains a final network (same steps, batches, held-out split and val/), and a
one-way ANOVA over architectures (``scipy.stats.f_oneway``) splits the spread of val/ top-1
into a within-architecture part (seed: initialisation, batch order, split) and a
between-architecture part: the most a search can gain over a random draw is a few
between-architecture standard deviations, and a single trained network's top-1 carries the
within-architecture one.

    python bench/architecture_signal.py [--archs 8] [--seeds 0,1,2] [--train-steps 600]
        [--dataset DIR] [--train-threads 2] [--device cpu] [--jobs 1]

``--device`` trains on a GPU (``cuda``; any ``HWNAS_WORKER_DEVICE`` value) and ``--jobs``
trains that many networks at once, each in its own process with ``--train-threads``
threads: small networks leave a GPU idle between kernel launches, which another process's
launches fill. Networks are trained seed by seed, so a run cut short still holds whole
seeds of every architecture in its stderr rows.

Last line JSON: ``{"archs", "seeds", "train_steps", "within_sd", "between_sd", "anova_f",
"anova_p", "arch_means", "held_out_val_pearson", "networks": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import torch
from scipy import stats
from search_quality import trained  # the same training as a search's result

from latency_db.search_spec import BUNDLED_DATASET, SearchSpec
from latency_db.spaces import SearchSpace
from latency_db.spaces.cost import network_params
from search_worker.data import load_search_data
from search_worker.devices import resolve_device


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=8, help="architectures trained")
    parser.add_argument("--pool", type=int, default=40, help="random architectures drawn")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated training seeds")
    parser.add_argument("--dataset", type=Path, default=BUNDLED_DATASET, help="ImageFolder root")
    parser.add_argument("--train-steps", type=int, default=600, help="per network and seed")
    parser.add_argument("--proxy-resolution", type=int, default=64)
    parser.add_argument("--proxy-width", type=float, default=0.35)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--train-threads", type=int, default=2, help="PyTorch threads")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--jobs", type=int, default=1, help="networks trained at once")
    args = parser.parse_args(argv)
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds: comma-separated integers, got {args.seeds!r}")
    if len(args.seeds) < 2 or args.archs < 2 or args.pool < 2 * args.archs or args.jobs < 1:
        parser.error(
            "need two or more --seeds, --archs >= 2, --pool >= 2 x --archs and --jobs >= 1"
        )
    try:
        args.device = resolve_device(args.device)
    except (ValueError, RuntimeError) as error:
        parser.error(f"--device: {error}")
    if not (args.dataset / "train").is_dir() or not (args.dataset / "val").is_dir():
        parser.error(f"--dataset: {args.dataset} needs train/ and val/ (an ImageFolder root)")
    return args


def small_architectures(space: SearchSpace, pool: int, archs: int) -> list[list[int]]:
    """``archs`` of ``pool`` uniform draws (seed 0): the fewest parameters first."""
    rng = random.Random(0)
    drawn = [[rng.randrange(len(layer.candidates)) for layer in space.layers] for _ in range(pool)]
    return sorted(drawn, key=lambda arch: network_params(space, space.parse(arch)))[:archs]


def variance_split(top1: list[list[float]]) -> dict[str, Any]:
    """One-way ANOVA of top-1 (one row per architecture, one column per seed): the
    within-architecture SD (pooled over architectures), the between-architecture SD (the
    spread of architecture means less what the seeds put into it, floored at 0), F and p."""
    seeds = len(top1[0])
    means = [statistics.fmean(row) for row in top1]
    within = statistics.fmean(statistics.variance(row) for row in top1)
    between = max(0.0, statistics.variance(means) - within / seeds)
    anova = stats.f_oneway(*top1)
    return {
        "within_sd": within**0.5,
        "between_sd": between**0.5,
        "anova_f": float(anova.statistic),
        "anova_p": float(anova.pvalue),
        "arch_means": means,
    }


def train_one(
    space: SearchSpace, arch: list[int], args: argparse.Namespace, seed: int
) -> dict[str, Any]:
    """One network's row: its architecture, seed and both top-1s."""
    torch.set_num_threads(args.train_threads)
    result = trained(space, arch, args, seed, args.device)
    row = {"arch": space.format(space.parse(arch)), "seed": seed}
    return row | {"held_out_top1": result.score_top1, "val_top1": result.val_top1}


def train_all(
    space: SearchSpace, archs: list[list[int]], args: argparse.Namespace
) -> Iterator[dict[str, Any]]:
    """Every architecture's row for each seed in turn (whole seeds first), in this process
    or, with ``--jobs`` > 1, in that many spawned ones (a CUDA context does not survive a
    fork)."""
    tasks = [(arch, seed) for seed in args.seeds for arch in archs]
    if args.jobs == 1:
        yield from (train_one(space, arch, args, seed) for arch, seed in tasks)
        return
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn")) as pool:
        archs_in_order, seeds_in_order = zip(*tasks, strict=True)
        yield from pool.map(train_one, repeat(space), archs_in_order, repeat(args), seeds_in_order)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    classes = load_search_data(args.dataset, 8, 0.5, 1, 0).num_classes
    proxy = {"proxy_resolution": args.proxy_resolution, "proxy_width": args.proxy_width}
    space = SearchSpec.model_validate(proxy).proxy_space(classes)
    archs = small_architectures(space, args.pool, args.archs)
    networks = []
    for row in train_all(space, archs, args):
        networks.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    texts = dict.fromkeys(n["arch"] for n in networks)
    by_arch = [[n["val_top1"] for n in networks if n["arch"] == a] for a in texts]
    split = variance_split(by_arch)
    pearson = stats.pearsonr(
        [n["held_out_top1"] for n in networks], [n["val_top1"] for n in networks]
    )
    print(
        f"val/ top-1 of {args.archs} architectures x {len(args.seeds)} seeds: within-architecture "
        f"SD {split['within_sd']:.3f}, between-architecture SD {split['between_sd']:.3f}, "
        f"ANOVA F {split['anova_f']:.2f} (p {split['anova_p']:.3f})"
    )
    report = {
        "archs": args.archs,
        "seeds": args.seeds,
        "train_steps": args.train_steps,
        **split,
        "held_out_val_pearson": float(pearson.statistic),
        "networks": networks,
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
