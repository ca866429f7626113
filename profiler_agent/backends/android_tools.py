"""Command lines and output parsers of the on-phone benchmark tools (pure functions).

- ONNX Runtime ``onnxruntime_perf_test`` (microsoft/onnxruntime,
  ``onnxruntime/test/perftest``): flags from ``command_args_parser.cc`` ShowUsage (``-I``
  generate inputs, ``-m times``, ``-r`` runs, ``-x`` intra-op threads, ``-y`` inter-op
  threads, ``-o 99`` all optimizations, ``-s`` statistics, ``-p`` profile prefix). With a
  result file, ``PerformanceResult::DumpToFile`` (``performance_runner.cc``) appends one CSV
  line per timed run, ``<model>,<seconds>,<peak working set>,<cpu %>,<run index>``, so per-run
  times are real; stdout carries ``PerformanceRunner::Run``'s summary ("Average inference time
  cost: 1.47 ms") and, with ``-s``, "P50 Latency: 0.00142 s" lines (the README's older sample
  prints "P50 Latency is 0.0587108sec"; both are read). The tool runs one warm-up iteration
  itself before the timed ones.
- TFLite ``benchmark_model`` (tensorflow/lite/tools/benchmark): ``--graph --num_threads
  --num_runs --min_secs --warmup_runs --warmup_min_secs --use_xnnpack``. It prints the
  ``Stat`` line of ``stats_calculator`` ("count=50 first=.. curr=.. min=.. max=.. avg=..
  std=.. p5=.. median=.. p95=..", microseconds) for warm-up and timed runs, then "Inference
  timings in us: Init: .., First inference: .., Warmup (avg): .., Inference (avg): ..". It has
  no per-run output, so a TFLite measurement carries these statistics only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from profiler_agent.stats import LatencyStats

TFLITE_MAGIC = b"TFL3"
_NUMBER = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)"
_PERF_LATENCY = re.compile(rf"\b(Min|Max|P50|P90|P95|P99|P999) Latency(?::| is) {_NUMBER} ?s")
_PERF_AVERAGE = re.compile(rf"Average inference time cost: {_NUMBER} ms")
_PERF_REQUESTS = re.compile(r"Total inference requests: (\d+)")
_TFLITE_STAT = re.compile(r"count=(\d+)((?: \w+=[-+.\deE]+)+)")
_TFLITE_TIMINGS = re.compile(
    rf"Inference timings in us: Init: {_NUMBER}, First inference: {_NUMBER}, "
    rf"Warmup \(avg\): {_NUMBER}, Inference \(avg\): {_NUMBER}"
)


def is_tflite(head: bytes) -> bool:
    """A TFLite flatbuffer carries the file identifier ``TFL3`` at bytes 4..8."""
    return head[4:8] == TFLITE_MAGIC


# -- onnxruntime_perf_test ----------------------------------------------------------------
def perf_test_command(
    binary: str,
    model: str,
    result_file: str,
    *,
    runs: int,
    threads: int,
    profile_prefix: str | None = None,
) -> list[str]:
    """The tool's argv: generated inputs, ``runs`` timed runs, sequential, all optimizations."""
    argv = [
        binary,
        "-I",
        "-m",
        "times",
        "-r",
        str(runs),
        "-x",
        str(threads),
        "-y",
        "1",
        "-o",
        "99",
        "-s",
    ]
    if profile_prefix is not None:
        argv += ["-p", profile_prefix]
    return [*argv, model, result_file]


def parse_perf_test_results(text: str) -> list[float]:
    """Per-run times in ms from the tool's result file (seconds in its second CSV field)."""
    times = []
    for line in text.splitlines():
        fields = line.strip().rsplit(",", 4)
        if len(fields) == 5 and fields[4].isdigit():
            times.append(float(fields[1]) * 1000.0)
    return times


@dataclass(frozen=True)
class PerfTestSummary:
    """What ``onnxruntime_perf_test`` printed; latencies in ms."""

    requests: int | None
    average_ms: float | None
    latencies_ms: Mapping[str, float]


