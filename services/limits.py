"""Request-size limits, per path, enforced before a body is read into memory."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """Answer 413 for bodies over the limit of their path (``path_bytes``, else
    ``default_bytes``), declared or streamed, as JSON."""

    def __init__(self, app: ASGIApp, default_bytes: int, path_bytes: Mapping[str, int]) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.path_bytes = dict(path_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.path_bytes.get(scope["path"].rstrip("/"), self.default_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            await _reject(send, max_bytes)
            return
        seen = 0
        too_large = False

        async def counted() -> Message:
            nonlocal seen, too_large
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    too_large = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _reject(send, max_bytes)
        except Exception:
            if too_large:
                await _reject(send, max_bytes)
                return
            raise


async def _reject(send: Send, max_bytes: int) -> None:
    body = json.dumps(
        {
            "code": "payload_too_large",
            "message": f"request body exceeds {max_bytes} bytes",
            "details": {"max_bytes": max_bytes},
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
