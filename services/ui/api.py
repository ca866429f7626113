"""The dashboard's client of the public API: the same app called in-process over ASGI with
the signed-in user's token, so a page sees what any API client sees."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Request

from services.cli.api_client import ApiRefused, answer_of

API_BASE = "http://hwnas-ui.internal/v1"
# Longer than the longest long-poll a page asks for (the search stream's ``wait``).
CALL_TIMEOUT_S = 60.0


class UiApi:
    """Async calls of ``/v1`` as the holder of ``token``; errors raise
    :class:`~services.cli.api_client.ApiRefused` with the API's status and message."""

    def __init__(self, request: Request, token: str) -> None:
        self.token = token
        self._transport = httpx.ASGITransport(app=request.app)
        self._headers = {"Authorization": f"Bearer {token}"}

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self._transport,
            base_url=API_BASE,
            headers=self._headers,
            timeout=CALL_TIMEOUT_S,
        )

    async def get(self, path: str, **params: Any) -> Any:
        async with self._client() as http:
            return answer_of(await http.get(path, params=_present(params)))

    async def get_bytes(self, path: str, **params: Any) -> httpx.Response:
        """A binary answer (a plot, an artifact's bytes), checked like JSON ones."""
        async with self._client() as http:
            response = await http.get(path, params=_present(params))
        if response.status_code >= 400:
            answer_of(response)
        return response

    async def post(self, path: str, body: Any = None, **params: Any) -> Any:
        async with self._client() as http:
            return answer_of(await http.post(path, json=body, params=_present(params)))

    async def post_bytes(self, path: str, content: bytes, **params: Any) -> Any:
        async with self._client() as http:
            return answer_of(await http.post(path, content=content, params=_present(params)))


def _present(params: dict[str, Any]) -> dict[str, Any]:
    """Query parameters without the ones left empty (an unset filter)."""
    return {k: v for k, v in params.items() if v not in (None, "")}


__all__ = ["ApiRefused", "UiApi"]
