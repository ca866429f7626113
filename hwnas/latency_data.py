"""Latency data: lookup tables (``/v1/lookup-tables``) and measurements (read only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hwnas.rows import Json, JsonList
from hwnas.transport import Transport
from hwnas.waiting import poll_until


class LookupTables:
    """``client.lookup_tables``: build a device's table of a space, read it, sum latencies."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def build(
        self,
        device_id: str,
        space: str = "proxyless",
        *,
        backend: str = "ort-cpu",
        settings: Json | None = None,
        resolution: int | None = None,
        width_mult: float = 1.0,
        batch_size: int = 32,
    ) -> Json:
        """Queue the op jobs of the space's keys not measured yet: the table's status (its
        ``device_id``, ``runtime_config_id``, ``space_ref``, ``batch_size``, ``progress``)."""
        body = {
            "device_id": device_id,
            "runtime": {"backend": backend, "settings": settings or {}},
            "space": space,
            "resolution": resolution,
            "width_mult": width_mult,
            "batch_size": batch_size,
        }
        return dict(self._t.post("/lookup-tables/build", body))

    def get(self, device_id: str, space_ref: str, batch_size: int = 32, **query: Any) -> Json:
        """The table: ``entries`` per op key, ``progress``, ``trust``."""
        return dict(
            self._t.get(
                "/lookup-tables",
                device_id=device_id,
                space_ref=space_ref,
                batch_size=batch_size,
                **query,
            )
        )

    def wait(self, status: Json, timeout_s: float = 3600.0) -> Json:
        """Poll the table ``build`` answered until every key is measured or failed."""
        query = {k: status[k] for k in ("device_id", "runtime_config_id", "space_ref")}

        def finished(table: Json) -> bool:
            done = table["progress"]
            return bool(done["measured"] + done["failed"] >= done["total"])

        return poll_until(
            lambda: self.get(batch_size=status["batch_size"], **query),
            finished,
            timeout_s=timeout_s,
            what=f"lookup table {status['space_ref']}",
        )

    def latency(
        self, device_id: str, space_ref: str, architectures: Sequence[str], batch_size: int = 32
    ) -> JsonList:
        """Sum of the table's entries per architecture (``lut_ms``, None where keys miss)."""
        body = {
            "device_id": device_id,
            "space_ref": space_ref,
            "batch_size": batch_size,
            "architectures": list(architectures),
        }
        return list(self._t.post("/lookup-tables/latency", body))


class Measurements:
    """``client.measurements``: list with filters, one with its raw times and profile."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def list(self, limit: int = 100, **filters: Any) -> JsonList:
        """Newest first; filters: ``device_id``, ``runtime_config_id``, ``subject_kind``,
        ``subject``, ``verdict``, ``offset``."""
        return list(self._t.get("/measurements", limit=limit, **filters))

    def get(self, measurement_id: str) -> Json:
        return dict(self._t.get(f"/measurements/{measurement_id}"))
