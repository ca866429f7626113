"""Time to build the full ProxylessNAS lookup table (224, batch 32) on this CPU through a
real API server, worker and ort-cpu agent, from an empty database.

Baseline in the same run: the protocol's own floor, (0.2 s warm-up + 1 s timed) per entry;
``ratio_to_protocol_floor`` is how much export, download, session setup and queueing add.

    python bench/lut_build.py [--threads 2] [--resolution 224]
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
from pathlib import Path

from latency_db.settings import Settings
from latency_db.spaces import get_space
from profiler_agent.protocol import MeasurementPolicy
from services.cli.stack import running_stack
from services.cli.workflows import Target, build_lookup_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    space = get_space("proxyless", args.resolution)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        with running_stack(settings, secrets.token_urlsafe(24), args.threads) as (api, device):
            target = Target(
                device, {"backend": "ort-cpu", "settings": {"threads": args.threads}}, args.batch
            )
            start = time.monotonic()
            table = build_lookup_table(api, target, space, timeout_s=3600)
            seconds = time.monotonic() - start
    policy = MeasurementPolicy()
    entries = table["progress"]["measured"]
    floor = entries * (policy.warmup_min_s + policy.timed_min_s)
    print(
        json.dumps(
            {
                "space": space.ref,
                "batch": args.batch,
                "entries": entries,
                "failed": table["progress"]["failed"],
                "seconds": round(seconds, 1),
                "entries_per_minute": round(60 * entries / seconds, 2),
                "baseline_protocol_floor_s": round(floor, 1),
                "ratio_to_protocol_floor": round(seconds / floor, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
