"""Architecture estimators, one registry (``@register_estimator``); importing this package
registers them all."""

from __future__ import annotations

from search_worker.search.estimators import baselines, proxyless, relaxed, sampled
from search_worker.search.estimators.base import (
    ESTIMATORS,
    Estimator,
    EstimatorConfig,
    create_estimator,
    register_estimator,
)

__all__ = [
    "ESTIMATORS",
    "Estimator",
    "EstimatorConfig",
    "baselines",
    "create_estimator",
    "proxyless",
    "register_estimator",
    "relaxed",
    "sampled",
]
