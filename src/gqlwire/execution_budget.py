"""A time budget for one query or mutation, and execution that gives the loop its turn.

graphql-core runs synchronous resolvers in one go: one operation that selects hundreds
of thousands of values holds the event loop until it is done, and every other client of
the process waits (see the README's *Security*). Here graphql-core's executor is
subclassed so that every :data:`CHECK_EVERY` fields it looks at the clock:

- once the operation has run for ``time_slice`` seconds since it last let the loop run,
  the field being started is deferred until the loop has run (and with it every field
  and object started before the loop ran again), so the rest of the operation runs
  asynchronously, a slice at a time, between the other clients' work: each slice
  executes deferred fields one after the other in one callback;
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
        "pending",
        "slice_end",
        "time_slice",
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
        self.pending: deque[_Deferred] = deque()
        """The fields deferred while paused, in the order graphql-core started them."""

    def error(self) -> ExecutionTimeExceeded:
        return ExecutionTimeExceeded(f"Execution time exceeds the limit of {self.max_time:g} s")

    def checkpoint(self, execute_field: Callable[..., Any], executor: Any, args: Any) -> Any:
        """Execute one field now, later (after the loop ran) or not at all."""
        if self.paused:
            self.countdown = 1  # every field started while paused waits too
            return self.defer(execute_field, executor, args)
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
            asyncio.get_running_loop().call_soon(self._next_slice)
            return self.defer(execute_field, executor, args)
        return execute_field(executor, *args)

    async def _refused(self) -> Any:
        raise self.error()

    def defer(self, execute_field: Callable[..., Any], executor: Any, args: Any) -> Any:
        # In line now, not when graphql-core first awaits it: the next slice may start
        # before graphql-core's tasks do.
        deferred = _Deferred(
            asyncio.get_running_loop().create_future(), execute_field, executor, args
        )
        self.pending.append(deferred)
        return _result_of(deferred.future)

    def _next_slice(self) -> None:
        """Runs once the loop has had its turn: execute deferred fields, one after the
        other in this one callback, until the slice is used up.

        Running them here, rather than each in its own turn of the loop, is what keeps
        a pause cheap: a wide result (a long list of objects) defers thousands of small
        fields, and one loop turn each would cost more than the fields themselves.
        """
        assert self.time_slice is not None
        self.paused = False
        self.countdown = CHECK_EVERY
        self.slice_end = monotonic() + self.time_slice
        pending = self.pending
        while pending and not self.paused:
            deferred = pending.popleft()
            future = deferred.future
            if future.done():  # cancelled with its operation
                continue
            if self.exceeded or (self.deadline is not None and monotonic() >= self.deadline):
                self.exceeded = True
                future.set_exception(self.error())
                continue
            try:
                result = deferred.execute_field(deferred.executor, *deferred.args)
            except Exception as error:  # graphql-core reports a field's own errors itself
                future.set_exception(error)
            else:
                future.set_result(result)
        # Fields started after the slice ran out are queued behind the rest, and the
        # checkpoint that paused scheduled the next slice.


class _Deferred:
    """One field waiting for the next slice, and where its result goes."""

    __slots__ = ("args", "execute_field", "executor", "future")

    def __init__(
        self,
        future: asyncio.Future[Any],
        execute_field: Callable[..., Any],
        executor: Any,
        args: Any,
    ) -> None:
        self.future = future
        self.execute_field = execute_field
        self.executor = executor
        self.args = args


async def _result_of(future: asyncio.Future[Any]) -> Any:
    result = await future
    if inspect.isawaitable(result):  # an async resolver: it runs in graphql-core's task
        result = await result
    return result


current_budget: Final[ContextVar[ExecutionBudget | None]] = ContextVar(
    "gqlwire_execution_budget", default=None
)
"""The budget of the operation executing in this context, if any."""

_budgeted_classes: dict[type[Any], type[Any]] = {}


def budgeted_executor_class(base: type[Any]) -> type[Any]:
    """``base`` (graphql-core's executor class, or a subclass) checking
    :data:`current_budget` every :data:`CHECK_EVERY` fields; built once per ``base``.

    While the operation is paused, an object's whole selection set is deferred as one
    unit (``execute_fields``) rather than field by field: a long list of objects then
    costs one deferral per remaining object, not one per remaining field."""
    budgeted = _budgeted_classes.get(base)
    if budgeted is not None:
        return budgeted
    execute_field = base.execute_field
    execute_fields = base.execute_fields

    def budgeted_execute_field(self: Any, *args: Any) -> Any:
        budget = current_budget.get()
        if budget is not None:
            budget.countdown -= 1
            if budget.countdown <= 0:
                return budget.checkpoint(execute_field, self, args)
        return execute_field(self, *args)

    def budgeted_execute_fields(self: Any, *args: Any) -> Any:
        budget = current_budget.get()
        if budget is not None and budget.paused:
            return budget.defer(execute_fields, self, args)
        return execute_fields(self, *args)

    budgeted = type(
        f"Budgeted{base.__name__}",
        (base,),
        {
            "execute_field": budgeted_execute_field,
            "execute_fields": budgeted_execute_fields,
            "__doc__": base.__doc__,
        },
    )
    _budgeted_classes[base] = budgeted
    return budgeted
