"""Few-shot transfer of additive latency models to a new device (issue 11).

HELP (Lee et al., NeurIPS 2021) describes a device by its latencies on a few reference
architectures and adapts a model meta-learned on other devices. The additive form admits
a closed-form version of that idea: the new device's table starts as a non-negative
combination of the source devices' tables,

    T0 = sum_d w_d T_d,  w = argmin_{w >= 0, b} ||y - b - sum_d w_d g_d(z)||^2,

fit to the k measured networks (g_d the source totals), and the ``linear`` fit then shrinks
its table towards T0 rather than towards 0 (ridge, lambda by cross-validation), so k = 20
measurements suffice where a table fit from scratch needs hundreds.

Which k to measure: the reference architectures are chosen greedily for D-optimality in
the space of the sources' standardised predictions (Fedorov, "Theory of Optimal
Experiments", 1972): each next architecture maximises its leverage x^T M^-1 x, so the k rows
spread over every direction in which the source devices disagree, the directions the
combination weights have to be learned from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from latency_db.errors import ValidationError
from latency_db.predictors.encoding import FloatArray, IntArray, LayerTable

# Added to the information matrix so the first picks have a finite inverse.
_RIDGE = 1e-3


@dataclass(frozen=True)
class SourceAnchor:
    """The combined table T0 and the weights it was made with (one per source, in order)."""

    table: LayerTable
    weights: tuple[float, ...]


def source_totals(sources: Sequence[LayerTable], indices: IntArray) -> FloatArray:
    """[n, D]: each source table's predicted latency (ms) of each architecture."""
    return np.stack([source.total_ms(indices) for source in sources], axis=1)


def source_anchor(
    sources: Sequence[LayerTable], indices: IntArray, latencies_ms: FloatArray
) -> SourceAnchor:
    """T0: the non-negative least-squares combination of the source tables (free bias)."""
    _check_sources(sources)
    totals = source_totals(sources, indices)
    centred = totals - totals.mean(axis=0)
    from scipy.optimize import nnls  # here: the server starts without scipy (0.18 s)

    weights, _ = nnls(centred, latencies_ms - latencies_ms.mean())
    bias = float(latencies_ms.mean() - totals.mean(axis=0) @ weights)
    layout = sources[0].layout
    table = sum(
        (w * s.table_ms for w, s in zip(weights, sources, strict=True)),
        start=np.zeros(layout.mask.shape),
    )
    fixed = bias + float(sum(w * s.fixed_ms for w, s in zip(weights, sources, strict=True)))
    return SourceAnchor(
        LayerTable(sources[0].space_ref, layout, fixed, table),
        tuple(float(w) for w in weights),
    )


def reference_architectures(
    sources: Sequence[LayerTable], candidates: IntArray, k: int
) -> list[int]:
    """Positions in ``candidates`` of the k architectures to measure on the new device:
    the extremes of the sources' mean prediction first, then greedy D-optimal picks."""
    _check_sources(sources)
    n = candidates.shape[0]
    if not 1 <= k <= n:
        raise ValidationError(f"k must be between 1 and the {n} candidates, got {k}")
    totals = source_totals(sources, candidates)
    spread = totals.std(axis=0)
    scaled = (totals - totals.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    rows = np.hstack([np.ones((n, 1)), scaled])
    mean = scaled.mean(axis=1)
    chosen = list(dict.fromkeys([int(np.argmin(mean)), int(np.argmax(mean))]))[:k]
    information = rows[chosen].T @ rows[chosen] + _RIDGE * np.eye(rows.shape[1])
    while len(chosen) < k:
        leverage = np.einsum("ij,jk,ik->i", rows, np.linalg.inv(information), rows)
        leverage[chosen] = -np.inf
        pick = int(np.argmax(leverage))
        chosen.append(pick)
        information += np.outer(rows[pick], rows[pick])
    return chosen


def _check_sources(sources: Sequence[LayerTable]) -> None:
    if not sources:
        raise ValidationError("a transfer needs at least one source predictor")
    if len({(s.space_ref, s.layout) for s in sources}) > 1:
        raise ValidationError("the source predictors are of different space instances")
