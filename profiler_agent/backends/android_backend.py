"""Android phones over adb: the agent runs on a host, the model on the attached phone.

The model is pushed to ``/data/local/tmp/hwnas/<sha256>/``, and the phone's own benchmark tool
runs it pinned with ``taskset`` to the ``threads`` fastest cores (by ``cpuinfo_max_freq``)
with as many intra-op threads (see :mod:`profiler_agent.backends.android_tools` for the tools'
flags and output formats):

- ONNX files run in ONNX Runtime's ``onnxruntime_perf_test`` (option ``perf_test``, default
  ``/data/local/tmp/onnxruntime_perf_test``). Each invocation first runs ``inprocess_warmup``
  (default 5) untimed runs in the same process, so the reported per-run times are real and
  warm; per-layer profiles come from its ``-p`` ORT trace.
- TFLite flatbuffers (file identifier ``TFL3``) run in ``benchmark_model`` (option
  ``benchmark_model``) with XNNPACK; that tool prints statistics only, so the timing kind is
  ``summary`` and a measurement has no raw per-run times.

The phone is chosen as adb chooses it (``ANDROID_SERIAL`` when several are attached). No phone
was attached where this was written: the parsers are tested on the tools' documented output,
the adb path itself has not run against a device.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler_agent.backends import register_backend
from profiler_agent.backends.android_tools import (
    affinity_mask,
    fastest_cores,
    is_tflite,
    parse_adb_devices,
    parse_core_max_khz,
    parse_perf_test_results,
    parse_tflite_benchmark,
    perf_test_command,
    shell_quote,
    tflite_command,
)
from profiler_agent.backends.base import (
    Backend,
    BackendSettings,
    BackendUnavailable,
    DeviceLost,
    Prepared,
    TimingKind,
    Unsupported,
)
from profiler_agent.environment import fingerprint
from profiler_agent.evidence import EvidenceCollector
from profiler_agent.evidence.android import AndroidCollector
from profiler_agent.layer_profile import LayerTime, parse_ort_profile
from profiler_agent.stats import LatencyStats

REMOTE_ROOT = "/data/local/tmp/hwnas"
_DEFAULT_TOOLS = {
    "perf_test": "/data/local/tmp/onnxruntime_perf_test",
    "benchmark_model": "/data/local/tmp/benchmark_model",
}
_KNOWN_OPTIONS = {*_DEFAULT_TOOLS, "inprocess_warmup"}
_LOST = ("device not found", "no devices/emulators found", "device offline", "device unauthorized")
_PROPS = {
    "model": "ro.product.model",
    "manufacturer": "ro.product.manufacturer",
    "board_platform": "ro.board.platform",
    "soc_model": "ro.soc.model",
    "soc_manufacturer": "ro.soc.manufacturer",
    "android_release": "ro.build.version.release",
    "abi": "ro.product.cpu.abi",
}
_CORES_SCRIPT = (
    "for c in /sys/devices/system/cpu/cpu[0-9]*; do "
    'echo "${c##*cpu} $(cat $c/cpufreq/cpuinfo_max_freq 2>/dev/null)"; done'
)


class Adb:
    """``adb`` subprocess calls; adb's own ``ANDROID_SERIAL`` picks the phone."""

    def __init__(self, binary: str, timeout_s: float = 600.0) -> None:
        self.binary = binary
        self.timeout_s = timeout_s

    def __call__(self, *args: str) -> str:
        try:
            done = subprocess.run(
                [self.binary, *args], capture_output=True, text=True, timeout=self.timeout_s
            )
        except subprocess.TimeoutExpired as err:
            raise TimeoutError(f"adb {args[0]} ran longer than {self.timeout_s:.0f} s") from err
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip()
            if any(marker in message for marker in _LOST):
                raise DeviceLost(f"adb {args[0]}: {message}")
            raise RuntimeError(f"adb {' '.join(args)[:200]} failed: {message[-2000:]}")
        return done.stdout

    def shell(self, argv: Sequence[str]) -> str:
        return self("shell", shell_quote(argv))


@dataclass
class AndroidPrepared(Prepared):
    tool: str
    binary: str
    remote_model: str
    remote_dir: str
    cpu_mask: str
    threads: int
    inprocess_warmup: int


