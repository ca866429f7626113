"""PyTorch backends for TorchScript artifacts: eager execution on CPU or one CUDA device.

As UNAS measured latency: the module runs under ``torch.inference_mode`` with a fixed
``torch.set_num_threads``; on CUDA the device is synchronized before the clock starts and
before it stops, so a time covers the whole kernel sequence. ``torch`` is imported here only,
when the backend is selected. There is no per-layer profile: TorchScript modules lose their
module scopes in ``torch.profiler`` events, so per-layer times come from the ORT/TensorRT
backends.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from profiler_agent.backends import register_backend
from profiler_agent.backends.base import Backend, BackendSettings, BackendUnavailable, Prepared
from profiler_agent.environment import fingerprint
from profiler_agent.evidence import EvidenceCollector
from profiler_agent.evidence.nvml import cpu_and_gpu_collector


@dataclass
class TorchPrepared(Prepared):
    module: Any
    example: Any


class _TorchBackend(Backend[TorchPrepared]):
    device_type: ClassVar[str]
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)

    def __init__(self) -> None:
        try:
            import torch
        except ImportError as err:
            raise BackendUnavailable(f"{self.name}: torch is not installed ({err})") from err
        self._torch: Any = torch
        self._check_device()

    def _check_device(self) -> None:
        """Raise :class:`BackendUnavailable` where the device is missing."""

    def _device(self, settings: BackendSettings) -> Any:
        return self._torch.device(self.device_type)

    def _synchronize(self, device: Any) -> None:
        """Wait for queued device work (nothing to wait for on the CPU)."""

    def prepare(
        self, model_path: Path, input_shape: Sequence[int] | None, settings: BackendSettings
    ) -> TorchPrepared:
        settings.require_precision(self.name, self.precisions)
        if input_shape is None:
            raise ValueError(
                f"{self.name}: a TorchScript file declares no input shape; pass input_shape"
            )
        shape = tuple(int(d) for d in input_shape)
        if not shape or min(shape) < 1:
            raise ValueError(f"{self.name}: invalid input shape {list(shape)}")
        torch = self._torch
        threads = settings.resolved_threads()
        torch.set_num_threads(threads)
        device = self._device(settings)
        dtype = torch.float16 if settings.precision == "fp16" else torch.float32
        module = torch.jit.load(str(model_path), map_location=device).eval().to(dtype=dtype)
        generator = torch.Generator().manual_seed(0)
        example = torch.randn(shape, generator=generator).to(device=device, dtype=dtype)
        return TorchPrepared(
            model_path=model_path,
            input_shape=shape,
            settings={
                "device": str(device),
                "intra_op_num_threads": threads,
                "precision": settings.precision,
                "mode": "torchscript, inference_mode",
                "runtime_version": torch.__version__,
            },
            module=module,
            example=example,
        )

    def run(self, prepared: TorchPrepared) -> float:
        device = prepared.example.device
        with self._torch.inference_mode():
            self._synchronize(device)
            start = time.perf_counter_ns()
            prepared.module(prepared.example)
            self._synchronize(device)
            return (time.perf_counter_ns() - start) / 1e6

    def describe_environment(self) -> dict[str, Any]:
        torch = self._torch
        runtime: dict[str, Any] = {
            "name": "torch",
            "version": torch.__version__,
            "intra_op_threads": torch.get_num_threads(),
        }
        if self.device_type == "cuda":
            runtime["cuda"] = torch.version.cuda
            runtime["cudnn"] = torch.backends.cudnn.version()
            runtime["device_name"] = torch.cuda.get_device_name()
        return {**fingerprint(), "runtime": runtime}

    def release(self, prepared: TorchPrepared) -> None:
        prepared.module = None
        prepared.example = None
        if self.device_type == "cuda":
            self._torch.cuda.empty_cache()


@register_backend("torch-cpu")
class TorchCpuBackend(_TorchBackend):
    device_type = "cpu"


@register_backend("torch-cuda")
class TorchCudaBackend(_TorchBackend):
    device_type = "cuda"
    precisions = ("fp32", "fp16")

    def _check_device(self) -> None:
        if not self._torch.cuda.is_available():
            raise BackendUnavailable(
                f"{self.name}: torch {self._torch.__version__} sees no CUDA device"
            )

    def _device(self, settings: BackendSettings) -> Any:
        count = self._torch.cuda.device_count()
        if settings.device_id >= count:
            raise BackendUnavailable(
                f"{self.name}: device_id {settings.device_id} but only {count} CUDA device(s)"
            )
        return self._torch.device("cuda", settings.device_id)

    def _synchronize(self, device: Any) -> None:
        self._torch.cuda.synchronize(device)

    def evidence_collector(self, prepared: TorchPrepared) -> EvidenceCollector:
        return cpu_and_gpu_collector(int(prepared.example.device.index or 0))
