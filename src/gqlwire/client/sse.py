"""A Server-Sent Events parser: bytes in, events out, no I/O.

It follows the event stream rules of the HTML standard ("Interpreting an event
stream"): lines end with CRLF, LF or CR; a line starting with ``:`` is a comment (a
keep-alive); ``field: value`` loses one space after the colon; ``data`` lines are
joined with LF; a blank line dispatches the event, unless no ``data`` line came; an
``id`` holding NUL is ignored; a BOM at the very start is skipped. Unlike a browser it
keeps no ``retry`` (the client's own retry rules apply) and it bounds what one event may
hold, since a stream that never sends a blank line would otherwise grow without end.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["EventTooLarge", "SSEParser", "ServerSentEvent"]

_BOM = "\ufeff"
_LINE_END = re.compile(r"\r\n|\r|\n")  # only these: str.splitlines knows more


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One dispatched event: its type (``message`` when none was named), its data, and
    the stream's last event id when it was dispatched (``""`` before any ``id:``)."""

    event: str
    data: str
    id: str


class EventTooLarge(Exception):
    """An event (or a line) grew beyond the parser's limit."""


class SSEParser:
    """Feed it the response body as it arrives; it returns the events completed so far.

    ``max_event_size`` bounds, in characters, the event being assembled together with
    the line not finished yet; past it :meth:`feed` raises :class:`EventTooLarge`.
    """

    def __init__(self, max_event_size: int) -> None:
        self.max_event_size = max_event_size
        self.last_event_id = ""
        """The id of the latest ``id:`` field seen, which stays until another replaces it."""
        # Invalid UTF-8 becomes U+FFFD, as the standard says; a character cut by a
        # chunk boundary waits for its end.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # the start of a line whose end has not arrived yet
        self._after_cr = False  # the last chunk ended with CR: a following LF is its pair
        self._started = False
        self._event = ""
        self._data: list[str] = []
        self._size = 0  # characters of the event being assembled

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text.removeprefix(_BOM)
        if self._after_cr and text.startswith("\n"):
            text = text[1:]
        if text:
            self._after_cr = text.endswith("\r")
        buffer = self._pending + text
        events: list[ServerSentEvent] = []
        start = 0
        for end in _LINE_END.finditer(buffer):
            event = self._line(buffer[start : end.start()])
            start = end.end()
            if event is not None:
                events.append(event)
        self._pending = buffer[start:]
        if self._size + len(self._pending) > self.max_event_size:
            raise EventTooLarge(
                f"an event of the stream is larger than {self.max_event_size} characters"
            )
        return events

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: servers send them to keep the connection alive
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._size += len(value) + 1
        elif name == "event":
            self._event = value
            self._size += len(value)
        elif name == "id" and "\0" not in value:
            self.last_event_id = value
        # `retry` and unknown fields are ignored, as the standard says for unknown ones.
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        event, data = self._event or "message", self._data
        self._event, self._data, self._size = "", [], 0
        if not data:
            return None
        return ServerSentEvent(event, "\n".join(data), self.last_event_id)
