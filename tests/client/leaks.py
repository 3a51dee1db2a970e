"""Leak checks of the client tests: what asyncio, the warnings machinery and the
unraisable hook report, and the loop's tasks.

A scenario run with :func:`run_isolated` gets an event loop of its own (``asyncio.run``:
at its end it cancels the tasks left and finalizes the async generators left, as a
program's end would), followed by a garbage collection, with every report recorded in
the ``reports`` fixture (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from .support import WAIT


class Reports:
    """Everything asyncio, the warnings machinery and the unraisable hook report."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def exception_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.items.append(f"{context.get('message')} {context.get('exception')!r}")

    def unraisable(self, unraisable: Any) -> None:
        self.items.append(f"unraisable: {unraisable.exc_value!r} in {unraisable.object!r}")


def run_isolated(reports: Reports, scenario: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(reports.exception_handler)
        await scenario()

    asyncio.run(main())
    gc.collect()


async def settle(within: float = WAIT) -> None:
    """Until no task but this one is left in the loop."""
    async with asyncio.timeout(within):
        # No event says "the last task ended", so poll the loop's task list.
        while len(asyncio.all_tasks()) > 1:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def recorded_reports() -> Iterator[Reports]:
    """The body of the ``reports`` fixture."""
    recorded = Reports()
    previous_hook = sys.unraisablehook
    sys.unraisablehook = recorded.unraisable
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield recorded
            gc.collect()
        recorded.items += [
            f"{w.category.__name__}: {w.message}"
            for w in caught
            if not issubclass(w.category, DeprecationWarning)  # third-party noise
        ]
    finally:
        sys.unraisablehook = previous_hook
