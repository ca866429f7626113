"""The Pareto plot of a search: proxy accuracy against latency of the candidates it
evaluated, the budget line, the chosen architecture and any baselines."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 5.0, 100


def pareto_png(
    result: Mapping[str, Any], title: str, baselines: Sequence[Mapping[str, Any]] = ()
) -> bytes:
    """800x500 px. Candidates with a measured latency are filled, predicted-only ones hollow;
    ``baselines`` are points ``{"name", "latency_ms", "accuracy"}``."""
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    axes = figure.subplots()
    points = result.get("candidates", [])
    for measured, style in ((True, {}), (False, {"facecolors": "none"})):
        chosen = [p for p in points if (p.get("latency_ms") is not None) == measured]
        latency = [p["latency_ms"] if measured else p["predicted_ms"] for p in chosen]
        label = "candidates (measured)" if measured else "candidates (predicted latency)"
        if chosen:
            axes.scatter(
                latency,
                [p["supernet_accuracy"] for p in chosen],
                s=16,
                edgecolors="tab:blue",
                label=label,
                **style,
            )
    axes.axvline(result["budget_ms"], color="tab:red", linestyle="--", label="budget")
    axes.scatter(
        [result["measured_latency_ms"]],
        [result["supernet_accuracy"]],
        marker="*",
        s=180,
        color="tab:orange",
        label=f"chosen (top-1 {result['accuracy']:.3f} after training)",
        zorder=3,
    )
    for baseline in baselines:
        axes.scatter(
            [baseline["latency_ms"]],
            [baseline["accuracy"]],
            marker="s",
            s=40,
            label=baseline["name"],
        )
    axes.set(xlabel="latency on the device (ms)", ylabel="supernet accuracy (proxy)")
    axes.set_title(title, fontsize=9)
    axes.legend(loc="lower right", fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
