"""A private ``redis-server`` on its own free port, for tests that stop, restart or flush the
broker without touching the shared one. It runs as a child of ``services.processes``, so it
ends with the test process however that ends."""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from latency_db.broker import QUEUE_EXPORT, QUEUE_SEARCH
from services import processes


@dataclass
class RedisServer:
    port: int
    folder: Path
    child: processes.ChildProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def queued_tasks(self) -> list[tuple[str, list[Any]]]:
        """(task name, args) of every message waiting on the hwnas queues."""
        found = []
        for queue in (QUEUE_EXPORT, QUEUE_SEARCH):
            for raw in self.client().lrange(queue, 0, -1):
                message = json.loads(raw)
                args = json.loads(base64.b64decode(message["body"]))[0]
                found.append((message["headers"]["task"], args))
        return found

    def start(self) -> None:
        """Start (again) on the same port, empty: no snapshot, no append-only file."""
        argv = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.folder)]
        self.child = processes.start("redis", argv, log_dir=self.folder)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline or not self.child.alive():
                    raise RuntimeError(f"redis-server down:\n{self.child.log_tail()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(grace_s=5)
            self.child = None


@contextmanager
def private_redis(folder: Path) -> Iterator[RedisServer]:
    """A started redis-server, stopped at the end; no redis-server binary skips the test
    (fails it under ``CI=true``)."""
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    folder.mkdir(parents=True, exist_ok=True)
    server = RedisServer(processes.free_port(), folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()
