"""Latency predictors (``/v1/predictors``): fit a version, predict, calibration."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwnas.errors import HwnasError
from hwnas.rows import Json, JsonList
from hwnas.transport import Transport
from hwnas.waiting import poll_until


class Predictors:
    """``client.predictors``: fit on a device's measurements, list, predict."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def fit(
        self,
        device_id: str,
        space_ref: str,
        kind: str = "linear",
        *,
        timeout_s: float = 600.0,
        **options: Any,
    ) -> Json:
        """Fit a new version (a worker runs it) and wait: the predictor. ``options``: the
        fit's ``holdout``, ``seed``, ``batch_size``, ``runtime_config_id``,
        ``normalize_drift``, ``include_verdicts``, ``transfer_from`` (few-shot transfer:
        lut/linear version ids of other devices; kind linear)."""
        body = {"device_id": device_id, "space_ref": space_ref, "kind": kind, **options}
        fit_id = self._t.post("/predictors/fits", body)["id"]
        done = poll_until(
            lambda: dict(self._t.get(f"/predictors/fits/{fit_id}")),
            lambda fit: fit["state"] in ("succeeded", "failed"),
            timeout_s=timeout_s,
            what=f"fit {fit_id} (is a worker running?)",
        )
        if done["state"] == "failed":
            raise HwnasError(f"fit {fit_id} failed: {done['error_message']}")
        return self.get(done["predictor_id"])

    def training_jobs(
        self,
        device_id: str,
        space_ref: str,
        runtime: Json,
        count: int,
        *,
        dry_run: bool = False,
        **options: Any,
    ) -> Json:
        """Choose architectures for the device to measure and queue their ``network`` jobs
        (none with ``dry_run``): ``{"job_ids", "architectures", "skipped_measured"}``.
        ``options``: ``strategy`` (random, uncertain, budget, transfer),
        ``source_predictor_ids``, ``predictor_id``, ``budget_ms``, ``batch_size``, ``pool``,
        ``seed``."""
        body = {
            "device_id": device_id,
            "space_ref": space_ref,
            "runtime": runtime,
            "count": count,
            **options,
        }
        return dict(self._t.post("/predictors/training-jobs", body, dry_run=dry_run or None))

    def list(self, device_id: str | None = None, **filters: Any) -> JsonList:
        return list(self._t.get("/predictors", device_id=device_id, **filters))

    def get(self, predictor_id: str) -> Json:
        return dict(self._t.get(f"/predictors/{predictor_id}"))

    def predict(self, predictor_id: str, architectures: Sequence[str]) -> JsonList:
        """``latency_ms`` and ``std_ms`` per architecture, in one vectorized call."""
        body = {"architectures": list(architectures)}
        return list(self._t.post(f"/predictors/{predictor_id}/predict", body))

    def calibration(self, predictor_id: str) -> Json:
        return dict(self._t.get(f"/predictors/{predictor_id}/calibration"))
