"""The small interface every server adapter provides to a connection.

An adapter absorbs everything its server gets wrong (``docs/design.md``): exceptions of
any type from the server's send and receive, duplicate connect events, receives that
would block forever after a disconnect. What reaches the connection is this contract,
and nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable
from enum import Enum
from typing import Any, ClassVar, Final, Protocol, TypeAlias

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


class Again(Enum):
    """The type of :data:`AGAIN`."""

    AGAIN = "again"


AGAIN: Final = Again.AGAIN
"""What :meth:`SplitReceive.message_data` gives for a message that carries nothing for
the connection (a ping its server answered): receive again."""


class SplitReceive(Protocol):
    """A :class:`Transport` whose :meth:`~Transport.receive` is split in two: the
    server's own awaitable, which the connection awaits in its own frame, and a plain
    function that reads what it gave. The connection then keeps no coroutine of the
    transport's while it waits for a message (idle connections are many), and makes
    none per message. Together the three do exactly what ``receive`` does."""

    splits_receive: ClassVar[bool]
    """``True``: how the connection tells a transport that splits its receive."""

    def receive_message(self) -> Awaitable[Any]:
        """What the server gives next (may raise: see :meth:`receive_failed`); an
        awaitable of ``None`` once the connection has ended."""

    def message_data(self, message: Any) -> str | bytes | Again | None:
        """The message's text or bytes; ``None`` once the connection has ended (and
        then ``close_code`` and ``close_reason`` tell how); :data:`AGAIN` for a message
        that carries nothing for the connection."""

    def receive_failed(self, error: Exception) -> None:
        """What :meth:`receive_message` raised: the connection has ended."""
