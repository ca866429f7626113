"""Datasets a search may name (``/v1/datasets``) and teams a device is shared with
(``/v1/teams``, ``/v1/devices/{id}/shares``)."""

from __future__ import annotations

from hwnas.rows import Json, JsonList, by_name
from hwnas.transport import Transport


class Datasets:
    """``client.datasets``: list them (everyone); register and remove them (admins)."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def list(self) -> JsonList:
        """The bundled dataset, then the registered ones (``root`` for admins only)."""
        return list(self._t.get("/datasets"))

    def register(self, name: str, root: str, description: str = "") -> Json:
        """A dataset by name at ``root``, an ImageFolder as the workers see it (admins)."""
        body = {"name": name, "root": root, "description": description}
        return dict(self._t.post("/datasets", body))

    def remove(self, name: str) -> Json:
        return dict(self._t.delete(f"/datasets/{name}"))


class Teams:
    """``client.teams``: create, list, members; share a device of yours with a team."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def create(self, name: str) -> Json:
        """A new team with you as its first member."""
        return dict(self._t.post("/teams", {"name": name}))

    def list(self) -> JsonList:
        return list(self._t.get("/teams"))

    def find(self, name: str) -> Json:
        """Your team called ``name``; :class:`HwnasError` if there is none."""
        return by_name(self.list(), name, "team")

    def add_member(self, team_id: str, user: str) -> Json:
        return dict(self._t.post(f"/teams/{team_id}/members", {"user": user}))

    def remove_member(self, team_id: str, user: str) -> Json:
        return dict(self._t.delete(f"/teams/{team_id}/members/{user}"))

    def share(self, device_id: str, team_id: str) -> Json:
        """Share your device with a team: its members see it and submit work to it."""
        return dict(self._t.post(f"/devices/{device_id}/shares", {"team_id": team_id}))

    def unshare(self, device_id: str, team_id: str) -> Json:
        return dict(self._t.delete(f"/devices/{device_id}/shares/{team_id}"))
