"""What the compiled executor asks of graphql-core, for 3.2 and for 3.3.

The compiled path runs the regular case itself and hands everything else (an error, a
null where none may be, an awaitable, an abstract type) to graphql-core's own methods on
the event's real executor, so that messages, locations, paths and the order of errors
are graphql-core's by construction. The two releases name and shape those methods
differently (3.3 passes ``FieldDetails`` and a position context, 3.2 bare field nodes;
3.2 locates errors before ``handle_field_error``, 3.3 inside it): this module settles
each difference once, at import, behind one set of functions.
"""

from __future__ import annotations

import importlib
from asyncio import gather
from collections.abc import Awaitable, Callable
from typing import Any, Final

from graphql import (
    FieldNode,
    GraphQLArgument,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLOutputType,
    located_error,
)
from graphql.pyutils import Path, Undefined

from ..response_stream import GRAPHQL_CORE_3_3

_execution: Final[Any] = importlib.import_module("graphql.execution")
_values: Final[Any] = importlib.import_module("graphql.execution.values")
_collect: Final[Any] = importlib.import_module("graphql.execution.collect_fields")

_executor_module: Final[Any] = importlib.import_module(
    "graphql.execution.executor" if GRAPHQL_CORE_3_3 else "graphql.execution.execute"
)
_gather_with_cancel: Final[Any] = (
    importlib.import_module("graphql.pyutils.gather_with_cancel").gather_with_cancel
    if GRAPHQL_CORE_3_3
    else None
)

CollectedErrors: Final[Any] = _executor_module.CollectedErrors
default_field_resolver: Final[Any] = _executor_module.default_field_resolver
invalid_return_type_error: Final[Callable[[Any, Any, Any], GraphQLError]] = (
    _executor_module.invalid_return_type_error
)
"""``(object type, value, field group)``: what graphql-core raises when ``is_type_of``
says no (the same on both releases)."""
default_is_awaitable: Final[Any] = importlib.import_module(
    "graphql.pyutils.is_awaitable"
).is_awaitable

FieldGroup = Any
"""What graphql-core groups under one response key: ``FieldDetails`` (3.3) or
``FieldNode`` (3.2) in a list."""


def field_nodes(group: FieldGroup) -> list[FieldNode]:
    """The field nodes of a group (what ``GraphQLResolveInfo.field_nodes`` holds)."""
    if GRAPHQL_CORE_3_3:
        return [details.node for details in group]
    return list(group)


def collect_root_fields(executor: Any, root_type: GraphQLObjectType) -> dict[str, FieldGroup]:
    """The grouped root fields, as graphql-core's ``execute_operation`` collects them."""
    if GRAPHQL_CORE_3_3:
        grouped, _defers, _forbidden = _collect.collect_fields(
            executor.schema,
            executor.fragments,
            executor.variable_values,
            root_type,
            executor.operation,
            executor.hide_suggestions,
        )
        return dict(grouped)
    return dict(
        _collect.collect_fields(
            executor.schema,
            executor.fragments,
            executor.variable_values,
            root_type,
            executor.operation.selection_set,
        )
    )


def collect_subfields(
    executor: Any, object_type: GraphQLObjectType, group: FieldGroup
) -> dict[str, FieldGroup]:
    """The grouped sub-fields of ``group`` on ``object_type`` (graphql-core's own)."""
    if GRAPHQL_CORE_3_3:
        grouped, _defers, _forbidden = _collect.collect_subfields(
            executor.schema,
            executor.fragments,
            executor.variable_values,
            executor.operation,
            object_type,
            group,
            executor.hide_suggestions,
        )
        return dict(grouped)
    return dict(executor.collect_subfields(object_type, group))


def field_definition(
    executor: Any, parent_type: GraphQLObjectType, group: FieldGroup
) -> GraphQLField | None:
    """The field a group selects on ``parent_type`` (``None``: graphql-core skips it)."""
    if GRAPHQL_CORE_3_3:
        field: GraphQLField | None = executor.schema.get_field(
            parent_type, group[0].node.name.value
        )
        return field
    field = _executor_module.get_field_def(executor.schema, parent_type, group[0])
    return field


