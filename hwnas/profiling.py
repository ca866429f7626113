"""Profile your own ONNX model on a device: upload, a ``model`` job, its measurement."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hwnas.errors import JobFailed
from hwnas.rows import Json, JsonList
from hwnas.transport import Transport
from hwnas.waiting import poll_until

FINISHED = frozenset({"succeeded", "failed", "canceled"})


@dataclass(frozen=True)
class ProfileResult:
    """A finished job's measurement (``MeasurementDetail``): statistics, raw times, the
    verdict and the per-layer profile (``layer_profile["layers"]``, ``["blocks"]``)."""

    measurement: Json

    @property
    def median_ms(self) -> float:
        return float(self.measurement["median_ms"])

    @property
    def cv(self) -> float:
        """Coefficient of variation of the timed runs."""
        return float(self.measurement["cv"])

    @property
    def verdict(self) -> str:
        """``clean``, ``unstable`` or ``disturbed``: how far to trust the figure."""
        return str(self.measurement["verdict"])

    @property
    def layers(self) -> JsonList:
        """Per-node times (``name``, ``op_type``, ``time_ms``, ``block``), in run order."""
        profile = self.measurement.get("layer_profile") or {}
        return list(profile.get("layers", []))


class ProfileJob:
    """A queued profiling job; :meth:`wait` for it to end, :meth:`result` for its figures."""

    def __init__(self, transport: Transport, job: Json) -> None:
        self._t = transport
        self.job = job

    @property
    def id(self) -> str:
        return str(self.job["id"])

    @property
    def state(self) -> str:
        return str(self.job["state"])

    def refresh(self) -> Json:
        self.job = dict(self._t.get(f"/jobs/{self.id}"))
        return self.job

    def wait(
        self,
        timeout_s: float = 600.0,
        on_poll: Callable[[Json], None] | None = None,
    ) -> Json:
        """Poll (backing off from 0.2 s to 2 s) until the job ends: its last state.
        ``on_poll`` sees each state (a progress display); :class:`TimeoutError` after
        ``timeout_s``."""

        def poll() -> Json:
            job = self.refresh()
            if on_poll is not None:
                on_poll(job)
            return job

        return poll_until(
            poll, lambda job: job["state"] in FINISHED, timeout_s=timeout_s, what=f"job {self.id}"
        )

    def result(self, timeout_s: float = 600.0) -> ProfileResult:
        """The measurement the job wrote (waits first); :class:`JobFailed` if it has none."""
        job = self.job if self.state in FINISHED else self.wait(timeout_s)
        if job["state"] != "succeeded":
            raise JobFailed(
                f"job {self.id} {job['state']}: {job['error_code']} {job['error_message']}"
            )
        rows = self._t.get("/measurements", device_id=job["device_id"], subject=job["subject"])
        (row,) = [r for r in rows if r["job_id"] == self.id]
        return ProfileResult(dict(self._t.get(f"/measurements/{row['id']}")))

    def cancel(self) -> Json:
        self.job = dict(self._t.post(f"/jobs/{self.id}/cancel"))
        return self.job


class Jobs:
    """``client.jobs``: upload a model, queue model jobs, list and follow jobs."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def upload(self, model_path: str | Path, name: str | None = None) -> Json:
        """Upload an ONNX file with static shapes: the artifact (sha256, input shape)."""
        path = Path(model_path)
        return dict(self._t.post_bytes("/artifacts", path.read_bytes(), name=name or path.stem))

    def submit_model(
        self,
        device_id: str,
        artifact_sha256: str,
        *,
        backend: str = "ort-cpu",
        settings: Json | None = None,
        priority: int = 0,
    ) -> ProfileJob:
        body = {
            "device_id": device_id,
            "runtime": {"backend": backend, "settings": settings or {}},
            "kind": "model",
            "artifact_sha256": artifact_sha256,
            "priority": priority,
        }
        return ProfileJob(self._t, dict(self._t.post("/jobs", body)))

    def get(self, job_id: str) -> ProfileJob:
        return ProfileJob(self._t, dict(self._t.get(f"/jobs/{job_id}")))

    def list(
        self, device_id: str | None = None, state: str | None = None, limit: int = 100
    ) -> JsonList:
        return list(self._t.get("/jobs", device_id=device_id, state=state, limit=limit))
