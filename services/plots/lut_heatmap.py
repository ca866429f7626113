"""A device's lookup table as a heatmap: layers x ops, each cell the op's latency in ms."""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np

from services.lut_grid import LutGrid

WIDTH_IN, HEIGHT_IN, DPI = 9.0, 10.0, 100
NO_CANDIDATE = "#e8e8e8"
MISSING, HATCH = "tab:red", "xxx"


def lut_heatmap_png(grid: LutGrid, ms_by_key: Mapping[str, float], title: str) -> bytes:
    """900x1000 px. Cells hold the median ms (annotated); an identity op is 0 ms, an op that
    is no candidate of the layer is grey, a key not measured yet is hatched red."""
    import matplotlib  # on first plot (services.plots)
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle

    cells = grid.cell_ms(ms_by_key)
    values = np.array([[np.nan if v is None else v for v in row] for row in cells])
    measured = values[np.isfinite(values)]
    top = float(measured.max()) if measured.size and measured.max() > 0 else 1.0
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    axes = figure.subplots()
    colors = matplotlib.colormaps["viridis"].with_extremes(bad=NO_CANDIDATE)
    image = axes.imshow(
        np.ma.masked_invalid(values), cmap=colors, vmin=0.0, vmax=top, aspect="auto"
    )
    for (row, column), ms in np.ndenumerate(values):
        if np.isfinite(ms):
            light = ms / top < 0.55  # the dark end of viridis: white text
            axes.text(
                column,
                row,
                f"{ms:.3g}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if light else "black",
            )
    missing = grid.missing(ms_by_key)
    for row, column in missing:
        axes.add_patch(
            Rectangle(
                (column - 0.5, row - 0.5), 1, 1, facecolor="white", edgecolor=MISSING, hatch=HATCH
            )
        )
    axes.set_xticks(range(len(grid.ops)), grid.ops, fontsize=8)
    axes.set_yticks(range(len(grid.layers)), grid.layers, fontsize=7)
    axes.xaxis.tick_top()
    axes.tick_params(length=0)
    figure.colorbar(image, ax=axes, label="latency (ms)", shrink=0.6)
    legend = [Patch(facecolor=NO_CANDIDATE, label="no such op at this layer")]
    if missing:
        label = f"not measured ({len(missing)} cells)"
        legend.append(Patch(facecolor="white", edgecolor=MISSING, hatch=HATCH, label=label))
    axes.legend(
        handles=legend,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        ncols=2,
        fontsize=8,
        frameon=False,
    )
    axes.set_title(title, fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
