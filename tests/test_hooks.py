"""How hooks are called (``gqlwire.hooks``): the fast answer for plain values agrees
with ``inspect.isawaitable`` for every kind of value a hook can return."""

from __future__ import annotations

import asyncio
import inspect
import types
from collections.abc import Awaitable, Generator
from typing import Any

from gqlwire.hooks import call_hook, is_awaitable, resolve


class _Awaitable:
    def __await__(self) -> Generator[Any, None, int]:
        return (yield from asyncio.sleep(0, 1).__await__())


class _Registered:
    """Awaitable only by registration with the ABC, as ``inspect`` allows."""


Awaitable.register(_Registered)


class _Dict(dict[str, Any]):
    def __await__(self) -> Generator[Any, None, None]:  # a dict subclass may be awaitable
        yield


@types.coroutine
def _generator_coroutine() -> Generator[Any, None, int]:
    yield from asyncio.sleep(0).__await__()
    return 2


async def _native() -> int:
    return 3


def _values() -> list[Any]:
    return [
        None,
        True,
        0,
        1.5,
        "",
        "share-key",
        b"x",
        {},
        {"a": 1},
        [],
        (),
        ("a", 1),
        frozenset(),
        object(),
        _Awaitable(),
        _Registered(),
        _Dict(),
        _generator_coroutine(),
        _native(),
        (x for x in range(0)),  # a plain generator is not awaitable
    ]


def test_is_awaitable_agrees_with_inspect() -> None:
    values = _values()
    try:
        for value in values:
            assert is_awaitable(value) is inspect.isawaitable(value), value
    finally:
        for value in values:
            if inspect.iscoroutine(value) or inspect.isgenerator(value):
                value.close()


async def test_call_hook_and_resolve_await_only_awaitables() -> None:
    assert await call_hook(None, 1) is None
    assert await call_hook(lambda value: {"got": value}, 1) == {"got": 1}
    assert await call_hook(lambda: _native()) == 3
    assert await call_hook(lambda: _generator_coroutine()) == 2
    assert await call_hook(lambda: _Awaitable()) == 1
    assert await resolve("plain") == "plain"
    assert await resolve(_native()) == 3
