"""``hwnas.Client``: the Python client of an hwnas server's REST API (``/v1``).

Example::

    from hwnas import Client

    with Client("http://127.0.0.1:8000", token="...") as client:
        job = client.profile("model.onnx", device="local-cpu")
        result = job.result()          # waits; median_ms, cv, verdict, layers
        print(result.median_ms, result.verdict)

Without arguments the server and token come from ``HWNAS_SERVER_URL`` and
``HWNAS_API_TOKEN``, else from the file ``hwnas login`` writes (:mod:`hwnas.config`).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from hwnas.config import ClientConfig, load_config
from hwnas.devices import Devices
from hwnas.errors import HwnasError
from hwnas.latency_data import LookupTables, Measurements
from hwnas.predictors import Predictors
from hwnas.profiling import Jobs, ProfileJob
from hwnas.searches import Searches
from hwnas.tenancy import Datasets, Teams
from hwnas.transport import DEFAULT_RETRIES, DEFAULT_TIMEOUT_S, Transport


class Client:
    """One server, one user token. Resources: :attr:`devices`, :attr:`jobs`,
    :attr:`lookup_tables`, :attr:`measurements`, :attr:`predictors`, :attr:`searches`;
    :meth:`get`/:meth:`post` reach any other ``/v1`` path.

    ``timeout_s`` bounds each request; ``retries`` is how often a failed connection, and a
    read answered 502/503/504 or timed out, is tried again (with backoff). ``http`` injects
    a ready ``httpx.Client`` on ``{url}/v1`` (e.g. an in-process test client).
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        http: httpx.Client | None = None,
    ) -> None:
        if url is None or token is None:
            config = load_config()
            url, token = url or config.server_url, token or config.api_token
        if not url or not token:
            raise HwnasError(
                "no server configured: pass url and token, set HWNAS_SERVER_URL and "
                "HWNAS_API_TOKEN, or run 'hwnas login'"
            )
        self.base_url = url.rstrip("/")
        self.transport = Transport(url, token, timeout_s=timeout_s, retries=retries, http=http)
        self.devices = Devices(self.transport)
        self.jobs = Jobs(self.transport)
        self.lookup_tables = LookupTables(self.transport)
        self.measurements = Measurements(self.transport)
        self.predictors = Predictors(self.transport)
        self.searches = Searches(self.transport)
        self.datasets = Datasets(self.transport)
        self.teams = Teams(self.transport)

    @classmethod
    def from_config(cls, config: ClientConfig, **options: Any) -> Client:
        return cls(config.server_url, config.api_token, **options)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def profile(
        self,
        model_path: str | Path,
        device: str,
        *,
        backend: str = "ort-cpu",
        settings: dict[str, Any] | None = None,
        name: str | None = None,
        priority: int = 0,
    ) -> ProfileJob:
        """Upload an ONNX model (static shapes) and queue it on ``device`` (name or id): the
        job; ``.wait()`` follows it, ``.result()`` gives the median, CV, verdict and the
        per-layer profile."""
        device_id = self.devices.resolve(device)
        artifact = self.jobs.upload(model_path, name)
        return self.jobs.submit_model(
            device_id, artifact["sha256"], backend=backend, settings=settings, priority=priority
        )

    def whoami(self) -> dict[str, Any]:
        return dict(self.transport.get("/users/me"))

    def health(self) -> dict[str, Any]:
        return dict(self.transport.get("/health"))

    # Any other path of ``/v1``, answered as JSON (bytes for ``get_bytes``).
    def get(self, path: str, **params: Any) -> Any:
        return self.transport.get(path, **params)

    def get_bytes(self, path: str, **params: Any) -> bytes:
        return self.transport.get_bytes(path, **params)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        return self.transport.post(path, body, **params)
