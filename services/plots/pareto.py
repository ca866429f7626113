"""The Pareto plot of a search: proxy accuracy against latency of the candidates it
evaluated, the budget line, the chosen architecture and any baselines."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 5.0, 100


def pareto_png(result: Mapping[str, Any], title: str) -> bytes:
    """800x500 px. Candidates with a measured latency are filled, predicted-only ones hollow;
    the result's ``baselines`` (scored by the same supernet) are squares, hollow when only
    their predicted latency is known."""
    from matplotlib.figure import Figure  # on first plot (services.plots)

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    axes = figure.subplots()
    points = result.get("candidates", [])
    measured = [p for p in points if p.get("latency_ms") is not None]
    predicted = [p for p in points if p.get("latency_ms") is None]
    if measured:
        axes.scatter(
            [p["latency_ms"] for p in measured],
            [p["supernet_accuracy"] for p in measured],
            s=16,
            color="tab:blue",
            label="candidates (measured)",
        )
    if predicted:
        axes.scatter(
            [p["predicted_ms"] for p in predicted],
            [p["supernet_accuracy"] for p in predicted],
            s=16,
            facecolors="none",
            edgecolors="tab:blue",
            label="candidates (predicted latency)",
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
    for baseline in result.get("baselines", []):
        timed = baseline.get("latency_ms") is not None
        axes.scatter(
            [baseline["latency_ms"] if timed else baseline["predicted_ms"]],
            [baseline["supernet_accuracy"]],
            marker="s",
            s=50,
            edgecolors="tab:green",
            facecolors="tab:green" if timed else "none",
            label=baseline["name"] + ("" if timed else " (predicted latency)"),
        )
    axes.set(xlabel="latency on the device (ms)", ylabel="supernet accuracy (proxy)")
    axes.set_title(title, fontsize=9)
    axes.legend(loc="lower right", fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
