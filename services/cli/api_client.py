"""The CLI's HTTP client of ``/v1``: bearer token, JSON errors turned into one message."""

from __future__ import annotations

from typing import Any

import httpx


class ApiRefused(Exception):
    """The server answered 4xx/5xx; the message is its JSON ``code: message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


def answer_of(response: httpx.Response) -> Any:
    """The JSON of a 2xx answer (None when empty); :class:`ApiRefused` with the server's
    ``code: message`` otherwise."""
    if response.status_code >= 400:
        try:
            body = response.json()
            code, message = body.get("code", "error"), body.get("message", "")
        except ValueError:
            code, message = "error", response.text[:300]
        raise ApiRefused(response.status_code, code, message)
    return response.json() if response.content else None


class ApiClient:
    def __init__(self, base_url: str, token: str, timeout_s: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url + "/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        return self._json(self._http.get(path, params=params))

    def get_bytes(self, path: str, **params: Any) -> bytes:
        """A binary resource (e.g. a PNG plot)."""
        response = self._http.get(path, params=params)
        if response.status_code >= 400:
            self._json(response)  # raises ApiRefused with the server's error
        return response.content

    def post(self, path: str, body: Any = None) -> Any:
        return self._json(self._http.post(path, json=body))

    _json = staticmethod(answer_of)
