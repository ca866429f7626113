"""Cheap oracles: a fitted predictor (``predictor``) or the lookup-table sum (``lut``)."""

from __future__ import annotations

import numpy as np

from latency_db.predictors import LatencyPredictor
from search_worker.oracle.base import Arch, LatencyOracle


class PredictorOracle(LatencyOracle):
    """Answers at once with a numpy predictor's mean; no measurement is used."""

    def __init__(self, predictor: LatencyPredictor, mode: str = "predictor") -> None:
        super().__init__()
        self.predictor = predictor
        self.mode = mode

    @property
    def counts_as_measurement(self) -> bool:
        return False

    def _start(self, arch: Arch) -> float:
        mean, _ = self.predictor.predict(np.asarray([arch]))
        return float(mean[0])
