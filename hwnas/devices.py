"""Devices and their agents (``/v1/devices``)."""

from __future__ import annotations

from hwnas.rows import Json, JsonList, by_name
from hwnas.transport import Transport


class Devices:
    """``client.devices``: register, list, find by name, agents, health, drain/activate."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def list(self) -> JsonList:
        """Every device (``DeviceOut``): id, name, kind, state, attributes."""
        return list(self._t.get("/devices"))

    def get(self, device_id: str) -> Json:
        return dict(self._t.get(f"/devices/{device_id}"))

    def find(self, name: str) -> Json:
        """The device called ``name``; :class:`HwnasError` if there is none."""
        return by_name(self.list(), name, "device")

    def resolve(self, device: str) -> str:
        """The id of a device given by name or by id."""
        for row in self.list():
            if device in (row["name"], row["id"]):
                return str(row["id"])
        return str(self.find(device)["id"])

    def create(self, name: str, kind: str, attributes: Json | None = None) -> Json:
        """Register a device: ``{"device": ..., "enrollment": {"token", "commands", ...}}``."""
        body = {"name": name, "kind": kind, "attributes": attributes or {}}
        return dict(self._t.post("/devices", body))

    def enrollment_token(self, device_id: str) -> Json:
        """A fresh one-time token an agent of the device enrolls with."""
        return dict(self._t.post(f"/devices/{device_id}/enrollment-tokens"))

    def agents(self, device_id: str) -> JsonList:
        """The device's agents (``AgentOut``): backend, state, environment, last heartbeat."""
        return list(self._t.get(f"/devices/{device_id}/agents"))

    def health(self, device_id: str) -> Json:
        return dict(self._t.get(f"/devices/{device_id}/health"))

    def set_state(self, device_id: str, state: str) -> Json:
        """``active``, ``draining`` or ``disabled``."""
        return dict(self._t.post(f"/devices/{device_id}/state", {"state": state}))
