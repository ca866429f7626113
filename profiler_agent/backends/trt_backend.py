"""Native TensorRT 10 backend: static-shape engine from ONNX, CUDA-event timing, IProfiler.

Written against the TensorRT 10 Python API as documented by NVIDIA ("Migrating Python Code
from TensorRT 8.x to 10.x", docs.nvidia.com/deeplearning/tensorrt/latest/api/migration/;
Python API ``tensorrt.IProfiler``, docs.nvidia.com/deeplearning/tensorrt/api/python_api/
infer/Core/Profiler.html):

- build: ``trt.Builder`` -> ``create_network(0)`` (TensorRT 10 networks are always explicit
  batch; the ``EXPLICIT_BATCH`` flag is deprecated) -> ``trt.OnnxParser.parse`` ->
  ``BuilderConfig`` with ``set_memory_pool_limit(MemoryPoolType.WORKSPACE, ...)``, the
  ``BuilderFlag.FP16`` flag for fp16, a timing cache, ``ProfilingVerbosity.DETAILED`` ->
  ``build_serialized_network``; symbolic input dims get one optimization profile with
  min = opt = max = the requested static shape;
- run: ``Runtime.deserialize_cuda_engine`` -> ``create_execution_context`` ->
  ``set_tensor_address`` for every I/O tensor (name-based API, ``num_io_tensors`` /
  ``get_tensor_name`` / ``get_tensor_mode``) -> ``execute_async_v3(stream)``, timed with
  CUDA events recorded on the same stream (cuda-python: ``cuda.bindings.runtime``, or the
  older ``cuda.cudart`` module);
- per-layer: an ``IProfiler`` subclass set as ``context.profiler`` in a separate context
  after timing; ``report_layer_time(layer_name, ms)`` is called per layer per enqueue.

Engines are cached under ``<cache_dir>/tensorrt`` keyed by the ONNX sha256, precision,
TensorRT version, input shape and GPU name (an engine is specific to all of them).

Not run on hardware in this project's sessions: no TensorRT or GPU was reachable; the backend
refuses with :class:`BackendUnavailable` where ``tensorrt`` / cuda-python / a GPU is missing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from profiler_agent.backends import register_backend
from profiler_agent.backends.base import (
    Backend,
    BackendSettings,
    BackendUnavailable,
    Prepared,
    resolve_shape,
)
from profiler_agent.environment import fingerprint
from profiler_agent.evidence import EvidenceCollector
from profiler_agent.evidence.nvml import cpu_and_gpu_collector
from profiler_agent.layer_profile import LayerTime, block_of

_WORKSPACE_BYTES = 1 << 30
_PROFILE_WARMUP_RUNS = 2


def import_cudart() -> Any:
    """cuda-python's runtime module: ``cuda.bindings.runtime`` (>= 12.6) or ``cuda.cudart``."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        from cuda import cudart as runtime
    return runtime


def engine_key(
    onnx_sha256: str, precision: str, trt_version: str, shape: Sequence[int], gpu: str
) -> str:
    """File name of a cached engine: everything the serialized engine depends on."""
    text = "|".join([onnx_sha256, precision, trt_version, "x".join(map(str, shape)), gpu])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class TrtPrepared(Prepared):
    engine: Any
    context: Any
    stream: Any
    start: Any
    stop: Any
    buffers: dict[str, int] = field(default_factory=dict)


