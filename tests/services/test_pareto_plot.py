"""The Pareto plot of a search result: size, and every kind of point drawn."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib import image

from services.plots.pareto import pareto_png


def result(**changes: Any) -> dict[str, Any]:
    point = {"supernet_accuracy": 0.3, "predicted_ms": 90.0}
    return {
        "budget_ms": 100.0,
        "measured_latency_ms": 95.0,
        "supernet_accuracy": 0.42,
        "accuracy": 0.5,
        "candidates": [
            point | {"arch": "a", "latency_ms": 80.0, "chosen": False},
            point | {"arch": "b", "latency_ms": None, "chosen": False},
        ],
        "baselines": [
            point | {"name": "MobileNetV2-like", "arch": "m", "latency_ms": 120.0},
        ],
    } | changes


def pixels(png: bytes) -> np.ndarray:
    return image.imread(io.BytesIO(png), format="png")


def test_the_plot_is_800_by_500_and_draws_the_baselines() -> None:
    with_baseline = pixels(pareto_png(result(), "search"))
    assert with_baseline.shape[:2] == (500, 800)
    without = pixels(pareto_png(result(baselines=[]), "search"))
    assert not np.array_equal(with_baseline, without)
    green = np.array([44, 160, 44]) / 255  # tab:green, the baseline's square
    assert np.isclose(with_baseline[..., :3], green, atol=0.02).all(axis=-1).sum() > 20
    assert not np.isclose(without[..., :3], green, atol=0.02).all(axis=-1).any()


def test_a_baseline_without_a_measurement_is_drawn_at_its_predicted_latency() -> None:
    baseline = {"name": "MobileNetV2-like", "arch": "m", "latency_ms": None}
    png = pareto_png(
        result(baselines=[baseline | {"supernet_accuracy": 0.3, "predicted_ms": 110}]), "s"
    )
    assert len(png) > 10_000
