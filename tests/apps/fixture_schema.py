"""The fixture schema of the reference (npm graphql-ws) test suites, re-created with graphql-core.

Reference fields (same names, same behaviour):

- ``Query.getValue`` resolves to ``"value"``; ``Query.throwing`` raises ``Query Kaboom!``.
- ``Subscription.greetings`` yields Hi, Bonjour, Hola, Ciao, Zdravo and ends.
- ``Subscription.ping(key)`` yields ``"pong"`` once per :func:`pong` call for that key. Pongs
  published while nobody listens are buffered per key; closing the iterator ends it.
- ``Subscription.lateReturn`` never yields; closing it resolves one event-loop turn later.
- ``Subscription.throwing`` raises ``Subscribe Kaboom!`` on its first step.

Additions (not in the reference fixture), used by the ported tests:

- ``Query.slow(ms)`` resolves to ``"slow"`` after ``ms`` milliseconds, so a test can cancel a
  single-result operation before its result exists.

The ping pub/sub is per process: the test server serves ``POST /_pong?key=K`` to call
:func:`pong` inside the server process (see ``tests/apps/reference_app.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
)

GREETINGS = ("Hi", "Bonjour", "Hola", "Ciao", "Zdravo")


class _PongBoard:
    """Per-key pong delivery: at most one listener per key, extra pongs are counted."""

    def __init__(self) -> None:
        self.pending: dict[str, int] = {}
        self.listeners: dict[str, asyncio.Future[bool]] = {}

    def publish(self, key: str) -> None:
        listener = self.listeners.pop(key, None)
        if listener is not None and not listener.done():
            listener.set_result(False)  # False: a pong, not the end
        else:
            self.pending[key] = self.pending.get(key, 0) + 1

    def take_pending(self, key: str) -> bool:
        count = self.pending.get(key, 0)
        if count <= 0:
            return False
        self.pending[key] = count - 1
        return True

    def listen(self, key: str) -> asyncio.Future[bool]:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.listeners[key] = future
        return future

    def end(self, key: str) -> None:
        listener = self.listeners.pop(key, None)
        if listener is not None and not listener.done():
            listener.set_result(True)  # True: the iterator was closed


_board = _PongBoard()


def pong(key: str) -> None:
    """Deliver one ``"pong"`` to the ``ping(key)`` subscription, or buffer it for the next one."""
    _board.publish(key)


def pending_pongs(key: str) -> int:
    """How many pongs for ``key`` wait for a listener (lets tests see that nobody consumed them)."""
    return _board.pending.get(key, 0)


class _PingIterator:
    """Hand-written async iterator (not a generator), like the reference's, so ``aclose`` can be
    called while ``__anext__`` is suspended and still end it."""

    def __init__(self, key: str) -> None:
        self._key = key
        self._closed = False

    def __aiter__(self) -> _PingIterator:
        return self

    async def __anext__(self) -> dict[str, str]:
        if self._closed:
            raise StopAsyncIteration
        if _board.take_pending(self._key):
            return {"ping": "pong"}
        listener = _board.listen(self._key)
        try:
            ended = await listener
        finally:
            if _board.listeners.get(self._key) is listener:
                del _board.listeners[self._key]
        if ended:
            raise StopAsyncIteration
        return {"ping": "pong"}

    async def aclose(self) -> None:
        self._closed = True
        _board.end(self._key)


class _LateReturnIterator:
    """``__anext__`` waits until closed; ``aclose`` finishes one loop turn after releasing it, so
    the consumer's loop ends before ``aclose`` returns."""

    def __init__(self) -> None:
        self._completed = asyncio.Event()

    def __aiter__(self) -> _LateReturnIterator:
        return self

    async def __anext__(self) -> dict[str, str]:
        await self._completed.wait()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self._completed.set()
        await asyncio.sleep(0)


async def _greetings(_root: Any, _info: Any) -> AsyncIterator[dict[str, str]]:
    for hi in GREETINGS:
        yield {"greetings": hi}


def _ping(_root: Any, _info: Any, key: str) -> _PingIterator:
    return _PingIterator(key)


def _late_return(_root: Any, _info: Any) -> _LateReturnIterator:
    return _LateReturnIterator()


async def _throwing_subscription(_root: Any, _info: Any) -> AsyncIterator[dict[str, str]]:
    raise RuntimeError("Subscribe Kaboom!")
    yield {}  # unreachable: makes this an async generator that raises on its first step


def _throwing_query(_root: Any, _info: Any) -> str:
    raise RuntimeError("Query Kaboom!")


async def _slow(_root: Any, _info: Any, ms: int) -> str:
    await asyncio.sleep(ms / 1000)
    return "slow"


def _event_field(subscribe: Any, args: dict[str, GraphQLArgument] | None = None) -> GraphQLField:
    # the default resolver reads the field's own name from each yielded dict
    return GraphQLField(GraphQLNonNull(GraphQLString), args=args, subscribe=subscribe)


def make_schema() -> GraphQLSchema:
    """A fresh schema object (the resolvers share the module's pong board)."""
    query = GraphQLObjectType(
        "Query",
        {
            "getValue": GraphQLField(GraphQLNonNull(GraphQLString), resolve=lambda *_: "value"),
            "throwing": GraphQLField(GraphQLNonNull(GraphQLString), resolve=_throwing_query),
            # addition: a single result that takes `ms` milliseconds
            "slow": GraphQLField(
                GraphQLNonNull(GraphQLString),
                args={"ms": GraphQLArgument(GraphQLNonNull(GraphQLInt))},
                resolve=_slow,
            ),
        },
    )
    subscription = GraphQLObjectType(
        "Subscription",
        {
            "greetings": _event_field(_greetings),
            "ping": _event_field(
                _ping, args={"key": GraphQLArgument(GraphQLNonNull(GraphQLString))}
            ),
            "lateReturn": _event_field(_late_return),
            "throwing": _event_field(_throwing_subscription),
        },
    )
    return GraphQLSchema(query=query, subscription=subscription)


schema = make_schema()
