"""The worker's send of a search's next segment, on a private redis-server: it reaches the
queue while the broker is up, and a stopped broker fails nothing (the API's sweeper resumes
the search and re-sends the segment, see tests/services/test_broker_outage.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from latency_db.broker import TASK_SEARCH_SEGMENT
from latency_db.settings import Settings
from search_worker.celery_app import make_celery
from search_worker.tasks.search_tasks import send_next_segment

from ..brokers import private_redis


def test_a_refusing_broker_leaves_the_segment_to_the_api(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with private_redis(tmp_path / "redis") as broker:
        app = make_celery(Settings(data_dir=tmp_path, broker_url=broker.url))
        send_next_segment(app, "S1", 3)
        assert broker.queued_tasks() == [(TASK_SEARCH_SEGMENT, ["S1", 3])]
        broker.stop()
        with caplog.at_level(logging.WARNING):
            send_next_segment(app, "S1", 4)  # no exception: the search is not failed
    assert "search S1 segment 4 left for the API to resume" in caplog.text
