"""What the Redis brokers share: connection options, dedicated connections, back-off.

:class:`~gqlwire.fanout.RedisBroker` (pub/sub) and
:class:`~gqlwire.fanout.RedisStreamBroker` (streams) both publish through a redis-py pool
and read on one connection of their own, which they watch, drop and reopen themselves;
redis-py must never retry or reconnect behind them.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection, Connection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = [
    "DEFAULT_REDIS_URL",
    "UNREACHABLE",
    "RedisEndpoint",
    "backoff_delay",
    "cancel_and_wait",
    "describe",
    "send",
]

DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"

# What "Redis could not be reached" looks like: redis-py's own errors, a socket error it
# did not wrap, and our own deadlines (asyncio.timeout raises the builtin TimeoutError).
UNREACHABLE: Final = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class RedisEndpoint:
    """Where Redis is and how to connect to it, parsed once from a URL."""

    connection_class: type[AbstractConnection]
    options: dict[str, Any]
    where: str  # host:port/db or the socket path, for logs; never the password

    @classmethod
    def from_url(cls, url: str, timeout: float) -> RedisEndpoint:
        options: dict[str, Any] = dict(parse_url(url))
        connection_class: type[AbstractConnection] = options.pop("connection_class", Connection)
        where = _describe_address(options)
        # Our loops own retrying and back-off; redis-py's must not retry behind them.
        options.update(
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            protocol=2,
            decode_responses=False,
        )
        return cls(connection_class, options, where)

    def publisher(self) -> tuple[ConnectionPool, Redis]:
        """A pool and a client on it for commands that are not the reader's."""
        # One retry lets a command replace a pooled connection that died since its last use.
        pool = ConnectionPool(
            connection_class=self.connection_class,
            **{**self.options, "retry": Retry(NoBackoff(), 1)},
        )
        return pool, Redis(connection_pool=pool)

    async def connect(self, deadline: float) -> AbstractConnection:
        """A new dedicated connection; ``deadline`` (seconds) bounds the whole handshake."""
        connection = self.connection_class(**self.options)
        connect: Callable[[], Awaitable[None]] = connection.connect  # redis-py leaves it untyped
        try:
            async with asyncio.timeout(deadline):
                await connect()
        except BaseException:
            await connection.disconnect(nowait=True)
            raise
        return connection


def backoff_delay(step: int, min_delay: float, max_delay: float) -> float:
    """Exponential back-off with jitter: between half of and the whole of the ceiling."""
    ceiling = min(max_delay, min_delay * 2 ** min(step, 30))
    return random.uniform(ceiling / 2, ceiling)


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it is done.

    Cancels again while it runs on: in Python 3.11 ``asyncio.wait_for`` (which redis-py
    uses for socket timeouts) swallows a cancellation that lands as its operation finishes.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)


async def send(connection: AbstractConnection, *args: str | bytes | int) -> None:
    """Write one command on a dedicated connection, which must still be open."""
    if not connection.is_connected:  # never let redis-py reconnect this socket behind us
        raise RedisConnectionError("the connection is closed")
    await connection.send_command(*args, check_health=False)


def describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _describe_address(options: dict[str, Any]) -> str:
    db = options.get("db", 0)
    if "path" in options:
        return f"unix:{options['path']}/{db}"
    return f"{options.get('host', 'localhost')}:{options.get('port', 6379)}/{db}"
