"""A minimal ``graphql-transport-ws`` subscriber for load generation.

One asyncio Protocol per connection: it writes the HTTP upgrade, ``connection_init``
and one ``subscribe``, then only splits server frames (unmasked, unfragmented) and
reads ``seq`` and ``ts`` out of each ``next``. Every check a benchmark needs is kept
per subscriber (count, order, duplicates, latency) so a run can prove that nothing
was lost, duplicated or reordered.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import time
from typing import Any

import orjson

from .feed import SUBSCRIPTION_QUERY

SUBPROTOCOL = "graphql-transport-ws"
_INIT = orjson.dumps({"type": "connection_init"})
_PONG = orjson.dumps({"type": "pong"})

_HANDSHAKE, _OPEN, _CLOSED = 0, 1, 2

# seq and ts of a `next`, whatever the server's JSON spacing (selection order is kept
# by every GraphQL server, so ts follows seq).
_SEQ_TS = re.compile(rb'"seq"\s*:\s*(\d+)\s*,\s*"ts"\s*:\s*([-+.0-9eE]+)')


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One masked, final frame (clients must mask, RFC 6455 §5.3)."""
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    mask = os.urandom(4)
    if not length:
        return header + mask
    key = int.from_bytes((mask * (length // 4 + 1))[:length], "big")
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big")
    return header + mask + masked


class Tally:
    """What all subscribers of one measurement received, and when the last one finished."""

    def __init__(self) -> None:
        self.target = 0  # events each subscriber must receive
        self.waiting = 0  # subscribers that have not received ``target`` yet
        self.messages = 0
        self.last_time = 0.0  # perf_counter of the last ``next`` received
        self.done = asyncio.Event()

    def expect(self, subscribers: int, events: int) -> None:
        self.target = events
        self.waiting = subscribers
        self.done.clear()
        if subscribers == 0:
            self.done.set()

    def finished_one(self) -> None:
        self.waiting -= 1
        if self.waiting <= 0:
            self.done.set()

    async def wait(self, *, within: float, idle: float) -> bool:
        """Wait until every subscriber got its events; ``False`` after ``within``
        seconds, or after ``idle`` seconds in which nothing arrived."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not self.done.is_set():
            before = self.messages
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(min(idle, remaining)):
                    await self.done.wait()
            except TimeoutError:
                if self.messages == before:
                    return False
        return True


class Subscriber(asyncio.Protocol):
    """One connection with one subscription."""

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
        subscriptions: int = 1,
    ) -> None:
        self.id = str(index)
        # Further subscriptions of the same channel on this connection (a client that
        # falls behind by that many frames per event).
        self.ids = [self.id] + [f"{index}-{n}" for n in range(1, subscriptions)]
        self._last_by_id: dict[str, int] = {}
        self._host, self._port, self._path = host, port, path
        self._channel = channel
        self.tally = tally
        self._record_latency = record_latency
        self.latencies: list[float] = []
        self._buffer = bytearray()
        self._state = _HANDSHAKE
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.acked: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.started = time.perf_counter()
        self.ack_time = 0.0
        self.first_event_time = 0.0
        self.count = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.out_of_order = 0  # a seq not greater than the previous one (duplicate or reordered)
        self.gaps = 0  # seqs skipped
        self.close_code: int | None = None
        self.errors: list[str] = []

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self._path} HTTP/1.1\r\n"
                f"Host: {self._host}:{self._port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if self._state == _HANDSHAKE:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            del buffer[: end + 4]
            if b" 101 " not in status + b" ":
                self._fail(f"handshake refused: {status.decode(errors='replace')}")
                return
            self._state = _OPEN
            self._send(_INIT)
        # The hot loop: split frames, and for a `next` read seq and ts with one regex
        # search over the frame in place (no copy, no JSON parse).
        size = len(buffer)
        position = 0
        events = 0
        search = _SEQ_TS.search
        single = len(self.ids) == 1
        while size - position >= 2:
            length = buffer[position + 1] & 0x7F
            header = 2
            if length == 126:
                if size - position < 4:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 4], "big")
                header = 4
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
                header = 10
            end = position + header + length
            if end > size:
                break
            opcode = buffer[position] & 0x0F
            start = position + header
            position = end
            if opcode == 0x1:
                found = search(buffer, start, end) if single else None
                if found is not None:
                    self._event(int(found[1]), float(found[2]))
                    events += 1
                else:
                    events += self._message(orjson.loads(buffer[start:end]))
            elif opcode == 0x8:
                self.close_code = (
                    int.from_bytes(buffer[start : start + 2], "big") if length >= 2 else 1005
                )
                self._abort()
                break
            elif opcode == 0x9:
                self._send(bytes(buffer[start:end]), opcode=0xA)
        if position:
            del buffer[:position]
        if events:
            self._received(events)

    def connection_lost(self, exc: Exception | None) -> None:
        self._state = _CLOSED
        if not self.acked.done():
            self.acked.set_exception(ConnectionError("closed before connection_ack"))
        if not self.closed.done():
            self.closed.set_result(None)

    # -- messages -----------------------------------------------------------------------

    def _message(self, message: dict[str, Any]) -> int:
        """A message the fast path did not take; 1 if it was an event."""
        kind = message.get("type")
        data = message.get("payload", {}).get("data") if kind == "next" else None
        if data is None:
            self._control(message)
            return 0
        tick = data["tick"]
        if len(self.ids) == 1:
            self._event(tick["seq"], tick["ts"])
            return 1
        # Several subscriptions: order is checked per operation id.
        seq = tick["seq"]
        last = self._last_by_id.get(message["id"])
        if self.first_seq is None:
            self.first_seq = seq
        if last is not None and seq <= last:
            self.out_of_order += 1
        elif last is not None and seq > last + 1:
            self.gaps += seq - last - 1
        self._last_by_id[message["id"]] = max(seq, last or seq)
        return 1

    def _control(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "connection_ack":
            self.ack_time = time.perf_counter()
            if not self.acked.done():
                self.acked.set_result(None)
        elif kind == "ping":
            self._send(_PONG)
        else:  # error, complete, or a next without data
            self.errors.append(str(kind))

    def _event(self, seq: int, ts: float) -> None:
        last = self.last_seq
        if last is None:
            self.first_seq = seq
            self.first_event_time = time.perf_counter()
            self.last_seq = seq
        elif seq == last + 1:
            self.last_seq = seq
        elif seq > last:
            self.gaps += seq - last - 1
            self.last_seq = seq
        else:
            self.out_of_order += 1
        if self._record_latency:
            self.latencies.append(time.time() - ts)

    def _received(self, events: int) -> None:
        before = self.count
        self.count = before + events
        tally = self.tally
        tally.messages += events
        tally.last_time = time.perf_counter()
        if before < tally.target <= self.count:
            tally.finished_one()

    # -- commands -----------------------------------------------------------------------

    def subscribe(self) -> None:
        payload = {"query": SUBSCRIPTION_QUERY, "variables": {"channel": self._channel}}
        for operation_id in self.ids:
            self._send(orjson.dumps({"id": operation_id, "type": "subscribe", "payload": payload}))

    def stall(self) -> None:
        """Stop reading: the server's frames pile up in the socket buffers."""
        if self.transport is not None:
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and self._state != _CLOSED:
            self.transport.resume_reading()

    def close(self) -> None:
        """Close frame (1000) then FIN; never waits for the server."""
        transport = self.transport
        if transport is not None and self._state == _OPEN:
            self._send((1000).to_bytes(2, "big"), opcode=0x8)
        self._abort()

    def _send(self, payload: bytes, opcode: int = 0x1) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(client_frame(payload, opcode))

    def _abort(self) -> None:
        self._state = _CLOSED
        if self.transport is not None:
            self.transport.close()

    def _fail(self, reason: str) -> None:
        self.errors.append(reason)
        if not self.acked.done():
            self.acked.set_exception(ConnectionError(reason))
        self._abort()


async def open_subscriber(
    index: int,
    host: str,
    port: int,
    path: str,
    channel: str,
    tally: Tally,
    *,
    record_latency: bool = False,
    receive_buffer: int | None = None,
    subscriptions: int = 1,
    within: float = 30.0,
) -> Subscriber:
    """Connect, wait for ``connection_ack``, send ``subscribe``.

    ``receive_buffer`` shrinks the socket's receive buffer (a stalled client then
    holds back the server after a few KB instead of megabytes of kernel buffering).
    """
    loop = asyncio.get_running_loop()
    subscriber = Subscriber(
        index,
        host,
        port,
        path,
        channel,
        tally,
        record_latency=record_latency,
        subscriptions=subscriptions,
    )
    async with asyncio.timeout(within):
        if receive_buffer is None:
            await loop.create_connection(lambda: subscriber, host, port)
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
                sock.setblocking(False)
                await loop.sock_connect(sock, (host, port))
            except BaseException:
                sock.close()
                raise
            await loop.create_connection(lambda: subscriber, sock=sock)
        await subscriber.acked
    subscriber.subscribe()
    return subscriber


def summary(subscribers: list[Subscriber], first: int, events: int) -> dict[str, Any]:
    """Counts over all subscribers, checked against ``events`` events from seq ``first``."""
    delivered = sum(s.count for s in subscribers)
    expected = events * len(subscribers)
    wrong_start = sum(1 for s in subscribers if s.count and s.first_seq != first)
    out_of_order = sum(s.out_of_order for s in subscribers)
    gaps = sum(s.gaps for s in subscribers)
    return {
        "expected": expected,
        "delivered": delivered,
        "lost": max(0, expected - delivered),
        "extra": max(0, delivered - expected),
        "out_of_order": out_of_order,
        "gaps": gaps,
        "wrong_start": wrong_start,
        "ok": delivered == expected and not out_of_order and not gaps and not wrong_start,
    }
