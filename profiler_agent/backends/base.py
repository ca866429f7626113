"""The backend contract: ``prepare -> run -> describe_environment`` (design section 9).

``prepare`` builds the session/engine once and makes inputs of the static shape; ``run`` /
``run_batch`` time inferences; ``profile_layers`` is an optional separate profiling run;
``evidence_collector`` watches each timed phase for interference (issue 16);
``describe_environment`` is the fingerprint stored with every measurement. Backends that can
only report a tool's aggregate statistics (no per-run times) say so with ``timing_kind``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from profiler_agent.environment import usable_cores
from profiler_agent.evidence import EvidenceCollector
from profiler_agent.evidence.cpu import CpuCollector
from profiler_agent.layer_profile import LayerTime

if TYPE_CHECKING:
    from profiler_agent.stats import LatencyStats

PRECISIONS = ("fp32", "fp16")
TimingKind = Literal["per_run", "summary"]


class BackendUnavailable(RuntimeError):
    """The selected backend cannot run on this machine (no GPU, runtime or device)."""


class InvalidModel(ValueError):
    """The model file cannot be loaded by this backend (corrupt, unsupported or mis-shaped)."""


class DeviceLost(RuntimeError):
    """The device went away while a model was prepared or measured (phone unplugged)."""


class Unsupported(RuntimeError):
    """The backend cannot do this (a per-layer profile, per-run times) for this model/tool."""


@dataclass(frozen=True)
class BackendSettings:
    """Runtime configuration of a measurement; recorded with it.

    ``threads`` None means every usable core (the count is then fixed and recorded);
    ``options`` holds backend-specific strings (the android serial, tool paths).
    """

    threads: int | None = None
    precision: str = "fp32"
    device_id: int = 0
    cache_dir: Path | None = None
    options: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.device_id < 0:
            raise ValueError(f"device_id must be >= 0, got {self.device_id}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> BackendSettings:
        """Settings from a job payload; unknown keys are an error, not ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown backend settings: {', '.join(unknown)}")
        values = dict(data)
        if values.get("cache_dir") is not None:
            values["cache_dir"] = Path(values["cache_dir"])
        return cls(**values)

    def resolved_threads(self, available: int | None = None) -> int:
        """The fixed thread count: ``threads``, else every core of the target (``available``,
        default this process's usable cores)."""
        if self.threads is not None:
            return self.threads
        return available if available is not None else usable_cores()

    def cache_subdir(self, name: str) -> Path:
        """A directory for engine/timing caches, created on first use."""
        root = self.cache_dir or Path.home() / ".cache" / "hwnas-agent"
        path = root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def require_precision(self, backend: str, supported: Sequence[str]) -> None:
        if self.precision not in supported:
            raise ValueError(
                f"{backend}: precision {self.precision!r} is not supported "
                f"(supported: {', '.join(supported)})"
            )


@dataclass
class Prepared:
    """A model loaded by a backend, ready to run; ``settings`` are the effective ones."""

    model_path: Path
    input_shape: tuple[int, ...]
    settings: dict[str, Any]


P = TypeVar("P", bound=Prepared)


class Backend(ABC, Generic[P]):
    """One runtime on this machine. The constructor raises :class:`BackendUnavailable`."""

    name: ClassVar[str]
    # The ``options`` a job may set; the others (tool binaries, the serial) and ``cache_dir``
    # are this host's own configuration, never a job's.
    job_options: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def prepare(
        self, model_path: Path, input_shape: Sequence[int] | None, settings: BackendSettings
    ) -> P:
        """Build the session/engine once and make random inputs of the static shape."""

    @abstractmethod
    def run(self, prepared: P) -> float:
        """Time one inference in ms (synchronized on a GPU)."""

    def run_batch(self, prepared: P, runs: int) -> list[float]:
        """Time ``runs`` back-to-back inferences; tool-driven backends run them in one call."""
        return [self.run(prepared) for _ in range(runs)]

    def timing_kind(self, prepared: P) -> TimingKind:
        """``per_run``: ``run_batch`` returns one time per inference (the default);
        ``summary``: only a tool's aggregate statistics exist, from ``run_summary``."""
        return "per_run"

    def run_summary(
        self, prepared: P, *, warmup_runs: int, warmup_s: float, runs: int, min_s: float
    ) -> LatencyStats:
        """Warm up and time inside an external tool that reports statistics only."""
        raise Unsupported(f"{self.name} reports per-run times; use run_batch")

    def profile_layers(self, prepared: P, runs: int = 10) -> list[LayerTime]:
        """Per-node times from the runtime's own profiler, in a separate run."""
        raise Unsupported(f"{self.name} has no per-layer profiler")

    def evidence_collector(self, prepared: P) -> EvidenceCollector:
        """What watches a timed phase for interference; CPU use of others by default."""
        return CpuCollector()

    @abstractmethod
    def describe_environment(self) -> dict[str, Any]:
        """Machine and runtime fingerprint recorded with every measurement."""

    def release(self, prepared: P) -> None:
        """Free what ``prepare`` allocated outside Python's reach (device memory)."""


def resolve_shape(
    declared: Sequence[int | str | None], requested: Sequence[int] | None, what: str
) -> tuple[int, ...]:
    """The static input shape: the model's own, with symbolic dims taken from ``requested``."""
    if requested is not None:
        requested = tuple(int(d) for d in requested)
        if len(requested) != len(declared):
            raise ValueError(
                f"{what}: input shape {list(requested)} has the wrong rank for {list(declared)}"
            )
        for have, want in zip(declared, requested, strict=True):
            if isinstance(have, int) and have > 0 and have != want:
                raise ValueError(
                    f"{what}: input shape {list(requested)} contradicts the model's "
                    f"{list(declared)}"
                )
        if min(requested) < 1:
            raise ValueError(f"{what}: input shape {list(requested)} has a non-positive dimension")
        return requested
    static = [d for d in declared if isinstance(d, int) and d > 0]
    if len(static) == len(declared):
        return tuple(static)
    raise ValueError(
        f"{what}: the model input has dynamic dims {list(declared)}; timed models need a static "
        "shape, so pass input_shape"
    )
