"""A minimal GraphQL over SSE subscriber (distinct connections mode) for load generation.

One asyncio Protocol per connection, like :mod:`.wsclient`: it writes one ``POST`` with
``Accept: text/event-stream`` and the subscription in its JSON body, then only undoes the
chunked transfer coding and reads ``seq`` and ``ts`` out of each event. The per-subscriber
checks (count, order, duplicates, latency) are :class:`.wsclient.Subscriber`'s, so both
transports are counted alike.
"""

from __future__ import annotations

import asyncio
import re
import time

import orjson

from .feed import SUBSCRIPTION_QUERY
from .wsclient import Subscriber, Tally

_HEAD, _BODY, _CLOSED = 0, 1, 2

# seq and ts of an event (see wsclient); an SSE `next` carries one tick.
_SEQ_TS = re.compile(rb'"seq"\s*:\s*(\d+)\s*,\s*"ts"\s*:\s*([-+.0-9eE]+)')
_COMPLETE = re.compile(rb"^event: *complete\r?$", re.MULTILINE)


class SSESubscriber(Subscriber):
    """One HTTP/1.1 connection carrying one subscription as an event stream.

    ``acked`` resolves once the response head (200, ``text/event-stream``) arrived: the
    server has taken the operation. ``close()`` drops the connection, which is how an SSE
    client goes away.
    """

    def __init__(
        self,
        index: int,
        host: str,
        port: int,
        path: str,
        channel: str,
        tally: Tally,
        *,
        record_latency: bool = False,
    ) -> None:
        super().__init__(index, host, port, path, channel, tally, record_latency=record_latency)
        self._chunked = False
        self._chunk_left = 0  # bytes of the current chunk still to come
        self._body = bytearray()  # decoded body not yet split into events
        self.completed = False

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        body = orjson.dumps({"query": SUBSCRIPTION_QUERY, "variables": {"channel": self._channel}})
        transport.write(
            (
                f"POST {self._path} HTTP/1.1\r\n"
                f"Host: {self._host}:{self._port}\r\n"
                "Accept: text/event-stream\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if self._state == _HEAD:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            del buffer[: end + 4]
            status = head[: head.find(b"\r\n")] if b"\r\n" in head else head
            if b" 200" not in status or b"text/event-stream" not in head:
                self._fail(f"stream refused: {head[:300].decode(errors='replace')}")
                return
            self._chunked = b"transfer-encoding: chunked" in head
            self._state = _BODY
            self.ack_time = time.perf_counter()
            if not self.acked.done():
                self.acked.set_result(None)
        if self._chunked:
            self._dechunk()
        else:
            self._body += buffer
            buffer.clear()
        self._events()

    def _dechunk(self) -> None:
        """Move whole or partial chunk data from the raw buffer to the body."""
        buffer, body = self._buffer, self._body
        position, size = 0, len(buffer)
        while position < size:
            if self._chunk_left:
                take = min(self._chunk_left, size - position)
                body += buffer[position : position + take]
                position += take
                self._chunk_left -= take
                if self._chunk_left:
                    break
                self._chunk_left = -2  # the CRLF after the data
            if self._chunk_left < 0:
                skip = min(-self._chunk_left, size - position)
                position += skip
                self._chunk_left += skip
                continue
            line_end = buffer.find(b"\r\n", position)
            if line_end < 0:
                break
            length = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
            position = line_end + 2
            if length == 0:  # the last chunk: the server ended the stream
                self._state = _CLOSED
                position = size
                break
            self._chunk_left = length
        del buffer[:position]

    def _events(self) -> None:
        """Count every whole event in the body; keep a partial one for later."""
        body = self._body
        # An event ends with a blank line: "\n\n", or "\r\n\r\n" from servers that use CRLF.
        lf, crlf = body.rfind(b"\n\n"), body.rfind(b"\n\r\n")
        if lf < 0 and crlf < 0:
            return
        end = max(lf + 2 if lf >= 0 else 0, crlf + 3 if crlf >= 0 else 0)
        events = 0
        for found in _SEQ_TS.finditer(body, 0, end):
            self._event(int(found[1]), float(found[2]))
            events += 1
        if _COMPLETE.search(body, 0, end) is not None:
            self.completed = True
            self.errors.append("complete")
        del body[:end]
        if events:
            self._received(events)

    # -- commands -----------------------------------------------------------------------

    def subscribe(self) -> None:
        """Nothing to send: the request itself was the subscription."""

    def close(self) -> None:
        """Drop the connection; never waits for the server."""
        self._abort()


async def open_sse_subscriber(
    index: int,
    host: str,
    port: int,
    path: str,
    channel: str,
    tally: Tally,
    *,
    record_latency: bool = False,
    within: float = 30.0,
) -> SSESubscriber:
    """Connect, send the subscription, wait for the response head."""
    loop = asyncio.get_running_loop()
    subscriber = SSESubscriber(
        index, host, port, path, channel, tally, record_latency=record_latency
    )
    async with asyncio.timeout(within):
        await loop.create_connection(lambda: subscriber, host, port)
        await subscriber.acked
    return subscriber
