"""Process settings (prefix ``HWNAS_``), built by ``get_settings()`` and injected.

Nothing is read at import time. With no URLs set everything is embedded: a SQLite file and a
filesystem broker under the data directory.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024
WORKER_DEVICE_PATTERN = r"auto|cpu|cuda(:\d+)?"  # HWNAS_WORKER_DEVICE (search_worker.devices)


class Settings(BaseSettings):
    """Every knob of the server, the workers and the embedded defaults."""

    model_config = SettingsConfigDict(env_prefix="HWNAS_", extra="ignore")

    data_dir: Path = Field(default_factory=lambda: Path("~/.hwnas"))
    database_url: str | None = None
    broker_url: str | None = None
    result_backend_url: str | None = None
    server_url: str | None = None
    artifact_dir: Path = Field(default=None, validate_default=True)
    checkpoint_dir: Path = Field(default=None, validate_default=True)
    max_upload_bytes: PositiveInt = 256 * MIB  # an ONNX model upload
    max_json_bytes: PositiveInt = 32 * MIB  # any other body (a route may allow less)
    # An uploaded model is checked in a worker process killed after onnx_check_seconds.
    onnx_max_nodes: PositiveInt = 100_000
    onnx_check_seconds: PositiveFloat = 30.0
    # Threads of the API's shared threadpool (sync routes, long-poll reads). Its work is short
    # database transactions that all need the one GIL, so more threads add contention, not
    # throughput: under 200 agents (bench/agent_load.py, issue 18) 40 threads left the event
    # loop and the heartbeat threads a small share of it (heartbeat p99 10.6 s, against 4.4 s
    # with 16 and 3.9 s with 8); runs interleaved 16, 3, 4, 16, 3, 4 gave heartbeat p99 5.7,
    # 2.1, 2.5, 5.9, 2.6, 2.2 s and 48, 43, 46, 50, 44, 36 ms of server CPU per job. Raise it
    # for a database far away, where threads wait on round trips rather than on the GIL.
    api_threads: PositiveInt = 4
    # PostgreSQL connections kept once opened (opened as needed), and how many more a burst
    # may open and close again: the API runs up to api_threads + 16 (heartbeat threads)
    # requests' database work at once, one transaction each, and a connection opened per
    # request under load costs more than the request.
    database_pool_size: PositiveInt = 40
    database_pool_overflow: NonNegativeInt = 10
    lease_seconds: PositiveInt = 60
    heartbeat_seconds: PositiveInt = 10
    agent_stale_seconds: PositiveInt = 30
    agent_offline_seconds: PositiveInt = 120
    max_attempts: PositiveInt = 3
    # Drift: agents measure the sentinel at start, then every so many jobs or minutes
    # (latency_db.repositories.sentinels); ``sentinel=False`` switches it off.
    sentinel: bool = True
    sentinel_every_jobs: PositiveInt = 50
    sentinel_every_minutes: PositiveFloat = 30.0
    search_stale_seconds: PositiveInt = 120  # a running search silent this long is resumed
    long_polls_per_user: PositiveInt = 8  # concurrent long-polls (``?wait=``) of one user
    # Queued work whose broker message was sent this long ago and is still waiting (no
    # artifact, no claim, no fit) has its message sent again: the broker may have lost it.
    redispatch_seconds: PositiveInt = 300
    torch_threads: PositiveInt | None = None  # a worker's intra-op threads (None: torch's)
    # Where a worker trains: auto (CUDA when torch sees a GPU), cpu, cuda or cuda:N.
    worker_device: str = Field(default="auto", pattern=f"^(?:{WORKER_DEVICE_PATTERN})$")
    # The device-busy lock a worker shares with an agent on its host (None: the agent's
    # default, a folder under the system temp dir); see profiler_agent.host_lock.
    host_lock_dir: Path | None = None
    admin_token: str | None = None
    api_token: str | None = None  # the CLI's user token when it talks to ``server_url``

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("artifact_dir", "checkpoint_dir", mode="before")
    @classmethod
    def _under_data_dir(cls, value: object, info: ValidationInfo) -> object:
        """Default: a folder of ``data_dir`` named after the field (``artifacts``, ...)."""
        if value is None:
            folder = "artifacts" if info.field_name == "artifact_dir" else "checkpoints"
            return info.data.get("data_dir", Path("~/.hwnas").expanduser()) / folder
        return Path(str(value)).expanduser()

    @field_validator("agent_offline_seconds")
    @classmethod
    def _offline_after_stale(cls, value: int, info: ValidationInfo) -> int:
        stale = info.data.get("agent_stale_seconds")
        if stale is not None and value <= stale:
            raise ValueError("agent_offline_seconds must exceed agent_stale_seconds")
        return value

    @property
    def effective_database_url(self) -> str:
        """``database_url``, or the embedded SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'hwnas.sqlite3'}"

    @property
    def is_embedded_database(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


def get_settings() -> Settings:
    """Read the environment now; call once per process and pass the result along."""
    return Settings()
