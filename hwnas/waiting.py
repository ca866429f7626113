"""Waiting for server-side work to end: tenacity polling with backoff and a deadline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_exponential

T = TypeVar("T")


def poll_until(
    read: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout_s: float,
    what: str,
    max_interval_s: float = 2.0,
) -> T:
    """``read()`` (backing off from 0.2 s to ``max_interval_s``) until ``done``: the last
    value; :class:`TimeoutError` naming ``what`` after ``timeout_s``."""
    polling: Retrying = Retrying(
        retry=retry_if_result(lambda value: not done(value)),
        stop=stop_after_delay(timeout_s),
        wait=wait_exponential(multiplier=0.2, max=max_interval_s),
    )
    try:
        return polling(read)
    except RetryError as err:
        last: Any = err.last_attempt.result()
        raise TimeoutError(f"{what} unfinished after {timeout_s:g} s (last: {last})") from err
