"""Search quality on this CPU: ``proxyless`` and ``unas`` against the best of random
architectures and a MobileNetV2-like network, all under one latency budget.

The budget is the median measured latency of the random architectures already in the shared
bench database (ort-cpu, ProxylessNAS space at 224, batch 32; see predictor_fidelity.py).
The searches run through the real API, worker and agent on tiny-imagenet-10 at a proxy
resolution; their derived architectures are measured on the device. Every final network
(the two searched, ``--random`` random ones measured under the budget, and all-``k3_e6``
MobileNetV2-like) is then trained from scratch the same way (same steps, batches and seed)
and its top-1 on the val split reported: same compute for all.

    python bench/search_quality.py [--steps 150] [--train-steps 300] [--random 3] [--reruns 1]
        [--latency-form hinge] [--latency-weight 5] [--seed 0] [--no-predictor]
        [--oracle local]

With ``--predictor`` (the default) a ``linear`` predictor is fitted on the measured networks
first, so both searches use it as their latency model, as they would for a user who fitted
one; ``--no-predictor`` leaves them the LUT sum.

Use the ``--data-dir`` and ``--reruns`` that predictor_fidelity.py measured with.
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from hwnas import Client
from latency_db.search_spec import BUNDLED_DATASET
from latency_db.settings import Settings
from latency_db.spaces import SearchSpace, get_space
from search_worker.data import accuracy, load_search_data
from search_worker.nn import Network, init_weights
from search_worker.search.finish import train_network
from services.cli.predictor_commands import fit_on_server
from services.cli.stack import running_stack
from services.cli.workflows import Target, build_lookup_table, measure_missing, measured_networks

DATA_DIR = Path(__file__).resolve().parent.parent / "bench-output" / "ort-cpu-proxyless"
MOBILENETV2_OP = "k3_e6"


def run_search(
    api: Client, device_id: str, estimator: str, budget: float, config: dict[str, Any]
) -> dict[str, Any]:
    search = api.post(
        "/searches",
        {"device_id": device_id, "budget_ms": budget, "estimator": estimator, "config": config},
    )
    while (state := api.get(f"/searches/{search['id']}"))["state"] not in (
        "succeeded",
        "failed",
        "canceled",
    ):
        time.sleep(5)
    if state["state"] != "succeeded":
        raise RuntimeError(f"{estimator} search {state['state']}: {state['error']}")
    return dict(api.get(f"/searches/{search['id']}/result")["result"])


def fit_predictor(api: Client, device_id: str, space_ref: str, seed: int) -> dict[str, Any]:
    """A ``linear`` version on every measured network (20% held out): the model a search
    uses by default, as a user who fitted one gets."""
    body = {"device_id": device_id, "space_ref": space_ref, "kind": "linear", "seed": seed}
    version = fit_on_server(api, body, timeout_s=600)
    keys = ("n_train", "n_holdout", "mape_pct", "within10_pct", "kendall_tau")
    return {"kind": "linear", "id": version["id"], **{k: version["metrics"][k] for k in keys}}


def trained_accuracy(space: SearchSpace, arch: str, args: argparse.Namespace) -> float:
    data = load_search_data(BUNDLED_DATASET, args.proxy_resolution, 0.5, args.batch_size, args.seed)
    torch.manual_seed(args.seed)
    network = init_weights(Network(space, arch), seed=args.seed)
    train_network(network, data.train, args.train_steps, args.lr)
    return accuracy(network, data.val)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="search steps")
    parser.add_argument(
        "--train-steps", type=int, default=300, help="training steps per final network"
    )
    parser.add_argument("--random", type=int, default=3, help="random architectures trained")
    parser.add_argument("--proxy-resolution", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="embedded database")
    parser.add_argument("--reruns", type=int, default=1, help="agent re-runs while CV > 5%%")
    parser.add_argument(
        "--latency-form", choices=("add_linear", "hinge"), default="hinge", help="of both searches"
    )
    parser.add_argument("--latency-weight", type=float, default=5.0)
    parser.add_argument(
        "--oracle",
        choices=("measured", "local"),
        default="local",
        help="local: the worker measures in-process, training paused (worker and agent share "
        "this CPU; a device measuring while the worker trains reads about 3x slow)",
    )
    parser.add_argument(
        "--predictor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fit a linear predictor first (else the searches use the LUT sum)",
    )
    args = parser.parse_args()
    deploy = get_space("proxyless", 224)
    proxy = get_space("proxyless", args.proxy_resolution, 1.0, 10)
    runtime = {"backend": "ort-cpu", "settings": {"threads": args.threads}}
    config = {
        "proxy_resolution": args.proxy_resolution,
        "steps": args.steps,
        "warmup_steps": args.steps // 5,
        "segment_steps": 25,
        "batch_size": args.batch_size,
        "finetune_steps": 0,
        "seed": args.seed,
        "latency_form": args.latency_form,
        "latency_weight": args.latency_weight,
        "oracle": args.oracle,
    }
    stack = running_stack(
        Settings(data_dir=args.data_dir),
        secrets.token_urlsafe(24),
        args.threads,
        agent_options=("--reruns", str(args.reruns)),
    )
    with stack as (api, device):
        target = Target(device, runtime, 32)
        table = build_lookup_table(api, target, deploy, timeout_s=3600, export_first=True)
        runtime_id = table["query"]["runtime_config_id"]
        measured = {
            a: row["median_ms"]
            for a, row in measured_networks(api, target, deploy, runtime_id).items()
        }
        if len(measured) < 20:
            raise SystemExit(
                "run bench/predictor_fidelity.py first: the budget is the median of the "
                "measured random networks"
            )
        budget = statistics.median(measured.values())
        predictor = fit_predictor(api, device, deploy.ref, args.seed) if args.predictor else None
        mobilenet = deploy.format([MOBILENETV2_OP] * len(deploy.layers))
        mobilenet_ms = measure_missing(
            api, target, deploy, [mobilenet], runtime_id, timeout_s=3600
        )[0]["median_ms"]
        searched = {
            name: run_search(api, device, name, budget, config) for name in ("proxyless", "unas")
        }
    under = sorted(a for a, ms in measured.items() if ms <= budget)
    rows: dict[str, Any] = {
        "budget_ms": round(budget, 2),
        "steps": args.steps,
        "train_steps": args.train_steps,
        "latency_form": args.latency_form,
        "latency_weight": args.latency_weight,
        "seed": args.seed,
        "latency_model": predictor or "lut",
        "oracle": args.oracle,
    }
    for name, result in searched.items():
        rows[name] = {
            "arch": result["architecture"],
            "latency_ms": result["measured_latency_ms"],
            "accuracy": trained_accuracy(proxy, result["architecture"], args),
            "predicted_ms": result["predicted_latency_ms"],
            "measurements_used": result["measurements_used"],
            "device_wait_s": result["device_wait_s"],
        }
    picks = random.Random(args.seed).sample(under, min(args.random, len(under)))
    tried = [
        {"arch": a, "latency_ms": measured[a], "accuracy": trained_accuracy(proxy, a, args)}
        for a in picks
    ]
    rows["random_best"] = max(tried, key=lambda r: r["accuracy"]) | {"tried": len(tried)}
    rows["mobilenetv2_like"] = {
        "arch": mobilenet,
        "latency_ms": mobilenet_ms,
        "accuracy": trained_accuracy(proxy, mobilenet, args),
    }
    for name in ("proxyless", "unas", "random_best", "mobilenetv2_like"):
        row = rows[name]
        print(
            f"{name:17s} {row['latency_ms']:8.1f} ms ({row['latency_ms'] / budget:.2f} x budget)"
            f"  top-1 {row['accuracy']:.3f}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
