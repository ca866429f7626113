"""HTTP client of the agent: the only way an agent talks to the server.

Every call retries with capped exponential backoff while the server is unreachable or
answers 5xx, so a server restart costs the agent nothing; 4xx answers are final and raised
as :class:`ServerRefused` with the server's JSON error code.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger(__name__)

API = "/v1"


class ServerRefused(Exception):
    """A final 4xx answer from the server."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff; ``give_up_after_s`` bounds one call's total wait."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 10.0
    give_up_after_s: float = 600.0

    def delays(self) -> Any:
        delay, waited = self.initial_s, 0.0
        while waited < self.give_up_after_s:
            yield delay
            waited += delay
            delay = min(delay * self.factor, self.max_s)


class ServerClient:
    """Typed wrappers around the agent-facing routes of ``/v1``."""

    def __init__(
        self,
        server_url: str,
        credential: str | None = None,
        *,
        backoff: Backoff | None = None,
        timeout_s: float = 60.0,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self._http = httpx.Client(base_url=server_url.rstrip("/"), timeout=timeout_s)
        self._credential = credential
        self._backoff = backoff or Backoff()
        self._should_stop = should_stop
        # This process's session: the server sees a new one as a restart (sentinel due).
        self.session_id = uuid.uuid4().hex

    def close(self) -> None:
        self._http.close()

    def set_credential(self, credential: str) -> None:
        self._credential = credential

    # -- transport ------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if self._credential:
            headers["Authorization"] = f"Bearer {self._credential}"
        last_error: Exception | None = None
        for delay in self._backoff.delays():
            try:
                response = self._http.request(method, API + path, headers=headers, **kwargs)
            except httpx.TransportError as err:
                last_error = err
                log.warning("server unreachable (%s); retrying in %.1fs", err, delay)
            else:
                if response.status_code < 500:
                    if response.status_code >= 400:
                        raise _refusal(response)
                    return response
                last_error = _refusal(response)
                log.warning("server error %s; retrying in %.1fs", response.status_code, delay)
            if self._should_stop():
                break
            time.sleep(delay)
        raise ConnectionError(f"server unreachable: {last_error}")

    # -- routes ---------------------------------------------------------------------------
    def enroll(
        self, token: str, name: str, backend: str, environment: dict[str, Any]
    ) -> dict[str, Any]:
        body = {
            "enrollment_token": token,
            "name": name,
            "backend": backend,
            "environment": environment,
        }
        return self._request("POST", "/agents/enroll", json=body).json()

    def heartbeat(self, lease_tokens: list[str]) -> dict[str, Any]:
        return self._request(
            "POST", "/agents/heartbeat", json={"lease_tokens": lease_tokens}
        ).json()

    def claim(self, wait_s: float) -> dict[str, Any] | None:
        response = self._request(
            "POST",
            "/agents/claim",
            params={"wait": wait_s, "session_id": self.session_id},
            timeout=wait_s + 30,
        )
        return None if response.status_code == 204 else response.json()

    # The lease token travels in a header, never in the URL (access logs keep URLs).
    def renew(self, lease_token: str) -> dict[str, Any]:
        return self._request("POST", "/leases/renew", headers=_lease(lease_token)).json()

    def complete(self, lease_token: str, result: dict[str, Any]) -> dict[str, Any]:
        return self._request(
            "POST", "/leases/complete", json=result, headers=_lease(lease_token)
        ).json()

    def complete_and_claim(self, lease_token: str, result: dict[str, Any]) -> dict[str, Any] | None:
        """Complete, and lease the next job in the same request: its claim (as ``claim``
        answers it), None when no job is queued."""
        reply = self._request(
            "POST",
            "/leases/complete-and-claim",
            json=result,
            params={"session_id": self.session_id},
            headers=_lease(lease_token),
        ).json()
        next_job: dict[str, Any] | None = reply["next"]
        return next_job

    def fail(self, lease_token: str, error_code: str, message: str) -> dict[str, Any]:
        body = {"error_code": error_code, "message": message[:4000]}
        return self._request("POST", "/leases/fail", json=body, headers=_lease(lease_token)).json()

    def release(self, lease_token: str) -> None:
        self._request("POST", "/leases/release", headers=_lease(lease_token))

    def download_artifact(self, sha256: str, cache_dir: Path) -> Path:
        """The artifact's bytes on local disk, fetched once and verified by sha256."""
        path = cache_dir / sha256[:2] / sha256
        if path.exists():
            return path
        data = self._request("GET", f"/artifacts/{sha256}/content").content
        digest = hashlib.sha256(data).hexdigest()
        if digest != sha256:
            raise ServerRefused(200, "artifact_corrupt", f"expected {sha256}, got {digest}")
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(path)
        return path


def _refusal(response: httpx.Response) -> ServerRefused:
    try:
        body = response.json()
        return ServerRefused(
            response.status_code, body.get("code", "error"), body.get("message", "")
        )
    except ValueError:
        return ServerRefused(response.status_code, "error", response.text[:500])


def _lease(lease_token: str) -> dict[str, str]:
    return {"Lease-Token": lease_token}
