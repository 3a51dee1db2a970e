"""Runs one subscription's events through both executors and compares what they give.

The reference is gqlwire's per-event path (``gqlwire.response_stream``): the executor
built once per subscription as its response stream builds it, each event executed on a
copy of it (graphql-core's ``ExecuteSubscriptionEvent``; ``tests/test_response_stream.py``
proves that path equal to graphql-core's ``subscribe``). The compiled side is
``gqlwire.compiled.compile_subscription`` for the same arguments.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
)
from graphql import execute as graphql_execute

from gqlwire.compiled import (
    CompiledSubscription,
    NotCompiled,
    build_compiled_executor,
    compile_query,
    compile_subscription,
)
from gqlwire.execution import format_result
from gqlwire.response_stream import GRAPHQL_CORE_3_3, SubscriptionExecutor, build_executor
from gqlwire.response_stream import _execute_event as reference_execute_event


@dataclass
class Outcome:
    """What one executor gave for one event: the bytes a client would receive and how
    many times each counted callable (resolvers, ``resolve_type``, ``is_type_of``,
    ``serialize``) ran."""

    wire: bytes
    calls: dict[str, int]
    abandoned: int
    """Coroutines left never awaited (graphql-core 3.2 leaves some; as many on both
    sides, and none on 3.3)."""


@dataclass
class Comparison:
    """Both executors' outcomes, event by event."""

    reference: list[Outcome] = field(default_factory=list)
    compiled: list[Outcome] = field(default_factory=list)


class NotCompiledError(AssertionError):
    """The compiler refused an operation it is meant to compile."""


async def _settle(result: Any) -> ExecutionResult:
    if inspect.isawaitable(result):
        result = await result
    assert isinstance(result, ExecutionResult)
    return result


def _wire(result: ExecutionResult) -> bytes:
    return orjson.dumps(format_result(result))


def compare(
    schema: GraphQLSchema,
    document: DocumentNode,
    events: Sequence[Any],
    calls: Counter[str],
    *,
    operation_name: str | None = None,
    variable_values: dict[str, Any] | None = None,
    context_value: Any = None,
    compiled_schema: GraphQLSchema | None = None,
) -> Comparison | None:
    """Each event through the reference, then through the compiled subscription;
    ``None`` when the variables do not coerce (then both sides must agree that the
    subscription never starts). ``calls`` is the counter the schema's callables bump.

    ``compiled_schema``, built as ``schema`` is, keeps what graphql-core shares between
    executions of one schema (an argument's default value) apart for the two sides, so
    that a resolver mutating it is compared too; by default both sides use ``schema``."""
    # format_result logs every resolver's error with its traceback: the same for both
    # executors, and most of the time of a case, so not while comparing.
    logger = logging.getLogger("gqlwire")
    disabled = logger.disabled
    logger.disabled = True
    try:
        return asyncio.run(
            _compare(
                schema,
                document,
                events,
                calls,
                operation_name=operation_name,
                variable_values=variable_values,
                context_value=context_value,
                compiled_schema=schema if compiled_schema is None else compiled_schema,
            )
        )
    finally:
        logger.disabled = disabled


async def _compare(
    schema: GraphQLSchema,
    document: DocumentNode,
    events: Sequence[Any],
    calls: Counter[str],
    *,
    operation_name: str | None,
    variable_values: dict[str, Any] | None,
    context_value: Any,
    compiled_schema: GraphQLSchema,
) -> Comparison | None:
    executor = build_executor(
        SubscriptionExecutor,
        {
            "schema": schema,
            "document": document,
            "context_value": context_value,
            "variable_values": variable_values,
            "operation_name": operation_name,
        },
    )
    compiled = compile_subscription(
        compiled_schema,
        document,
        operation_name=operation_name,
        variable_values=variable_values,
        context_value=context_value,
    )
    if isinstance(executor, list):
        # graphql-core reports the variables' errors and runs nothing.
        assert compiled == NotCompiled("variables do not coerce")
        return None
    if not isinstance(compiled, CompiledSubscription):
        raise NotCompiledError(compiled.reason)
    comparison = Comparison()
    for event in events:
        comparison.reference.append(await _outcome(reference_execute_event, executor, event, calls))
        comparison.compiled.append(
            await _outcome(CompiledSubscription.execute, compiled, event, calls)
        )
    return comparison


