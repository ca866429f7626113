"""``python -m tests.services.stubborn_child``: a child that ignores SIGTERM and has a child
of its own, as a Celery worker deep in a long task with its pool looks to a parent-death
signal. Prints its grandchild's pid."""

from __future__ import annotations

import signal
import subprocess
import time

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    grandchild = subprocess.Popen(["sleep", "300"])
    print(grandchild.pid, flush=True)
    time.sleep(300)
