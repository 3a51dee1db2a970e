"""The response stream of a subscription: each source event executed with the event
as the root value (the spec's MapSourceToResponseEvent).

graphql-core 3.2 maps events with ``MapAsyncIterator``, which starts two tasks per
event, and with a full ``execute()`` per event, which coerces the variables, finds the
operation and collects the fields of the document again each time. Here the execution
context is built once per subscription and each event runs on a shallow copy of it
with its own root value and its own errors, so only the resolvers and the completion
of their values run per event.

That reuse relies on graphql-core 3.2's ``ExecutionContext`` layout; with any other
layout, a custom context class, or arguments the context cannot be built from, every
event goes through ``execute()`` as before. Both paths give equal results.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import AsyncIterator
from typing import Any, Final

from graphql import ExecutionResult, GraphQLError
from graphql import execute as graphql_execute

# The module, not the function graphql.execution re-exports under the same name.
_execute_module = importlib.import_module("graphql.execution.execute")

_ContextClass: Final[Any] = getattr(_execute_module, "ExecutionContext", None)
_CollectedErrors: Final[Any] = getattr(_execute_module, "CollectedErrors", None)
_BUILD_PARAMETERS: Final = (
    frozenset(inspect.signature(_ContextClass.build).parameters)
    if _ContextClass is not None and hasattr(_ContextClass, "build")
    else frozenset()
)


class EventResults:
    """An async iterator of execution results, one per event of ``source``.

    Closing it closes the source, even before the first event was asked for.
    """

    __slots__ = ("_execute_kwargs", "_source", "_template")

    def __init__(self, source: AsyncIterator[Any], execute_kwargs: dict[str, Any]) -> None:
        """``execute_kwargs``: the keyword arguments of graphql-core's ``execute``
        except ``root_value``."""
        self._source = source
        self._execute_kwargs = execute_kwargs
        self._template = _reusable_context(execute_kwargs)

    def __aiter__(self) -> EventResults:
        return self

    async def __anext__(self) -> ExecutionResult:
        event = await anext(self._source)
        template = self._template
        result: Any = (
            graphql_execute(root_value=event, **self._execute_kwargs)
            if template is None
            else _execute_event(template, event)
        )
        if inspect.isawaitable(result):
            result = await result
        return result  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()


def _reusable_context(execute_kwargs: dict[str, Any]) -> Any:
    """An execution context to copy for every event, or ``None`` to ``execute()`` each."""
    if _CollectedErrors is None or not _BUILD_PARAMETERS:
        return None  # not graphql-core 3.2's layout
    kwargs = dict(execute_kwargs)
    if kwargs.pop("execution_context_class", None) not in (None, _ContextClass):
        return None  # a subclass may keep per-execution state of its own
    kwargs["raw_variable_values"] = kwargs.pop("variable_values", None)
    if kwargs.keys() - _BUILD_PARAMETERS:
        return None
    try:
        context = _ContextClass.build(**kwargs)
    except Exception:
        return None  # execute() raises the same error, per event, as it always did
    if isinstance(context, list) or not isinstance(
        getattr(context, "collected_errors", None), _CollectedErrors
    ):
        return None  # errors (bad variables...) are answered by execute() per event
    return context


def _execute_event(template: Any, event: Any) -> Any:
    """What ``execute()`` does once its context is built, on a copy of ``template``."""
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
