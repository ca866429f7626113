"""What a learned predictor reads of an architecture: its per-layer one-hot row, and each
layer's lookup-table latency where the device has a complete table.

Whole-network sets published without a table (HW-NAS-Bench, Li et al., ICLR 2021; HELP, Lee
et al., NeurIPS 2021) are fit on the one-hot rows alone; with a table its per-layer latencies
join as features and its sum becomes the baseline the model corrects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from latency_db.errors import ValidationError
from latency_db.predictors.encoding import FloatArray, IntArray, LayerTable, Layout, layer_table
from latency_db.spaces import SearchSpace


@dataclass(frozen=True, eq=False)
class ArchitectureFeatures:
    """The layout of a space instance, the device's lookup table if complete, and the
    additive tables of other devices a fit may transfer from (``predictors.transfer``)."""

    space_ref: str
    layout: Layout
    lut: LayerTable | None
    sources: tuple[LayerTable, ...] = ()

    @classmethod
    def of_lut(cls, lut: LayerTable) -> ArchitectureFeatures:
        return cls(lut.space_ref, lut.layout, lut)

    @classmethod
    def of_space(
        cls,
        space: SearchSpace,
        lut: Mapping[str, float],
        sources: Sequence[LayerTable] = (),
    ) -> ArchitectureFeatures:
        """With the table ``lut`` (op key -> ms) if it has every key of the space, else none;
        ``sources`` must be tables of this space instance."""
        layout = Layout(tuple(len(layer.candidates) for layer in space.layers))
        for source in sources:
            if (source.space_ref, source.layout) != (space.ref, layout):
                raise ValidationError(
                    f"a source predictor of {source.space_ref} cannot transfer to {space.ref}"
                )
        table = layer_table(space, lut) if all(k in lut for k in space.all_op_keys()) else None
        return cls(space.ref, layout, table, tuple(sources))

    @property
    def width(self) -> int:
        return self.layout.width + (self.layout.n_layers if self.lut else 0)

    def rows(self, indices: IntArray) -> FloatArray:
        """[n, width]: the one-hot row, then (with a table) the LUT latency of each layer's op."""
        one_hot = self.layout.one_hot(indices)
        if self.lut is None:
            return one_hot
        return np.hstack([one_hot, self.lut.per_layer_ms(indices)])

    def baseline_ms(self, indices: IntArray) -> FloatArray:
        """[n]: the LUT sum a model corrects, or 1 ms (no baseline) without a table."""
        if self.lut is None:
            return np.ones(indices.shape[0])
        return self.lut.total_ms(indices)
