"""hwnas: the Python client of a hardware-aware NAS server (``from hwnas import Client``)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from hwnas.client import Client
from hwnas.errors import ApiRefused, HwnasError, JobFailed, ServerUnreachable
from hwnas.profiling import ProfileJob, ProfileResult

try:
    __version__ = version("hwnas")
except PackageNotFoundError:  # a source tree on PYTHONPATH, not installed
    __version__ = "0+unknown"

__all__ = [
    "ApiRefused",
    "Client",
    "HwnasError",
    "JobFailed",
    "ProfileJob",
    "ProfileResult",
    "ServerUnreachable",
    "__version__",
]