def argument_values(executor: Any, field: GraphQLField, group: FieldGroup) -> dict[str, Any]:
    """The field's arguments, coerced as graphql-core's ``execute_field`` does (they
    depend only on the document and the variables, so once per subscription)."""
    if GRAPHQL_CORE_3_3:
        first = group[0]
        if not (field.args or first.node.arguments):
            return {}
        values: dict[str, Any] = _values.get_argument_values(
            field,
            first.node,
            executor.variable_values,
            first.fragment_variable_values,
            executor.hide_suggestions,
        )
        return values
    values = _values.get_argument_values(field, group[0], executor.variable_values)
    return values


def has_default(argument: GraphQLArgument) -> bool:
    """Whether graphql-core gives ``argument`` a value when a field is not given one
    (3.3 keeps a default literal in ``default``, besides the older ``default_value``)."""
    return getattr(argument, "default", None) is not None or (
        argument.default_value is not Undefined
    )


_new: Final = object.__new__


def per_event_executor(template: Any, event: Any) -> Any:
    """A copy of the subscription's executor for one event: its own root value and its
    own errors (3.3's ``build_per_event_executor``; the same on 3.2's context)."""
    # What copy() does, without its generic dispatch (executors keep a plain __dict__).
    executor = _new(type(template))
    executor.__dict__.update(template.__dict__)
    executor.root_value = event
    executor.collected_errors = CollectedErrors()
    return executor


def ensure_valid_runtime_type(
    executor: Any,
    runtime_type_name: Any,
    abstract_type: Any,
    group: FieldGroup,
    info: Any,
    result: Any,
) -> GraphQLObjectType:
    """graphql-core's check of what ``resolve_type`` returned: the object type, or its
    error (the same call on both releases)."""
    object_type: GraphQLObjectType = executor.ensure_valid_runtime_type(
        runtime_type_name, abstract_type, group, info, result
    )
    return object_type


def compile_time_executor(executor: Any) -> Any:
    """A copy of ``executor`` holding what compiling reads (schema, operation, fragments,
    variables, resolvers) but not the subscription's context, root value or the helpers
    bound to the original."""
    copied = _new(type(executor))
    copied.__dict__.update(executor.__dict__)
    copied.context_value = None
    copied.root_value = None
    copied.collected_errors = CollectedErrors()
    if "async_helpers" in copied.__dict__:
        copied.async_helpers = None
    return copied


def build_info(
    executor: Any,
    field: GraphQLField,
    nodes: list[FieldNode],
    parent_type: GraphQLObjectType,
    path: Path,
) -> Any:
    """graphql-core's ``GraphQLResolveInfo`` for one field."""
    return executor.build_resolve_info(field, nodes, parent_type, path)


if GRAPHQL_CORE_3_3:

    def handle_field_error(
        executor: Any,
        raw_error: Exception,
        return_type: GraphQLOutputType,
        group: FieldGroup,
        path: Path,
    ) -> None:
        """graphql-core's handling of an error at ``path``: raise it (located) for a
        non-null type, else collect it (the value becomes null)."""
        executor.handle_field_error(raw_error, return_type, group, path)

    def complete_value(
        executor: Any,
        return_type: GraphQLOutputType,
        group: FieldGroup,
        info: Any,
        path: Path,
        result: Any,
    ) -> Any:
        """graphql-core's own completion of ``result`` (a subtree it runs entirely)."""
        return executor.complete_value(return_type, group, info, path, result, None)

    def complete_object_value(
        executor: Any,
        object_type: GraphQLObjectType,
        group: FieldGroup,
        info: Any,
        path: Path,
        result: Any,
    ) -> Any:
        """graphql-core's completion of an object (``is_type_of`` and its sub-fields)."""
        return executor.complete_object_value(object_type, group, info, path, result, None)

    def complete_awaitable_value(
        executor: Any,
        return_type: GraphQLOutputType,
        group: FieldGroup,
        info: Any,
        path: Path,
        result: Any,
    ) -> Any:
        """A resolver's awaitable, awaited and completed as graphql-core does."""
        return executor.complete_awaitable_value(return_type, group, info, path, result, None)

    def complete_awaitable_item(
        executor: Any,
        item: Any,
        item_type: GraphQLOutputType,
        group: FieldGroup,
        info: Any,
        item_path: Path,
    ) -> Any:
        """A list item that is awaitable, awaited and completed as graphql-core does."""
        return executor.complete_awaitable_list_item_value(
            item, item_type, group, info, item_path, None
        )

    def gather_results(awaitables: list[Awaitable[Any]]) -> Awaitable[list[Any]]:
        """Await sibling results together, as graphql-core's ``execute_fields``."""
        return _gather_with_cancel(*awaitables)  # type: ignore[no-any-return]

    def settle_in_background(executor: Any, awaitables: list[Any]) -> None:
        """Siblings left behind by an error that propagates (3.3 settles them)."""
        executor.settle_in_background(awaitables)

    def single_awaitable_shortcut() -> bool:
        return True

    def build_response(executor: Any, data: dict[str, Any] | None) -> Any:
        return executor.finish(executor.build_response(data))

