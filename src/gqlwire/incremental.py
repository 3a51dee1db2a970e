"""Incremental delivery (``@defer`` and ``@stream``): run on graphql-core 3.3, refused on 3.2.

graphql-core 3.3 executes a document that defers or streams with its incremental
executor, which answers an *initial result* and an async iterator of *subsequent
results*, in the format of graphql-js 17 (``pending``, ``incremental`` entries with an
``id``, ``completed``, ``hasNext``). :class:`IncrementalResults` presents the two as one
stream of results, so the operation core and every transport carry it like any other
stream (one ``next`` per result over ``graphql-transport-ws``).

Two facts of graphql-core 3.3 shape this module:

- a schema that declares ``@defer`` or ``@stream`` makes its plain ``execute()`` raise for
  every operation, deferred or not: operations on such a schema go through
  ``experimental_execute_incrementally``, which answers one ``ExecutionResult`` when
  nothing was deferred;
- its plain ``Executor`` ignores both directives and executes the fragments and lists in
  place: that is how an operation runs for a transport that carries one result only.

graphql-core 3.2 has no incremental execution: a document that uses either directive is
refused with :data:`NEEDS_GRAPHQL_CORE_3_3`, as a validation error
(:data:`RELEASE_RULES`, and :func:`refusal` for documents that were not validated here).

Like :mod:`gqlwire.response_stream`, this module knows which release is installed.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from time import monotonic
from typing import Any, Final

from graphql import DocumentNode, ExecutionResult, GraphQLError, GraphQLSchema
from graphql import execute as graphql_execute
from graphql.language import DirectiveNode
from graphql.validation import ASTValidationRule, ValidationContext

from .execution_budget import ExecutionBudget, current_budget
from .response_stream import GRAPHQL_CORE_3_3, ExecutorBase

INCREMENTAL_DIRECTIVES: Final = frozenset({"defer", "stream"})

NEEDS_GRAPHQL_CORE_3_3: Final = "@defer and @stream need graphql-core 3.3"
"""The error of a document that defers or streams on graphql-core 3.2."""

_execution: Final[Any] = importlib.import_module("graphql.execution")

_IncrementalExecutor: Final[type[Any] | None] = (
    importlib.import_module("graphql.execution.incremental").IncrementalExecutor
    if GRAPHQL_CORE_3_3
    else None
)
_execute_incrementally: Final[Any] = getattr(_execution, "experimental_execute_incrementally", None)
_IncrementalResponse: Final[Any] = getattr(
    _execution, "ExperimentalIncrementalExecutionResults", None
)
_InitialResult: Final[Any] = getattr(_execution, "InitialIncrementalExecutionResult", None)
_SubsequentResult: Final[Any] = getattr(_execution, "SubsequentIncrementalExecutionResult", None)
_CompletedResult: Final[Any] = getattr(_execution, "CompletedResult", None)

INCREMENTAL_RESULT_TYPES: Final[tuple[type[Any], ...]] = (
    (_InitialResult, _SubsequentResult) if GRAPHQL_CORE_3_3 else ()
)
"""graphql-core's initial and subsequent incremental results (none on 3.2)."""


def declares_incremental(schema: GraphQLSchema) -> bool:
    """Whether ``schema`` declares ``@defer`` or ``@stream`` (a look at its few directives)."""
    return any(directive.name in INCREMENTAL_DIRECTIVES for directive in schema.directives)


def uses_incremental(document: DocumentNode) -> bool:
    """Whether any selection of ``document`` carries ``@defer`` or ``@stream``."""
    stack: list[Any] = list(document.definitions)
    while stack:
        node = stack.pop()
        for directive in getattr(node, "directives", None) or ():
            if directive.name.value in INCREMENTAL_DIRECTIVES:
                return True
        selection_set = getattr(node, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections)
    return False


def is_incremental_result(result: object) -> bool:
    """Whether ``result`` is one of an incremental response's results."""
    return isinstance(result, INCREMENTAL_RESULT_TYPES)


# -- graphql-core 3.2: the refusal ------------------------------------------------------


