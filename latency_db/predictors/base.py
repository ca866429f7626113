"""The interface every latency predictor kind implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from numpy.typing import ArrayLike

from latency_db.errors import ValidationError
from latency_db.predictors.encoding import FloatArray, IntArray, Layout, is_finite_number
from latency_db.predictors.features import ArchitectureFeatures


class LatencyPredictor(ABC):
    """Maps op indices [n, L] to predicted latency (ms) and its uncertainty.

    Parameters travel as plain JSON (:meth:`to_params`), with at least ``kind`` and
    ``space`` (the space instance ref), so a stored predictor version is rebuilt from its row.
    """

    kind: ClassVar[str]
    # Has a torch form a search can differentiate (E[LAT], the RELAX surrogate g).
    differentiable: ClassVar[bool] = True

    @property
    @abstractmethod
    def space_ref(self) -> str: ...

    @property
    @abstractmethod
    def layout(self) -> Layout: ...

    def predict(self, indices: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """(mean_ms [n], std_ms [n]) for op indices [n, L]; std is 0 for a point model."""
        return self._predict(self.layout.check(indices))

    @abstractmethod
    def _predict(self, indices: IntArray) -> tuple[FloatArray, FloatArray]: ...

    @abstractmethod
    def to_params(self) -> dict[str, Any]: ...

    @classmethod
    @abstractmethod
    def from_params(cls, params: Mapping[str, Any]) -> LatencyPredictor: ...

    @classmethod
    @abstractmethod
    def fit(
        cls,
        features: ArchitectureFeatures,
        indices: IntArray,
        latencies_ms: FloatArray,
        *,
        seed: int,
    ) -> LatencyPredictor:
        """Fit to whole-network latencies of architectures (op indices), with the device's
        lookup table where ``features`` has one."""

    @classmethod
    def _check_kind(cls, params: Mapping[str, Any]) -> str:
        """Validate ``kind``; return the space ref."""
        if params.get("kind") != cls.kind:
            raise ValidationError(
                f"expected {cls.kind!r} predictor params, got kind {params.get('kind')!r}"
            )
        space = params.get("space")
        if not isinstance(space, str):
            raise ValidationError("predictor params lack the space ref")
        return space


def number(params: Mapping[str, Any], name: str) -> float:
    """A finite number field of predictor params."""
    value = params.get(name)
    if not is_finite_number(value):
        raise ValidationError(f"predictor params: {name} must be a finite number")
    return float(value)
