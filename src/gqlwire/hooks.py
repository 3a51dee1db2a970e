"""How user hooks are called: each may be a plain function or a coroutine function.

A leaf module: the transports, the operation core and the options all call hooks, so
this imports nothing of gqlwire.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

Hook = Callable[..., Any]
"""A user hook or ``context`` function: sync or async, arguments as documented per hook."""


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
