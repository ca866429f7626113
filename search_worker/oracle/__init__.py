"""True latency of sampled architectures for the search (design section 6)."""

from __future__ import annotations

from search_worker.oracle.base import Arch, LatencyOracle, MeasurementFailed, OracleStats
from search_worker.oracle.measured import MeasuredOracle
from search_worker.oracle.predicted import PredictorOracle

__all__ = [
    "Arch",
    "LatencyOracle",
    "MeasuredOracle",
    "MeasurementFailed",
    "OracleStats",
    "PredictorOracle",
]
