"""Parsers of the GPU and phone evidence, on the tools' own output formats (no GPU or phone
here): NVML's clock event reason bits and Android's ``dumpsys thermalservice``."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from profiler_agent.evidence.android import (
    CUR_FREQ_SCRIPT,
    AndroidCollector,
    parse_cur_freqs_mhz,
    parse_thermal_status,
)
from profiler_agent.evidence.cpu import CpuCollector
from profiler_agent.evidence.nvml import (
    THROTTLE_REASONS,
    NvmlCollector,
    cpu_and_gpu_collector,
    decode_throttle_reasons,
)

# ``adb shell dumpsys thermalservice`` on Android 11-14 (ThermalManagerService.dumpInternal)
DUMPSYS_THERMAL = """\
IsStatusOverride: false
ThermalEventListeners:
\tcallbacks: 2
\tkilled: false
\tbroadcasts count: -1
ThermalStatusListeners:
\tcallbacks: 1
\tkilled: false
\tbroadcasts count: -1
Thermal Status: 2
Cached temperatures:
\tTemperature{mValue=45.2, mType=0, mName=cpu0-silver-usr, mStatus=2}
\tTemperature{mValue=31.0, mType=2, mName=battery, mStatus=0}
HAL Ready: true
HAL connection:
\tThermalHAL 2.0 connected: yes
Current temperatures from HAL:
\tTemperature{mValue=45.2, mType=0, mName=cpu0-silver-usr, mStatus=2}
\tTemperature{mValue=31.0, mType=2, mName=battery, mStatus=0}
Current cooling devices from HAL:
\tCoolingDevice{mValue=1, mType=2, mName=cpu0-silver}
"""
# Android 9 and older have no thermal service
NO_SERVICE = "Can't find service: thermalservice\n"
# CUR_FREQ_SCRIPT on an 8-core phone with core 7 offline (no cpufreq directory)
CUR_FREQS = "0 1785600\n1 1785600\n2 300000\n3 300000\n4 2419200\n5 2419200\n6 2841600\n7 \n"


@pytest.mark.parametrize(
    ("mask", "names"),
    [
        (0x0, []),
        (0x1, ["gpu_idle"]),
        (0x4 | 0x20, ["sw_power_cap", "sw_thermal_slowdown"]),
        (0x40 | 0x80, ["hw_thermal_slowdown", "hw_power_brake_slowdown"]),
        (0x1 | 0x800, ["gpu_idle", "unknown_0x800"]),
    ],
)
def test_nvml_throttle_reasons_are_decoded_by_bit(mask: int, names: list[str]) -> None:
    assert decode_throttle_reasons(mask) == names


def test_throttle_bits_match_pynvml_constants() -> None:
    pynvml = pytest.importorskip("pynvml")
    for bit, name in THROTTLE_REASONS.items():
        camel = "".join(part.capitalize() for part in name.split("_"))
        assert getattr(pynvml, f"nvmlClocksThrottleReason{camel}") == bit, name


def test_android_thermal_status() -> None:
    assert parse_thermal_status(DUMPSYS_THERMAL) == 2
    assert parse_thermal_status(NO_SERVICE) is None
    assert parse_thermal_status("IsStatusOverride: true\nThermal Status: 0\n") == 0


def test_android_current_clocks_skip_offline_cores() -> None:
    assert parse_cur_freqs_mhz(CUR_FREQS) == [1785, 1785, 300, 300, 2419, 2419, 2841]


def test_android_collector_reads_the_phone_at_the_end() -> None:
    answers = {
        ("dumpsys", "thermalservice"): DUMPSYS_THERMAL,
        ("sh", "-c", CUR_FREQ_SCRIPT): CUR_FREQS,
    }
    calls: list[tuple[str, ...]] = []

    def shell(argv: Sequence[str]) -> str:
        calls.append(tuple(argv))
        return answers[tuple(argv)]

    collector = AndroidCollector(shell)
    collector.start()
    assert calls == []
    evidence = collector.stop()
    assert evidence == {
        "thermal_status": 2,
        "cpu_freqs_mhz": [1785, 1785, 300, 300, 2419, 2419, 2841],
    }
    assert AndroidCollector(lambda argv: NO_SERVICE if argv[0] == "dumpsys" else "").stop() == {}


def test_cuda_collector_is_cpu_only_where_nvml_cannot_start() -> None:
    try:
        NvmlCollector(0)
    except Exception:  # no nvidia-ml-py, no driver or no GPU here
        assert type(cpu_and_gpu_collector(0)) is CpuCollector
    else:
        pytest.skip("NVML runs here")