def parse_perf_test_stdout(text: str) -> PerfTestSummary:
    requests = _PERF_REQUESTS.search(text)
    average = _PERF_AVERAGE.search(text)
    return PerfTestSummary(
        requests=int(requests.group(1)) if requests else None,
        average_ms=float(average.group(1)) if average else None,
        latencies_ms={
            m.group(1).lower(): float(m.group(2)) * 1000.0 for m in _PERF_LATENCY.finditer(text)
        },
    )


# -- TFLite benchmark_model ----------------------------------------------------------------
def tflite_command(
    binary: str,
    model: str,
    *,
    threads: int,
    warmup_runs: int,
    warmup_s: float,
    runs: int,
    min_s: float,
) -> list[str]:
    return [
        binary,
        f"--graph={model}",
        f"--num_threads={threads}",
        f"--num_runs={runs}",
        f"--min_secs={min_s}",
        f"--warmup_runs={warmup_runs}",
        f"--warmup_min_secs={warmup_s}",
        "--use_xnnpack=true",
    ]


@dataclass(frozen=True)
class TfliteBenchmark:
    """``benchmark_model``'s timed-phase statistics and summary line, in microseconds."""

    timed: Mapping[str, float]
    init_us: float
    first_us: float
    warmup_avg_us: float
    inference_avg_us: float

    def latency_stats(self) -> LatencyStats:
        """As :class:`LatencyStats` (ms). ``std`` is the tool's population std; the tool
        reports p5/median/p95, so p90/p99 stay None."""
        t = self.timed
        if "median" not in t:
            raise ValueError("benchmark_model printed no median (a build older than p5/median)")
        count = int(t["count"])
        return LatencyStats(
            runs=count,
            total_ms=t["avg"] * count / 1000.0,
            median_ms=t["median"] / 1000.0,
            mean_ms=t["avg"] / 1000.0,
            min_ms=t["min"] / 1000.0,
            max_ms=t["max"] / 1000.0,
            p90_ms=None,
            p99_ms=None,
            std_ms=t["std"] / 1000.0,
            cv=t["std"] / t["avg"],
        )


def parse_tflite_benchmark(text: str) -> TfliteBenchmark:
    """The last ``count=`` statistics line (the timed runs) and the timings summary."""
    summary = _TFLITE_TIMINGS.search(text)
    stats = [_stat_fields(m.group(1), m.group(2)) for m in _TFLITE_STAT.finditer(text)]
    stats = [s for s in stats if "avg" in s]
    if summary is None or not stats:
        raise ValueError("no benchmark_model statistics in the output")
    init, first, warmup, inference = (float(g) for g in summary.groups())
    return TfliteBenchmark(stats[-1], init, first, warmup, inference)


def _stat_fields(count: str, rest: str) -> dict[str, float]:
    fields = {"count": float(count)}
    for pair in rest.split():
        key, _, value = pair.partition("=")
        fields[key] = float(value)
    return fields


# -- the phone ------------------------------------------------------------------------------
def parse_adb_devices(text: str) -> list[str]:
    """Serials in state ``device`` from ``adb devices`` (not offline/unauthorized)."""
    serials = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2 and fields[1] == "device":
            serials.append(fields[0])
    return serials


def parse_core_max_khz(text: str) -> dict[int, int]:
    """``<cpu index> <cpuinfo_max_freq kHz>`` lines; cores without cpufreq are left out."""
    cores = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
            cores[int(fields[0])] = int(fields[1])
    return cores


def fastest_cores(max_khz: Mapping[int, int], count: int) -> list[int]:
    """The ``count`` cores with the highest maximum clock (big cores first), ties by index."""
    if count > len(max_khz):
        raise ValueError(f"asked for {count} cores; the phone reports {len(max_khz)}")
    ranked = sorted(max_khz, key=lambda core: (-max_khz[core], core))
    return sorted(ranked[:count])


def affinity_mask(cores: Iterable[int]) -> str:
    """Hex CPU mask for toybox ``taskset``."""
    mask = 0
    for core in cores:
        mask |= 1 << core
    return f"{mask:x}"


def shell_quote(argv: Sequence[str]) -> str:
    """One ``adb shell`` command line; arguments are single-quoted for the phone's sh."""
    return " ".join("'" + a.replace("'", "'\\''") + "'" for a in argv)