@register_backend("tensorrt")
class TensorrtBackend(Backend[TrtPrepared]):
    """Native TensorRT engine; fp32 and fp16."""

    def __init__(self) -> None:
        try:
            import tensorrt
        except ImportError as err:
            raise BackendUnavailable(
                f"{self.name}: the tensorrt Python package is not installed ({err}); "
                "install hwnas[tensorrt] on a machine with an NVIDIA GPU"
            ) from err
        try:
            cudart = import_cudart()
        except ImportError as err:
            raise BackendUnavailable(
                f"{self.name}: cuda-python is not installed ({err}); install hwnas[tensorrt]"
            ) from err
        self._trt: Any = tensorrt
        self._cudart = cudart
        count = self._cuda(cudart.cudaGetDeviceCount(), "cudaGetDeviceCount", unavailable=True)
        if count < 1:
            raise BackendUnavailable(f"{self.name}: no CUDA device")
        self._logger = tensorrt.Logger(tensorrt.Logger.WARNING)

    # -- CUDA helpers ---------------------------------------------------------------------
    def _cuda(self, result: Any, what: str, unavailable: bool = False) -> Any:
        """cuda-python returns ``(error, *values)``; raise on an error, return the values."""
        err, *values = result if isinstance(result, tuple) else (result,)
        if int(err) != 0:
            message = f"{self.name}: {what} failed with CUDA error {int(err)} ({err})"
            raise (BackendUnavailable if unavailable else RuntimeError)(message)
        return values[0] if len(values) == 1 else values

    def _gpu_name(self, device_id: int) -> str:
        props = self._cuda(self._cudart.cudaGetDeviceProperties(device_id), "properties")
        name = props.name
        return (name.decode() if isinstance(name, bytes) else str(name)).rstrip("\x00")

    # -- engine ---------------------------------------------------------------------------
    def _build(
        self, model_path: Path, shape: tuple[int, ...], settings: BackendSettings, cache: Path
    ) -> bytes:
        trt = self._trt
        builder = trt.Builder(self._logger)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(model_path.read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise ValueError(f"{self.name}: TensorRT cannot parse {model_path.name}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, _WORKSPACE_BYTES)
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
        if settings.precision == "fp16":
            if not builder.platform_has_fast_fp16:
                raise BackendUnavailable(f"{self.name}: this GPU has no fast fp16")
            config.set_flag(trt.BuilderFlag.FP16)
        network_input = network.get_input(0)
        if any(d < 0 for d in network_input.shape):
            profile = builder.create_optimization_profile()
            profile.set_shape(network_input.name, shape, shape, shape)
            config.add_optimization_profile(profile)
        timing_file = cache / "timing.cache"
        timing = config.create_timing_cache(
            timing_file.read_bytes() if timing_file.exists() else b""
        )
        config.set_timing_cache(timing, ignore_mismatch=False)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise RuntimeError(f"{self.name}: building the engine for {model_path.name} failed")
        timing_file.write_bytes(memoryview(config.get_timing_cache().serialize()))
        return bytes(memoryview(serialized))

    def _input_shape(self, model_path: Path, requested: Sequence[int] | None) -> tuple[int, ...]:
        trt = self._trt
        network = trt.Builder(self._logger).create_network(0)
        parser = trt.OnnxParser(network, self._logger)
        if not parser.parse(model_path.read_bytes()) or network.num_inputs != 1:
            raise ValueError(f"{self.name}: {model_path.name} must parse and have one input")
        declared = [int(d) if d >= 0 else None for d in network.get_input(0).shape]
        return resolve_shape(declared, requested, f"{self.name} {model_path.name}")

    def prepare(
        self, model_path: Path, input_shape: Sequence[int] | None, settings: BackendSettings
    ) -> TrtPrepared:
        settings.require_precision(self.name, ("fp32", "fp16"))
        trt, cudart = self._trt, self._cudart
        self._cuda(cudart.cudaSetDevice(settings.device_id), "cudaSetDevice", unavailable=True)
        shape = self._input_shape(model_path, input_shape)
        gpu = self._gpu_name(settings.device_id)
        sha = hashlib.sha256(model_path.read_bytes()).hexdigest()
        cache = settings.cache_subdir("tensorrt")
        key = engine_key(sha, settings.precision, trt.__version__, shape, gpu)
        engine_file = cache / f"{key}.engine"
        if not engine_file.exists():
            partial = engine_file.with_suffix(".partial")
            partial.write_bytes(self._build(model_path, shape, settings, cache))
            partial.replace(engine_file)
        engine = trt.Runtime(self._logger).deserialize_cuda_engine(engine_file.read_bytes())
        if engine is None:
            raise RuntimeError(f"{self.name}: cannot deserialize {engine_file}")
        stream = self._cuda(cudart.cudaStreamCreate(), "cudaStreamCreate")
        prepared = TrtPrepared(
            model_path=model_path,
            input_shape=shape,
            settings={
                "precision": settings.precision,
                "device_id": settings.device_id,
                "gpu": gpu,
                "runtime_version": trt.__version__,
                "workspace_bytes": _WORKSPACE_BYTES,
                "engine_cache": str(engine_file),
            },
            engine=engine,
            context=None,
            stream=stream,
            start=self._cuda(cudart.cudaEventCreate(), "cudaEventCreate"),
            stop=self._cuda(cudart.cudaEventCreate(), "cudaEventCreate"),
        )
        self._allocate(prepared)
        prepared.context = self._context(prepared)
        return prepared

    def _allocate(self, prepared: TrtPrepared) -> None:
        """Device buffers of the static I/O shapes; the input filled with random values once."""
        trt, cudart, engine = self._trt, self._cudart, prepared.engine
        context = self._context(prepared)
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            dims = tuple(context.get_tensor_shape(name))
            dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(name)))
            nbytes = int(np.prod(dims)) * dtype.itemsize
            pointer = self._cuda(cudart.cudaMalloc(nbytes), f"cudaMalloc {name}")
            prepared.buffers[name] = int(pointer)
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                host = np.random.default_rng(0).standard_normal(dims).astype(dtype)
                kind = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
                self._cuda(cudart.cudaMemcpy(pointer, host.ctypes.data, nbytes, kind), "memcpy")

    def _context(self, prepared: TrtPrepared) -> Any:
        """An execution context with the static input shape and the allocated buffers bound."""
        trt, engine = self._trt, prepared.engine
        context = engine.create_execution_context()
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                context.set_input_shape(name, prepared.input_shape)
            if name in prepared.buffers:
                context.set_tensor_address(name, prepared.buffers[name])
        return context

    # -- timing ---------------------------------------------------------------------------
    def run(self, prepared: TrtPrepared) -> float:
        cudart, stream = self._cudart, prepared.stream
        self._cuda(cudart.cudaEventRecord(prepared.start, stream), "cudaEventRecord")
        if not prepared.context.execute_async_v3(int(stream)):
            raise RuntimeError(f"{self.name}: execute_async_v3 failed")
        self._cuda(cudart.cudaEventRecord(prepared.stop, stream), "cudaEventRecord")
        self._cuda(cudart.cudaEventSynchronize(prepared.stop), "cudaEventSynchronize")
        return float(
            self._cuda(cudart.cudaEventElapsedTime(prepared.start, prepared.stop), "elapsed")
        )

    def profile_layers(self, prepared: TrtPrepared, runs: int = 10) -> list[LayerTime]:
        """Per-layer times from an ``IProfiler`` on a fresh context, after two warm-up runs."""
        trt, cudart = self._trt, self._cudart
        totals: dict[str, float] = {}

        class Profiler(trt.IProfiler):  # type: ignore[name-defined]
            def __init__(self) -> None:
                trt.IProfiler.__init__(self)
                self.counting = False

            def report_layer_time(self, layer_name: str, ms: float) -> None:
                if self.counting:
                    totals[layer_name] = totals.get(layer_name, 0.0) + float(ms)

        profiler = Profiler()
        context = self._context(prepared)
        context.profiler = profiler
        for i in range(_PROFILE_WARMUP_RUNS + runs):
            profiler.counting = i >= _PROFILE_WARMUP_RUNS
            if not context.execute_async_v3(int(prepared.stream)):
                raise RuntimeError(f"{self.name}: execute_async_v3 failed while profiling")
            self._cuda(cudart.cudaStreamSynchronize(prepared.stream), "cudaStreamSynchronize")
        return [
            LayerTime(name=name, op_type="trt_layer", time_ms=total / runs, block=block_of(name))
            for name, total in totals.items()
        ]

    def evidence_collector(self, prepared: TrtPrepared) -> EvidenceCollector:
        return cpu_and_gpu_collector(int(prepared.settings["device_id"]))

    def describe_environment(self) -> dict[str, Any]:
        err, version = self._cudart.cudaRuntimeGetVersion()
        runtime = {"name": "tensorrt", "version": self._trt.__version__}
        if int(err) == 0:
            runtime["cuda_runtime"] = str(version)
        return {**fingerprint(), "runtime": runtime}

    def release(self, prepared: TrtPrepared) -> None:
        cudart = self._cudart
        prepared.context = None
        prepared.engine = None
        for pointer in prepared.buffers.values():
            cudart.cudaFree(pointer)
        prepared.buffers.clear()
        cudart.cudaEventDestroy(prepared.start)
        cudart.cudaEventDestroy(prepared.stop)
        cudart.cudaStreamDestroy(prepared.stream)
