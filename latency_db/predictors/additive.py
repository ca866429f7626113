"""Additive predictors, g(z) = b + sum_l T[l, z_l]: the shared part of ``lut`` and ``linear``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from latency_db.predictors.base import LatencyPredictor, number
from latency_db.predictors.encoding import FloatArray, IntArray, LayerTable, Layout, ragged_table


@dataclass(frozen=True, eq=False)
class AdditivePredictor(LatencyPredictor):
    """A bias (``table.fixed_ms``) plus one latency per (layer, op); no uncertainty.

    Params: ``{"kind", "space", "bias_ms": float, "table_ms": [[ms per candidate] per layer]}``.
    """

    table: LayerTable

    @property
    def space_ref(self) -> str:
        return self.table.space_ref

    @property
    def layout(self) -> Layout:
        return self.table.layout

    def _predict(self, indices: IntArray) -> tuple[FloatArray, FloatArray]:
        mean = self.table.total_ms(indices)
        return mean, np.zeros_like(mean)

    def to_params(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "space": self.space_ref,
            "bias_ms": float(self.table.fixed_ms),
            "table_ms": self.layout.unpad(self.table.table_ms),
        }

    @classmethod
    def _parse_table(cls, params: Mapping[str, Any]) -> LayerTable:
        space = cls._check_kind(params)
        layout, table = ragged_table(params.get("table_ms"), "table_ms")
        return LayerTable(space, layout, number(params, "bias_ms"), table)