else:

    def handle_field_error(
        executor: Any,
        raw_error: Exception,
        return_type: GraphQLOutputType,
        group: FieldGroup,
        path: Path,
    ) -> None:
        error = located_error(raw_error, group, path.as_list())
        executor.handle_field_error(error, return_type, path)

    def complete_value(
        executor: Any,
        return_type: GraphQLOutputType,
        group: FieldGroup,
        info: Any,
        path: Path,
        result: Any,
    ) -> Any:
        return executor.complete_value(return_type, group, info, path, result)

    def complete_object_value(
        executor: Any,
        object_type: GraphQLObjectType,
        group: FieldGroup,
        info: Any,
        path: Path,
        result: Any,
    ) -> Any:
        return executor.complete_object_value(object_type, group, info, path, result)

    def complete_awaitable_value(
        executor: Any,
        return_type: GraphQLOutputType,
        group: FieldGroup,
        info: Any,
        path: Path,
        result: Any,
    ) -> Any:
        # What 3.2's execute_field does with a resolver's awaitable.
        async def await_result() -> Any:
            try:
                completed = executor.complete_value(return_type, group, info, path, await result)
                if executor.is_awaitable(completed):
                    return await completed
                return completed
            except Exception as raw_error:
                error = located_error(raw_error, group, path.as_list())
                executor.handle_field_error(error, return_type, path)
                return None

        return await_result()

    def complete_awaitable_item(
        executor: Any,
        item: Any,
        item_type: GraphQLOutputType,
        group: FieldGroup,
        info: Any,
        item_path: Path,
    ) -> Any:
        # What 3.2's complete_list_value does with an awaitable item.
        async def await_completed() -> Any:
            try:
                completed = executor.complete_value(item_type, group, info, item_path, await item)
                if executor.is_awaitable(completed):
                    return await completed
                return completed
            except Exception as raw_error:
                error = located_error(raw_error, group, item_path.as_list())
                executor.handle_field_error(error, item_type, item_path)
                return None

        return await_completed()

    def gather_results(awaitables: list[Awaitable[Any]]) -> Awaitable[list[Any]]:
        return gather(*awaitables)

    def settle_in_background(executor: Any, awaitables: list[Any]) -> None:
        """3.2 leaves them be (they are never awaited)."""

    def single_awaitable_shortcut() -> bool:
        return False

    def build_response(executor: Any, data: dict[str, Any] | None) -> Any:
        return executor.build_response(data, executor.collected_errors.errors)


async def await_completed(
    executor: Any,
    completed: Awaitable[Any],
    return_type: GraphQLOutputType,
    group: FieldGroup,
    path: Path,
) -> Any:
    """A completion that turned out awaitable (a sub-field's resolver is asynchronous),
    with its error handled at ``path``: graphql-core's ``await_completed``."""
    try:
        return await completed
    except Exception as raw_error:
        handle_field_error(executor, raw_error, return_type, group, path)
        return None


Gatherer = Callable[[list[Awaitable[Any]]], Awaitable[list[Any]]]

__all__ = [
    "CollectedErrors",
    "GraphQLError",
    "argument_values",
    "await_completed",
    "build_info",
    "build_response",
    "collect_root_fields",
    "collect_subfields",
    "complete_awaitable_item",
    "complete_awaitable_value",
    "complete_value",
    "default_field_resolver",
    "default_is_awaitable",
    "field_definition",
    "field_nodes",
    "gather_results",
    "handle_field_error",
    "has_default",
    "per_event_executor",
    "settle_in_background",
    "single_awaitable_shortcut",
]
