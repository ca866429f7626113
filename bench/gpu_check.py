"""One prepared device check (issue 15), printed as one JSON line.

- ``latency``: for ``ort-cuda``, ``ort-tensorrt``, ``tensorrt`` and ``torch-cuda`` the
  batch-32 latency at 224 of all-``k3_e6`` and all-``k7_e6`` proxyless networks (median, CV,
  SM clock and temperature), measured as the agent measures (``profiler_agent.measure``);
- ``lut_vs_measured``: on ``tensorrt``, the LUT sum (every op block measured alone) against
  the measured whole network of 10 random architectures (bias and MAPE, in %);
- ``search``: a 200-step ``proxyless`` search at proxy resolution 64 trained on CUDA, its
  step time against the same search's first steps on the CPU;
- ``peak_memory_mb``: ``torch.cuda.max_memory_allocated`` over one ``proxyless`` and one
  ``darts`` step (weight and architecture step).

Every part has a deadline (at most ``part_s``, and all stop by ``--budget-s``; the lookup
table comes last) and fails alone (its figure null, the reason in ``reasons``).
``--dry-run`` runs the same code paths on the CPU at a tiny size (``ort-cpu``/``torch-cpu``
stand in for the GPU backends; their figures are under ``cpu_stand_ins``), the GPU figures
null with the reason.

    bash bench/gpu_check.sh [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latency_db.artifact_store import ArtifactStore
from latency_db.predictors import LutPredictor, layer_table
from latency_db.search_spec import BUNDLED_DATASET, SearchSpec
from latency_db.spaces import SearchSpace, get_space
from profiler_agent.backends import create_backend
from profiler_agent.backends.base import BackendSettings
from profiler_agent.measure import measure_file
from profiler_agent.policy import MeasurementPolicy
from search_worker.devices import describe_device
from search_worker.export import ArtifactKind, export_architecture, export_op_block
from search_worker.latency import latency_model
from search_worker.oracle import PredictorOracle
from search_worker.search.assembly import search_data
from search_worker.search.run import SearchRun

GPU_BACKENDS = ("ort-cuda", "ort-tensorrt", "tensorrt", "torch-cuda")
CPU_STAND_INS = ("ort-cpu", "torch-cpu")
UNIFORM = ("k3_e6", "k7_e6")


@dataclass(frozen=True)
class Size:
    resolution: int
    width: float
    batch: int
    lut_networks: int
    search_steps: int
    cpu_steps: int
    proxy_resolution: int
    search_batch: int
    policy: MeasurementPolicy
    part_s: float  # deadline of each part


REAL = Size(224, 1.0, 32, 10, 200, 10, 64, 32, MeasurementPolicy(max_timed_s=3.0), 90.0)
DRY = Size(
    32,
    0.35,
    2,
    2,
    3,
    2,
    16,
    8,
    MeasurementPolicy(  # a few runs, judged but never waited for or re-run
        warmup_min_runs=2,
        warmup_min_s=0.0,
        timed_min_runs=5,
        timed_min_s=0.0,
        max_timed_s=0.2,
        reruns_when_unstable=0,
        max_disturbed_tries=1,
        max_quiet_wait_s=0.0,
    ),
    30.0,
)


class Deadline(RuntimeError):
    """A part ran out of its time."""


class Check:
    """The figures and the reasons of the parts that gave none."""

    def __init__(self, size: Size, store: ArtifactStore, ends: float) -> None:
        self.size = size
        self.ends = ends  # monotonic time by which every part has stopped
        self.store = store
        self.space = get_space("proxyless", size.resolution, size.width)
        self.reasons: dict[str, str] = {}

    def part(self, name: str, run: Callable[[float], Any]) -> Any:
        """``run(deadline)``, or None with the reason recorded."""
        try:
            return run(min(time.monotonic() + self.size.part_s, self.ends))
        except Exception as err:  # one part's failure (a missing runtime) ends only that part
            self.reasons[name] = f"{type(err).__name__}: {err}"[:400]
            return None

    def skip(self, name: str, reason: str) -> Any:
        """None, with the reason the part was not run."""
        self.reasons[name] = reason
        return None

    def measure(self, backend_name: str, path: Path, shape: tuple[int, ...]) -> dict[str, Any]:
        backend = create_backend(backend_name)
        settings = BackendSettings(cache_dir=self.store.root / "cache")
        record = measure_file(
            backend, path, shape, settings, policy=self.size.policy, with_profile=False
        )
        evidence = record["evidence"]
        return {
            "median_ms": round(record["median_ms"], 4),
            "cv": round(record["stats"]["cv"], 4),
            "verdict": record["verdict"]["verdict"],
            **{k: evidence[k] for k in ("gpu_sm_clock_mhz", "gpu_temp_c") if k in evidence},
        }

    def network(self, arch: list[str], kind: ArtifactKind) -> tuple[Path, tuple[int, ...]]:
        artifact = export_architecture(
            self.space,
            arch,
            batch=self.size.batch,
            store=self.store,
            kind=kind,
        )
        return artifact.path, artifact.input_shape

    def uniform_latency(self, backend_name: str, deadline: float) -> dict[str, Any]:
        kind: ArtifactKind = "torchscript" if backend_name.startswith("torch") else "onnx"
        found = {}
        for op in UNIFORM:
            _check(deadline)
            found[f"all_{op}"] = self.measure(
                backend_name, *self.network([op] * len(self.space.layers), kind)
            )
        return found

    def lut_vs_measured(self, backend_name: str, deadline: float) -> dict[str, Any]:
        """LUT sum vs the measured network; ``errors`` in % of the measured latency."""
        lut: dict[str, float] = {}
        for key, block in self.space.candidate_blocks().items():
            _check(deadline, f"{len(lut)} of {len(self.space.candidate_blocks())} op blocks")
            artifact = export_op_block(block, batch=self.size.batch, store=self.store)
            lut[key] = self.measure(backend_name, artifact.path, artifact.input_shape)["median_ms"]
        errors: list[float] = []
        for seed in range(self.size.lut_networks):
            _check(deadline, f"{len(errors)} of {self.size.lut_networks} networks")
            arch = self.space.format(self.space.sample(seed)).split()
            measured = self.measure(backend_name, *self.network(arch, "onnx"))["median_ms"]
            errors.append(
                100 * (sum(lut[k] for k in self.space.op_keys(arch)) - measured) / measured
            )
        return {
            "networks": len(errors),
            "bias_pct": round(statistics.fmean(errors), 2),
            "mape_pct": round(statistics.fmean(abs(e) for e in errors), 2),
            "max_abs_pct": round(max(abs(e) for e in errors), 2),
        }


def _check(deadline: float, done: str = "") -> None:
    if time.monotonic() > deadline:
        raise Deadline(f"out of time{' after ' + done if done else ''}")


def search_run(size: Size, estimator: str, steps: int, device: torch.device) -> SearchRun:
    """A search on the bundled dataset against a seeded random lookup table (the latency
    values change no step's cost)."""
    spec = SearchSpec.model_validate(
        dict(
            proxy_resolution=size.proxy_resolution,
            steps=steps,
            warmup_steps=min(1, steps - 1),
            batch_size=size.search_batch,
            oracle="lut",
        )
    )
    deploy: SearchSpace = spec.deploy_space()
    rng = np.random.default_rng(0)
    lut = LutPredictor(
        layer_table(deploy, {k: float(rng.uniform(1, 5)) for k in deploy.all_op_keys()})
    )
    data = search_data(BUNDLED_DATASET, spec, device)
    return SearchRun(
        spec,
        estimator,
        1e9,
        latency_model(lut),
        PredictorOracle(lut, mode="lut"),
        data,
        device=device,
    )


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_ms(size: Size, device: torch.device, steps: int | None, deadline: float) -> dict[str, Any]:
    """Mean ms per step of the search's first ``steps`` steps (all when None), after the
    first step (which allocates and warms up); at the deadline, of the steps run so far."""
    run = search_run(size, "proxyless", size.search_steps, device)
    run.step()
    _synchronize(run.device)
    times: list[float] = []
    for _ in range((steps or run.spec.steps) - 1):
        if times and time.monotonic() > deadline:
            break
        start = time.perf_counter()
        metrics = run.step()
        _synchronize(run.device)
        times.append(1000 * (time.perf_counter() - start))
    return {
        "steps": len(times) + 1,
        "steps_planned": steps or run.spec.steps,
        "step_ms": round(statistics.fmean(times), 2),
        "final_weight_loss": round(metrics["weight_loss"], 4),
        "device": describe_device(run.device),
    }


def peak_memory_mb(size: Size, estimator: str, deadline: float) -> float:
    device = torch.device("cuda")
    run = search_run(size, estimator, 3, device)
    run.step()  # the warm-up step: weights only
    _check(deadline)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    run.step()  # weight and architecture step
    torch.cuda.synchronize()
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU only, tiny sizes")
    parser.add_argument(
        "--budget-s", type=float, default=400.0, help="every part stops by then (JSON printed)"
    )
    args = parser.parse_args()
    started = time.monotonic()
    size = DRY if args.dry_run else REAL
    cuda = torch.cuda.is_available() and not args.dry_run
    no_gpu = "dry run: CPU only" if args.dry_run else "torch sees no CUDA device"
    with tempfile.TemporaryDirectory(prefix="hwnas-gpu-check-") as tmp:
        check = Check(size, ArtifactStore(Path(tmp)), started + args.budget_s)
        report: dict[str, Any] = {
            "dry_run": args.dry_run,
            "device": describe_device(torch.device("cuda")) if cuda else "cpu",
            "space": check.space.ref,
            "batch": size.batch,
            "latency": {},
            "peak_memory_mb": {},
        }
        for name in GPU_BACKENDS:
            report["latency"][name] = (
                check.part(f"latency {name}", partial(check.uniform_latency, name))
                if cuda
                else check.skip(f"latency {name}", no_gpu)
            )
        on_cpu = check.part(
            "search on the CPU", partial(step_ms, size, torch.device("cpu"), size.cpu_steps)
        )
        on_cuda = (
            check.part("search on CUDA", partial(step_ms, size, torch.device("cuda"), None))
            if cuda
            else check.skip("search on CUDA", no_gpu)
        )
        report["search"] = {
            "estimator": "proxyless",
            "proxy_resolution": size.proxy_resolution,
            "batch": size.search_batch,
            "cuda": on_cuda,
            "cpu": on_cpu,
            "cpu_over_cuda": round(on_cpu["step_ms"] / on_cuda["step_ms"], 2)
            if on_cpu and on_cuda
            else None,
        }
        for estimator in ("proxyless", "darts"):
            report["peak_memory_mb"][estimator] = (
                check.part(f"peak memory {estimator}", partial(peak_memory_mb, size, estimator))
                if cuda
                else check.skip(f"peak memory {estimator}", no_gpu)
            )
        lut_backend = "tensorrt" if cuda else "ort-cpu"
        lut = check.part("lut_vs_measured", partial(check.lut_vs_measured, lut_backend))
        report["lut_vs_measured"] = lut and {"backend": lut_backend, **lut}
        if not cuda:
            report["cpu_stand_ins"] = {
                name: check.part(f"stand-in {name}", partial(check.uniform_latency, name))
                for name in CPU_STAND_INS
            }
        report["reasons"] = check.reasons
        report["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
