"""The interactive Pareto plot of a search's result, as SVG drawn on the server: every
candidate a focusable point carrying its architecture, predicted and measured latency (the
page's script shows them on hover or focus; the ``<title>`` says the same to screen readers
and without JavaScript). Same data and encoding as :mod:`services.plots.pareto`'s PNG:
measured candidates filled, predicted-only ones hollow, the budget dashed, the chosen one
orange."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 20, 50
TICKS = 5


def _latency(point: Mapping[str, Any]) -> float:
    measured = point.get("latency_ms")
    return float(measured if measured is not None else point["predicted_ms"])


def _ms(value: Any) -> str:
    return "not measured" if value is None else f"{float(value):.3f} ms"


class _Scale:
    """Data to pixels on one axis, with a 5% margin around the data's range."""

    def __init__(self, values: Sequence[float], start_px: float, end_px: float) -> None:
        low, high = min(values), max(values)
        pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
        self.low, self.high = low - pad, high + pad
        self.start_px, self.end_px = start_px, end_px

    def __call__(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low)
        return self.start_px + share * (self.end_px - self.start_px)

    def ticks(self) -> list[float]:
        step = (self.high - self.low) / TICKS
        return [self.low + step * (i + 0.5) for i in range(TICKS)]


def _point(point: Mapping[str, Any], x: float, y: float, chosen: bool) -> str:
    measured = point.get("latency_ms")
    label = (
        f"{point['arch']}: predicted {_ms(point['predicted_ms'])}, measured {_ms(measured)}, "
        f"supernet accuracy {point['supernet_accuracy']:.3f}"
    )
    classes = (
        "point"
        + (" chosen" if chosen else "")
        + ("" if measured is not None else " predicted-only")
    )
    attributes = {
        "data-arch": point["arch"],
        "data-predicted": _ms(point["predicted_ms"]),
        "data-measured": _ms(measured),
        "data-accuracy": f"{point['supernet_accuracy']:.3f}",
    }
    data = " ".join(f"{k}={quoteattr(v)}" for k, v in attributes.items())
    radius = 8 if chosen else 4
    return (
        f'<circle class="{classes}" cx="{x:.1f}" cy="{y:.1f}" r="{radius}" tabindex="0" '
        f'role="img" aria-label={quoteattr(label)} {data}><title>{escape(label)}</title></circle>'
    )


def pareto_svg(result: Mapping[str, Any]) -> str:
    """The SVG element of ``result``'s candidates (chosen one last, on top) and budget."""
    points = [p for p in result.get("candidates", []) if p.get("supernet_accuracy") is not None]
    budget = float(result["budget_ms"])
    x = _Scale([*(_latency(p) for p in points), budget], LEFT, WIDTH - RIGHT)
    y = _Scale([p["supernet_accuracy"] for p in points] or [0.0, 1.0], HEIGHT - BOTTOM, TOP)
    parts = [
        f'<svg class="pareto" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        'role="group" aria-label="Pareto plot: supernet accuracy against latency">',
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" '
        f'y2="{HEIGHT - BOTTOM}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}"/>',
    ]
    for tick in x.ticks():
        parts.append(
            f'<text x="{x(tick):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
            f"{tick:.3g}</text>"
        )
    for tick in y.ticks():
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:.3g}</text>'
        )
    parts += [
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 12}" text-anchor="middle">'
        "latency (ms): measured, else predicted</text>",
        f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2})">supernet accuracy</text>',
        f'<line class="budget" x1="{x(budget):.1f}" y1="{TOP}" x2="{x(budget):.1f}" '
        f'y2="{HEIGHT - BOTTOM}"><title>budget {budget:g} ms</title></line>',
    ]
    for p in sorted(points, key=lambda p: bool(p.get("chosen"))):
        parts.append(_point(p, x(_latency(p)), y(p["supernet_accuracy"]), bool(p.get("chosen"))))
    parts.append("</svg>")
    return "\n".join(parts)
