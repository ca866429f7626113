"""LUT sum vs measured whole network for random architectures (ort-cpu, 224, batch 32).

The lookup table and the measurements live in ``bench-output/ort-cpu-proxyless`` (an
embedded database shared with predictor_fidelity.py), so a rerun measures only what is
missing. The baseline is the measured whole
network itself: ``bias_pct`` is the mean signed error of the LUT sum relative to it,
``mape_pct`` the mean absolute one.

    python bench/lut_vs_network.py [--n 50] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
from pathlib import Path

from latency_db.settings import Settings
from latency_db.spaces import get_space
from services.cli.stack import running_stack
from services.cli.workflows import Target, build_lookup_table, lut_latencies, measure_missing

DATA_DIR = Path(__file__).resolve().parent.parent / "bench-output" / "ort-cpu-proxyless"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    space = get_space("proxyless", args.resolution)
    archs = [space.format(space.sample(seed)) for seed in range(args.n)]
    settings = Settings(data_dir=DATA_DIR)
    with running_stack(settings, secrets.token_urlsafe(24), args.threads) as (api, device):
        target = Target(
            device, {"backend": "ort-cpu", "settings": {"threads": args.threads}}, args.batch
        )
        table = build_lookup_table(api, target, space, timeout_s=3600, export_first=True)
        lut = lut_latencies(api, table, archs)
        runtime_id = table["query"]["runtime_config_id"]
        measured = measure_missing(api, target, space, archs, runtime_id, timeout_s=4 * 3600)
    errors = [
        100 * ((lut[arch] or float("nan")) - m["median_ms"]) / m["median_ms"]
        for arch, m in zip(archs, measured, strict=True)
    ]
    print(
        json.dumps(
            {
                "space": space.ref,
                "n": len(errors),
                "bias_pct": round(statistics.fmean(errors), 2),
                "mape_pct": round(statistics.fmean(abs(e) for e in errors), 2),
                "max_abs_pct": round(max(abs(e) for e in errors), 2),
                "median_measured_ms": round(statistics.median(m["median_ms"] for m in measured), 2),
            }
        )
    )


if __name__ == "__main__":
    main()
