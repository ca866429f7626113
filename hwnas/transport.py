"""The one HTTP layer to ``/v1``: bearer token, timeouts, retries, errors as exceptions.

Connection failures are retried by httpx's transport (``retries``: the request never
reached the server, so any method is safe); idempotent reads are also retried with
exponential backoff and jitter (tenacity) on gateway errors, 503 and read timeouts.
"""

from __future__ import annotations

from typing import Any

import httpx
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from hwnas.errors import ApiRefused, ServerUnreachable

RETRIED_STATUSES = frozenset({502, 503, 504})
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_RETRIES = 3


class _Retryable(Exception):
    """A read answered with a retried status; the last one is re-raised as it was."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _worth_retrying(err: BaseException) -> bool:
    return isinstance(err, _Retryable | httpx.TimeoutException | httpx.RemoteProtocolError)


class Transport:
    """An ``httpx.Client`` on ``{base_url}/v1``; ``http`` injects one (tests: in-process)."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = http or httpx.Client(
            base_url=self.base_url + "/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
            transport=httpx.HTTPTransport(retries=retries),
        )
        self._read = retry(
            retry=retry_if_exception(_worth_retrying),
            stop=stop_after_attempt(retries + 1),
            wait=wait_exponential(multiplier=0.5, max=8.0) + wait_random(0, 0.5),
            reraise=True,
        )(self._send)

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        """JSON of a GET; ``None``-valued parameters are left out."""
        return answer_of(self._get(path, params))

    def get_bytes(self, path: str, **params: Any) -> bytes:
        """A binary resource (a PNG plot, an artifact's content)."""
        return _checked(self._get(path, params)).content

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return answer_of(self._call("POST", path, params, json=body))

    def post_bytes(self, path: str, content: bytes, **params: Any) -> Any:
        """POST raw bytes (an ONNX upload); the JSON answer."""
        headers = {"Content-Type": "application/octet-stream"}
        return answer_of(self._call("POST", path, params, content=content, headers=headers))

    def delete(self, path: str) -> Any:
        return answer_of(self._call("DELETE", path, {}))

    def _get(self, path: str, params: dict[str, Any]) -> httpx.Response:
        query = {k: v for k, v in params.items() if v is not None}
        try:
            return self._read("GET", path, query)
        except _Retryable as err:
            return err.response
        except httpx.TransportError as err:
            raise ServerUnreachable(self.base_url, err) from err

    def _send(self, method: str, path: str, params: dict[str, Any], **kwargs: Any) -> Any:
        response = self._http.request(method, path, params=params, **kwargs)
        if response.status_code in RETRIED_STATUSES:
            raise _Retryable(response)
        return response

    def _call(self, method: str, path: str, params: dict[str, Any], **kwargs: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        try:
            return self._http.request(method, path, params=query, **kwargs)
        except httpx.TransportError as err:
            raise ServerUnreachable(self.base_url, err) from err


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        try:
            body = response.json()
            code, message = body.get("code", "error"), body.get("message", "")
        except (ValueError, AttributeError):
            code, message = "error", response.text[:300]
        raise ApiRefused(response.status_code, code, message)
    return response


def answer_of(response: httpx.Response) -> Any:
    """The JSON of a 2xx answer (None when empty); :class:`ApiRefused` with the server's
    ``code: message`` otherwise (the sync client here and the dashboard's async one)."""
    response = _checked(response)
    return response.json() if response.content else None
