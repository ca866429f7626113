"""GPU interference from NVML (nvidia-ml-py, module ``pynvml``, imported lazily).

Read at the end of the interval: the SM clock against its maximum, the temperature, the
clock event ("throttle") reasons decoded to names, the other compute processes on the GPU
and their peak SM utilization over the interval (``nvmlDeviceGetProcessUtilization`` samples
since the interval's start). Bit values are ``nvmlClocksThrottleReason*`` of ``nvml.h``.
``gpu_index`` is the backend's CUDA device id; NVML counts all GPUs, so under
``CUDA_VISIBLE_DEVICES`` the two can name different GPUs (not mapped here).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from profiler_agent.evidence import CombinedCollector, Evidence, EvidenceCollector
from profiler_agent.evidence.cpu import CpuCollector

log = logging.getLogger(__name__)

THROTTLE_REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}


def decode_throttle_reasons(mask: int) -> list[str]:
    """Names of the set bits, lowest first; an unknown bit reads ``unknown_0x...``."""
    names = []
    bit = 1
    while bit <= mask:
        if mask & bit:
            names.append(THROTTLE_REASONS.get(bit, f"unknown_{bit:#x}"))
        bit <<= 1
    return names


class NvmlCollector(EvidenceCollector):
    """One GPU (``gpu_index``) seen through NVML; raises ImportError without nvidia-ml-py."""

    def __init__(self, gpu_index: int) -> None:
        import pynvml

        self._nvml: Any = pynvml
        pynvml.nvmlInit()
        self.gpu_index = gpu_index
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(gpu_index)
        self._since_us = 0

    def start(self) -> None:
        self._since_us = int(time.time() * 1e6)

    def stop(self) -> Evidence:
        nvml, handle = self._nvml, self._handle
        evidence: Evidence = {"gpu_index": self.gpu_index}
        readings = {
            "gpu_sm_clock_mhz": lambda: nvml.nvmlDeviceGetClockInfo(handle, nvml.NVML_CLOCK_SM),
            "gpu_max_sm_clock_mhz": lambda: nvml.nvmlDeviceGetMaxClockInfo(
                handle, nvml.NVML_CLOCK_SM
            ),
            "gpu_temp_c": lambda: nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU),
            "gpu_throttle_reasons": lambda: decode_throttle_reasons(
                nvml.nvmlDeviceGetCurrentClocksThrottleReasons(handle)
            ),
        }
        for key, read in readings.items():
            try:
                evidence[key] = read()
            except nvml.NVMLError:
                continue
        own = os.getpid()
        try:
            pids = [p.pid for p in nvml.nvmlDeviceGetComputeRunningProcesses(handle)]
        except nvml.NVMLError:
            pids = None
        if pids is not None:
            # The agent holds a context on the GPU while it measures, so one process is its
            # own: by pid, or in a container (NVML lists host pids) by assumption.
            evidence["gpu_other_processes"] = max(len(pids) - 1, 0)
        try:
            samples = nvml.nvmlDeviceGetProcessUtilization(handle, self._since_us)
        except nvml.NVMLError:  # NotFound: no samples in the interval
            samples = []
        if pids is not None and own in pids:  # pids comparable: not in another pid namespace
            others = [s.smUtil for s in samples if s.pid != own]
            evidence["gpu_other_utilization_pct"] = float(max(others, default=0))
        return evidence


def cpu_and_gpu_collector(gpu_index: int) -> EvidenceCollector:
    """The CUDA backends' collector: the host CPU plus NVML, or the CPU alone (with a warning)
    where nvidia-ml-py or the driver's NVML is missing."""
    cpu = CpuCollector()
    try:
        gpu = NvmlCollector(gpu_index)
    except ImportError:
        log.warning("nvidia-ml-py is not installed: no GPU interference evidence")
        return cpu
    except Exception as err:  # pynvml.NVMLError, which needs pynvml to name
        log.warning("NVML unavailable (%s): no GPU interference evidence", err)
        return cpu
    return CombinedCollector([cpu, gpu])
