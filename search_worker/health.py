"""The worker container's healthcheck: this host's Celery node answers a ping.

``python -m search_worker.health`` exits 0 when ``celery@<hostname>`` replies within the
timeout, 1 otherwise (the compose file's worker healthcheck).
"""

from __future__ import annotations

import socket
import sys

from latency_db.settings import get_settings
from search_worker.celery_app import make_celery


def main(timeout_s: float = 5.0) -> int:
    app = make_celery(get_settings())
    node = f"celery@{socket.gethostname()}"
    replies = app.control.ping(destination=[node], timeout=timeout_s)
    return 0 if any(node in reply for reply in replies) else 1


if __name__ == "__main__":
    sys.exit(main())
