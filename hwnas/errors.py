"""What the client raises: the server's refusal, or no server to talk to."""

from __future__ import annotations


class HwnasError(Exception):
    """Base of the client's errors."""


class ApiRefused(HwnasError):
    """The server answered 4xx/5xx; the message is its JSON ``code: message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ServerUnreachable(HwnasError):
    """No answer from the server (refused, timed out, reset) after the retries."""

    def __init__(self, url: str, cause: Exception) -> None:
        super().__init__(
            f"cannot reach the hwnas server at {url} ({type(cause).__name__}: {cause}); "
            "is 'hwnas server' running there?"
        )
        self.url = url


class JobFailed(HwnasError):
    """A profiling job ended without a measurement (failed or canceled)."""
