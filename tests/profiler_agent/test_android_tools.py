"""Parsers of the phone tools, on output in their documented formats (no phone here).

Samples follow the printing code of ``onnxruntime/test/perftest/performance_runner.cc``
(``PerformanceRunner::Run``, ``PerformanceResult::DumpToFile``), the older sample in that
directory's README.md, and the ``benchmark_model`` output shown in TFLite's benchmark
README / ``stats_calculator`` ``Stat`` line.
"""

from __future__ import annotations

import pytest

from profiler_agent.backends.android_tools import (
    affinity_mask,
    fastest_cores,
    is_tflite,
    parse_adb_devices,
    parse_core_max_khz,
    parse_perf_test_results,
    parse_perf_test_stdout,
    parse_tflite_benchmark,
    perf_test_command,
    shell_quote,
    tflite_command,
)

PERF_STDOUT = """\
Session creation time cost: 0.0349 s
First inference time cost: 2 ms
Total inference time cost: 0.147 s
Total inference requests: 4
Average inference time cost: 36.75 ms
Total inference run time: 0.148 s
Number of inferences per second: 27.02
Avg CPU usage: 98 %
Peak working set size: 34000000 bytes
Min Latency: 0.0352 s
Max Latency: 0.0391 s
P50 Latency: 0.0365 s
P90 Latency: 0.0391 s
P95 Latency: 0.0391 s
P99 Latency: 0.0391 s
P999 Latency: 0.0391 s
"""

PERF_README_STDOUT = """\
Total time cost:58.8053
Total iterations:1000
Average time cost:58.8053 ms
Min Latency is 0.0559777sec
P50 Latency is 0.0587108sec
"""

PERF_RESULT_FILE = """\
abc123,0.0352,34000000,98,0
abc123,0.0365,34000000,98,1
abc123,0.0391,34000000,98,2
abc123,0.0362,34000000,98,3

Min Latency: 0.0352 s
Max Latency: 0.0391 s
"""

TFLITE_OUTPUT = """\
INFO: Initialized session in 5.579ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=1 curr=1357602 p5=1357602 median=1357602 p95=1357602

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=1249964 curr=1240143 min=1238588 max=1252566 avg=1.24027e+06 std=2565 p5=1238753 median=1239807 p95=1247415

INFO: Inference timings in us: Init: 5579, First inference: 1357602, Warmup (avg): 1.3576e+06, Inference (avg): 1.24027e+06
INFO: Memory footprint delta from the start of the tool (MB): init=6.36328 overall=109.832
"""  # noqa: E501


def test_perf_test_result_file_gives_per_run_ms() -> None:
    assert parse_perf_test_results(PERF_RESULT_FILE) == pytest.approx([35.2, 36.5, 39.1, 36.2])


def test_perf_test_stdout_summary() -> None:
    summary = parse_perf_test_stdout(PERF_STDOUT)
    assert summary.requests == 4
    assert summary.average_ms == 36.75
    assert summary.latencies_ms["p50"] == pytest.approx(36.5)
    assert summary.latencies_ms["p999"] == pytest.approx(39.1)
    old = parse_perf_test_stdout(PERF_README_STDOUT)
    assert old.latencies_ms == pytest.approx({"min": 55.9777, "p50": 58.7108})


def test_perf_test_command_line() -> None:
    argv = perf_test_command(
        "/t/perf", "/m/model.onnx", "/m/r.csv", runs=25, threads=2, profile_prefix="/m/p"
    )
    assert argv == [
        "/t/perf",
        "-I",
        "-m",
        "times",
        "-r",
        "25",
        "-x",
        "2",
        "-y",
        "1",
        "-o",
        "99",
        "-s",
        "-p",
        "/m/p",
        "/m/model.onnx",
        "/m/r.csv",
    ]


def test_tflite_statistics_of_the_timed_phase() -> None:
    bench = parse_tflite_benchmark(TFLITE_OUTPUT)
    assert bench.init_us == 5579 and bench.first_us == 1357602
    assert bench.inference_avg_us == pytest.approx(1.24027e6)
    stats = bench.latency_stats()
    assert stats.runs == 50
    assert stats.median_ms == pytest.approx(1239.807)
    assert stats.mean_ms == pytest.approx(1240.27)
    assert (stats.min_ms, stats.max_ms) == pytest.approx((1238.588, 1252.566))
    assert stats.cv == pytest.approx(2565 / 1.24027e6)
    assert stats.p90_ms is None


def test_tflite_without_statistics_is_an_error() -> None:
    with pytest.raises(ValueError, match="no benchmark_model statistics"):
        parse_tflite_benchmark("ERROR: Could not open model")
    old_build = TFLITE_OUTPUT.replace(" p5=1238753 median=1239807 p95=1247415", "")
    with pytest.raises(ValueError, match="no median"):
        parse_tflite_benchmark(old_build).latency_stats()


def test_tflite_command_line() -> None:
    argv = tflite_command(
        "/t/bm", "/m/model.tflite", threads=4, warmup_runs=10, warmup_s=0.2, runs=20, min_s=1.0
    )
    assert "--graph=/m/model.tflite" in argv and "--num_threads=4" in argv
    assert "--use_xnnpack=true" in argv and "--warmup_min_secs=0.2" in argv


def test_adb_devices_lists_ready_phones_only() -> None:
    text = "List of devices attached\nR58M\tdevice\nemulator-5554\toffline\nX1\tunauthorized\n"
    assert parse_adb_devices(text) == ["R58M"]


def test_affinity_pins_the_fastest_cores() -> None:
    khz = parse_core_max_khz(
        "0 1800000\n1 1800000\n2 1800000\n3 1800000\n4 2400000\n"
        "5 2400000\n6 2400000\n7 3000000\n8\n"
    )
    assert len(khz) == 8
    assert fastest_cores(khz, 1) == [7]
    assert fastest_cores(khz, 4) == [4, 5, 6, 7]
    assert affinity_mask([4, 5, 6, 7]) == "f0"
    with pytest.raises(ValueError, match="reports 8"):
        fastest_cores(khz, 9)


def test_tflite_files_are_recognized() -> None:
    assert is_tflite(b"\x1c\x00\x00\x00TFL3")
    assert not is_tflite(b"\x08\x07\x12\x07pytorch")


def test_shell_quoting() -> None:
    assert shell_quote(["echo", "it's"]) == "'echo' 'it'\\''s'"
