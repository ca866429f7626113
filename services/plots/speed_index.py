"""A device's speed index over time (sentinel medians below), one line per runtime
configuration; unstable sentinels are hollow markers."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime

from services.schemas.devices import SpeedPointOut

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 6.0, 100


def speed_index_png(points: Sequence[SpeedPointOut], title: str) -> bytes:
    """Two stacked panels (800x600 px): the speed index with the reference line at 1.0,
    and the sentinel's median in milliseconds."""
    from matplotlib.figure import Figure  # on first plot (services.plots)

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)  # no pyplot: thread-safe
    index_axes, median_axes = figure.subplots(2, 1, sharex=True)
    index_axes.axhline(1.0, linestyle="--", linewidth=1, color="gray", label="reference")
    for config_id in dict.fromkeys(p.runtime_config_id for p in points):
        series = [p for p in points if p.runtime_config_id == config_id]
        times: list[datetime] = [p.time for p in series]
        line = index_axes.plot(
            times, [p.speed_index for p in series], marker="o", label=f"config {config_id[-6:]}"
        )[0]
        median_axes.plot(times, [p.sentinel_ms for p in series], marker="o", color=line.get_color())
        unstable = [p for p in series if p.unstable]
        if unstable:
            index_axes.scatter(
                [p.time for p in unstable],
                [p.speed_index for p in unstable],
                s=60,
                facecolors="white",
                edgecolors=line.get_color(),
                zorder=3,
                label="unstable sentinel",
            )
    index_axes.set_ylabel("speed index (reference / now)")
    median_axes.set_ylabel("sentinel median (ms)")
    median_axes.set_xlabel("time (UTC)")
    index_axes.set_title(title, fontsize=9)
    index_axes.legend(loc="best", fontsize=8)
    figure.autofmt_xdate()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
