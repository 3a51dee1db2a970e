"""The response stream of a subscription: its source event stream, and each event
executed with the event as the root value (the spec's MapSourceToResponseEvent).

graphql-core maps events with an async iterator of its own (``MapAsyncIterator`` in
3.2, which starts two tasks per event; an async generator over ``map_async_iterable``
in 3.3), and 3.2 runs a full ``execute()`` per event, which coerces the variables,
finds the operation and collects the fields of the document again each time. Here the
executor (3.2: the execution context) is built once per subscription and each event
runs on a shallow copy of it with its own root value and its own errors, so only the
resolvers and the completion of their values run per event. On 3.3 the copy is
graphql-core's own (``build_per_event_executor`` then ``execute_subscription_event``,
exactly what its ``subscribe`` does per event); on 3.2 it is the equivalent written
against 3.2's ``ExecutionContext``. Both give, event for event, what graphql-core's
``subscribe`` gives (see ``tests/test_response_stream.py``).

This is also the one module that knows which graphql-core release is installed: see
the section *graphql-core 3.2 and 3.3* below.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from graphql import ExecutionResult, GraphQLError, OperationType
from graphql import execute as graphql_execute

# -- graphql-core 3.2 and 3.3 -----------------------------------------------------------
#
# 3.3 renamed ExecutionContext to Executor (and with it the keyword of ``execute`` that
# selects a custom class), made ``create_source_event_stream`` take a built executor,
# gave executors an official per-event copy, and runs subscriptions on an executor that
# refuses @defer/@stream. Every difference is settled here, once, at import.

_execution: Final[Any] = importlib.import_module("graphql.execution")

GRAPHQL_CORE_3_3: Final[bool] = hasattr(_execution, "Executor")
"""Whether graphql-core 3.3 (``Executor``) rather than 3.2 (``ExecutionContext``) runs."""

ExecutorBase: Final[type[Any]] = (
    _execution.Executor if GRAPHQL_CORE_3_3 else _execution.ExecutionContext
)
"""graphql-core's executor class, which custom ones (Strawberry's) derive from."""

EXECUTOR_CLASS_KEYWORD: Final[str] = (
    "executor_class" if GRAPHQL_CORE_3_3 else "execution_context_class"
)
"""The keyword argument of graphql-core's ``execute`` that selects a custom class."""

_SubscriptionExecutor: Final[type[Any]] = (
    # What 3.3's subscribe() uses unless told otherwise: @defer in a subscription is an
    # error there, not silently ignored as by the plain Executor.
    importlib.import_module(
        "graphql.execution.executor_throwing_on_incremental"
    ).ExecutorThrowingOnIncremental
    if GRAPHQL_CORE_3_3
    else ExecutorBase
)
SubscriptionExecutor: Final[type[Any]] = _SubscriptionExecutor
"""The executor class a subscription runs on unless told otherwise (what
:mod:`gqlwire.compiled` compiles)."""
_create_source_event_stream: Final[Any] = _execution.create_source_event_stream
_execute_subscription_event: Final[Any] = getattr(_execution, "execute_subscription_event", None)
_CollectedErrors: Final[Any] = importlib.import_module(
    "graphql.execution.executor" if GRAPHQL_CORE_3_3 else "graphql.execution.execute"
).CollectedErrors
# 3.2 only: which of execute()'s keyword arguments create_source_event_stream() takes.
_SOURCE_PARAMETERS: Final = (
    frozenset()
    if GRAPHQL_CORE_3_3
    else frozenset(inspect.signature(_create_source_event_stream).parameters)
)
_EXECUTE_PARAMETERS: Final = frozenset(inspect.signature(graphql_execute).parameters)


def build_executor(executor_class: type[Any], kwargs: dict[str, Any]) -> Any:
    """``executor_class.build`` from the keyword arguments of graphql-core's ``execute``
    (without the class): an executor, or the errors that stop the operation before it
    runs (bad variables, no such operation).

    The first six arguments go by position: 3.2 and 3.3 agree on their order, and both
    call the variables ``raw_variable_values`` here but ``variable_values`` in
    ``execute``.
    """
    rest = dict(kwargs)
    return executor_class.build(
        rest.pop("schema"),
        rest.pop("document"),
        rest.pop("root_value", None),
        rest.pop("context_value", None),
        rest.pop("variable_values", None),
        rest.pop("operation_name", None),
        **rest,
    )


