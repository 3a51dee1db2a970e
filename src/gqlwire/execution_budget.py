"""A time budget for one query or mutation, and execution that gives the loop its turn.

graphql-core runs synchronous resolvers in one go: one operation that selects hundreds
of thousands of values holds the event loop until it is done, and every other client of
the process waits (see the README's *Security*). Here graphql-core's executor is
subclassed so that every :data:`CHECK_EVERY` fields it looks at the clock:

- once the operation has run for ``time_slice`` seconds since it last let the loop run,
  the field being started is deferred to a coroutine that lets the loop run first (and
  with it every field started before the loop ran again), so the rest of the operation
  runs asynchronously, a slice at a time, between the other clients' work;
- once it has run for ``max_time`` seconds, fields stop being executed and the
  operation's result is one error naming the limit.

A small operation never reaches either: it pays one counter per field. The budget of
the running operation travels in a context variable, so the executor class is built once
per graphql-core class (graphql-core's own or a schema library's), not per operation.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from time import monotonic
from typing import Any, Final

from graphql import GraphQLError

CHECK_EVERY: Final = 64
"""Fields executed between two looks at the clock."""


class ExecutionTimeExceeded(GraphQLError):
    """The operation ran longer than its budget allows."""


class ExecutionBudget:
    """The clock of one operation, and the fields it deferred, in the order deferred."""

    __slots__ = (
        "countdown",
        "deadline",
        "exceeded",
        "max_time",
        "paused",
        "slice_end",
        "time_slice",
        "waiting",
        "woken",
    )

    def __init__(self, max_time: float | None, time_slice: float | None) -> None:
        now = monotonic()
        self.max_time = max_time
        self.time_slice = time_slice
        self.deadline = None if max_time is None else now + max_time
        self.slice_end = None if time_slice is None else now + time_slice
        self.countdown = CHECK_EVERY
        self.exceeded = False
        """Whether a field was refused for want of time."""
        self.paused = False
        """Whether the operation is waiting for the loop to run before going on."""
        self.waiting: deque[asyncio.Future[None]] = deque()
        """One future per deferred field, woken one at a time while a slice lasts."""
        self.woken: asyncio.Future[None] | None = None
        """The field woken last, until it starts running."""

    def error(self) -> ExecutionTimeExceeded:
        return ExecutionTimeExceeded(f"Execution time exceeds the limit of {self.max_time:g} s")

    def checkpoint(self, execute_field: Callable[..., Any], executor: Any, args: Any) -> Any:
        """Execute one field now, later (after the loop ran) or not at all."""
        if self.paused:
            self.countdown = 1  # every field started while paused waits too
            return self._deferred(self._wait_in_line(), execute_field, executor, args)
        self.countdown = CHECK_EVERY
        now = monotonic()
        if self.deadline is not None and now >= self.deadline:
            self.countdown = 1
            self.exceeded = True
            # Raised when awaited, not here: graphql-core would leave the awaitables of
            # the fields before this one unawaited.
            return self._refused()
        if self.slice_end is not None and now >= self.slice_end:
            self.paused = True
            self.countdown = 1
            waiter = self._wait_in_line()
            asyncio.get_running_loop().call_soon(self._next_slice)
            return self._deferred(waiter, execute_field, executor, args)
        return execute_field(executor, *args)

    async def _refused(self) -> Any:
        raise self.error()

    def _next_slice(self) -> None:
        """Runs once the loop has had its turn: the operation may go on for a slice."""
        assert self.time_slice is not None
        self.paused = False
        self.countdown = CHECK_EVERY
        self.slice_end = monotonic() + self.time_slice
        self._wake_next()

    def _wait_in_line(self) -> asyncio.Future[None]:
        # In line now, not when the coroutine first runs: the next slice may start
        # before graphql-core's tasks do.
        waiter = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        return waiter

    def _wake_next(self) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():  # not cancelled with its operation
                waiter.set_result(None)
                self.woken = waiter
                assert self.time_slice is not None
                asyncio.get_running_loop().call_later(self.time_slice, self._rescue, waiter)
                return

    def _rescue(self, waiter: asyncio.Future[None]) -> None:
        """A woken field that never ran (graphql-core drops the other fields' awaitables
        when a non-null field fails) must not leave the rest waiting forever."""
        if self.woken is waiter and not self.paused:
            self.woken = None
            self._wake_next()

    async def _deferred(
        self,
        waiter: asyncio.Future[None],
        execute_field: Callable[..., Any],
        executor: Any,
        args: Any,
    ) -> Any:
        # Deferred fields wait in line and run one at a time, each handing the slice on
        # to the next when done with it: waking them all at once would make every
        # pause cost as much as the number of fields waiting.
        await waiter
        if self.woken is waiter:
            self.woken = None
        try:
            if self.exceeded or (self.deadline is not None and monotonic() >= self.deadline):
                self.exceeded = True
                raise self.error()
            result = execute_field(executor, *args)
        finally:
            if not self.paused:
                self._wake_next()
        if inspect.isawaitable(result):
            result = await result
        return result


current_budget: Final[ContextVar[ExecutionBudget | None]] = ContextVar(
    "gqlwire_execution_budget", default=None
)
"""The budget of the operation executing in this context, if any."""

_budgeted_classes: dict[type[Any], type[Any]] = {}


def budgeted_executor_class(base: type[Any]) -> type[Any]:
    """``base`` (graphql-core's executor class, or a subclass) checking
    :data:`current_budget` every :data:`CHECK_EVERY` fields; built once per ``base``."""
    budgeted = _budgeted_classes.get(base)
    if budgeted is not None:
        return budgeted
    execute_field = base.execute_field

    def budgeted_execute_field(self: Any, *args: Any) -> Any:
        budget = current_budget.get()
        if budget is not None:
            budget.countdown -= 1
            if budget.countdown <= 0:
                return budget.checkpoint(execute_field, self, args)
        return execute_field(self, *args)

    budgeted = type(
        f"Budgeted{base.__name__}",
        (base,),
        {"execute_field": budgeted_execute_field, "__doc__": base.__doc__},
    )
    _budgeted_classes[base] = budgeted
    return budgeted
