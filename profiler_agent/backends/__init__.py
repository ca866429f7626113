"""Registry of measurement backends: ``@register_backend`` and lazy lookup by name.

The registry knows every backend as a ``"module:Class"`` string, so importing it imports no
runtime; a backend's module (and from there its runtime) is imported only when selected.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from profiler_agent.backends.base import (
    Backend,
    BackendSettings,
    BackendUnavailable,
    DeviceLost,
    InvalidModel,
    Prepared,
    Unsupported,
)

__all__ = [
    "Backend",
    "BackendSettings",
    "BackendUnavailable",
    "DeviceLost",
    "InvalidModel",
    "Prepared",
    "Unsupported",
    "backend_class",
    "backend_names",
    "create_backend",
    "register_backend",
]

_PACKAGE = __name__
_LOCATIONS: dict[str, str] = {
    "ort-cpu": f"{_PACKAGE}.ort_backend:OrtCpuBackend",
    "ort-cuda": f"{_PACKAGE}.ort_backend:OrtCudaBackend",
    "ort-tensorrt": f"{_PACKAGE}.ort_backend:OrtTensorrtBackend",
    "tensorrt": f"{_PACKAGE}.trt_backend:TensorrtBackend",
    "torch-cpu": f"{_PACKAGE}.torch_backend:TorchCpuBackend",
    "torch-cuda": f"{_PACKAGE}.torch_backend:TorchCudaBackend",
    "android-adb": f"{_PACKAGE}.android_backend:AndroidAdbBackend",
}
_REGISTERED: dict[str, type[Backend[Any]]] = {}

B = TypeVar("B", bound=type[Backend[Any]])


def register_backend(name: str) -> Callable[[B], B]:
    """Class decorator: name a backend; the name must be listed where the class lives."""

    def decorate(cls: B) -> B:
        where = f"{cls.__module__}:{cls.__qualname__}"
        if _LOCATIONS.get(name) != where:
            raise ValueError(f"backend {name!r} at {where} is not listed in the registry")
        cls.name = name
        _REGISTERED[name] = cls
        return cls

    return decorate


def backend_names() -> list[str]:
    return sorted(_LOCATIONS)


def backend_class(name: str) -> type[Backend[Any]]:
    """The backend's class, importing its module (not its runtime) on first use."""
    try:
        module = _LOCATIONS[name].partition(":")[0]
    except KeyError:
        raise ValueError(
            f"unknown backend {name!r} (known: {', '.join(backend_names())})"
        ) from None
    importlib.import_module(module)
    return _REGISTERED[name]


def create_backend(name: str) -> Backend[Any]:
    """A ready backend; :class:`BackendUnavailable` where its runtime or device is missing."""
    return backend_class(name)()