EventCompiler = Callable[[Any, Any], "tuple[Any, Callable[[Any, Any], Any]] | None"]
"""``(executor or None, raw variables) -> (prepared, execute) or None``: a compiled
executor for a subscription's events in place of graphql-core's (``None``: it stays
graphql-core's; an executor of ``None``: there is none to compile, 3.2 only)."""


def _compiled(
    compile_events: EventCompiler | None, executor: Any, kwargs: dict[str, Any]
) -> tuple[Any, Callable[[Any, Any], Any]] | None:
    if compile_events is None:
        return None
    return compile_events(executor, kwargs.get("variable_values"))


async def _open_3_3(
    kwargs: dict[str, Any], compile_events: EventCompiler | None = None
) -> ExecutionResult | EventResults:
    """graphql-core 3.3's ``subscribe``, with the events mapped by :class:`EventResults`."""
    kwargs = dict(kwargs)
    executor_class = kwargs.pop(EXECUTOR_CLASS_KEYWORD, None) or _SubscriptionExecutor
    executor = build_executor(executor_class, kwargs)
    if isinstance(executor, list):
        return ExecutionResult(None, executor)
    if executor.operation.operation is not OperationType.SUBSCRIPTION:
        raise GraphQLError("Expected subscription operation.")
    source = _create_source_event_stream(executor)
    if executor.is_awaitable(source):
        source = await source
    if isinstance(source, ExecutionResult):
        return source
    events = aiter(executor.cancellable_iterable(source))
    compiled = _compiled(compile_events, executor, kwargs)
    if compiled is not None:
        return EventResults(events, *compiled, compiled=True)
    return EventResults(events, executor, _execute_event)


def _execute_event_3_3(executor: Any, event: Any) -> Any:
    per_event = executor.build_per_event_executor(event)
    # graphql-core 3.3.2 memoizes the sub-fields of each object field by the identity of
    # a list that collect_fields() makes anew for every event, in a dict that the copy
    # shares with the subscription's executor: one entry more per object field and event,
    # for as long as the subscription lives. Each event gets its own memo instead.
    per_event._relevant_sub_fields = {}
    return _execute_subscription_event(per_event)


async def _open_3_2(
    kwargs: dict[str, Any], compile_events: EventCompiler | None = None
) -> ExecutionResult | EventResults:
    """graphql-core 3.2's ``create_source_event_stream``, then each event on a copy of
    one execution context (:func:`_reusable_context`), or through ``execute()`` when
    no context can be built from the arguments."""
    unknown = kwargs.keys() - _SOURCE_PARAMETERS - _EXECUTE_PARAMETERS
    if unknown:
        raise TypeError(f"subscribe() got unexpected keyword arguments: {sorted(unknown)}")
    source = await _create_source_event_stream(
        **{key: value for key, value in kwargs.items() if key in _SOURCE_PARAMETERS}
    )
    if isinstance(source, ExecutionResult):
        return source
    per_event = {
        key: value
        for key, value in kwargs.items()
        if key in _EXECUTE_PARAMETERS and key != "root_value"
    }
    context = _reusable_context(per_event)
    compiled = _compiled(compile_events, context, kwargs)
    if compiled is not None:
        return EventResults(aiter(source), *compiled, compiled=True)
    if context is None:
        return EventResults(aiter(source), per_event, _execute_afresh)
    return EventResults(aiter(source), context, _execute_event)


def _reusable_context(execute_kwargs: dict[str, Any]) -> Any:
    """graphql-core 3.2: an execution context to copy for every event, or ``None``.

    A custom class is reused like graphql-core 3.3 reuses custom executors: one
    instance per subscription, a shallow copy per event.
    """
    kwargs = dict(execute_kwargs)
    context_class = kwargs.pop(EXECUTOR_CLASS_KEYWORD, None) or ExecutorBase
    try:
        context = build_executor(context_class, kwargs)
    except Exception:
        return None  # execute() raises the same error, per event, as it always did
    if isinstance(context, list) or not isinstance(
        getattr(context, "collected_errors", None), _CollectedErrors
    ):
        return None  # errors, or a layout this module does not know: execute() answers
    return context


