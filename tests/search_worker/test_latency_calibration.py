"""The latency model's correction on measured samples of the search's distribution (issue
17, defect 6): least squares on the most recent measured samples, dropped when their
measurement is not clean, resumed exactly from its state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latency_db.predictors import Layout, LutPredictor
from latency_db.predictors.encoding import LayerTable
from search_worker.latency import AdditiveLatency
from search_worker.latency.corrected import CorrectedLatency
from search_worker.oracle import PredictorOracle
from search_worker.oracle.base import Arch
from search_worker.search.calibration import LatencyCalibration
from search_worker.search.distribution import ArchitectureLogits, one_hot

COUNTS = (3, 2, 3)
TABLE = np.array([[10.0, 2.0, 1.0], [1.0, 3.0, 0.0], [5.0, 4.0, 6.0]])


class Device(PredictorOracle):
    """Answers two polls late with 0.6x the table plus a per-architecture wobble; every
    third architecture comes back disturbed (not clean)."""

    def __init__(self) -> None:
        super().__init__(LutPredictor(LayerTable("toy", Layout(COUNTS), 1.0, 0.6 * TABLE)))
        self.waiting: dict[Arch, int] = {}
        self.answered = 0

    @property
    def counts_as_measurement(self) -> bool:
        return True

    def _start(self, arch: Arch) -> None:  # type: ignore[override]
        self.waiting.setdefault(arch, 0)

    def _poll(self) -> None:
        for arch in list(self.waiting):
            self.waiting[arch] += 1
            if self.waiting[arch] >= 2:
                del self.waiting[arch]
                self.answered += 1
                wobble = 1.0 + 0.05 * ((sum(arch) % 3) - 1)
                verdict = "disturbed" if self.answered % 3 == 0 else "clean"
                self._record(arch, wobble * super()._start(arch), verdict, "load")


def calibration(seed: int = 0) -> tuple[LatencyCalibration, ArchitectureLogits]:
    base = AdditiveLatency(LutPredictor(LayerTable("toy", Layout(COUNTS), 1.0, TABLE)))
    logits = ArchitectureLogits(Layout(COUNTS))
    with torch.no_grad():
        logits.alpha.copy_(torch.randn(3, 3, generator=torch.Generator().manual_seed(seed)))
    return LatencyCalibration(CorrectedLatency(base), every=2, seed=seed, window=4), logits


def test_the_correction_is_least_squares_on_the_recent_clean_measurements() -> None:
    calib, logits = calibration()
    device = Device()
    for step in range(40):
        calib.step(step, logits, device)
    assert device.unclean  # some answers were disturbed: none of them is among the pairs
    assert 0 < len(calib.pairs) <= 4
    disturbed = {answer["latency_ms"] for answer in device.unclean.values()}
    assert not disturbed & {m for _, m in calib.pairs}
    g = np.array([p for p, _ in calib.pairs])
    m = np.array([m for _, m in calib.pairs])
    assert float(calib.model.scale) == pytest.approx(float((m * g).sum() / (g * g).sum()))
    assert 0.55 < float(calib.model.scale) < 0.7  # 0.6 give or take the wobble
    # the pairs are the base model's predictions and measurements of the drawn samples
    for predicted, measured in calib.pairs:
        (arch,) = [a for a, ms in device.measured().items() if ms == measured]
        assert predicted == pytest.approx(
            float(calib.model.base(one_hot(torch.tensor([arch]), 3))[0])
        )
    weights = logits.probs().detach()
    assert float(calib.model(weights)) == pytest.approx(
        float(calib.model.scale) * float(calib.model.base(weights))
    )


def test_a_resumed_calibration_continues_as_the_uninterrupted_one() -> None:
    straight, logits = calibration(seed=3)
    straight_device = Device()
    first, _ = calibration(seed=3)
    device = Device()
    for step in range(15):
        straight.step(step, logits, straight_device)
        first.step(step, logits, device)
    resumed, _ = calibration(seed=3)
    resumed.load_state_dict(first.state_dict())
    for step in range(15, 30):
        straight.step(step, logits, straight_device)
        resumed.step(step, logits, device)
    assert resumed.pairs == straight.pairs and resumed.pending == straight.pending
    assert float(resumed.model.scale) == float(straight.model.scale) != 1.0


@pytest.mark.parametrize("oracle", ["every=0", "a predictor"])
def test_no_calibration_requests_nothing(oracle: str) -> None:
    """Switched off, or with an oracle that only predicts (the ``lut`` and ``predictor``
    modes), the model keeps its scale and nothing is requested."""
    calib, logits = calibration()
    device: PredictorOracle = Device()
    if oracle == "every=0":
        calib.every = 0
    else:
        device = PredictorOracle(device.predictor, mode="lut")
    for step in range(10):
        calib.step(step, logits, device)
    assert device.stats.requests == 0 and float(calib.model.scale) == 1.0
