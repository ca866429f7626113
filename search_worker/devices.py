"""Where a worker trains: ``HWNAS_WORKER_DEVICE`` (``auto``, ``cpu``, ``cuda`` or ``cuda:N``)
resolved against the CUDA devices torch sees, and the moves of batches onto that device.

Only the supernet, its batches and the derived network live on the chosen device; the
architecture logits, the latency model and the sampling generators stay on the CPU (a few
hundred numbers, whose launches on a GPU would cost more than their arithmetic), so a seed
draws the same architectures on every kind of worker. Their path weights reach the supernet
as 0-dim tensors, which torch lets any device's tensors multiply.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from latency_db.settings import WORKER_DEVICE_PATTERN

DEVICE_SETTING = re.compile(WORKER_DEVICE_PATTERN)
CPU = torch.device("cpu")
Batch = tuple[torch.Tensor, torch.Tensor]


class DeviceUnavailable(RuntimeError):
    """The configured device does not exist on this worker."""


def resolve_device(setting: str) -> torch.device:
    """The torch device of a ``HWNAS_WORKER_DEVICE`` value; ``auto`` is CUDA when present."""
    if not DEVICE_SETTING.fullmatch(setting):
        raise ValueError(f"HWNAS_WORKER_DEVICE={setting!r}: expected auto, cpu, cuda or cuda:N")
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(setting)
    if device.type == "cpu":
        return device
    if not torch.cuda.is_available():
        raise DeviceUnavailable(
            f"HWNAS_WORKER_DEVICE={setting}, but torch finds no CUDA device on this worker "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}); "
            "use cpu or auto"
        )
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise DeviceUnavailable(
            f"HWNAS_WORKER_DEVICE={setting}, but this worker has {count} CUDA device(s)"
        )
    return device


def describe_device(device: torch.device) -> str:
    """``cpu``, or ``cuda:N (GPU name)`` for the search's progress and result."""
    if device.type != "cuda":
        return device.type
    index = torch.cuda.current_device() if device.index is None else device.index
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's parameters (the CPU for one without any)."""
    return next(module.parameters(), torch.empty(0)).device


def to_device(batch: Batch, device: torch.device) -> Batch:
    """A batch on ``device``; on CUDA copied from pinned memory without blocking the host."""
    if device.type != "cuda":
        return batch[0].to(device), batch[1].to(device)
    x, y = batch
    return (
        x.pin_memory().to(device, non_blocking=True),
        y.pin_memory().to(device, non_blocking=True),
    )


def loader_threads(device: torch.device) -> int:
    """Threads decoding images for a batch: a GPU worker's CPU is otherwise idle while it
    trains; a CPU worker keeps its cores for training."""
    return 4 if device.type == "cuda" else 0