def _execute_event_3_2(template: Any, event: Any) -> Any:
    """What 3.2's ``execute()`` does once its context is built, on a copy of ``template``."""
    context = copy.copy(template)
    context.root_value = event
    errors = context.collected_errors = _CollectedErrors()
    build_response = context.build_response
    try:
        data = context.execute_operation(context.operation, event)
        if context.is_awaitable(data):
            return _awaited_response(data, errors, build_response)
    except GraphQLError as error:
        errors.add(error, None)
        return build_response(None, errors.errors)
    return build_response(data, errors.errors)


async def _awaited_response(data: Any, errors: Any, build_response: Any) -> ExecutionResult:
    try:
        return build_response(await data, errors.errors)  # type: ignore[no-any-return]
    except GraphQLError as error:
        errors.add(error, None)
        return build_response(None, errors.errors)  # type: ignore[no-any-return]


open_response_stream: Final[Callable[..., Any]] = _open_3_3 if GRAPHQL_CORE_3_3 else _open_3_2
"""``async (execute kwargs, compile_events=None) -> ExecutionResult | EventResults``:
graphql-core's ``subscribe`` for the installed release, taking the keyword arguments of
its ``execute``: a result holding errors when the subscription cannot start, else the
response stream. ``compile_events`` may put a compiled executor of the events in place
of graphql-core's (see :mod:`gqlwire.compiled`)."""

_execute_event: Final[Callable[[Any, Any], Any]] = (
    _execute_event_3_3 if GRAPHQL_CORE_3_3 else _execute_event_3_2
)
"""``(executor, event) -> result or awaitable``: one event on a copy of ``executor``."""

# -- the stream ---------------------------------------------------------------------------


def _execute_afresh(execute_kwargs: dict[str, Any], event: Any) -> Any:
    """One event through graphql-core's ``execute()`` (3.2, when no context is reused)."""
    return graphql_execute(root_value=event, **execute_kwargs)


class EventResults:
    """An async iterator of execution results, one per event of ``source``.

    Closing it closes the source, even before the first event was asked for.
    """

    __slots__ = ("_execute", "_prepared", "_source", "compiled")

    def __init__(
        self,
        source: AsyncIterator[Any],
        prepared: Any,
        execute: Callable[[Any, Any], Any],
        *,
        compiled: bool = False,
    ) -> None:
        """``execute(prepared, event)`` gives the result of one event, or an awaitable
        of it; ``prepared`` is the executor built for the subscription (or, on the 3.2
        fallback, the keyword arguments of ``execute``)."""
        self._source = source
        self._prepared = prepared
        self._execute = execute
        self.compiled = compiled
        """Whether the events run on a compiled executor (:mod:`gqlwire.compiled`)."""

    @property
    def reuses_executor(self) -> bool:
        """Whether every event runs on a copy of one executor built for the whole
        subscription (the fast path); ``False`` only on graphql-core 3.2 when no
        execution context could be built from the arguments, and each event then goes
        through ``execute()``."""
        return self._execute is not _execute_afresh

    def __aiter__(self) -> EventResults:
        return self

    def steps(self) -> tuple[AsyncIterator[Any], Callable[[Any, Any], Any], Any]:
        """``(source, execute, prepared)``: what :meth:`__anext__` does, in parts, for a
        loop that runs every event itself (a shared group's) and so saves a coroutine
        per event: ``execute(prepared, await anext(source))`` is the event's result, or
        an awaitable of it. Closing still goes through :meth:`aclose`."""
        return self._source, self._execute, self._prepared

    async def __anext__(self) -> ExecutionResult:
        event = await anext(self._source)
        result = self._execute(self._prepared, event)
        if type(result) is not ExecutionResult and inspect.isawaitable(result):
            result = await result
        return result  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()
