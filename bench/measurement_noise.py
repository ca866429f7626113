"""How repeatable is one measurement? The same network measured 10 times on ort-cpu.

A fixed architecture of the ProxylessNAS space at 224 is exported once (batch 32); each of
the 10 repetitions builds a fresh ONNX Runtime session and runs the full protocol of design
section 4. The figure is the CV of the 10 medians; the baseline, measured in the same run, is
the mean within-measurement CV of the per-run times, so ``ratio`` < 1 says the median is
steadier than single runs.

    python bench/measurement_noise.py [--repeats 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from latency_db.artifact_store import ArtifactStore
from latency_db.spaces import get_space
from profiler_agent.backends import BackendSettings, create_backend
from profiler_agent.measure import measure_file
from profiler_agent.protocol import MeasurementPolicy
from search_worker.export import export_architecture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    space = get_space("proxyless", args.resolution)
    arch = space.sample(0)
    backend = create_backend("ort-cpu")
    settings = BackendSettings(threads=args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        artifact = export_architecture(
            space, arch, batch=args.batch, store=ArtifactStore(Path(tmp))
        )
        records = [
            measure_file(
                backend,
                artifact.path,
                None,
                settings,
                policy=MeasurementPolicy(),
                with_profile=False,
            )
            for _ in range(args.repeats)
        ]
    medians = [r["stats"]["median_ms"] for r in records]
    within = statistics.fmean(r["stats"]["cv"] for r in records)
    cv_of_medians = statistics.stdev(medians) / statistics.fmean(medians)
    for i, median in enumerate(medians):
        print(f"repeat {i}: median {median:.2f} ms (CV {records[i]['stats']['cv']:.1%})")
    print(
        json.dumps(
            {
                "architecture": space.format(arch),
                "threads": args.threads,
                "median_ms": round(statistics.median(medians), 3),
                "cv_of_medians": round(cv_of_medians, 5),
                "baseline_within_run_cv": round(within, 5),
                "ratio": round(cv_of_medians / within, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
