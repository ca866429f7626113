"""Search events announced by PostgreSQL (LISTEN/NOTIFY on the channel of migration 0014):
one listening connection per server process wakes the long-polls waiting on a search when
one of its events is stored or its state changes, so a waiting poll holds still instead of
reading every few seconds, and answers at once.

Notices only hurry a read: without PostgreSQL, or while the listener is away, a wait reads
on its own schedule (``services.long_polls.poll``), so a lost notice can delay an answer but
never lose it. The listener reconnects with backoff (tenacity) and, once back, wakes every
waiter to read what it may have missed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy.engine import URL
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception_type,
    wait_exponential,
)

log = logging.getLogger(__name__)

CHANNEL = "hwnas_search_events"
# How a listener shows in pg_stat_activity: this name and its server process's pid.
APPLICATION_NAME = "hwnas-search-notices"
# While notices arrive, a waiting poll still reads this often: a safety net, not the signal.
NOTICED_READ_INTERVAL_S = 10.0


def listener_dsn(url: URL) -> str:
    """The psycopg connection string of the API's PostgreSQL URL (its options kept)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class SearchNotices:
    """Waiters by search id, and the listener that wakes them (``listen_forever``)."""

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn  # None: no PostgreSQL, no notices
        self.listening = False
        self._waiters: defaultdict[str, set[asyncio.Event]] = defaultdict(set)

    @contextmanager
    def watching(self, search_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``search_id`` is announced while the block runs; the
        waiter clears it before each read, so a notice between two reads is never lost."""
        wake = asyncio.Event()
        self._waiters[search_id].add(wake)
        try:
            yield wake
        finally:
            waiters = self._waiters[search_id]
            waiters.discard(wake)
            if not waiters:
                del self._waiters[search_id]

    def _wake(self, search_id: str) -> None:
        for wake in self._waiters.get(search_id, ()):
            wake.set()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for wake in waiters:
                wake.set()

    async def listen_forever(self) -> None:
        """Listen until cancelled; a lost connection is opened again with backoff."""
        if self.dsn is None:
            return
        while True:
            retrying = AsyncRetrying(
                wait=wait_exponential(multiplier=0.5, max=30.0),
                retry=retry_if_exception_type((psycopg.Error, OSError)),
                before_sleep=before_sleep_log(log, logging.WARNING),
            )
            await retrying(self._listen_until_lost)

    async def _listen_until_lost(self) -> None:
        """One connection: LISTEN, wake the waiters of each notice; returns when the
        connection is lost after it listened (the caller opens a new one at once)."""
        assert self.dsn is not None
        connection = await psycopg.AsyncConnection.connect(
            self.dsn, autocommit=True, application_name=f"{APPLICATION_NAME}-{os.getpid()}"
        )
        async with connection:
            await connection.execute(f"LISTEN {CHANNEL}")
            self.listening = True
            self._wake_all()  # what was announced while no one listened: read it now
            try:
                async for notice in connection.notifies():
                    self._wake(notice.payload)
            except psycopg.OperationalError as lost:
                log.warning("search notices: connection lost (%s); listening again", lost)
            finally:
                self.listening = False
                self._wake_all()  # back to reading on their own schedule
