"""``python -m services.parent_watch PARENT_PID GRACE_S -m MODULE [ARGS...]``: run MODULE as
``__main__`` in this process, with a watchdog thread that ends this process group once
PARENT_PID is no longer the parent (it died, however: SIGKILL included).

The second line of defence behind Linux's parent-death signal (``services.processes``): it
works where ``prctl`` does not exist, and it reaches what the signal does not, a child that
ignores or defers SIGTERM (a Celery worker finishing its task) and the child's own children.
The group gets SIGTERM, then SIGKILL after GRACE_S seconds. The same watchdog ends each
worker process of ``hwnas server --workers N`` once uvicorn's supervisor is gone.
"""

from __future__ import annotations

import multiprocessing
import os
import runpy
import signal
import sys
import threading
import time
from collections.abc import Sequence

POLL_S = 0.25
ORPHAN_GRACE_S = 5.0  # SIGTERM to SIGKILL once the parent is gone: nobody waits any more


def end_group_when_orphaned(parent_pid: int, grace_s: float) -> None:
    """Block until ``parent_pid`` stops being our parent, then end our process group (only
    ourselves when we do not lead one: never the parent's group)."""
    while os.getppid() == parent_pid:
        time.sleep(POLL_S)
    leader = os.getpgrp() == os.getpid()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if leader:
            os.killpg(os.getpgrp(), sig)
        else:
            os.kill(os.getpid(), sig)
        time.sleep(grace_s)


def watch_parent(parent_pid: int, grace_s: float) -> None:
    """:func:`end_group_when_orphaned` on a daemon thread."""
    threading.Thread(
        target=end_group_when_orphaned,
        args=(parent_pid, grace_s),
        name="hwnas-parent-watch",
        daemon=True,
    ).start()


def end_with_supervisor(grace_s: float = ORPHAN_GRACE_S) -> None:
    """In a worker process of ``hwnas server --workers N`` (a multiprocessing child of
    uvicorn's supervisor), end the worker once the supervisor is gone, SIGKILL included: it
    would otherwise go on serving the shared socket alone. A no-op in any other process."""
    supervisor = multiprocessing.parent_process()
    if supervisor is not None and supervisor.pid is not None:
        watch_parent(supervisor.pid, grace_s)


def main(argv: Sequence[str] | None = None) -> None:
    parent, grace, flag, module, *rest = sys.argv[1:] if argv is None else argv
    if flag != "-m":
        raise SystemExit(f"usage: {__doc__}")
    watch_parent(int(parent), float(grace))
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
