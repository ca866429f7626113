"""The ``lut`` predictor: the sum of lookup-table entries (design section 3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from latency_db.predictors.additive import AdditivePredictor
from latency_db.predictors.encoding import FloatArray, IntArray, LayerTable


class LutPredictor(AdditivePredictor):
    """Stem, fixed blocks and head (params ``bias_ms``) plus each layer's LUT entry.

    Additive by construction, it misses operator fusion and per-network overheads.
    """

    kind: ClassVar[str] = "lut"

    @classmethod
    def fit(
        cls, table: LayerTable, indices: IntArray, latencies_ms: FloatArray, *, seed: int
    ) -> LutPredictor:
        """The LUT itself; measurements are not used."""
        return cls(table)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> LutPredictor:
        return cls(cls._parse_table(params))
