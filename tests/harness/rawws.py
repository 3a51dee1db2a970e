"""A raw WebSocket client: a real handshake, then frames written and read byte by byte.

For what a well-behaved client library refuses to do: text frames with invalid UTF-8,
reserved opcodes, frames over a limit, a TCP reset. It also sees every frame the server
sends, so a test can count close frames (``websockets`` hides a second one)::

    async with raw_websocket(proc.host, proc.port, "/graphql", "graphql-transport-ws") as ws:
        await ws.send_json({"type": "connection_init"})
        assert await ws.receive_json() == {"type": "connection_ack"}
        await ws.send_frame(OP_TEXT, b"\\xc3\\x28")       # invalid UTF-8
        frames = await ws.frames_until_eof()             # answers the server's close once
        assert [f.close_status() for f in frames if f.opcode == OP_CLOSE] == [(1007, "")]
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_TIMEOUT = 5.0


class HandshakeError(AssertionError):
    """The server did not switch protocols."""


@dataclass(frozen=True)
class Frame:
    opcode: int
    payload: bytes
    fin: bool = True

    def close_status(self) -> tuple[int, str]:
        """(code, reason) of a close frame; 1005 when it carries no code."""
        assert self.opcode == OP_CLOSE, self
        if len(self.payload) < 2:
            return 1005, ""
        code = struct.unpack("!H", self.payload[:2])[0]
        return code, self.payload[2:].decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.payload)


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode("utf-8")


class RawWebSocket:
    """One WebSocket over a plain TCP stream; create it with `raw_websocket()`."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, subprotocol: str | None
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.subprotocol = subprotocol
        self.close_sent = False

    # -- writing -------------------------------------------------------------------------

    async def send_frame(
        self, opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0
    ) -> None:
        """Write one client frame (masked, as a client must) exactly as given."""
        first = (0x80 if fin else 0) | (rsv & 0x7) << 4 | (opcode & 0xF)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", first, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", first, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, length)
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))
        self.writer.write(header + mask + masked)
        await self.writer.drain()
        if opcode == OP_CLOSE:
            self.close_sent = True

    async def send_text(self, text: str) -> None:
        await self.send_frame(OP_TEXT, text.encode("utf-8"))

    async def send_json(self, message: Any, *, binary: bool = False) -> None:
        data = json.dumps(message).encode("utf-8")
        await self.send_frame(OP_BINARY if binary else OP_TEXT, data)

    async def send_close(self, code: int, reason: str = "") -> None:
        await self.send_frame(OP_CLOSE, close_payload(code, reason))

    def reset(self) -> None:
        """End the TCP connection with a reset (RST), not a FIN: no close frame, no goodbye."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    # -- reading -------------------------------------------------------------------------

    async def read_frame(self, timeout: float = _TIMEOUT) -> Frame | None:  # noqa: ASYNC109
        """The next frame from the server; None when the TCP connection ended."""
        async with asyncio.timeout(timeout):
            try:
                head = await self.reader.readexactly(2)
            except (asyncio.IncompleteReadError, ConnectionError):
                return None
            fin, opcode = bool(head[0] & 0x80), head[0] & 0x0F
            if head[1] & 0x80:
                raise AssertionError("the server masked a frame")
            length = head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            return Frame(opcode, await self.reader.readexactly(length), fin)

    async def receive_json(self, timeout: float = _TIMEOUT) -> dict[str, Any]:  # noqa: ASYNC109
        """The next data frame as JSON, skipping legacy keep-alives (``ka``)."""
        while True:
            frame = await self.read_frame(timeout)
            if frame is None or frame.opcode not in (OP_TEXT, OP_BINARY):
                raise AssertionError(f"expected a message, got {frame!r}")
            message: dict[str, Any] = frame.json()
            if message.get("type") != "ka":
                return message

    async def frames_until_eof(self, timeout: float = _TIMEOUT) -> list[Frame]:  # noqa: ASYNC109
        """Every frame until the server ends the TCP connection. The first close frame is
        answered with the same code, as a client completes the closing handshake."""
        frames: list[Frame] = []
        async with asyncio.timeout(timeout):
            while (frame := await self.read_frame(timeout)) is not None:
                frames.append(frame)
                if frame.opcode == OP_CLOSE and not self.close_sent:
                    with contextlib.suppress(ConnectionError):
                        await self.send_frame(OP_CLOSE, frame.payload[:2])
        return frames


def close_frames(frames: list[Frame]) -> list[tuple[int, str]]:
    return [frame.close_status() for frame in frames if frame.opcode == OP_CLOSE]


@contextlib.asynccontextmanager
async def raw_websocket(
    host: str, port: int, path: str, subprotocol: str | None, query: str = ""
) -> AsyncIterator[RawWebSocket]:
    """Open a TCP connection and complete a WebSocket handshake offering `subprotocol`."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), _TIMEOUT)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path}{'?' + query if query else ''} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if subprotocol is not None:
            lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _TIMEOUT)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        if status_line.split(" ")[1:2] != ["101"]:
            raise HandshakeError(status_line)
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_lines if line)
        }
        yield RawWebSocket(reader, writer, headers.get("sec-websocket-protocol"))
    finally:
        writer.transport.abort()
