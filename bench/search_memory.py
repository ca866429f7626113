"""Peak memory of one training step: ProxylessNAS' single path vs DARTS' mixture of all
paths vs a standalone network of the same architecture (same batch and resolution).

Each variant runs in a fresh process: it builds its model and batch, records its resident
memory, runs one forward+backward+SGD step and reports the step's peak resident growth
(``ru_maxrss`` minus the resident size before the step: activations, gradients, optimizer
state). ``single`` is the baseline of the same run. ``proxyless_arch`` is the architecture
step, which keeps two paths per layer (BinaryConnect).

    python bench/search_memory.py [--resolution 96] [--batch 32] [--width 1.0]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

VARIANTS = ("single", "proxyless", "proxyless_arch", "darts")


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def _step(variant: str, resolution: int, batch: int, width: float) -> dict[str, float]:
    import torch
    from torch import nn

    from latency_db.predictors import Layout
    from latency_db.spaces import get_space
    from search_worker.nn import Network, PathSelection, Supernet, init_weights
    from search_worker.search.binary_connect import gates, sample_pairs
    from search_worker.search.distribution import ArchitectureLogits

    torch.set_num_threads(1)
    space = get_space("proxyless", resolution, width, 10)
    arch = space.sample(0)
    x, y = torch.randn(batch, 3, resolution, resolution), torch.randint(0, 10, (batch,))
    generator = torch.Generator().manual_seed(0)
    if variant == "single":
        model: nn.Module = init_weights(Network(space, arch))
        forward = lambda: model(x)  # noqa: E731
    else:
        model = init_weights(Supernet(space))
        logits = ArchitectureLogits(Layout(tuple(len(layer.candidates) for layer in space.layers)))
        if variant == "proxyless":
            selections = model.select(arch)
        elif variant == "proxyless_arch":
            pairs, active = sample_pairs(logits.alpha, logits.mask, generator)
            gate = gates(active)
            selections = [
                PathSelection.subset(pairs[i].tolist(), gate[i]) for i in range(len(pairs))
            ]
        else:
            probs = logits.probs()
            selections = [
                PathSelection.mixture(probs[i, : len(layer.candidates)])
                for i, layer in enumerate(space.layers)
            ]
        forward = lambda: model(x, selections)  # noqa: E731
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    before = _rss_mb()
    loss = nn.functional.cross_entropy(forward(), y)
    loss.backward()
    optimizer.step()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "before_mb": round(before, 1),
        "peak_mb": round(peak, 1),
        "step_mb": round(peak - before, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=96)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(_step(args.variant, args.resolution, args.batch, args.width)))
        return
    figures = {}
    for variant in VARIANTS:
        argv = [
            sys.executable,
            __file__,
            "--variant",
            variant,
            "--resolution",
            str(args.resolution),
            "--batch",
            str(args.batch),
            "--width",
            str(args.width),
        ]
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        figures[variant] = json.loads(out.strip().splitlines()[-1])
        print(f"{variant:15s}", figures[variant])
    single = figures["single"]["step_mb"]
    result = {
        "resolution": args.resolution,
        "batch": args.batch,
        "single_mb": single,
        "proxyless_mb": figures["proxyless"]["step_mb"],
        "proxyless_arch_mb": figures["proxyless_arch"]["step_mb"],
        "darts_mb": figures["darts"]["step_mb"],
        "proxyless_over_single": round(figures["proxyless"]["step_mb"] / single, 2),
        "darts_over_single": round(figures["darts"]["step_mb"] / single, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
