"""Compiled execution of subscription events, and of queries.

A subscription runs the same selection set for every event; only the root value
changes. :func:`compile_subscription` turns the selection set into nested functions
once (see :mod:`gqlwire.compiled.plan`), and :meth:`CompiledSubscription.execute` runs
each event through them. A query is executed the same way, its root value as the one
event: :func:`compile_query` (and the server's plan cache, which compiles each query
text once per variables). Results are graphql-core's (``ExecuteSubscriptionEvent``)
exactly: the regular case is run here, anything else is handed, with its value already
resolved, to graphql-core's own completion on the event's real executor.

What is not compiled (a custom executor class such as Strawberry's, middleware, a
custom ``is_awaitable``, @defer/@stream, an execution with hooks or an abort signal)
gives :class:`NotCompiled` with a short, stable reason, and the caller runs graphql-core
as before.

Variables that do not coerce give :class:`NotCompiled` (``"variables do not coerce"``):
such a subscription never starts, and graphql-core reports its errors.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Final

from graphql import (
    DirectiveNode,
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    Visitor,
    visit,
)

from ..response_stream import EXECUTOR_CLASS_KEYWORD, SubscriptionExecutor, build_executor
from . import release
from .plan import FieldsFunction, Planner

__all__ = [
    "CompiledSubscription",
    "NotCompiled",
    "build_compiled_executor",
    "compile_executor",
    "compile_query",
    "compile_subscription",
]


@dataclass(frozen=True)
class NotCompiled:
    """Why an operation runs on graphql-core's executor instead."""

    reason: str
    """Short, stable text (it goes to a DEBUG log line)."""


class CompiledSubscription:
    """The events of one subscription (or shared group), executed by a compiled plan."""

    __slots__ = ("_root", "_spare", "_template", "fields")

    def __init__(self, template: Any, root: FieldsFunction, fields: int) -> None:
        self._template = template
        self._root = root
        # The last event's executor, when that event left it as it found it: see execute.
        self._spare: Any = None
        self.fields = fields
        """How many fields the plan holds (each merged field once)."""

    def execute(self, event: Any) -> ExecutionResult | Awaitable[ExecutionResult]:
        """The event's result, identical to graphql-core's ExecuteSubscriptionEvent."""
        executor = self._spare
        if executor is None:
            executor = release.per_event_executor(self._template, event)
        else:
            self._spare = None  # taken: an event that fails or suspends keeps it
            executor.root_value = event
        try:
            data = self._root(executor, event, None)
        except GraphQLError as error:
            executor.collected_errors.add(error, None)
            return release.build_response(executor, None)  # type: ignore[no-any-return]
        if type(data) is not dict:
            return _awaited(executor, data)
        if not executor.collected_errors.errors:
            # An event that completed at once and without errors wrote nothing to its
            # executor but the root value, and nothing holds the executor (a resolver's
            # info refers to the subscription's executor, not to this copy), so the next
            # event reuses it instead of copying the subscription's executor again. The
            # root value is dropped meanwhile: an event is not kept past its result.
            executor.root_value = None
            self._spare = executor
            # What build_response gives without errors (no hooks run: none compiled).
            return ExecutionResult(data, None)
        return release.build_response(executor, data)  # type: ignore[no-any-return]

    def bound_to(self, executor: Any) -> CompiledSubscription:
        """The same plan for another subscription's executor (same schema, document,
        operation, variables and field resolver; its own context)."""
        if executor is self._template:
            return self
        return CompiledSubscription(executor, self._root, self.fields)

    def execute_with(self, _prepared: Any, event: Any) -> Any:
        """:meth:`execute` in the shape of ``EventResults``' ``execute(prepared, event)``."""
        return self.execute(event)


async def _awaited(executor: Any, data: Awaitable[dict[str, Any]]) -> ExecutionResult:
    try:
        awaited = await data
    except GraphQLError as error:
        executor.collected_errors.add(error, None)
        return release.build_response(executor, None)  # type: ignore[no-any-return]
    return release.build_response(executor, awaited)  # type: ignore[no-any-return]


_SUBSCRIPTION_EXECUTOR: Final[type[Any]] = SubscriptionExecutor
"""The one executor class compiled: what gqlwire's response stream builds by default."""


