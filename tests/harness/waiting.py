"""Bounded waits for async tests: poll until something holds, take the next item of an
async iterator, and find the tasks a test left behind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], what: str, within: float = 10.0
) -> None:
    """Poll ``condition`` (sync or async) until it holds; fail after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"timed out after {within}s waiting until {what}")
        await asyncio.sleep(0.01)


async def next_within(iterator: Any, within: float = 5.0) -> Any:
    """The next item of an async iterator, failing the test instead of hanging."""
    try:
        async with asyncio.timeout(within):
            return await anext(iterator)
    except TimeoutError:
        pytest.fail(f"nothing arrived within {within}s")


def leaked_tasks(before: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() - before if task is not current}
