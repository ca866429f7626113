"""Phone evidence over adb: Android's thermal status and the cores' current clocks.

``dumpsys thermalservice`` prints ``Thermal Status: N`` with N one of PowerManager's
``THERMAL_STATUS_*`` (0 none, 1 light, 2 moderate, 3 severe, 4 critical, 5 emergency,
6 shutdown); older builds without the service print nothing parseable and the key is left
out. Clocks are each core's ``scaling_cur_freq`` (kHz) read at the end of the interval.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from profiler_agent.backends.android_tools import parse_core_max_khz
from profiler_agent.evidence import Evidence, EvidenceCollector

THERMAL_STATUS_NAMES = ("none", "light", "moderate", "severe", "critical", "emergency", "shutdown")
_THERMAL_STATUS = re.compile(r"^\s*Thermal Status:\s*(\d+)\s*$", re.MULTILINE)
CUR_FREQ_SCRIPT = (
    "for c in /sys/devices/system/cpu/cpu[0-9]*; do "
    'echo "${c##*cpu} $(cat $c/cpufreq/scaling_cur_freq 2>/dev/null)"; done'
)


def parse_thermal_status(text: str) -> int | None:
    """The ``Thermal Status: N`` of ``dumpsys thermalservice``; None when absent."""
    match = _THERMAL_STATUS.search(text)
    return int(match.group(1)) if match else None


def parse_cur_freqs_mhz(text: str) -> list[int]:
    """Current clocks in MHz by core index from ``<cpu index> <kHz>`` lines (offline cores,
    which print no frequency, are left out)."""
    khz = parse_core_max_khz(text)
    return [khz[core] // 1000 for core in sorted(khz)]


class AndroidCollector(EvidenceCollector):
    """Reads the phone at the end of the interval through ``shell`` (an ``adb shell`` call)."""

    def __init__(self, shell: Callable[[Sequence[str]], str]) -> None:
        self.shell = shell

    def start(self) -> None:
        """Nothing to read before: the phone's state at the end is what the verdict needs."""

    def stop(self) -> Evidence:
        evidence: Evidence = {}
        status = parse_thermal_status(self.shell(["dumpsys", "thermalservice"]))
        if status is not None:
            evidence["thermal_status"] = status
        freqs = parse_cur_freqs_mhz(self.shell(["sh", "-c", CUR_FREQ_SCRIPT]))
        if freqs:
            evidence["cpu_freqs_mhz"] = freqs
        return evidence