def compile_executor(executor: Any) -> CompiledSubscription | NotCompiled:
    """Compile the operation of a subscription's or a query's graphql-core executor
    (3.3's ``Executor``, 3.2's ``ExecutionContext``, as built for the operation), or say
    why not. A query's plan runs under the operation's time budget (see
    :class:`~gqlwire.compiled.plan.Planner`); a subscription's events run without one."""
    refused = _refusal(executor)
    if refused is not None:
        return NotCompiled(refused)
    root_type = executor.schema.get_root_type(executor.operation.operation)
    if root_type is None:
        return NotCompiled("no root type for the operation")
    # The planner keeps its executor for the types it compiles later (an interface's
    # implementations, on their first value): a copy without the subscription's context
    # and root, so that a cached plan holds no connection's objects.
    planner = Planner(
        release.compile_time_executor(executor),
        budgeted=executor.operation.operation is OperationType.QUERY,
    )
    try:
        root = planner.root(root_type)
    except RecursionError:
        return NotCompiled("selection set nested too deeply")
    except Exception as error:  # arguments that do not coerce, and the like
        return NotCompiled(f"selection set not compiled: {type(error).__name__}")
    return CompiledSubscription(executor, root, planner.fields_compiled)


def _refusal(executor: Any) -> str | None:
    if type(executor) is not _SUBSCRIPTION_EXECUTOR:
        return "custom executor class"
    if executor.operation.operation is OperationType.MUTATION:
        return "a mutation (its fields run one after the other)"
    if executor.middleware_manager is not None:
        return "middleware"
    if executor.is_awaitable is not release.default_is_awaitable:
        return "custom is_awaitable"
    if getattr(executor, "abort_signal", None) is not None:
        return "abort signal"
    if getattr(executor, "hooks", None) is not None:
        return "execution hooks"
    # 3.3 keeps the definitions beside its fragment details; 3.2 only the definitions.
    definitions = getattr(executor, "fragment_definitions", None) or executor.fragments
    if _has_incremental_directives(executor.operation, definitions):
        return "@defer or @stream"
    return None


def _has_incremental_directives(operation: Any, fragments: Any) -> bool:
    found = False

    class Finder(Visitor):
        def enter_directive(self, node: DirectiveNode, *_args: Any) -> Any:
            nonlocal found
            if node.name.value in ("defer", "stream"):
                found = True
                return Visitor.BREAK
            return None

    visit(operation, Finder())
    for fragment in fragments.values():
        if not found:
            visit(fragment, Finder())
    return found


def compile_subscription(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None = None,
    variable_values: dict[str, Any] | None = None,
    context_value: Any = None,
) -> CompiledSubscription | NotCompiled:
    """Compile a subscription as gqlwire's response stream builds it: graphql-core's
    executor for the operation (raw ``variable_values``, as a client sends them), then
    :func:`compile_executor`."""
    return _compile(schema, document, operation_name, variable_values, context_value)


def compile_query(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None = None,
    variable_values: dict[str, Any] | None = None,
    context_value: Any = None,
) -> CompiledSubscription | NotCompiled:
    """Compile a query as gqlwire's HTTP and WebSocket execution does: its
    :meth:`~CompiledSubscription.execute` takes the root value and gives graphql-core's
    ``execute`` result."""
    return _compile(schema, document, operation_name, variable_values, context_value)


def _compile(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variable_values: dict[str, Any] | None,
    context_value: Any,
) -> CompiledSubscription | NotCompiled:
    kwargs: dict[str, Any] = {
        "schema": schema,
        "document": document,
        "root_value": None,
        "context_value": context_value,
        "variable_values": variable_values,
        "operation_name": operation_name,
    }
    executor = build_compiled_executor(kwargs)
    if isinstance(executor, NotCompiled):
        return executor
    return compile_executor(executor)


def build_compiled_executor(kwargs: dict[str, Any]) -> Any:
    """The executor a compiled plan runs on, from graphql-core's ``execute`` keyword
    arguments (any executor class among them is ignored), or why there is none."""
    kwargs = {key: value for key, value in kwargs.items() if key != EXECUTOR_CLASS_KEYWORD}
    try:
        executor = build_executor(_SUBSCRIPTION_EXECUTOR, kwargs)
    except Exception as error:
        return NotCompiled(f"executor not built: {type(error).__name__}")
    if isinstance(executor, list):
        return NotCompiled("variables do not coerce")
    return executor
