"""A test thread whose failure reaches the main thread: an exception (an assertion among
them) raised on a plain ``threading.Thread`` is only printed as a warning."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class ReportingThread(threading.Thread):
    """``threading.Thread`` that keeps its target's exception; ``join`` re-raises it in the
    thread that joins, once the target has ended."""

    def __init__(self, target: Callable[..., Any], *args: Any, daemon: bool = False) -> None:
        super().__init__(target=target, args=args, daemon=daemon)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            super().run()
        except BaseException as err:  # handed to the joining thread
            self.error = err

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self.error is not None:
            error, self.error = self.error, None
            raise error
