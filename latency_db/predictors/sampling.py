"""Active sampling: which architectures of a candidate pool to measure next.

``most_uncertain`` picks where an ensemble disagrees most (uncertainty sampling, as in the
query-by-committee of Seung et al., COLT 1992); ``nearest_budget`` picks where a search
under a latency budget will operate, so the predictor becomes most accurate there.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from latency_db.errors import ValidationError
from latency_db.predictors.encoding import FloatArray
from latency_db.spaces import Architecture, SearchSpace

T = TypeVar("T")


class Predicts(Protocol):
    """Anything that predicts (mean_ms [m], std_ms [m]) for a whole pool in one call."""

    def predict(self, pool: Any, /) -> tuple[FloatArray, FloatArray]: ...


def random_candidates(space: SearchSpace, seed: int, size: int) -> list[Architecture]:
    """``size`` seeded uniform samples of the space, duplicates dropped (first kept)."""
    rng = random.Random(seed)
    unique = dict.fromkeys(space.format(space.sample(rng)) for _ in range(size))
    return [space.parse(text) for text in unique]


def most_uncertain(predictor: Predicts, pool: Sequence[T], n: int) -> list[T]:
    """The n members of ``pool`` with the largest predicted std, largest first."""
    _, std = predictor.predict(pool)
    return _smallest(pool, -std, n)


def nearest_budget(predictor: Predicts, pool: Sequence[T], budget_ms: float, n: int) -> list[T]:
    """The n members of ``pool`` whose predicted latency is nearest ``budget_ms``."""
    if not (math.isfinite(budget_ms) and budget_ms > 0):
        raise ValidationError(f"budget_ms must be finite and positive, got {budget_ms}")
    mean, _ = predictor.predict(pool)
    return _smallest(pool, np.abs(mean - budget_ms), n)


def _smallest(pool: Sequence[T], score: FloatArray, n: int) -> list[T]:
    """The members with the n smallest scores (all, for a smaller pool); ties keep pool order."""
    if n < 0:
        raise ValidationError(f"n must be >= 0, got {n}")
    return [pool[int(i)] for i in np.argsort(score, kind="stable")[:n]]
