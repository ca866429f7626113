"""Predictor calibration: predicted vs measured latency with the +-10% band."""

from __future__ import annotations

import io
from collections.abc import Sequence

WIDTH_IN, HEIGHT_IN, DPI = 6.0, 6.0, 100


def calibration_png(
    predicted_ms: Sequence[float], measured_ms: Sequence[float], title: str
) -> bytes:
    """A square scatter plot (600x600 px) of predicted against measured milliseconds."""
    from matplotlib.figure import Figure  # on first plot (services.plots)

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)  # no pyplot: thread-safe
    axes = figure.subplots()
    values = [*predicted_ms, *measured_ms]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = 0.05 * (high - low or 1.0)
    line = [low - pad, high + pad]
    axes.fill_between(
        line, [v * 0.9 for v in line], [v * 1.1 for v in line], alpha=0.15, label="±10%"
    )
    axes.plot(line, line, linestyle="--", linewidth=1, label="predicted = measured")
    axes.scatter(measured_ms, predicted_ms, s=14, label=f"holdout ({len(measured_ms)})")
    axes.set(xlim=line, ylim=line, xlabel="measured (ms)", ylabel="predicted (ms)")
    axes.set_title(title, fontsize=9)
    axes.legend(loc="upper left")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