async def _outcome(
    execute: Callable[[Any, Any], Any], runner: Any, event: Any, calls: Counter[str]
) -> Outcome:
    """One event's result, the calls it took, and how many awaitables it abandoned."""
    calls.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = await _settle(execute(runner, event))
        wire = _wire(result)
        if result.errors and not GRAPHQL_CORE_3_3:
            # graphql-core 3.2 drops the awaitables of a field's siblings when a null
            # propagates past them (3.3 settles them): they are only reported when
            # collected, so collect them here, counted, rather than at random later.
            # (On 3.3 one left behind fails the test later, as unraisable.)
            del result
            gc.collect()
    abandoned = sum(
        1
        for warning in caught
        if issubclass(warning.category, RuntimeWarning)
        and "was never awaited" in str(warning.message)
    )
    return Outcome(wire, dict(calls), abandoned)


def assert_identical(comparison: Comparison | None) -> None:
    """Byte for byte, and call for call."""
    if comparison is None:
        return
    for index, (reference, compiled) in enumerate(
        zip(comparison.reference, comparison.compiled, strict=True)
    ):
        assert compiled.wire == reference.wire, f"event {index}"
        assert compiled.calls == reference.calls, f"event {index}"
        assert compiled.abandoned == reference.abandoned, f"event {index}"
        if GRAPHQL_CORE_3_3:
            assert compiled.abandoned == 0, f"event {index}"


def as_query(schema: GraphQLSchema, document: DocumentNode) -> tuple[GraphQLSchema, DocumentNode]:
    """The same operations as queries: ``schema``'s subscription type as the query root
    (its fields resolve their root value as they resolve an event), and the document's
    ``subscription`` operations turned into ``query`` ones."""
    assert schema.subscription_type is not None
    twin = GraphQLSchema(
        query=schema.subscription_type,
        types=list(schema.type_map.values()),
        directives=schema.directives,
    )
    operations = [
        OperationDefinitionNode(
            **{key: getattr(definition, key) for key in definition.keys if key != "operation"},
            operation=OperationType.QUERY,
        )
        if isinstance(definition, OperationDefinitionNode)
        else definition
        for definition in document.definitions
    ]
    return twin, DocumentNode(definitions=tuple(operations), loc=document.loc)


def compare_query(
    schema: GraphQLSchema,
    document: DocumentNode,
    root_values: Sequence[Any],
    calls: Counter[str],
    *,
    operation_name: str | None = None,
    variable_values: dict[str, Any] | None = None,
    context_value: Any = None,
    compiled_schema: GraphQLSchema | None = None,
) -> Comparison | None:
    """A subscription case run as a query (see :func:`as_query`), once per root value:
    graphql-core's ``execute`` against ``compile_query``'s plan."""
    logger = logging.getLogger("gqlwire")
    disabled = logger.disabled
    logger.disabled = True
    try:
        return asyncio.run(
            _compare_query(
                schema,
                document,
                root_values,
                calls,
                operation_name=operation_name,
                variable_values=variable_values,
                context_value=context_value,
                compiled_schema=schema if compiled_schema is None else compiled_schema,
            )
        )
    finally:
        logger.disabled = disabled


async def _compare_query(
    schema: GraphQLSchema,
    document: DocumentNode,
    root_values: Sequence[Any],
    calls: Counter[str],
    *,
    operation_name: str | None,
    variable_values: dict[str, Any] | None,
    context_value: Any,
    compiled_schema: GraphQLSchema,
) -> Comparison | None:
    reference_schema, query = as_query(schema, document)
    twin, _ = as_query(compiled_schema, document)
    compiled = compile_query(
        twin,
        query,
        operation_name=operation_name,
        variable_values=variable_values,
        context_value=context_value,
    )
    if compiled == NotCompiled("variables do not coerce"):
        reference = graphql_execute(
            reference_schema,
            query,
            None,
            context_value,
            variable_values,
            operation_name,
        )
        assert not inspect.isawaitable(reference) and reference.errors, reference
        return None
    if not isinstance(compiled, CompiledSubscription):
        raise NotCompiledError(compiled.reason)

    def reference_execute(_runner: Any, root_value: Any) -> Any:
        return graphql_execute(
            reference_schema,
            query,
            root_value,
            context_value,
            variable_values,
            operation_name,
        )

    def compiled_execute(_runner: Any, root_value: Any) -> Any:
        # As the server runs a query: an executor built for the request (its variables
        # coerced anew, as graphql-core's execute does), the one plan bound to it.
        executor = build_compiled_executor(
            {
                "schema": twin,
                "document": query,
                "context_value": context_value,
                "variable_values": variable_values,
                "operation_name": operation_name,
            }
        )
        assert isinstance(compiled, CompiledSubscription)
        return compiled.bound_to(executor).execute(root_value)

    comparison = Comparison()
    for root_value in root_values:
        comparison.reference.append(await _outcome(reference_execute, None, root_value, calls))
        comparison.compiled.append(await _outcome(compiled_execute, None, root_value, calls))
    return comparison
