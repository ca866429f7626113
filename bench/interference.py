"""Does the agent catch interference? Networks measured quiet, then beside an on/off load.

ProxylessNAS networks (``--networks``, random, ``--seed``) at ``--resolution`` and
``--batch`` are exported once (cached under ``bench-output/interference/``) and measured
in-process with the agent's ``ort-cpu`` backend (``--threads``, default the usable cores) and
protocol:

1. quiet: the network with the full protocol (evidence, verdict, re-measure after a wait
   for quiet, adaptive stopping);
2. loaded, in the same session: a load generator started and stopped by this script (one
   child process spinning on one core, resumed and paused for random 2-6 s stretches, each
   stretch logged) runs while the network is measured with today's protocol (one timed
   phase judged whole, no verdict-driven re-measure, no adaptive stopping:
   ``max_disturbed_tries=1, max_timed_s=0``, one window) and then with the full protocol;
3. quiet again, with the full protocol. The reference is the mean of the two quiet medians,
   which bracket the loaded pass in time, so that the device's own drift over the minute
   between them is not counted as the load's error.

The protocol judges each timed window (about ``quiet_window_s`` of runs) on its own
evidence. Ground truth per window: the load was on for more than ``--overlap`` of it.
Figures: ``detected_pct`` (loaded windows over the overlap flagged disturbed; goal >= 95),
``false_alarm_pct`` (quiet-pass windows flagged; goal <= 5), ``accepted_error_pct`` (median
relative error against the quiet reference of the loaded full-protocol medians whose final
verdict is clean; goal <= 2; ``accepted_error_before_pct`` the same against the first quiet
median alone), ``quiet_repeat_pct`` (median difference between the two quiet medians: the
floor under ``accepted_error_pct`` that drift and noise set with no load),
``time_cost_ratio`` (full protocol's time / today's protocol's time, both in the loaded
pass). The quiet passes assume a quiet machine: run it on one.

    python bench/interference.py [--networks 20] [--resolution 224] [--batch 32] [--seed 0]
                                 [--threads N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from latency_db.artifact_store import ArtifactStore
from latency_db.spaces import get_space
from profiler_agent.backends import BackendSettings
from profiler_agent.backends.ort_backend import OrtCpuBackend, OrtPrepared
from profiler_agent.environment import usable_cores
from profiler_agent.evidence import Evidence, EvidenceCollector
from profiler_agent.evidence.cpu import CpuCollector
from profiler_agent.protocol import Measurement, MeasurementPolicy, measure
from profiler_agent.verdict import find_disturbance
from search_worker.export import export_architecture

CACHE = Path("bench-output/interference")


@dataclass(frozen=True)
class Interval:
    """One watched interval: a timed phase when runs happened in it, else a quiet window."""

    start: float
    end: float
    runs: int
    evidence: Evidence


class LoggedBackend(OrtCpuBackend):
    """ort-cpu whose collector logs every interval it watches, with the runs made in it."""

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0
        self.intervals: list[Interval] = []

    def run_batch(self, prepared: OrtPrepared, runs: int) -> list[float]:
        self.runs += runs
        return super().run_batch(prepared, runs)

    def evidence_collector(self, prepared: OrtPrepared) -> EvidenceCollector:
        return _LoggingCollector(self)


class _LoggingCollector(EvidenceCollector):
    def __init__(self, backend: LoggedBackend) -> None:
        self.backend = backend
        self.inner = CpuCollector()
        self._began = (0.0, 0)

    def start(self) -> None:
        self._began = (time.monotonic(), self.backend.runs)
        self.inner.start()

    def stop(self) -> Evidence:
        evidence = self.inner.stop()
        began, runs = self._began
        interval = Interval(began, time.monotonic(), self.backend.runs - runs, evidence)
        self.backend.intervals.append(interval)
        return evidence


class LoadGenerator:
    """One child spinning on one core, resumed and paused (SIGCONT/SIGSTOP) for random
    stretches; ``on`` logs the (start, end) of every stretch it ran."""

    def __init__(self, rng: random.Random, on_s: tuple[float, float], off_s: tuple[float, float]):
        self.rng, self.on_s, self.off_s = rng, on_s, off_s
        self.on: list[tuple[float, float]] = []
        self._stopping = threading.Event()
        self._child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        os.kill(self._child.pid, signal.SIGSTOP)
        self._thread = threading.Thread(target=self._switch, name="load", daemon=True)

    def __enter__(self) -> LoadGenerator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._thread.join()
        self._child.kill()
        self._child.wait()

    def _switch(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            os.kill(self._child.pid, signal.SIGCONT)
            self._stopping.wait(self.rng.uniform(*self.on_s))
            os.kill(self._child.pid, signal.SIGSTOP)
            self.on.append((started, time.monotonic()))
            self._stopping.wait(self.rng.uniform(*self.off_s))

    def on_share(self, start: float, end: float) -> float:
        """Share of [start, end] during which the load ran."""
        overlap = sum(max(0.0, min(end, b) - max(start, a)) for a, b in self.on)
        return overlap / (end - start) if end > start else 0.0


def export_networks(count: int, resolution: int, batch: int, seed: int) -> list[Path]:
    space = get_space("proxyless", resolution)
    rng = random.Random(seed)
    paths = []
    with tempfile.TemporaryDirectory() as tmp:
        for arch in (space.sample(rng) for _ in range(count)):
            key = hashlib.sha256(f"{space.ref}|{batch}|{space.format(arch)}".encode()).hexdigest()
            path = CACHE / f"{key[:24]}.onnx"
            if not path.exists():
                artifact = export_architecture(
                    space, arch, batch=batch, store=ArtifactStore(Path(tmp))
                )
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(artifact.path.read_bytes())
            paths.append(path)
    return paths


def timed(
    backend: LoggedBackend, prepared: OrtPrepared, policy: MeasurementPolicy
) -> tuple[Measurement, float, list[Interval]]:
    """The measurement, its wall time and the timed windows it ran."""
    first = len(backend.intervals)
    started = time.monotonic()
    result = measure(backend, prepared, policy)
    seconds = time.monotonic() - started
    return result, seconds, [i for i in backend.intervals[first:] if i.runs > 0]


def pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def median_pct(shares: list[float]) -> float | None:
    return round(100.0 * statistics.median(shares), 3) if shares else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=20)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overlap", type=float, default=0.2, help="ground truth: load share")
    parser.add_argument("--threads", type=int, help="ORT intra-op threads (default: usable cores)")
    args = parser.parse_args()
    loadavg_at_start = psutil.getloadavg()[0]
    paths = export_networks(args.networks, args.resolution, args.batch, args.seed)
    full = MeasurementPolicy()
    # Before issue 16: one timed phase of the minimums, judged whole (one window), no waits.
    today = replace(full, max_disturbed_tries=1, max_timed_s=0.0, quiet_window_s=1e6)
    backend = LoggedBackend()
    threads = args.threads or usable_cores()
    rng = random.Random(args.seed)
    quiet_phases: list[Interval] = []
    overlapped: list[Interval] = []
    errors: list[float] = []
    errors_before: list[float] = []
    quiet_repeats: list[float] = []
    today_s, full_s = 0.0, 0.0
    for i, path in enumerate(paths):
        model = backend.prepare(path, None, BackendSettings(threads=threads))
        try:
            before, _, phases = timed(backend, model, full)
            quiet_phases += phases
            with LoadGenerator(rng, (2.0, 6.0), (2.0, 6.0)) as load:
                _, seconds_today, phases_today = timed(backend, model, today)
                result, seconds_full, phases_full = timed(backend, model, full)
            overlapped += [
                p
                for p in phases_today + phases_full
                if load.on_share(p.start, p.end) > args.overlap
            ]
            after, _, phases = timed(backend, model, full)
            quiet_phases += phases
        finally:
            backend.release(model)
        today_s += seconds_today
        full_s += seconds_full
        reference_ms = (before.median_ms + after.median_ms) / 2.0
        error = abs(result.median_ms - reference_ms) / reference_ms
        quiet_repeats.append(abs(after.median_ms - before.median_ms) / reference_ms)
        if result.verdict.verdict == "clean":
            errors.append(error)
            errors_before.append(abs(result.median_ms - before.median_ms) / before.median_ms)
        print(
            f"network {i:2d}: quiet {before.median_ms:.2f} ms ({before.verdict.verdict}) and "
            f"{after.median_ms:.2f} ms ({after.verdict.verdict}); "
            f"loaded {result.median_ms:.2f} ms ({result.verdict.verdict}; "
            f"{result.evidence['disturbed_windows']} of {result.evidence['windows']} windows "
            f"set aside, {100 * error:.1f}% off)",
            flush=True,
        )
    detected = sum(find_disturbance(p.evidence, full) is not None for p in overlapped)
    false_alarms = sum(find_disturbance(p.evidence, full) is not None for p in quiet_phases)
    print(
        json.dumps(
            {
                "networks": args.networks,
                "resolution": args.resolution,
                "batch": args.batch,
                "seed": args.seed,
                "threads": threads,
                "overlap_threshold": args.overlap,
                "load": "1 core, on 2-6 s / off 2-6 s",
                "max_other_cpu": full.max_other_cpu,
                "loadavg_at_start": round(loadavg_at_start, 2),
                "quiet_windows": len(quiet_phases),
                "overlapped_windows": len(overlapped),
                "detected_pct": pct(detected, len(overlapped)),
                "false_alarm_pct": pct(false_alarms, len(quiet_phases)),
                "accepted_networks": len(errors),
                "accepted_error_pct": median_pct(errors),
                "accepted_error_before_pct": median_pct(errors_before),
                "quiet_repeat_pct": median_pct(quiet_repeats),
                "time_cost_ratio": round(full_s / today_s, 3) if today_s else None,
            }
        )
    )


if __name__ == "__main__":
    main()
