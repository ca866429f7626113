"""Lookup tables and predictors: the layer x op heatmap of a device's table with its
coverage (``/v1/lookup-tables``), one entry's measurement (``/v1/measurements/{id}``: the
raw-time histogram, CV and verdict), predictor versions with their holdout metrics and
calibration plot, and a form that predicts an architecture's latency
(``/v1/predictors/{id}/predict``).

The heatmap's rows and columns come from the space's definition (:func:`lut_grid`, the same
layout as the API's PNG); every number in it comes from the API's JSON."""

from __future__ import annotations

import colorsys
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from services.lut_grid import lut_grid
from services.ui.api import ApiRefused
from services.ui.session import FormSessionDep, SessionDep, UiSession
from services.validation import resolve_space_ref

router = APIRouter()
HISTOGRAM_BINS = 12


def _luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (channels 0..1)."""
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _shade(ms: float, low: float, high: float) -> dict[str, str]:
    """A cell's colours: light to dark blue with its latency; black or white text, whichever
    contrasts more (at least 4.58:1 on any background, above WCAG AA's 4.5)."""
    share = 0.0 if high <= low else (ms - low) / (high - low)
    rgb = colorsys.hls_to_rgb(210 / 360, 0.95 - 0.7 * share, 0.7)
    lum = _luminance(rgb)
    on_white, on_black = 1.05 / (lum + 0.05), (lum + 0.05) / 0.05
    hex_rgb = "".join(f"{round(c * 255):02x}" for c in rgb)
    return {"background": f"#{hex_rgb}", "color": "#000" if on_black > on_white else "#fff"}


def _heatmap(space_ref: str, entries: dict[str, Any]) -> dict[str, Any]:
    grid = lut_grid(resolve_space_ref(space_ref))
    measured = [e["median_ms"] for e in entries.values()]
    low, high = (min(measured), max(measured)) if measured else (0.0, 1.0)
    rows = []
    for layer, keys in zip(grid.layers, grid.keys, strict=True):
        cells = []
        for key in keys:
            entry = entries.get(key) if key else None
            cells.append(
                {
                    "key": key,
                    "entry": entry,
                    "style": _shade(entry["median_ms"], low, high) if entry else None,
                }
            )
        rows.append({"layer": layer, "cells": cells})
    return {"ops": grid.ops, "rows": rows}


@router.get("/lookup-tables")
async def lookup_table_page(
    request: Request,
    session: SessionDep,
    device_id: str = "",
    space_ref: str = "",
    batch_size: Annotated[int, Query(ge=1, le=4096)] = 32,
    runtime_config_id: str = "",
) -> Response:
    devices = await session.api.get("/devices")
    table = heatmap = None
    if device_id and space_ref:
        table = await session.api.get(
            "/lookup-tables",
            device_id=device_id,
            space_ref=space_ref,
            batch_size=batch_size,
            runtime_config_id=runtime_config_id,
        )
        heatmap = _heatmap(table["space_ref"], table["entries"])
    return session.page(
        request,
        "lookup_table.html",
        devices=devices,
        query={"device_id": device_id, "space_ref": space_ref, "batch_size": batch_size},
        table=table,
        heatmap=heatmap,
    )


def _histogram(times_ms: list[float]) -> list[dict[str, float]]:
    """Equal-width bins over the raw times: each bin's range and count."""
    low, high = min(times_ms), max(times_ms)
    width = (high - low) / HISTOGRAM_BINS or 1.0
    counts = [0] * HISTOGRAM_BINS
    for t in times_ms:
        counts[min(int((t - low) / width), HISTOGRAM_BINS - 1)] += 1
    return [
        {"low": low + i * width, "high": low + (i + 1) * width, "count": c}
        for i, c in enumerate(counts)
    ]


@router.get("/measurements/{measurement_id}")
async def measurement_page(request: Request, measurement_id: str, session: SessionDep) -> Response:
    measurement = await session.api.get(f"/measurements/{measurement_id}")
    bins = _histogram(measurement["times_ms"]) if measurement["times_ms"] else []
    return session.page(
        request,
        "measurement.html",
        m=measurement,
        bins=bins,
        tallest=max((b["count"] for b in bins), default=1),
    )


async def _predictors_page(
    request: Request,
    session: UiSession,
    prediction: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    predictors = await session.api.get("/predictors")
    return session.page(
        request,
        "predictors.html",
        status_code=status_code,
        predictors=predictors,
        prediction=prediction,
    )


@router.get("/predictors")
async def predictors_page(request: Request, session: SessionDep) -> Response:
    return await _predictors_page(request, session)


@router.get("/predictors/{predictor_id}/calibration.png")
async def calibration_png(predictor_id: str, session: SessionDep) -> Response:
    plot = await session.api.get_bytes(f"/predictors/{predictor_id}/calibration.png")
    return Response(plot.content, media_type="image/png")


@router.post("/predictors/{predictor_id}/predict")
async def predict(
    request: Request,
    predictor_id: str,
    session: FormSessionDep,
    architecture: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    """The version's prediction for one architecture, shown on the predictors page; what
    the API refuses (an architecture not of the space) is shown there with its status."""
    asked = {"predictor_id": predictor_id, "architecture": architecture}
    try:
        (answer,) = await session.api.post(
            f"/predictors/{predictor_id}/predict", {"architectures": [architecture]}
        )
    except ApiRefused as err:
        if err.status not in (404, 422):
            raise
        message = str(err).split(": ", 1)[-1]
        return await _predictors_page(request, session, {**asked, "error": message}, err.status)
    return await _predictors_page(request, session, {**asked, **answer})
