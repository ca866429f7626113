"""The worker's Celery application, built by a factory from injected settings."""

from __future__ import annotations

import logging

from celery import Celery

from latency_db.broker import QUEUE_EXPORT, QUEUE_SEARCH, celery_config
from latency_db.settings import Settings
from search_worker.devices import describe_device, resolve_device

TASK_MODULES = ["search_worker.tasks"]
log = logging.getLogger(__name__)


def make_celery(settings: Settings) -> Celery:
    app = Celery("hwnas", include=TASK_MODULES)
    app.conf.update(celery_config(settings))
    app.conf.task_routes = {"hwnas.export.*": {"queue": QUEUE_EXPORT}}
    app.conf.hwnas_settings = settings
    return app


def run_worker(settings: Settings, concurrency: int = 1) -> None:
    """Start a worker on both queues (blocks until the worker stops); a configured device
    that this machine lacks stops it here (:class:`~search_worker.devices.DeviceUnavailable`)."""
    device = resolve_device(settings.worker_device)
    log.info("searches train on %s", describe_device(device))
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    app = make_celery(settings)
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            "--pool=prefork" if concurrency > 1 else "--pool=solo",
            f"--queues={QUEUE_SEARCH},{QUEUE_EXPORT}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ]
    )
