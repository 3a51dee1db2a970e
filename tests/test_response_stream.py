"""A subscription's response stream gives, event for event, what graphql-core's own
``subscribe`` gives, on the reused execution context and on the per-event fallback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from graphql import ExecutionContext, ExecutionResult, GraphQLError, build_schema, parse, subscribe

from gqlwire.execution import ExecutionArgs, default_subscribe
from gqlwire.response_stream import EventResults

SDL = """
type Query { ok: Boolean }
type Item { n: Int! label: String slow: String broken: String strict: String! }
type Subscription { items(start: Int!, prefix: String = "#"): Item! }
"""

EVENTS = [{"n": 1}, {"n": 2}, {"n": 3}]


def make_schema() -> Any:
    schema = build_schema(SDL)
    subscription = schema.subscription_type
    assert subscription is not None
    items = subscription.fields["items"]

    async def source(_root: Any, _info: Any, start: int, prefix: str) -> AsyncIterator[Any]:
        for event in EVENTS:
            yield {**event, "n": event["n"] + start, "prefix": prefix}

    items.subscribe = source
    items.resolve = lambda event, _info, **_args: event
    item = schema.get_type("Item")
    fields = item.fields  # type: ignore[union-attr]
    fields["label"].resolve = lambda event, _info: f"{event['prefix']}{event['n']}"

    async def slow(event: Any, _info: Any) -> str:
        await asyncio.sleep(0)
        return f"slow {event['n']}"

    def broken(event: Any, _info: Any) -> str:
        if event["n"] % 2:
            raise ValueError(f"odd {event['n']}")
        return "even"

    def strict(event: Any, _info: Any) -> str | None:
        return None if event["n"] % 2 else "set"  # null in a non-null field: bubbles up

    fields["slow"].resolve = slow
    fields["broken"].resolve = broken
    fields["strict"].resolve = strict
    return schema


QUERIES = {
    "plain": "subscription { items(start: 0) { n label } }",
    "variables": (
        "subscription S($s: Int!, $p: String) { items(start: $s, prefix: $p) { n label } }"
    ),
    "async resolver": "subscription { items(start: 10) { n slow } }",
    "field errors": "subscription { items(start: 0) { n broken } }",
    "null bubbles to the root": "subscription { items(start: 0) { n strict } }",
    "fragments": "subscription { items(start: 0) { ...F } } fragment F on Item { n label }",
}


def as_tuple(result: ExecutionResult) -> tuple[Any, Any]:
    errors = [(e.message, e.path) for e in result.errors] if result.errors else None
    return result.data, errors


async def collect(stream: Any) -> list[tuple[Any, Any]]:
    return [as_tuple(result) async for result in stream]


async def expected(query: str, variables: dict[str, Any] | None) -> list[tuple[Any, Any]]:
    stream = await subscribe(make_schema(), parse(query), variable_values=variables)
    assert not isinstance(stream, ExecutionResult)
    return await collect(stream)


def args_for(query: str, variables: dict[str, Any] | None, **extra: Any) -> ExecutionArgs:
    return ExecutionArgs(
        schema=make_schema(), document=parse(query), variable_values=variables, extra=extra
    )


@pytest.mark.parametrize("name", list(QUERIES))
async def test_results_equal_graphql_core_subscribe(name: str) -> None:
    query = QUERIES[name]
    variables = {"s": 5, "p": "@"} if "$s" in query else None
    stream = await default_subscribe(args_for(query, variables))
    assert isinstance(stream, EventResults)
    assert stream._template is not None  # the reused context is what runs here
    assert await collect(stream) == await expected(query, variables)


@pytest.mark.parametrize("name", ["field errors", "null bubbles to the root", "async resolver"])
async def test_the_per_event_fallback_gives_the_same(name: str) -> None:
    class OwnContext(ExecutionContext):
        pass

    query = QUERIES[name]
    args = args_for(query, None)
    args.execution_context_class = OwnContext
    stream = await default_subscribe(args)
    assert isinstance(stream, EventResults)
    assert stream._template is None  # a custom class: execute() per event
    assert await collect(stream) == await expected(query, None)


async def test_errors_of_one_event_do_not_reach_the_next() -> None:
    stream = await default_subscribe(args_for(QUERIES["field errors"], None))
    results = await collect(stream)
    assert [errors is None for _, errors in results] == [False, True, False]


async def test_middleware_runs_for_every_event() -> None:
    seen: list[str] = []

    def middleware(next_: Any, root: Any, info: Any, **args: Any) -> Any:
        seen.append(info.field_name)
        return next_(root, info, **args)

    stream = await default_subscribe(args_for(QUERIES["plain"], None, middleware=[middleware]))
    assert isinstance(stream, EventResults) and stream._template is not None
    results = await collect(stream)
    assert len(results) == 3
    assert seen.count("label") == 3


async def test_bad_variables_are_answered_before_any_event() -> None:
    result = await default_subscribe(args_for(QUERIES["variables"], {"s": "not a number"}))
    assert isinstance(result, ExecutionResult)
    assert result.errors and "$s" in result.errors[0].message


async def test_closing_before_the_first_event_closes_the_source() -> None:
    closed: list[bool] = []

    class Source:
        def __aiter__(self) -> Source:
            return self

        async def __anext__(self) -> Any:
            raise StopAsyncIteration

        async def aclose(self) -> None:
            closed.append(True)

    stream = EventResults(Source(), {"schema": make_schema(), "document": parse(QUERIES["plain"])})
    await stream.aclose()
    assert closed == [True]


async def test_a_source_error_is_raised_to_the_consumer() -> None:
    async def failing() -> AsyncIterator[Any]:
        yield {"n": 1, "prefix": "#"}
        raise GraphQLError("source broke")

    stream = EventResults(failing(), {"schema": make_schema(), "document": parse(QUERIES["plain"])})
    first = await anext(stream)
    assert first.data == {"items": {"n": 1, "label": "#1"}}
    with pytest.raises(GraphQLError, match="source broke"):
        await anext(stream)
