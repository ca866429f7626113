"""Long-polls that hold no worker thread, and at most a few at a time per user (design
section 8, promise 10).

A long-poll awaits on the event loop between short reads, each run in the threadpool in its
own transaction, so a thousand waiting clients cost no thread and no database connection
between reads. Each user holds at most ``per_user`` waits at once; one more is a 429.

A server told to stop sets :data:`server_stopping`; every long-poll then answers with what
it has at its next read ("nothing yet" is a valid answer, and its client asks again), so a
restart waits for no open poll, and no poll is cut without an answer.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from services.errors import ApiError
from services.schemas.common import ErrorOut

T = TypeVar("T")

server_stopping = threading.Event()
"""Set once on SIGTERM/SIGINT by the handler of :func:`answer_long_polls_on_exit_signals`
(per process: each worker of ``hwnas server --workers N`` has its own)."""

TOO_MANY_WAITS = "too_many_waits"
# OpenAPI for a route that takes a slot.
TOO_MANY_WAITS_RESPONSE: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorOut,
        "description": f"`{TOO_MANY_WAITS}`: the caller already holds as many long-polls as "
        "a user may (setting `long_polls_per_user`); retry when one ends",
    }
}


def answer_long_polls_on_exit_signals() -> None:
    """Put a handler before the server's own for SIGINT and SIGTERM that sets
    :data:`server_stopping`, then hands the signal on.

    Called in the app's startup, after uvicorn has installed its handlers; a no-op off the
    main thread (an app under a test client), where no signal is delivered.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stop_then(signal.getsignal(sig)))


def _stop_then(previous: Any) -> Callable[[int, Any], None]:
    def stop(signum: int, frame: Any) -> None:
        server_stopping.set()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:  # nobody else handles it: die as if unhandled
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    return stop


class LongPollSlots:
    """Concurrent long-polls per user, counted on the event loop of one server process
    (with ``hwnas server --workers N`` a user may hold ``per_user`` in each).

    Every check and change happens on the event loop thread with no ``await`` between the
    check and the increment, so concurrent requests cannot both take the last slot.
    ``on_count`` hears the process's count of waits after every change (the metrics gauge).
    """

    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self._held: Counter[str] = Counter()
        self.waiting = 0  # all users' waits in this process
        self.on_count: Callable[[int], None] = lambda waiting: None

    @asynccontextmanager
    async def slot(self, user_id: str) -> AsyncIterator[None]:
        """Hold one of the user's slots for the block; a 429 when all are taken."""
        if self._held[user_id] >= self.per_user:
            raise ApiError(
                429,
                TOO_MANY_WAITS,
                f"at most {self.per_user} long-polls per user at once; retry when one ends",
                {"limit": self.per_user},
            )
        self._held[user_id] += 1
        self.waiting += 1
        self.on_count(self.waiting)
        try:
            yield
        finally:
            self.waiting -= 1
            self.on_count(self.waiting)
            self._held[user_id] -= 1
            if not self._held[user_id]:
                del self._held[user_id]


@dataclass(frozen=True)
class Wake:
    """What wakes a waiting poll early (``services.search_notices``): ``event`` is set on
    news. While ``trusted()`` says news comes that way, the poll reads only every
    ``interval_s`` besides, as a safety net; otherwise on its own schedule."""

    event: asyncio.Event
    trusted: Callable[[], bool]
    interval_s: float


# A poll asleep between reads still looks this often whether the server is stopping or the
# client has hung up (each a flag, no read).
_LOOK_S = 1.0


async def poll(
    read: Callable[[], T],
    done: Callable[[T], bool],
    *,
    wait_s: float,
    interval_s: float,
    max_interval_s: float | None = None,
    hung_up: Callable[[], Awaitable[bool]] | None = None,
    wake: Wake | None = None,
) -> T:
    """``read()`` in the threadpool until ``done`` says its answer is final, ``wait_s`` has
    passed, the client has hung up or the server is stopping; the last answer. Sleeps on
    the event loop between reads, so a waiting client holds no thread; the pause doubles from
    ``interval_s`` up to ``max_interval_s``, so a long wait costs a few reads rather than one
    per interval. A ``wake`` ends a pause early, and lengthens it while trusted."""
    deadline = time.monotonic() + wait_s
    pause = interval_s
    while True:
        if wake is not None:
            wake.event.clear()  # before the read: news during it wakes the next pause
        answer = await run_in_threadpool(read)
        if done(answer) or time.monotonic() >= deadline or await _should_end(hung_up):
            return answer
        nap = pause if wake is None or not wake.trusted() else wake.interval_s
        await _sleep(min(nap, deadline - time.monotonic()), wake, hung_up)
        pause = min(2 * pause, max_interval_s or interval_s)


async def _should_end(hung_up: Callable[[], Awaitable[bool]] | None) -> bool:
    return server_stopping.is_set() or (hung_up is not None and await hung_up())


async def _sleep(
    seconds: float, wake: Wake | None, hung_up: Callable[[], Awaitable[bool]] | None
) -> None:
    """Up to ``seconds``, until woken, the server stops or the client hangs up."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        if wake is None:
            await asyncio.sleep(min(left, _LOOK_S))
        else:
            try:
                await asyncio.wait_for(wake.event.wait(), min(left, _LOOK_S))
            except TimeoutError:
                pass
            else:
                return
        if await _should_end(hung_up):
            return
