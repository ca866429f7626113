"""The heartbeat of a claimed search segment, on its own thread.

From the claim until the segment ends, a daemon thread refreshes the search's heartbeat every
interval, whatever the worker is doing meanwhile (scanning the dataset, building the supernet,
a long step, waiting for measurements), so the sweeper never resumes a live search. Each beat
is owner-checked: when the claim is lost (the search was resumed or taken over) or a cancel
was requested, the beat raises a flag that the step loop reads at every step.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from latency_db.db import session_scope
from latency_db.repositories import searches as search_repo

log = logging.getLogger(__name__)


class ClaimLost(Exception):
    """This worker no longer owns the segment: it must stop without writing anything."""


class SearchCanceled(Exception):
    """The user canceled the search: the worker ends it at the next safe point."""


class SegmentHeartbeat:
    """Beats every ``interval_s`` while entered (``with SegmentHeartbeat(...) as beat``)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        search_id: str,
        claim_token: str,
        interval_s: float,
    ) -> None:
        self._sessions = sessions
        self._search_id = search_id
        self._claim_token = claim_token
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._lost = threading.Event()
        self._canceled = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"heartbeat-{search_id}", daemon=True
        )

    def __enter__(self) -> SegmentHeartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._thread.join()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    @property
    def interrupted(self) -> bool:
        """The claim was lost or a cancel was requested: the step loop stops."""
        return self._lost.is_set() or self._canceled.is_set()

    def check(self) -> None:
        """Raise :class:`ClaimLost` or :class:`SearchCanceled` when the last beat saw it."""
        if self._lost.is_set():
            raise ClaimLost(f"search {self._search_id}: this worker's claim was lost")
        if self._canceled.is_set():
            raise SearchCanceled(f"search {self._search_id} was canceled")

    def _loop(self) -> None:
        while not self._lost.is_set() and not self._stopping.wait(self._interval_s):
            self._beat()

    def _beat(self) -> None:
        try:
            with session_scope(self._sessions) as session:
                search = search_repo.touch_search(
                    session=session, search_id=self._search_id, claim_token=self._claim_token
                )
                canceled = search is not None and search.cancel_requested
        except SQLAlchemyError:  # a transient database error: the next beat tries again
            log.warning("search %s: heartbeat failed", self._search_id, exc_info=True)
            return
        if search is None:
            log.warning("search %s: claim lost, stopping this segment", self._search_id)
            self._lost.set()
        elif canceled:
            self._canceled.set()
