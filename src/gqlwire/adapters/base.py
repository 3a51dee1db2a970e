"""The small interface every server adapter provides to a connection.

An adapter absorbs everything its server gets wrong (``docs/design.md``): exceptions of
any type from the server's send and receive, duplicate connect events, receives that
would block forever after a disconnect. What reaches the connection is this contract,
and nothing else.
"""

from __future__ import annotations

from typing import Protocol, TypeAlias

Frame: TypeAlias = str | bytes
"""One text message to send: its text, or that text already encoded as UTF-8 (a shared
result, spliced from bytes so that nothing is encoded per subscriber)."""


class Transport(Protocol):
    """One WebSocket, as a connection sees it."""

    close_code: int | None
    """The peer's close code once :meth:`receive` returned ``None`` (1006 if unknown)."""
    close_reason: str

    async def accept(self, subprotocol: str | None) -> None:
        """Complete the handshake, selecting ``subprotocol`` (``None``: no header)."""

    async def receive(self) -> str | bytes | None:
        """The next message, or ``None`` once the connection has ended. Never raises
        (except ``CancelledError``) and never blocks after the end was seen."""

    def send_nowait(self, frame: Frame) -> bool:
        """Hand one text frame to the server without waiting, if it can take it now
        (its write buffer is below the high-water mark); ``False`` otherwise, and then
        :meth:`send` is used instead. Never raises. ASGI's send is a coroutine: the
        adapter steps it once, and a server that suspends it finishes it in a task
        that the next frames wait behind (the frame counts as taken)."""

    async def send(self, frame: Frame) -> bool:
        """Send one text frame, waiting while the server's buffer is full; ``False`` if
        the connection is gone. Never raises."""

    async def close(self, code: int, reason: str) -> None:
        """Send the close frame. Idempotent; never raises."""
