"""A small reader of streamed HTTP responses (Server-Sent Events, ``multipart/mixed``)
for the tests: raw bytes from the socket, parsed here, so that the wire format is
checked byte for byte rather than through a client library's leniency.

:class:`StreamReader` reads a response's raw body incrementally; :func:`sse_events`
and :func:`multipart_parts` parse what was read, and fail on anything the format does
not allow.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

SSE = "text/event-stream"
MULTIPART_SUBSCRIPTION = 'multipart/mixed;subscriptionSpec="1.0", application/json'
MULTIPART = "multipart/mixed"


@dataclass(frozen=True)
class SSEEvent:
    id: str | None
    event: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def sse_events(raw: bytes) -> tuple[list[SSEEvent], int, bytes]:
    """The complete events in ``raw``, the number of comment-only blocks (keep-alives),
    and what is left after the last complete block.

    Our server writes ``\\n`` line ends and one ``data:`` line per event: anything else
    fails here.
    """
    text = raw.decode("utf-8")
    *blocks, rest = text.split("\n\n")
    events: list[SSEEvent] = []
    comments = 0
    for block in blocks:
        assert "\r" not in block, block
        lines = block.split("\n")
        if all(line.startswith(":") for line in lines):
            comments += 1
            continue
        fields: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            assert sep, f"not a field: {line!r}"
            assert name in ("id", "event", "data"), line
            assert name not in fields, f"{name} twice in {block!r}"
            fields[name] = value[1:] if value.startswith(" ") else value
        assert "data" in fields, block
        events.append(SSEEvent(fields.get("id"), fields.get("event"), fields["data"]))
    return events, comments, rest.encode("utf-8")


def boundary_of(content_type: str) -> str:
    match = re.search(r';\s*boundary="?([^";]+)"?', content_type)
    assert match, content_type
    return match.group(1)


def multipart_parts(raw: bytes, boundary: str) -> tuple[list[Any], bool]:
    """The JSON bodies of the complete parts in ``raw`` (a part is complete once the
    delimiter after it arrived), and whether the closing delimiter was seen.

    Checks RFC 2046's shape: the body starts with ``CRLF--boundary``, each part is
    ``CRLF`` headers ``CRLF CRLF`` JSON, the last delimiter is followed by ``--CRLF``.
    """
    delimiter = f"\r\n--{boundary}".encode()
    assert raw.startswith(delimiter), raw[:80]
    pieces = raw.split(delimiter)
    assert pieces[0] == b""
    parts: list[Any] = []
    closed = False
    for index, piece in enumerate(pieces[1:], start=1):
        last = index == len(pieces) - 1
        if last:
            if piece.startswith(b"--"):
                assert piece == b"--\r\n", piece
                closed = True
            break  # a part not yet followed by its delimiter is incomplete
        assert piece.startswith(b"\r\n"), piece[:80]
        head, sep, body = piece[2:].partition(b"\r\n\r\n")
        assert sep, piece[:80]
        assert head.lower() == b"content-type: application/json; charset=utf-8", head
        parts.append(json.loads(body))
    return parts, closed


class StreamReader:
    """One streamed response, read as it arrives."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.raw = b""
        self._chunks = response.aiter_raw()

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def content_type(self) -> str:
        return str(self.response.headers.get("content-type", ""))

    async def read_more(self, within: float = 10.0) -> bool:
        """Read the next chunk into :attr:`raw`; ``False`` at the end of the body."""
        try:
            async with asyncio.timeout(within):
                chunk = await anext(self._chunks)
        except StopAsyncIteration:
            return False
        self.raw += chunk
        return True

    async def read_to_end(self, within: float = 10.0) -> bytes:
        async with asyncio.timeout(within):
            while await self.read_more(within):
                pass
        return self.raw

    async def sse_until(self, count: int, within: float = 10.0) -> list[SSEEvent]:
        """Read until ``count`` events arrived (or the body ended); the events."""
        async with asyncio.timeout(within):
            while True:
                events, _comments, _rest = sse_events(self.raw)
                if len(events) >= count or not await self.read_more(within):
                    return events

    async def parts_until(self, count: int, within: float = 10.0) -> list[Any]:
        """Read until ``count`` multipart parts arrived (or the body ended)."""
        boundary = boundary_of(self.content_type)
        async with asyncio.timeout(within):
            while True:
                parts, closed = multipart_parts(self.raw, boundary) if self.raw else ([], False)
                if len(parts) >= count or closed or not await self.read_more(within):
                    return parts


@asynccontextmanager
async def open_stream(
    url: str,
    query: str | dict[str, Any],
    accept: str,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
) -> AsyncIterator[StreamReader]:
    """Send one GraphQL request asking for a stream; leaving the block closes the
    connection (a client that goes away, when the body has not ended)."""
    payload = {"query": query} if isinstance(query, str) else query
    sent = {"accept": accept, **(headers or {})}
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:
        if method == "GET":
            params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()}
            request = client.build_request("GET", url, params=params, headers=sent)
        else:
            request = client.build_request(method, url, json=payload, headers=sent)
        response = await client.send(request, stream=True)
        try:
            yield StreamReader(response)
        finally:
            await response.aclose()
