"""Transports (:class:`gqlwire.adapters.base.Transport`) that a test drives by hand, for
what sits on top of one: the outbox, a connection."""

from __future__ import annotations

import asyncio

from gqlwire.adapters.base import Frame


class GatedTransport:
    """Each send waits until the test opens the gate: a client that stopped reading.

    ``sent`` holds the text of every frame written, in order (a frame handed over as
    UTF-8 bytes is recorded as its text).
    """

    close_code: int | None = None
    close_reason = ""

    def __init__(self, buffer: int = 0) -> None:
        self.sent: list[str] = []
        self.gate = asyncio.Event()
        self.buffer = buffer  # frames the server takes at once, without waiting

    async def accept(self, subprotocol: str | None) -> None:
        return None

    async def receive(self) -> str | bytes | None:
        return None

    def send_nowait(self, frame: Frame) -> bool:
        if self.buffer <= 0:
            return False
        self.buffer -= 1
        self.sent.append(_text(frame))
        return True

    async def send(self, frame: Frame) -> bool:
        await self.gate.wait()
        self.sent.append(_text(frame))
        return True

    async def close(self, code: int, reason: str) -> None:
        return None


def _text(frame: Frame) -> str:
    return frame if isinstance(frame, str) else frame.decode()


class RecordingOwner:
    """An outbox's owner that writes down what the outbox told it, in order."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def outbox_gone(self) -> None:
        self.events.append("gone")

    def outbox_overflowed(self) -> None:
        self.events.append("overflow")
