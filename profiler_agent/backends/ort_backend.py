"""ONNX Runtime backends: the CPU, CUDA and TensorRT execution providers.

Sessions use ``ORT_ENABLE_ALL`` graph optimization, sequential execution and a fixed
``intra_op_num_threads``. GPU providers bind input and outputs on the device
(``IOBinding``) so a timed run excludes host copies, and synchronize the outputs before the
clock stops. Per-node times come from ``enable_profiling`` in a second session; on GPU
providers those node times are host-side (launch and synchronization) and a TensorRT-EP
subgraph appears as one node, so per-layer GPU work is better read from the native
``tensorrt`` backend.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from profiler_agent.backends import register_backend
from profiler_agent.backends.base import (
    Backend,
    BackendSettings,
    BackendUnavailable,
    InvalidModel,
    Prepared,
    resolve_shape,
)
from profiler_agent.environment import fingerprint
from profiler_agent.evidence import EvidenceCollector
from profiler_agent.evidence.nvml import cpu_and_gpu_collector
from profiler_agent.layer_profile import LayerTime, load_ort_profile, parse_ort_profile

_DTYPES: dict[str, type[np.floating[Any]]] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
}
_PROFILE_WARMUP_RUNS = 2


@dataclass
class _Session:
    """A session with its inputs, bound on the device where ``binding`` is set."""

    session: Any
    feeds: dict[str, np.ndarray]
    binding: Any | None

    def infer(self) -> None:
        if self.binding is None:
            self.session.run(None, self.feeds)
        else:
            self.session.run_with_iobinding(self.binding)
            self.binding.synchronize_outputs()


@dataclass
class OrtPrepared(Prepared):
    live: _Session
    backend_settings: BackendSettings


class _OrtBackend(Backend[OrtPrepared]):
    provider: ClassVar[str]
    on_device: ClassVar[bool] = False
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)

    def __init__(self) -> None:
        try:
            import onnxruntime
        except ImportError as err:
            raise BackendUnavailable(f"{self.name}: onnxruntime is not installed ({err})") from err
        available = onnxruntime.get_available_providers()
        if self.provider not in available:
            raise BackendUnavailable(
                f"{self.name}: {self.provider} is not available in this onnxruntime build "
                f"(available: {', '.join(available)})"
            )
        self._ort: Any = onnxruntime

    def provider_options(self, settings: BackendSettings) -> list[tuple[str, dict[str, Any]]]:
        return [(self.provider, {})]

    def prepare(
        self, model_path: Path, input_shape: Sequence[int] | None, settings: BackendSettings
    ) -> OrtPrepared:
        settings.require_precision(self.name, self.precisions)
        live = self._open(model_path, input_shape, settings, profile_prefix=None)
        (array,) = live.feeds.values()
        effective = {
            "execution_provider": self.provider,
            "intra_op_num_threads": settings.resolved_threads(),
            "graph_optimization_level": "ORT_ENABLE_ALL",
            "precision": settings.precision,
            "runtime_version": self._ort.__version__,
        }
        if self.on_device:
            effective["device_id"] = settings.device_id
        return OrtPrepared(
            model_path=model_path,
            input_shape=tuple(array.shape),
            settings=effective,
            live=live,
            backend_settings=settings,
        )

    def run(self, prepared: OrtPrepared) -> float:
        start = time.perf_counter_ns()
        prepared.live.infer()
        return (time.perf_counter_ns() - start) / 1e6

    def profile_layers(self, prepared: OrtPrepared, runs: int = 10) -> list[LayerTime]:
        with tempfile.TemporaryDirectory(prefix="hwnas-ort-profile-") as tmp:
            live = self._open(
                prepared.model_path,
                prepared.input_shape,
                prepared.backend_settings,
                profile_prefix=Path(tmp) / "profile",
            )
            for _ in range(_PROFILE_WARMUP_RUNS + runs):
                live.infer()
            events = load_ort_profile(Path(live.session.end_profiling()))
        return parse_ort_profile(events, skip_runs=_PROFILE_WARMUP_RUNS)

    def evidence_collector(self, prepared: OrtPrepared) -> EvidenceCollector:
        if not self.on_device:
            return super().evidence_collector(prepared)
        return cpu_and_gpu_collector(prepared.backend_settings.device_id)

    def describe_environment(self) -> dict[str, Any]:
        return {
            **fingerprint(),
            "runtime": {
                "name": "onnxruntime",
                "version": self._ort.__version__,
                "available_providers": self._ort.get_available_providers(),
            },
        }

    def _open(
        self,
        model_path: Path,
        input_shape: Sequence[int] | None,
        settings: BackendSettings,
        profile_prefix: Path | None,
    ) -> _Session:
        ort = self._ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.resolved_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if profile_prefix is not None:
            options.enable_profiling = True
            options.profile_file_prefix = str(profile_prefix)
        errors = ort.capi.onnxruntime_pybind11_state
        try:
            session = ort.InferenceSession(
                str(model_path), sess_options=options, providers=self.provider_options(settings)
            )
        except (errors.InvalidProtobuf, errors.InvalidGraph, errors.NoSuchFile) as err:
            raise InvalidModel(f"{self.name}: cannot load {model_path.name}: {err}") from err
        active = session.get_providers()
        if active[0] != self.provider:
            raise BackendUnavailable(
                f"{self.name}: onnxruntime fell back to {active[0]} because {self.provider} "
                "failed to initialise (is the GPU and its driver present?)"
            )
        feeds = self._random_inputs(session, model_path, input_shape)
        return _Session(session=session, feeds=feeds, binding=self._bind(session, feeds, settings))

    def _random_inputs(
        self, session: Any, model_path: Path, input_shape: Sequence[int] | None
    ) -> dict[str, np.ndarray]:
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise InvalidModel(
                f"{self.name}: {model_path.name} has {len(inputs)} inputs; expected 1"
            )
        (spec,) = inputs
        dtype = _DTYPES.get(spec.type)
        if dtype is None:
            raise InvalidModel(f"{self.name}: input type {spec.type} is not a float tensor")
        shape = resolve_shape(spec.shape, input_shape, f"{self.name} {model_path.name}")
        array = np.random.default_rng(0).standard_normal(shape, dtype=np.float32).astype(dtype)
        return {spec.name: array}

    def _bind(self, session: Any, feeds: dict[str, np.ndarray], settings: BackendSettings) -> Any:
        if not self.on_device:
            return None
        binding = session.io_binding()
        for name, array in feeds.items():
            value = self._ort.OrtValue.ortvalue_from_numpy(array, "cuda", settings.device_id)
            binding.bind_ortvalue_input(name, value)
        for output in session.get_outputs():
            binding.bind_output(output.name, "cuda", settings.device_id)
        return binding


@register_backend("ort-cpu")
class OrtCpuBackend(_OrtBackend):
    provider = "CPUExecutionProvider"


@register_backend("ort-cuda")
class OrtCudaBackend(_OrtBackend):
    provider = "CUDAExecutionProvider"
    on_device = True

    def provider_options(self, settings: BackendSettings) -> list[tuple[str, dict[str, Any]]]:
        return [(self.provider, {"device_id": settings.device_id})]


@register_backend("ort-tensorrt")
class OrtTensorrtBackend(_OrtBackend):
    """TensorRT EP with engine and timing caches; CUDA EP runs what TensorRT cannot."""

    provider = "TensorrtExecutionProvider"
    on_device = True
    precisions = ("fp32", "fp16")

    def provider_options(self, settings: BackendSettings) -> list[tuple[str, dict[str, Any]]]:
        cache = str(settings.cache_subdir("ort-tensorrt"))
        trt = {
            "device_id": settings.device_id,
            "trt_fp16_enable": settings.precision == "fp16",
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": cache,
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": cache,
        }
        return [(self.provider, trt), ("CUDAExecutionProvider", {"device_id": settings.device_id})]
