"""How user hooks are called: each may be a plain function or a coroutine function.

A leaf module: the transports, the operation core and the options all call hooks, so
this imports nothing of gqlwire.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeGuard

Hook = Callable[..., Any]
"""A user hook or ``context`` function: sync or async, arguments as documented per hook."""

_NEVER_AWAITABLE: Final = frozenset({type(None), bool, int, float, str, bytes, dict, list, tuple})
"""What hooks mostly return: decided without ``inspect.isawaitable``, whose last test
(``collections.abc.Awaitable``) goes through the ABC machinery on every call."""


def is_awaitable(value: object) -> TypeGuard[Awaitable[Any]]:
    """``inspect.isawaitable``, answered at once for the plain values hooks return."""
    return type(value) not in _NEVER_AWAITABLE and inspect.isawaitable(value)


async def call_hook(hook: Hook | None, *args: Any) -> Any:
    """Call a user hook that may be a plain function or a coroutine function."""
    if hook is None:
        return None
    result = hook(*args)
    if is_awaitable(result):
        result = await result
    return result


async def resolve(value: Any) -> Any:
    """Await ``value`` if it is awaitable (graphql-core returns either)."""
    if is_awaitable(value):
        return await value
    return value
