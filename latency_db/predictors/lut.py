"""The ``lut`` predictor: the sum of lookup-table entries (design section 3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from latency_db.errors import ValidationError
from latency_db.predictors.additive import AdditivePredictor
from latency_db.predictors.encoding import FloatArray, IntArray
from latency_db.predictors.features import ArchitectureFeatures


class LutPredictor(AdditivePredictor):
    """Stem, fixed blocks and head (params ``bias_ms``) plus each layer's LUT entry.

    Additive by construction, it misses operator fusion and per-network overheads.
    """

    kind: ClassVar[str] = "lut"

    @classmethod
    def fit(
        cls,
        features: ArchitectureFeatures,
        indices: IntArray,
        latencies_ms: FloatArray,
        *,
        seed: int,
    ) -> LutPredictor:
        """The LUT itself; measurements are not used."""
        if features.lut is None:
            raise ValidationError(
                "a lut predictor needs the device's complete lookup table of "
                f"{features.space_ref}: build it (hwnas lut build) or import one "
                "(hwnas lut import), or fit a learned kind (linear, mlp) on whole-network "
                "measurements"
            )
        return cls(features.lut)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> LutPredictor:
        return cls(cls._parse_table(params))
