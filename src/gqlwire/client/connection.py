"""One client WebSocket over aiohttp: a send gate, frames in, and one close.

aiohttp reports the end of a socket in several shapes (the peer's ``CLOSE`` frame;
``CLOSING`` when our own ``close()`` interrupts a receive; ``CLOSED`` when the stream
ended; ``ERROR`` for a reader error, after which it closed the socket itself). They all
become one :class:`Closed` here. Only a close frame from the peer carries a real code:
a stream that just ended is ``ABNORMAL_CLOSURE`` (1006), whatever aiohttp guessed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp import WSMsgType

from ..protocol.codes import CloseCode
from .protocol import ClientCodec

__all__ = ["CLOSE_TIMEOUT", "Closed", "Connection"]

logger = logging.getLogger("gqlwire.client")

CLOSE_TIMEOUT: Final = 3.0
"""Seconds our close waits for the server's close frame (aiohttp's default is 10)."""


@dataclass(frozen=True, slots=True)
class Closed:
    """The socket ended with this code and reason."""

    code: int
    reason: str = ""


class Connection:
    """An open WebSocket and its protocol state as the client sees it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, codec: ClientCodec) -> None:
        self.ws = ws
        self.codec = codec
        self.acknowledged = False
        self.ack_payload: dict[str, object] | None = None
        self.subscribed: set[str] = set()
        """Ids whose ``subscribe`` went out on this socket and that have not ended."""
        self.pongs = 0
        self.last_pong = 0.0  # loop time of the latest pong
        self._closing = False

    @property
    def open(self) -> bool:
        return not self._closing and not self.ws.closed

    @property
    def closing(self) -> bool:
        return self._closing or self.ws.closed

    async def send(self, text: str) -> bool:
        """Send one text frame; False (and nothing raised) when the socket is closing or
        gone: the reader will see the close and the supervisor will decide what next."""
        if not self.open:
            return False
        try:
            await self.ws.send_str(text)
        except (aiohttp.ClientError, OSError, RuntimeError) as error:
            logger.debug("send failed, the socket is closing: %r", error)
            return False
        return True

    async def close(self, code: int, reason: str) -> None:
        """Close with `code` unless the socket is closed already. Waits up to
        ``CLOSE_TIMEOUT`` for the server's close frame.

        A close that was interrupted (a cancellation while aiohttp waited for the
        reader to let go) left the socket open: calling again finishes it, with the
        code of the first call if aiohttp already sent its frame.
        """
        self._closing = True
        if not self.ws.closed:
            await self.ws.close(code=code, message=reason.encode("utf-8"))

    async def receive(self) -> str | bytes | Closed:
        """The next data frame, or how the socket ended."""
        ws = self.ws
        while True:
            message = await ws.receive()
            if message.type is WSMsgType.TEXT:
                return str(message.data)
            if message.type is WSMsgType.BINARY:
                return bytes(message.data)
            if message.type is WSMsgType.CLOSE:
                code = message.data if isinstance(message.data, int) else CloseCode.ABNORMAL_CLOSURE
                return Closed(code, str(message.extra or ""))
            if message.type is WSMsgType.ERROR:
                code = getattr(message.data, "code", CloseCode.ABNORMAL_CLOSURE)
                return Closed(code if isinstance(code, int) else CloseCode.ABNORMAL_CLOSURE)
            if message.type in (WSMsgType.CLOSING, WSMsgType.CLOSED):
                return Closed(CloseCode.ABNORMAL_CLOSURE)
            # PING and PONG frames are answered and swallowed by aiohttp (autoping).
