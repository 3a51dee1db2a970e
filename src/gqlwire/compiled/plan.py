"""A subscription's selection set turned into nested closures, once.

Each field becomes a function ``(executor, source, path) -> value`` with everything
graphql-core works out per event already settled: the collected and merged sub-fields,
the field definition, the coerced arguments (when they are of built-in scalar and enum
types; others are coerced again for each event, as graphql-core does),
whether the default resolver applies, and a completion function chosen by the return
type. The functions follow graphql-core's
``execute_field`` / ``complete_value`` step for step, catching errors where it does, so
that errors propagate to the same nullable parent; anything off the regular path (an
exception, a null where none may be, a value of another kind, an abstract type, an
``is_type_of`` check) goes to graphql-core's own ``complete_value`` on the event's
executor, with the value already resolved, so no resolver runs twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLField,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLString,
    TypeNameMetaFieldDef,
    is_abstract_type,
    is_leaf_type,
)
from graphql.pyutils import Path, Undefined

from ..execution_budget import current_budget
from . import release
from .release import FieldGroup

FieldFunction = Callable[[Any, Any, "Path | None"], Any]
"""``(executor, source, parent's path) -> completed value, or an awaitable of it``."""
Completion = Callable[[Any, Any, Path, Any], Any]
"""``(executor, value, path, info or None) -> completed value, or an awaitable``."""
FieldsFunction = Callable[[Any, Any, "Path | None"], Any]
"""``(executor, source, path) -> dict of the fields' values, or an awaitable``."""

# Values that are never awaitable: checking their type first spares graphql-core's
# is_awaitable (three checks) on the values completion produces most.
_PLAIN: Final = frozenset({dict, list, str, int, float, bool, type(None)})

_INT_MIN: Final = -(2**31)
_INT_MAX: Final = 2**31 - 1


def _compiled_already(return_type: GraphQLOutputType) -> Completion:
    """What a completion's builder is rebound to once the completion is built."""
    raise AssertionError("a completion is built only while its field is compiled")


class Unsupported(Exception):
    """The selection set holds something the compiler leaves to graphql-core."""


class Planner:
    """Builds the field functions of one operation from its executor."""

    def __init__(self, executor: Any, *, budgeted: bool = False) -> None:
        """``budgeted``: each object's fields consult the running operation's
        :class:`~gqlwire.execution_budget.ExecutionBudget`, as the budgeted executor's
        do (queries; a subscription's events run without one)."""
        self.executor = executor
        self.budgeted = budgeted
        self.fields_compiled = 0

    # -- selection sets ------------------------------------------------------------

    def fields(self, parent_type: GraphQLObjectType, grouped: dict[str, FieldGroup]) -> Any:
        """The function executing one grouped field set on ``parent_type``:
        graphql-core's ``execute_fields``."""
        plan: list[tuple[str, FieldFunction]] = []
        for key, group in grouped.items():
            field = release.field_definition(self.executor, parent_type, group)
            if field is None:
                continue  # graphql-core leaves the key out too
            plan.append((key, self.field(parent_type, field, group, key)))
        fields = _fields_function(parent_type.name, tuple(plan))
        return _budgeted(fields, len(plan)) if self.budgeted else fields

    def root(self, root_type: GraphQLObjectType) -> FieldsFunction:
        fields: FieldsFunction = self.fields(
            root_type, release.collect_root_fields(self.executor, root_type)
        )
        return fields

    # -- fields ----------------------------------------------------------------------

    def field(
        self, parent_type: GraphQLObjectType, field: GraphQLField, group: FieldGroup, key: str
    ) -> FieldFunction:
        """The function running one field: ``(executor, source, parent's path)``.

        Its own path is made only when needed (an object or a list below it, a
        resolver's info, an error), since most leaves of a regular event need none."""
        self.fields_compiled += 1
        executor = self.executor
        nodes = release.field_nodes(group)
        name = nodes[0].name.value
        type_name = parent_type.name
        return_type = field.type
        complete = self.completion(return_type, group, field, parent_type, nodes)
        # graphql-core coerces the arguments for every execution, so a list or an input
        # object a resolver changes (a literal's is built anew) is not seen changed by
        # the next event, and a custom scalar parses its literal every time: such
        # arguments are coerced per event here too (and not here, which would parse them
        # once more), sharing exactly what graphql-core shares (variables' values,
        # defaults). Only built-in scalars' and enums' are coerced once.
        coerce_per_event = _coerced_per_event(field, nodes[0])
        args = {} if coerce_per_event else release.argument_values(executor, field, group)
        build_info = release.build_info
        handle_field_error = release.handle_field_error
        complete_awaitable_value = release.complete_awaitable_value
        await_completed = release.await_completed
        is_awaitable = release.default_is_awaitable
        # A leaf's regular values, returned as they are (see _regular_leaf).
        leaf = _regular_leaf(
            return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
        )
        leaf_type: Any = None
        leaf_check = 0
        if leaf is not None:
            leaf_type, leaf_check = leaf

        def finish(executor: Any, value: Any, path: Path, info: Any) -> Any:
            # The rest of graphql-core's execute_field, once the resolver returned.
            if type(value) not in _PLAIN and is_awaitable(value):
                if info is None:
                    info = build_info(executor, field, nodes, parent_type, path)
                return complete_awaitable_value(executor, return_type, group, info, path, value)
            completed = complete(executor, value, path, info)
            if type(completed) not in _PLAIN and is_awaitable(completed):
                return await_completed(executor, completed, return_type, group, path)
            return completed

        if field is TypeNameMetaFieldDef:

            def typename(executor: Any, source: Any, parent: Path | None) -> Any:
                return type_name

            return typename

        resolve = field.resolve
        if (
            resolve is None
            and executor.field_resolver is release.default_field_resolver
            and not coerce_per_event
        ):

            def default_resolved(executor: Any, source: Any, parent: Path | None) -> Any:
                info = None
                value: Any
                try:
                    # graphql-core's default_field_resolver, inlined (a plain dict
                    # is tested first: it is the common source, and isinstance() with
                    # an ABC costs several times more).
                    if type(source) is dict or isinstance(source, Mapping):
                        value = source.get(name)
                    else:
                        value = getattr(source, name, None)
                    if type(value) is leaf_type and (
                        leaf_check == 0
                        or (leaf_check == 1 and _INT_MIN <= value <= _INT_MAX)
                        or (leaf_check == 2 and math.isfinite(value))
                    ):
                        return value
                    path = Path(parent, key, type_name)
                    if callable(value):
                        info = build_info(executor, field, nodes, parent_type, path)
                        value = value(info, **args)
                    return finish(executor, value, path, info)
                except Exception as raw_error:
                    path = Path(parent, key, type_name)
                    handle_field_error(executor, raw_error, return_type, group, path)
                    return None

            return default_resolved

        resolver = resolve or executor.field_resolver
        if coerce_per_event:
            argument_values = release.argument_values

            def resolved_with_coercion(executor: Any, source: Any, parent: Path | None) -> Any:
                path = Path(parent, key, type_name)
                info = build_info(executor, field, nodes, parent_type, path)
                try:
                    value = resolver(source, info, **argument_values(executor, field, group))
                    return finish(executor, value, path, info)
                except Exception as raw_error:
                    handle_field_error(executor, raw_error, return_type, group, path)
                    return None

            return resolved_with_coercion

        def resolved(executor: Any, source: Any, parent: Path | None) -> Any:
            path = Path(parent, key, type_name)
            info = build_info(executor, field, nodes, parent_type, path)
            try:
                return finish(executor, resolver(source, info, **args), path, info)
            except Exception as raw_error:
                handle_field_error(executor, raw_error, return_type, group, path)
                return None

        return resolved

    # -- completion ------------------------------------------------------------------

    def completion(
        self,
        return_type: GraphQLOutputType,
        group: FieldGroup,
        field: GraphQLField,
        parent_type: GraphQLObjectType,
        nodes: Any,
    ) -> Completion:
        """The completion of values of ``return_type``: graphql-core's ``complete_value``
        specialised for the type, falling back to it off the regular path."""
        build_info = release.build_info
        complete_value = release.complete_value

        def field_info(executor: Any, path: Path) -> Any:
            # The field's own path: list items share their field's info.
            while isinstance(path.key, int):
                path = path.prev  # type: ignore[assignment]
            return build_info(executor, field, nodes, parent_type, path)

        def general(
            return_type: GraphQLOutputType,
        ) -> Completion:
            def by_graphql_core(executor: Any, value: Any, path: Path, info: Any) -> Any:
                if info is None:
                    info = field_info(executor, path)
                return complete_value(executor, return_type, group, info, path, value)

            return by_graphql_core

        def build(return_type: GraphQLOutputType) -> Completion:
            if isinstance(return_type, GraphQLNonNull):
                inner = build(return_type.of_type)
                fallback = general(return_type)

                def non_null(executor: Any, value: Any, path: Path, info: Any) -> Any:
                    if value is None or value is Undefined or isinstance(value, Exception):
                        return fallback(executor, value, path, info)
                    return inner(executor, value, path, info)

                return non_null

            if isinstance(return_type, GraphQLList):
                return self._list(
                    return_type, group, build(return_type.of_type), general, field_info
                )

            if is_leaf_type(return_type):
                return _leaf(return_type, self.executor)

            if isinstance(return_type, GraphQLObjectType):
                return self._object(return_type, group, field_info)

            if is_abstract_type(return_type):
                return self._abstract(return_type, group, field_info)

            return general(return_type)  # not reached: every output type is above

        completion = build(return_type)
        # build() calls itself, so its closure holds it (and through it this planner):
        # rebinding the name breaks that cycle, which only the collector would free.
        build = _compiled_already
        return completion

    def _object(
        self,
        object_type: GraphQLObjectType,
        group: FieldGroup,
        field_info: Callable[[Any, Path], Any],
    ) -> Completion:
        """An object type: graphql-core's ``complete_object_value`` with its sub-fields
        compiled (and its ``is_type_of`` called as graphql-core calls it)."""
        sub_fields = self.fields(
            object_type, release.collect_subfields(self.executor, object_type, group)
        )
        is_type_of = object_type.is_type_of
        if is_type_of is None:

            def object_value(executor: Any, value: Any, path: Path, info: Any) -> Any:
                if value is None or value is Undefined:
                    return None
                if isinstance(value, Exception):
                    raise value
                return sub_fields(executor, value, path)

            return object_value

        invalid_return_type_error = release.invalid_return_type_error
        is_awaitable = release.default_is_awaitable

        async def awaited_check(executor: Any, check: Any, value: Any, path: Path) -> Any:
            # graphql-core's execute_subfields_async.
            if not await check:
                raise invalid_return_type_error(object_type, value, group)
            completed = sub_fields(executor, value, path)
            if is_awaitable(completed):
                return await completed
            return completed

        def checked_object_value(executor: Any, value: Any, path: Path, info: Any) -> Any:
            if value is None or value is Undefined:
                return None
            if isinstance(value, Exception):
                raise value
            if info is None:
                info = field_info(executor, path)
            check = is_type_of(value, info)
            if type(check) is not bool and is_awaitable(check):
                return awaited_check(executor, check, value, path)
            if not check:
                raise invalid_return_type_error(object_type, value, group)
            return sub_fields(executor, value, path)

        return checked_object_value

    def _abstract(
        self,
        abstract_type: Any,
        group: FieldGroup,
        field_info: Callable[[Any, Path], Any],
    ) -> Completion:
        """An interface or union: graphql-core's ``resolve_type`` and its check of the
        answer, then the runtime type's own plan (compiled on its first value, as its
        fields depend on which type it is)."""
        plans: dict[str, Completion] = {}
        ensure_valid_runtime_type = release.ensure_valid_runtime_type
        complete_object_value = release.complete_object_value
        is_awaitable = release.default_is_awaitable

        def object_plan(object_type: GraphQLObjectType) -> Completion:
            plan = plans.get(object_type.name)
            if plan is None:
                try:
                    plan = self._object(object_type, group, field_info)
                except Exception:  # arguments that do not coerce: graphql-core says so

                    def by_graphql_core(executor: Any, value: Any, path: Path, info: Any) -> Any:
                        return complete_object_value(
                            executor, object_type, group, info, path, value
                        )

                    plan = by_graphql_core
                plans[object_type.name] = plan
            return plan

        async def awaited_type(
            executor: Any, runtime_type: Any, value: Any, path: Path, info: Any
        ) -> Any:
            # graphql-core's await_complete_object_value.
            object_type = ensure_valid_runtime_type(
                executor, await runtime_type, abstract_type, group, info, value
            )
            completed = object_plan(object_type)(executor, value, path, info)
            if is_awaitable(completed):
                return await completed
            return completed

        def abstract_value(executor: Any, value: Any, path: Path, info: Any) -> Any:
            if isinstance(value, Exception):
                raise value
            if value is None or value is Undefined:
                return None
            if info is None:
                info = field_info(executor, path)
            resolve_type = abstract_type.resolve_type or executor.type_resolver
            runtime_type = resolve_type(value, info, abstract_type)
            if type(runtime_type) is not str and is_awaitable(runtime_type):
                return awaited_type(executor, runtime_type, value, path, info)
            object_type = ensure_valid_runtime_type(
                executor, runtime_type, abstract_type, group, info, value
            )
            return object_plan(object_type)(executor, value, path, info)

        return abstract_value

    def _list(
        self,
        return_type: GraphQLList[Any],
        group: FieldGroup,
        item_complete: Completion,
        general: Callable[[GraphQLOutputType], Completion],
        field_info: Callable[[Any, Path], Any],
    ) -> Completion:
        item_type = return_type.of_type
        fallback = general(return_type)
        handle_field_error = release.handle_field_error
        complete_awaitable_item = release.complete_awaitable_item
        await_completed = release.await_completed
        settle_in_background = release.settle_in_background
        gather_results = release.gather_results
        shortcut = release.single_awaitable_shortcut()

        def list_value(executor: Any, value: Any, path: Path, info: Any) -> Any:
            if type(value) is not list and type(value) is not tuple:
                return fallback(executor, value, path, info)
            is_awaitable = executor.is_awaitable
            completed_results: list[Any] = []
            append = completed_results.append
            awaitable_indices: list[int] = []
            try:
                for index, item in enumerate(value):
                    item_path = Path(path, index, None)
                    if type(item) not in _PLAIN and is_awaitable(item):
                        if info is None:
                            info = field_info(executor, path)
                        append(
                            complete_awaitable_item(
                                executor, item, item_type, group, info, item_path
                            )
                        )
                        awaitable_indices.append(index)
                        continue
                    try:
                        completed = item_complete(executor, item, item_path, info)
                        if type(completed) not in _PLAIN and is_awaitable(completed):
                            append(
                                await_completed(executor, completed, item_type, group, item_path)
                            )
                            awaitable_indices.append(index)
                        else:
                            append(completed)
                    except Exception as raw_error:
                        handle_field_error(executor, raw_error, item_type, group, item_path)
                        append(None)
            except Exception:
                if awaitable_indices:
                    settle_in_background(
                        executor, [completed_results[index] for index in awaitable_indices]
                    )
                raise
            if not awaitable_indices:
                return completed_results
            return _gathered_list(completed_results, awaitable_indices, gather_results, shortcut)

        return list_value


async def _gathered_list(
    completed_results: list[Any],
    awaitable_indices: list[int],
    gather_results: release.Gatherer,
    shortcut: bool,
) -> list[Any]:
    if shortcut and len(awaitable_indices) == 1:
        index = awaitable_indices[0]
        completed_results[index] = await completed_results[index]
    else:
        awaited = await gather_results([completed_results[index] for index in awaitable_indices])
        for index, item in zip(awaitable_indices, awaited, strict=True):
            completed_results[index] = item
    return completed_results


def _fields_function(type_name: str, plan: tuple[tuple[str, FieldFunction], ...]) -> FieldsFunction:
    settle_in_background = release.settle_in_background
    gather_results = release.gather_results
    shortcut = release.single_awaitable_shortcut()
    is_awaitable = release.default_is_awaitable

    def execute_fields(executor: Any, source: Any, path: Path | None) -> Any:
        results: dict[str, Any] = {}
        awaitable_keys: list[str] | None = None
        try:
            for key, field in plan:
                result = field(executor, source, path)
                results[key] = result
                if type(result) not in _PLAIN and is_awaitable(result):
                    if awaitable_keys is None:
                        awaitable_keys = [key]
                    else:
                        awaitable_keys.append(key)
        except Exception:
            if awaitable_keys:
                settle_in_background(executor, [results[key] for key in awaitable_keys])
            raise
        if awaitable_keys is None:
            return results
        return _gathered_fields(results, awaitable_keys, gather_results, shortcut)

    return execute_fields


def _budgeted(execute_fields: FieldsFunction, width: int) -> FieldsFunction:
    """``execute_fields`` under the running operation's time budget, if it has one: its
    fields count against the budget's countdown, and at the checkpoint, or while the
    operation is paused, the object's fields run later (in the next slice) or not at
    all (past the deadline), exactly as the budgeted executor defers graphql-core's
    ``execute_fields`` (see :mod:`gqlwire.execution_budget`)."""
    count = max(width, 1)

    def budgeted_fields(executor: Any, source: Any, path: Path | None) -> Any:
        budget = current_budget.get()
        if budget is not None:
            if budget.paused:
                return budget.defer(execute_fields, executor, (source, path))
            budget.countdown -= count
            if budget.countdown <= 0:
                return budget.checkpoint(execute_fields, executor, (source, path))
        return execute_fields(executor, source, path)

    return budgeted_fields


async def _gathered_fields(
    results: dict[str, Any],
    awaitable_keys: list[str],
    gather_results: release.Gatherer,
    shortcut: bool,
) -> dict[str, Any]:
    if shortcut and len(awaitable_keys) == 1:
        key = awaitable_keys[0]
        results[key] = await results[key]
    else:
        awaited = await gather_results([results[key] for key in awaitable_keys])
        results.update(zip(awaitable_keys, awaited, strict=True))
    return results


def _coerced_per_event(field: GraphQLField, node: Any) -> bool:
    """Whether the field's arguments are coerced for every event: when one it is given,
    or has a default for, is neither an enum (whose values graphql-core shares) nor a
    built-in scalar parsing as graphql-core made it (whose values are immutable): a
    list, an input object or a custom scalar, whose values a resolver may change or
    whose parsing is the application's."""
    given = {argument.name.value for argument in node.arguments or ()}
    for name, definition in field.args.items():
        if name not in given and not release.has_default(definition):
            continue  # graphql-core leaves it out
        arg_type = definition.type
        if isinstance(arg_type, GraphQLNonNull):
            arg_type = arg_type.of_type
        if isinstance(arg_type, GraphQLEnumType):
            continue
        if isinstance(arg_type, GraphQLScalarType) and _parses_as_built(arg_type):
            continue
        return True
    return False


def _parses_as_built(scalar: GraphQLScalarType) -> bool:
    """Whether ``scalar`` is one of graphql-core's built-in scalars, still parsing with
    graphql-core's functions (an application may have replaced one)."""
    parsers = _PARSERS.get(scalar)
    return parsers is not None and all(
        getattr(scalar, name, None) == parser for name, parser in parsers.items()
    )


def _regular_leaf(return_type: Any) -> tuple[type, int] | None:
    """For a built-in scalar: the type of its regular values, which its serialisation
    returns as they are, and the check they need besides (0: none, 1: 32-bit range,
    2: finite); ``None`` for other types."""
    regular = _REGULAR_LEAVES.get(return_type)
    if regular is None:
        return None
    # Only while the scalar serialises as graphql-core made it (an application may
    # have replaced the function).
    if getattr(return_type, _SERIALIZE, None) is not _SERIALIZERS[return_type]:
        return None
    return regular


_REGULAR_LEAVES: Final[dict[Any, tuple[type, int]]] = {
    GraphQLString: (str, 0),
    GraphQLID: (str, 0),
    GraphQLBoolean: (bool, 0),
    GraphQLInt: (int, 1),
    GraphQLFloat: (float, 2),
}
_SERIALIZE: Final = (
    "coerce_output_value" if hasattr(GraphQLString, "coerce_output_value") else "serialize"
)
"""The name of a scalar's output coercion: 3.3 renamed ``serialize``."""
_SERIALIZERS: Final[dict[Any, Any]] = {
    scalar: getattr(scalar, _SERIALIZE) for scalar in _REGULAR_LEAVES
}
"""graphql-core's own, taken at import."""
_PARSERS: Final[dict[Any, dict[str, Any]]] = {
    scalar: {
        name: getattr(scalar, name, None)
        for name in ("parse_literal", "parse_value", "coerce_input_literal", "coerce_input_value")
    }
    for scalar in _REGULAR_LEAVES
}
"""The input coercions of graphql-core's built-in scalars, taken at import (3.3 names
them ``coerce_input_*`` beside the older ``parse_*``)."""


def _leaf(return_type: Any, executor: Any) -> Completion:
    """Scalars and enums: the built-in scalars' regular values as they are (what their
    serialisation returns for them), everything else through graphql-core's
    ``complete_leaf_value``."""
    complete_leaf_value = executor.complete_leaf_value
    regular = _regular_leaf(return_type)
    exact: Any = None
    check = 0
    if regular is not None:
        exact, check = regular

    def leaf(executor: Any, value: Any, path: Path, info: Any) -> Any:
        if type(value) is exact and (
            check == 0
            or (check == 1 and _INT_MIN <= value <= _INT_MAX)
            or (check == 2 and math.isfinite(value))
        ):
            return value
        if isinstance(value, Exception):
            raise value
        if value is None or value is Undefined:
            return None
        return complete_leaf_value(return_type, value)

    return leaf