@register_backend("android-adb")
class AndroidAdbBackend(Backend[AndroidPrepared]):
    """A phone attached to this host over adb; ONNX via ORT perf test, TFLite via XNNPACK."""

    job_options = frozenset({"inprocess_warmup"})

    def __init__(self) -> None:
        binary = shutil.which("adb")
        if binary is None:
            raise BackendUnavailable(f"{self.name}: adb is not on PATH (install platform-tools)")
        self.adb = Adb(binary)
        serials = parse_adb_devices(self.adb("devices"))
        wanted = os.environ.get("ANDROID_SERIAL")
        if wanted is not None and wanted not in serials:
            raise BackendUnavailable(f"{self.name}: ANDROID_SERIAL={wanted} is not attached")
        if not serials:
            raise BackendUnavailable(f"{self.name}: no phone attached (adb devices lists none)")
        if wanted is None and len(serials) > 1:
            raise BackendUnavailable(
                f"{self.name}: {len(serials)} phones attached ({', '.join(serials)}); "
                "set ANDROID_SERIAL"
            )
        self.serial = wanted or serials[0]

    def prepare(
        self, model_path: Path, input_shape: Sequence[int] | None, settings: BackendSettings
    ) -> AndroidPrepared:
        settings.require_precision(self.name, ("fp32",))
        unknown = sorted(set(settings.options) - _KNOWN_OPTIONS)
        if unknown:
            raise ValueError(f"{self.name}: unknown options {', '.join(unknown)}")
        with model_path.open("rb") as handle:
            tool = "benchmark_model" if is_tflite(handle.read(8)) else "perf_test"
        binary = settings.options.get(tool, _DEFAULT_TOOLS[tool])
        try:
            self.adb.shell(["test", "-x", binary])
        except RuntimeError as err:
            raise BackendUnavailable(
                f"{self.name}: {binary} is not an executable on the phone; push the Android "
                f"build of {tool} there (or set the {tool} option)"
            ) from err
        max_khz = parse_core_max_khz(self.adb.shell(["sh", "-c", _CORES_SCRIPT]))
        threads = settings.resolved_threads(available=len(max_khz))
        cores = fastest_cores(max_khz, threads)
        sha = hashlib.sha256(model_path.read_bytes()).hexdigest()
        remote_dir = f"{REMOTE_ROOT}/{sha[:16]}"
        remote_model = f"{remote_dir}/model.{'tflite' if tool == 'benchmark_model' else 'onnx'}"
        self.adb.shell(["mkdir", "-p", remote_dir])
        self.adb("push", str(model_path), remote_model)
        return AndroidPrepared(
            model_path=model_path,
            input_shape=tuple(int(d) for d in input_shape or ()),
            settings={
                "tool": tool,
                "intra_op_num_threads": threads,
                "cpu_affinity": cores,
                "precision": "fp32",
                "serial": self.serial,
                "input_shape_source": "the model's static shape (tool-generated inputs)",
            },
            tool=tool,
            binary=binary,
            remote_model=remote_model,
            remote_dir=remote_dir,
            cpu_mask=affinity_mask(cores),
            threads=threads,
            inprocess_warmup=int(settings.options.get("inprocess_warmup", "5")),
        )

    def timing_kind(self, prepared: AndroidPrepared) -> TimingKind:
        return "summary" if prepared.tool == "benchmark_model" else "per_run"

    def _perf_test(self, prepared: AndroidPrepared, runs: int, profile: str | None) -> list[float]:
        result = f"{prepared.remote_dir}/result.csv"
        self.adb.shell(["rm", "-f", result])
        argv = perf_test_command(
            prepared.binary,
            prepared.remote_model,
            result,
            runs=prepared.inprocess_warmup + runs,
            threads=prepared.threads,
            profile_prefix=profile,
        )
        self.adb.shell(["taskset", prepared.cpu_mask, *argv])
        times = parse_perf_test_results(self.adb.shell(["cat", result]))
        return times[prepared.inprocess_warmup :]

    def run_batch(self, prepared: AndroidPrepared, runs: int) -> list[float]:
        if prepared.tool != "perf_test":
            raise Unsupported(f"{self.name}: benchmark_model reports statistics, not per-run times")
        return self._perf_test(prepared, runs, profile=None)

    def run(self, prepared: AndroidPrepared) -> float:
        (time_ms,) = self.run_batch(prepared, 1)
        return time_ms

    def run_summary(
        self,
        prepared: AndroidPrepared,
        *,
        warmup_runs: int,
        warmup_s: float,
        runs: int,
        min_s: float,
    ) -> LatencyStats:
        if prepared.tool != "benchmark_model":
            raise Unsupported(f"{self.name}: perf_test gives per-run times; use run_batch")
        argv = tflite_command(
            prepared.binary,
            prepared.remote_model,
            threads=prepared.threads,
            warmup_runs=warmup_runs,
            warmup_s=warmup_s,
            runs=runs,
            min_s=min_s,
        )
        return parse_tflite_benchmark(
            self.adb.shell(["taskset", prepared.cpu_mask, *argv])
        ).latency_stats()

    def profile_layers(self, prepared: AndroidPrepared, runs: int = 10) -> list[LayerTime]:
        """ORT's ``-p`` trace of a perf-test run, pulled back and parsed like a local one."""
        if prepared.tool != "perf_test":
            raise Unsupported(f"{self.name}: no per-layer profile from benchmark_model here")
        profile_dir = f"{prepared.remote_dir}/profile"
        self.adb.shell(["rm", "-rf", profile_dir])
        self.adb.shell(["mkdir", "-p", profile_dir])
        self._perf_test(prepared, runs, profile=f"{profile_dir}/ort")
        traces = self.adb.shell(["ls", profile_dir]).split()
        if len(traces) != 1:
            raise RuntimeError(f"{self.name}: expected one profile in {profile_dir}, got {traces}")
        (trace,) = traces
        with tempfile.TemporaryDirectory(prefix="hwnas-adb-profile-") as tmp:
            local = Path(tmp) / "trace.json"
            self.adb("pull", f"{profile_dir}/{trace}", str(local))
            events = json.loads(local.read_text())
        # the tool's own warm-up iteration, then the in-process warm-up runs
        return parse_ort_profile(events, skip_runs=1 + prepared.inprocess_warmup)

    def evidence_collector(self, prepared: AndroidPrepared) -> EvidenceCollector:
        """The phone's thermal status and clocks (the host's CPU does not time the model)."""
        return AndroidCollector(self.adb.shell)

    def describe_environment(self) -> dict[str, Any]:
        phone: dict[str, Any] = {"serial": self.serial}
        for key, prop in _PROPS.items():
            value = self.adb.shell(["getprop", prop]).strip()
            if value:
                phone[key] = value
        governors = self.adb.shell(
            ["sh", "-c", "cat /sys/devices/system/cpu/cpufreq/policy*/scaling_governor"]
        ).split()
        if governors:
            phone["cpu_governors"] = sorted(set(governors))
        cores = parse_core_max_khz(self.adb.shell(["sh", "-c", _CORES_SCRIPT]))
        phone["core_max_mhz"] = {str(c): khz // 1000 for c, khz in sorted(cores.items())}
        return {"phone": phone, "host": fingerprint()}
