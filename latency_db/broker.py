"""Celery configuration shared by the API (which enqueues by name) and the workers.

Plain data only: this module imports no Celery, so ``latency_db`` stays free of it. With no
``HWNAS_BROKER_URL`` the embedded broker is Kombu's filesystem transport in the data
directory, so ``make demo`` runs a real worker process on the same task code as production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

# Segments of a search are kept well under this (design section 9).
VISIBILITY_TIMEOUT_S = 3600

QUEUE_SEARCH = "hwnas.search"
QUEUE_EXPORT = "hwnas.export"

# Task names: the API enqueues by these names, the worker registers under them.
TASK_EXPORT_JOBS = "hwnas.export.jobs"
TASK_FIT_PREDICTOR = "hwnas.predictors.fit"
TASK_SEARCH_SEGMENT = "hwnas.search.segment"


class _BrokerSettings(Protocol):
    broker_url: str | None
    data_dir: Path


def celery_config(settings: _BrokerSettings) -> dict[str, Any]:
    """Keyword configuration for ``Celery.conf.update``."""
    config: dict[str, Any] = {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_default_queue": QUEUE_SEARCH,
        "broker_connection_retry_on_startup": True,
    }
    if settings.broker_url:
        config["broker_url"] = settings.broker_url
        config["broker_transport_options"] = {"visibility_timeout": VISIBILITY_TIMEOUT_S}
        return config
    folder = Path(settings.data_dir).expanduser() / "broker"
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    config["broker_url"] = "filesystem://"
    config["broker_transport_options"] = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
    }
    return config
