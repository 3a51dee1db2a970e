"""The connection context every hook receives, and how hooks are called."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .protocol import OperationId

if TYPE_CHECKING:
    from .connection import Connection


class ConnectionContext:
    """What a hook knows about its connection (graphql-ws's ``ctx``, in snake_case).

    The protocol state (``connection_init_received``, ``acknowledged``) is read live
    from the connection, so a hook always sees the current truth.
    """

    __slots__ = ("_connection", "extra", "state")

    def __init__(self, connection: Connection, extra: dict[str, Any]) -> None:
        self._connection = connection
        self.extra = extra
        """Transport details: ``{"scope": ...}`` on ASGI, ``{"request": ...}`` on aiohttp."""
        self.state: dict[str, Any] = {}
        """Free for the application: whatever hooks want to keep per connection."""

    @property
    def protocol(self) -> str | None:
        """The negotiated subprotocol, or ``None`` when the client offered none we speak."""
        return self._connection.protocol

    @property
    def connection_init_received(self) -> bool:
        return self._connection.machine_state("init_received")

    @property
    def acknowledged(self) -> bool:
        return self._connection.machine_state("acknowledged")

    @property
    def connection_params(self) -> dict[str, Any] | None:
        """The ``connection_init`` payload, when it was an object."""
        machine = self._connection.machine
        return machine.connection_params if machine is not None else None

    @property
    def subscriptions(self) -> Mapping[OperationId, Any]:
        """The operations running on this connection, by id (read-only)."""
        return MappingProxyType(self._connection.operations)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection from application code (token expiry, bans...)."""
        await self._connection.close(code, reason)

    def __repr__(self) -> str:
        return (
            f"<ConnectionContext protocol={self.protocol!r} "
            f"acknowledged={self.acknowledged} operations={len(self._connection.operations)}>"
        )


Hook = Callable[..., Any]


async def call_hook(hook: Hook | None, *args: Any) -> Any:
    """Call a user hook that may be a plain function or a coroutine function."""
    if hook is None:
        return None
    result = hook(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def resolve(value: Any) -> Any:
    """Await ``value`` if it is awaitable (graphql-core returns either)."""
    if inspect.isawaitable(value):
        return await value
    return value


def is_awaitable(value: object) -> bool:
    return inspect.isawaitable(value)


MaybeAwaitable = Any | Awaitable[Any]