class IncrementalDeliveryUnsupported(ASTValidationRule):
    """graphql-core 3.2: a document that defers or streams is refused, once."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.reported = False

    def enter_directive(self, node: DirectiveNode, *_args: Any) -> None:
        if node.name.value in INCREMENTAL_DIRECTIVES and not self.reported:
            self.reported = True
            self.report_error(GraphQLError(NEEDS_GRAPHQL_CORE_3_3, node))


RELEASE_RULES: Final[tuple[type[ASTValidationRule], ...]] = (
    () if GRAPHQL_CORE_3_3 else (IncrementalDeliveryUnsupported,)
)
"""Validation rules the installed release needs: the refusal, on 3.2."""


def refusal(declared: bool, document: DocumentNode) -> GraphQLError | None:
    """graphql-core 3.2: the error for a document that defers or streams on a schema that
    ``declared`` the directives (a document a custom ``validate``, ``parse`` or
    ``on_subscribe`` let through), else ``None``. Costs a walk of the document only
    where a 3.2 schema declares them."""
    if GRAPHQL_CORE_3_3 or not declared:
        return None
    if uses_incremental(document):
        return GraphQLError(NEEDS_GRAPHQL_CORE_3_3, document)
    return None


# -- graphql-core 3.3: execution ----------------------------------------------------------


def choose_executor_class(custom: type[Any] | None, deliver: bool, declared: bool) -> type[Any]:
    """The executor class for an operation: graphql-core's incremental one when the
    transport ``deliver``s incremental results and the schema ``declared`` the
    directives, else ``custom`` (a schema library's) or graphql-core's plain one, which
    executes deferred fragments and streamed lists in place.

    A custom class that does not derive from the incremental executor cannot defer: its
    operations run in place too. One that does (Strawberry's, with its
    ``enable_experimental_incremental_execution``) defers whatever the transport; where
    the transport carries one result, :meth:`IncrementalResults.whole_result` merges
    the increments.
    """
    if custom is not None:
        return custom
    if deliver and declared and _IncrementalExecutor is not None:
        return _IncrementalExecutor
    return ExecutorBase


def execute_function(declared: bool) -> Any:
    """graphql-core's function that executes an operation: on 3.3,
    ``experimental_execute_incrementally`` where the schema ``declared`` the directives
    (its ``execute()`` refuses such schemas), else ``execute``."""
    if declared and _execute_incrementally is not None:
        return _execute_incrementally
    return graphql_execute


def is_incremental_response(result: object) -> bool:
    """Whether ``result`` is graphql-core's initial result plus subsequent results."""
    return _IncrementalResponse is not None and isinstance(result, _IncrementalResponse)


class IncrementalResults:
    """An incremental response as one stream: the initial result, then each subsequent
    result, as graphql-core gives them.

    The operation's time budget covers the whole response: the deferred work runs with
    the budget (so its fields take turns with other clients and stop being started at
    the deadline, as the initial result's do), and a response still waiting for
    subsequent results when the budget and its grace are spent ends there, with one
    last result that completes every pending fragment and stream with the time error
    and ``hasNext: false``. Closing the stream closes graphql-core's, which cancels
    the work still running.
    """

    __slots__ = ("_budget", "_ended", "_grace", "_initial", "_pending", "_source")

    def __init__(
        self, response: Any, budget: ExecutionBudget | None = None, grace: float = 0.0
    ) -> None:
        """``response``: graphql-core's ``ExperimentalIncrementalExecutionResults``;
        ``grace``: seconds past the budget's deadline before waiting work is cancelled."""
        self._initial: Any = response.initial_result
        self._source: AsyncIterator[Any] = response.subsequent_results
        self._budget = budget
        self._grace = grace
        self._pending: list[str] = []
        """Ids announced as pending and not completed yet, in order."""
        self._ended = False

    def __aiter__(self) -> IncrementalResults:
        return self

    async def __anext__(self) -> Any:
        if self._initial is not None:
            initial, self._initial = self._initial, None
            self._track(initial)
            return initial
        if self._ended:
            raise StopAsyncIteration
        budget = self._budget
        deadline = None if budget is None else budget.deadline
        # Work graphql-core starts while this waits copies the context: with the budget.
        token = current_budget.set(budget)
        try:
            if deadline is None:
                result = await anext(self._source)
            else:
                async with asyncio.timeout(max(deadline - monotonic() + self._grace, 0)):
                    result = await anext(self._source)
        except StopAsyncIteration:
            self._ended = True
            raise
        except TimeoutError:
            assert budget is not None
            self._ended = True
            await self.aclose()
            return self._ended_by(budget.error())
        finally:
            current_budget.reset(token)
        self._track(result)
        if not result.has_next:
            self._ended = True
        return result

    def _track(self, result: Any) -> None:
        self._pending.extend(pending.id for pending in result.pending or ())
        done = {completed.id for completed in getattr(result, "completed", None) or ()}
        if done:
            self._pending = [id for id in self._pending if id not in done]

    def _ended_by(self, error: GraphQLError) -> Any:
        """The last result of a response that could not finish: each pending fragment
        and stream completed with ``error``."""
        completed = [_CompletedResult(id, [error]) for id in self._pending]
        self._pending = []
        return _SubsequentResult(has_next=False, completed=completed)

    async def whole_result(self) -> ExecutionResult:
        """The response merged into one result, for a transport that carries one:
        each deferred fragment's data at its path, each stream's items appended to its
        list, every error in ``errors``. Closes the stream."""
        try:
            return await self._merged()
        finally:
            await self.aclose()

    async def _merged(self) -> ExecutionResult:
        initial = await anext(self)
        data = initial.data
        errors = list(initial.errors or ())
        paths = {pending.id: pending.path for pending in initial.pending}
        async for result in self:
            paths.update((pending.id, pending.path) for pending in result.pending or ())
            for entry in result.incremental or ():
                path = [*paths[entry.id], *(entry.sub_path or ())]
                items = getattr(entry, "items", None)
                if items is not None:
                    _at(data, path).extend(items)
                else:
                    _merge(_at(data, path), entry.data)
                errors.extend(entry.errors or ())
            for completed in result.completed or ():
                errors.extend(completed.errors or ())
        return ExecutionResult(data, errors or None, initial.extensions)

    async def aclose(self) -> None:
        self._ended = True
        self._initial = None
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            await aclose()


def _at(data: Any, path: list[str | int]) -> Any:
    for key in path:
        data = data[key]
    return data


def _merge(target: dict[str, Any], source: dict[str, Any]) -> None:
    """Deferred fields into the object already delivered at their path."""
    for key, value in source.items():
        existing = target.get(key)
        if isinstance(existing, dict) and isinstance(value, dict):
            _merge(existing, value)
        else:
            target[key] = value
