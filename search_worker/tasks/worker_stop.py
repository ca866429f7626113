"""The worker was asked to stop (Celery's warm shutdown: SIGTERM or SIGINT).

Celery's warm shutdown waits for the task in hand, and a search segment may run for hours
(``segment_steps`` up to 100,000), so a service manager's stop would end in SIGKILL and the
segment's steps would be lost until the sweeper resumed the search. Instead the step loop
reads this flag at every step: the segment ends early, checkpointed and committed like any
other, and its remainder goes back to the queue as the next segment for whichever worker
comes next. Read in the process that runs the tasks: the ``solo`` pool of ``hwnas worker``
(with ``--concurrency`` above 1, prefork children finish their segments as before).
"""

from __future__ import annotations

import threading
from typing import Any

from celery.signals import worker_shutting_down

STOP_ASKED = threading.Event()


def _on_warm_shutdown(**_: Any) -> None:
    STOP_ASKED.set()


worker_shutting_down.connect(_on_warm_shutdown, weak=False)
