"""Fingerprint of the machine a measurement ran on: CPU, clocks, memory, GPUs, versions.

Everything is read best-effort: a value that cannot be read is left out, never guessed.
Runtime versions come from package metadata, so nothing heavy is imported here.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

_CPUFREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq")
_NVIDIA_SMI_FIELDS = (
    "name",
    "driver_version",
    "memory.total",
    "clocks.sm",
    "clocks.mem",
    "clocks.max.sm",
    "pstate",
)
_PACKAGES = ("numpy", "onnxruntime", "onnxruntime-gpu", "tensorrt", "torch", "cuda-python")


def fingerprint(nvidia_smi_timeout_s: float = 5.0) -> dict[str, Any]:
    """The environment record stored with each measurement."""
    env: dict[str, Any] = {
        "os": platform.platform(),
        "system": platform.system(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "packages": package_versions(),
    }
    governor = _read(_CPUFREQ / "scaling_governor")
    if governor:
        env["cpu_governor"] = governor
    for key, file in (("cpu_cur_mhz", "scaling_cur_freq"), ("cpu_max_mhz", "cpuinfo_max_freq")):
        khz = _read(_CPUFREQ / file)
        if khz and khz.isdigit():
            env[key] = int(khz) // 1000
    memory = memory_total_mb()
    if memory is not None:
        env["memory_total_mb"] = memory
    gpus = nvidia_gpus(nvidia_smi_timeout_s)
    if gpus:
        env["gpus"] = gpus
    jetson = _read(Path("/etc/nv_tegra_release"))
    if jetson:
        env["nv_tegra_release"] = jetson.splitlines()[0]
    return {k: v for k, v in env.items() if v not in (None, "", {})}


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), else all logical cores."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """``model name`` (x86), else ``Hardware`` / ``Model`` (ARM boards), else the platform's."""
    text = _read(cpuinfo) or ""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    for key in ("model name", "hardware", "model", "cpu model"):
        if fields.get(key):
            return fields[key]
    return platform.processor() or None


def memory_total_mb(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    for line in (_read(meminfo) or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return None


def package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def nvidia_gpus(timeout_s: float = 5.0) -> list[dict[str, str]]:
    """One dict per GPU from ``nvidia-smi --query-gpu`` (empty without the binary or on error)."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return []
    query = ",".join(_NVIDIA_SMI_FIELDS)
    try:
        result = subprocess.run(
            [binary, f"--query-gpu={query}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi_csv(result.stdout)


def parse_nvidia_smi_csv(text: str) -> list[dict[str, str]]:
    """Rows of ``--format=csv,noheader,nounits`` keyed by the queried field names."""
    gpus = []
    for line in text.splitlines():
        values = [v.strip() for v in line.split(",")]
        if len(values) == len(_NVIDIA_SMI_FIELDS):
            gpus.append(dict(zip(_NVIDIA_SMI_FIELDS, values, strict=True)))
    return gpus


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
