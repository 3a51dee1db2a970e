"""GraphQL over Server-Sent Events, graphql-sse's *distinct connections mode*: one
``text/event-stream`` response per operation.

Each result is a ``next`` event whose data is the execution result, the end a
``complete`` event; every event carries an ``id:``: the result's cursor when its event
came from a history broker (so that an ``EventSource`` that reconnects sends it back as
``Last-Event-ID`` and the subscription resumes after it), else a counter per stream; a
comment line keeps a silent stream alive. The rules: docs/streams.md.
"""

from __future__ import annotations

from typing import Final

import orjson

from .context import HTTPContext, TransportName
from .protocol.messages import JSONObject

EVENT_STREAM: Final = "text/event-stream"

KEEP_ALIVE: Final = b":\n\n"
"""A comment: every SSE client ignores it (graphql-sse's own keep-alive, and what it
writes first, since some browsers wait for body bytes before they report the open)."""


class SSEContext(HTTPContext):
    """The context of an operation over Server-Sent Events (``transport == "sse"``):
    an :class:`~gqlwire.HTTPContext` (method, headers, cookies, the response the
    application may adjust before the stream starts)."""

    __slots__ = ()

    transport: TransportName = "sse"  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"<SSEContext method={self.method!r}>"


class SSEFraming:
    """The :class:`~gqlwire.http_stream.Framing` of graphql-sse's distinct connections
    mode: ``next`` and ``complete`` events, each with an ``id:``."""

    __slots__ = ("_last_cursor", "_last_id", "keep_alive_interval")

    content_type: Final = f"{EVENT_STREAM}; charset=utf-8"

    def __init__(self, keep_alive_interval: float | None = 12.0) -> None:
        self.keep_alive_interval = keep_alive_interval
        self._last_id = 0
        self._last_cursor: str | None = None

    def event(self, name: str, data: bytes, event_id: str | None = None) -> bytes:
        """One event: ``id``, ``event`` and ``data`` lines (JSON has no raw newline, so
        the data is one line), and the blank line that ends it. ``event_id`` replaces
        the counter (a cursor: no line break can be in it, see :func:`sse_id`)."""
        self._last_id += 1
        if event_id is not None:
            self._last_cursor = event_id
        # Once results carry cursors, every later event repeats the last one: a client's
        # Last-Event-ID must stay a cursor, whatever event it saw last.
        head = f"id: {self._last_cursor or self._last_id}\nevent: {name}\ndata:".encode()
        return head + (b" " + data if data else b"") + b"\n\n"

    def opening(self) -> bytes:
        return KEEP_ALIVE

    def result(
        self, payload_json: bytes, operation_id: str | None, cursor: str | None = None
    ) -> bytes:
        return self.event("next", payload_json, sse_id(cursor))

    def complete(self, operation_id: str | None) -> bytes:
        return self.event("complete", b"")

    def errors(self, errors: list[JSONObject], operation_id: str | None) -> bytes:
        # graphql-sse has no error event: the errors are a result, then the end.
        return self.result(orjson.dumps({"errors": errors}), operation_id) + self.complete(
            operation_id
        )

    def keep_alive(self) -> bytes:
        return KEEP_ALIVE

    def close(self) -> bytes:
        return b""


def sse_id(cursor: str | None) -> str | None:
    """``cursor`` as an event's ``id``, or ``None`` if it cannot be one: an SSE field
    ends at a line break, and a NUL makes clients ignore the id."""
    if cursor is None or any(c in cursor for c in "\r\n\0"):
        return None
    return cursor


__all__ = ["EVENT_STREAM", "KEEP_ALIVE", "SSEContext", "SSEFraming", "sse_id"]
