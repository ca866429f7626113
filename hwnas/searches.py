"""Searches (``/v1/searches``): submit, follow the events, the result and its artifacts."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hwnas.errors import HwnasError
from hwnas.rows import Json, JsonList
from hwnas.transport import Transport

Paths = list[Path]
FINISHED = frozenset({"succeeded", "failed", "canceled"})
LONG_POLL_S = 25.0
# What ``download`` can fetch besides the Pareto plot: the exported network's files.
ARTIFACT_KINDS = ("onnx", "torchscript", "weights")
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt", "weights": ".weights.pt"}


class Searches:
    """``client.searches``: submit, list, get, events, result, download, cancel, resume."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def submit(
        self, device_id: str, budget_ms: float, estimator: str = "proxyless", **config: Any
    ) -> Json:
        """Queue a search; ``config`` holds the search's settings (``hwnas search submit
        --help`` lists them with their defaults)."""
        body = {"device_id": device_id, "budget_ms": budget_ms, "estimator": estimator}
        return dict(self._t.post("/searches", {**body, "config": config}))

    def list(
        self,
        state: str | None = None,
        limit: int = 50,
        *,
        estimator: str | None = None,
        device_id: str | None = None,
    ) -> JsonList:
        """Your searches, newest first; ``state``, ``estimator`` and ``device_id`` filter."""
        query = {"state": state, "estimator": estimator, "device_id": device_id}
        return list(self._t.get("/searches", limit=limit, **{k: v for k, v in query.items() if v}))

    def get(self, search_id: str) -> Json:
        return dict(self._t.get(f"/searches/{search_id}"))

    def events_page(self, search_id: str, after: int = 0, wait: float = 0.0) -> JsonList:
        """Events from position ``after``; ``wait`` long-polls up to that many seconds."""
        return list(self._t.get(f"/searches/{search_id}/events", after=after, wait=wait))

    def events(self, search_id: str, after: int = 0) -> Iterator[Json]:
        """Every event in order, as it comes (long polls), until the search has ended."""
        while True:
            page = self.events_page(search_id, after, wait=LONG_POLL_S)
            yield from page
            after += len(page)
            if not page and self.get(search_id)["state"] in FINISHED:
                return

    def result(self, search_id: str) -> Json:
        """An ended search's result and its ``artifacts`` (kind, size_bytes, sha256)."""
        return dict(self._t.get(f"/searches/{search_id}/result"))

    def pareto_png(self, search_id: str) -> bytes:
        return self._t.get_bytes(f"/searches/{search_id}/pareto.png")

    def download(
        self,
        search_id: str,
        directory: str | Path,
        kinds: tuple[str, ...] = ARTIFACT_KINDS,
        plots: bool = False,
    ) -> Paths:
        """Save the result's artifacts of ``kinds`` (checked against their sha256) and, with
        ``plots``, the Pareto plot into ``directory``: the files written."""
        written = save_artifacts(
            self.result(search_id),
            lambda sha256: self._t.get_bytes(f"/artifacts/{sha256}/content"),
            directory,
            kinds,
        )
        if plots:
            written.append(
                save_file(Path(directory), f"{search_id}-pareto.png", self.pareto_png(search_id))
            )
        return written

    def cancel(self, search_id: str) -> Json:
        return dict(self._t.post(f"/searches/{search_id}/cancel"))

    def resume(self, search_id: str) -> Json:
        return dict(self._t.post(f"/searches/{search_id}/resume"))


def save_artifacts(
    answer: Json, fetch: Callable[[str], bytes], directory: str | Path, kinds: tuple[str, ...]
) -> Paths:
    """Write the artifacts of a search result (``answer``) of ``kinds`` into ``directory``
    as ``<search id>.onnx`` / ``.pt`` / ``.weights.pt``, fetching each by sha256 and checking
    its content."""
    written = []
    for artifact in answer["artifacts"]:
        if artifact["kind"] not in kinds:
            continue
        data = fetch(artifact["sha256"])
        if hashlib.sha256(data).hexdigest() != artifact["sha256"]:
            raise HwnasError(f"artifact {artifact['sha256']}: the content does not match it")
        name = f"{answer['search_id']}{SUFFIX.get(artifact['kind'], '.bin')}"
        written.append(save_file(Path(directory), name, data))
    return written


def save_file(directory: Path, name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(data)
    return path
