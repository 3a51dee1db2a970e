"""A subscription's response stream gives, event for event, what graphql-core's own
``subscribe`` gives, on graphql-core 3.2 and on 3.3, and does so on the fast path (one
executor per subscription, a copy per event) wherever that path exists.

graphql-core 3.2's ``subscribe`` takes neither middleware nor a custom execution context
class; what it does per event is ``execute()`` with the event as root value, so that is
the reference for those arguments on 3.2 (:func:`graphql_core_results`).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sized
from typing import Any

import pytest
from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    build_schema,
    execute,
    parse,
    subscribe,
)
from graphql import execution as graphql_execution

from gqlwire.execution import ExecutionArgs, coercion_failed, default_subscribe
from gqlwire.response_stream import (
    EXECUTOR_CLASS_KEYWORD,
    GRAPHQL_CORE_3_3,
    EventResults,
    ExecutorBase,
)

try:
    import strawberry
except ImportError:  # pragma: no cover - the dev extras install it
    HAS_STRAWBERRY = False
else:
    HAS_STRAWBERRY = True

create_source_event_stream: Any = graphql_execution.create_source_event_stream
"""Called the graphql-core 3.2 way only; 3.3 takes a built executor instead."""

only_on_3_3 = pytest.mark.skipif(not GRAPHQL_CORE_3_3, reason="graphql-core 3.3 only")

SDL = """
type Query { ok: Boolean }
type Item { n: Int! label: String slow: String broken: String strict: String! }
type Subscription {
  items(start: Int!, prefix: String = "#"): Item!
  custom: Item!
}
"""

EVENTS = [{"n": 1}, {"n": 2}, {"n": 3}]

SourceFactory = Callable[[], Any]


def make_schema(custom: SourceFactory | None = None) -> GraphQLSchema:
    """``items`` yields EVENTS shifted by ``start``; ``custom`` yields what ``custom()``
    returns (a source written for one test)."""
    schema = build_schema(SDL)
    subscription = schema.subscription_type
    assert subscription is not None

    async def source(_root: Any, _info: Any, start: int, prefix: str) -> AsyncIterator[Any]:
        for event in EVENTS:
            yield {**event, "n": event["n"] + start, "prefix": prefix}

    subscription.fields["items"].subscribe = source
    subscription.fields["custom"].subscribe = lambda _root, _info: custom and custom()
    for field in subscription.fields.values():
        field.resolve = lambda event, _info, **_args: event
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
    "inline fragments and aliases": (
        "subscription { a: items(start: 1) { ... on Item { x: n, label } } }"
    ),
    "two operations": (
        "subscription A { items(start: 0) { n } } subscription B { items(start: 5) { n } }"
    ),
}
VARIABLES: dict[str, Any] = {"variables": {"s": 5, "p": "@"}}
OPERATION_NAMES = {"two operations": "B"}

Outcome = tuple[Any, Any, Any]


def as_tuple(result: ExecutionResult) -> Outcome:
    errors = [(e.message, e.path, e.locations) for e in result.errors] if result.errors else None
    return result.data, errors, result.extensions


async def collect(stream: Any) -> list[Outcome] | Outcome:
    if isinstance(stream, ExecutionResult):
        return as_tuple(stream)
    return [as_tuple(result) async for result in stream]


async def maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def graphql_core_results(
    schema: GraphQLSchema, query: str, **kwargs: Any
) -> list[Outcome] | Outcome:
    """What graphql-core's ``subscribe`` gives (on 3.2, with middleware or a custom
    class, what its subscribe does per event: ``execute()`` with the event as root)."""
    document = parse(query)
    per_event = {"middleware", EXECUTOR_CLASS_KEYWORD}
    if GRAPHQL_CORE_3_3 or not per_event & kwargs.keys():
        return await collect(await maybe_await(subscribe(schema, document, **kwargs)))
    source_kwargs = {key: value for key, value in kwargs.items() if key not in per_event}
    source = await create_source_event_stream(schema, document, **source_kwargs)
    if isinstance(source, ExecutionResult):
        return as_tuple(source)
    return [
        as_tuple(await maybe_await(execute(schema, document, event, **kwargs)))
        async for event in source
    ]


def args_for(
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    schema: GraphQLSchema | None = None,
    operation_name: str | None = None,
    executor_class: type[Any] | None = None,
    **extra: Any,
) -> ExecutionArgs:
    return ExecutionArgs(
        schema=schema or make_schema(),
        document=parse(query),
        variable_values=variables,
        operation_name=operation_name,
        execution_context_class=executor_class,
        extra=extra,
    )


async def fast_stream(args: ExecutionArgs) -> EventResults:
    """``default_subscribe``'s stream, asserting that it runs on the fast path."""
    stream = await default_subscribe(args)
    assert isinstance(stream, EventResults)
    assert stream.reuses_executor
    return stream


@pytest.mark.parametrize("name", list(QUERIES))
async def test_results_equal_graphql_core_subscribe(name: str) -> None:
    query = QUERIES[name]
    variables = VARIABLES["variables"] if "$s" in query else None
    operation_name = OPERATION_NAMES.get(name)
    stream = await fast_stream(args_for(query, variables, operation_name=operation_name))
    assert await collect(stream) == await graphql_core_results(
        make_schema(), query, variable_values=variables, operation_name=operation_name
    )


class OwnExecutor(ExecutorBase):  # type: ignore[misc]
    """A custom executor class, as schema libraries pass one: it reports the event it
    ran on in ``extensions`` and counts how often it was built."""

    builds = 0

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        cls.builds += 1
        return super().build(*args, **kwargs)

    def build_response(self, *args: Any) -> Any:  # (data) on 3.3, (data, errors) on 3.2
        result = super().build_response(*args)
        result.extensions = {"event": self.root_value["n"]}
        return result


@pytest.mark.parametrize(
    "name", ["plain", "field errors", "null bubbles to the root", "async resolver"]
)
async def test_a_custom_executor_class_is_built_once_and_gives_the_same(name: str) -> None:
    OwnExecutor.builds = 0
    stream = await fast_stream(args_for(QUERIES[name], executor_class=OwnExecutor))
    results = await collect(stream)
    assert OwnExecutor.builds == 1  # for the whole subscription, not once per event
    assert isinstance(results, list)
    # every event on its own copy, with its own root value
    start = 10 if "start: 10" in QUERIES[name] else 0
    assert [extensions for _, _, extensions in results] == [
        {"event": start + event["n"]} for event in EVENTS
    ]
    assert results == await graphql_core_results(
        make_schema(), QUERIES[name], **{EXECUTOR_CLASS_KEYWORD: OwnExecutor}
    )


async def test_events_are_mapped_without_starting_tasks() -> None:
    """graphql-core 3.2's MapAsyncIterator starts tasks for every event; the response
    stream only awaits the source and the executor (here all resolvers are plain
    functions, so nothing else could start one)."""
    loop = asyncio.get_running_loop()
    started: list[Any] = []
    previous = loop.get_task_factory()

    def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        started.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting_factory)
    try:
        results = await collect(await fast_stream(args_for(QUERIES["plain"])))
    finally:
        loop.set_task_factory(previous)
    assert isinstance(results, list) and len(results) == len(EVENTS)
    assert started == []


async def test_a_long_subscription_keeps_nothing_per_event() -> None:
    """The executor built for the subscription holds the same amount of state after
    the 50th event as after the first (graphql-core 3.3.2's sub-field memo, shared by its
    per-event copies, would otherwise gain an entry per object field and event)."""

    async def many() -> AsyncIterator[Any]:
        for n in range(50):
            yield {"n": n, "prefix": "#"}

    def sizes(executor: Any) -> dict[str, int]:
        return {
            name: len(value)
            for name, value in vars(executor).items()
            if isinstance(value, Sized) and not isinstance(value, str)
        }

    query = "subscription { custom { n label } }"
    stream = await fast_stream(args_for(query, schema=make_schema(many)))
    await anext(stream)
    executor = stream._prepared  # the subscription's executor (3.2: execution context)
    after_first = sizes(executor)
    assert len([result async for result in stream]) == 49
    assert sizes(executor) == after_first


async def test_errors_of_one_event_do_not_reach_the_next() -> None:
    stream = await fast_stream(args_for(QUERIES["field errors"]))
    results = await collect(stream)
    assert isinstance(results, list)
    assert [errors is None for _, errors, _ in results] == [False, True, False]


async def test_middleware_runs_for_every_event() -> None:
    seen: list[str] = []

    def middleware(next_: Any, root: Any, info: Any, **args: Any) -> Any:
        seen.append(info.field_name)
        value = next_(root, info, **args)
        return value.upper() if info.field_name == "label" else value

    stream = await fast_stream(
        args_for(QUERIES["variables"], {"s": 0, "p": "x"}, middleware=[middleware])
    )
    results = await collect(stream)
    assert seen.count("label") == 3
    assert results == await graphql_core_results(
        make_schema(),
        QUERIES["variables"],
        variable_values={"s": 0, "p": "x"},
        middleware=[middleware],
    )
    assert isinstance(results, list) and results[0][0] == {"items": {"n": 1, "label": "X1"}}


async def test_bad_variables_are_answered_before_any_event() -> None:
    args = args_for(QUERIES["variables"], {"s": "not a number"})
    result = await default_subscribe(args)
    assert isinstance(result, ExecutionResult)
    assert result.data is None
    assert result.errors and "$s" in result.errors[0].message
    assert as_tuple(result) == await graphql_core_results(
        make_schema(), QUERIES["variables"], variable_values={"s": "not a number"}
    )
    assert coercion_failed(args)  # so the server leaves out `data`, as graphql-js does
    assert not coercion_failed(args_for(QUERIES["variables"], {"s": 1}))


async def test_an_unknown_operation_name_is_answered_before_any_event() -> None:
    result = await default_subscribe(args_for(QUERIES["two operations"], operation_name="C"))
    assert isinstance(result, ExecutionResult)
    assert as_tuple(result) == await graphql_core_results(
        make_schema(), QUERIES["two operations"], operation_name="C"
    )


async def test_a_source_that_is_not_a_stream_is_refused_as_graphql_core_refuses_it() -> None:
    """graphql-core 3.3 answers with an error result, 3.2 raises a TypeError."""
    query = "subscription { custom { n } }"

    async def outcome(start: Any) -> Any:
        try:
            return await start
        except TypeError as error:
            return repr(error)

    ours = await outcome(default_subscribe(args_for(query, schema=make_schema(lambda: 42))))
    theirs = await outcome(graphql_core_results(make_schema(lambda: 42), query))
    assert "AsyncIterable" in str(theirs)
    assert (as_tuple(ours) if isinstance(ours, ExecutionResult) else ours) == theirs


class ClosableSource:
    """A source that never yields and records being waited on and closed."""

    def __init__(self) -> None:
        self.waited_on = asyncio.Event()
        self.closed = False

    def __aiter__(self) -> ClosableSource:
        return self

    async def __anext__(self) -> Any:
        self.waited_on.set()
        await asyncio.Event().wait()  # an event that never comes

    async def aclose(self) -> None:
        self.closed = True


async def test_closing_before_the_first_event_closes_the_source() -> None:
    source = ClosableSource()
    stream = await fast_stream(
        args_for("subscription { custom { n } }", schema=make_schema(lambda: source))
    )
    await stream.aclose()
    assert source.closed


async def test_a_source_error_is_raised_to_the_consumer() -> None:
    async def failing() -> AsyncIterator[Any]:
        yield {"n": 1, "prefix": "#"}
        raise GraphQLError("source broke")

    query = "subscription { custom { n label } }"
    stream = await fast_stream(args_for(query, schema=make_schema(failing)))
    first = await anext(stream)
    assert first.data == {"custom": {"n": 1, "label": "#1"}}
    with pytest.raises(GraphQLError, match="source broke"):
        await anext(stream)
    reference = await maybe_await(subscribe(make_schema(failing), parse(query)))
    assert (await anext(reference)).data == first.data
    with pytest.raises(GraphQLError, match="source broke"):
        await anext(reference)


class RefusingExecutor(ExecutorBase):  # type: ignore[misc]
    """A class whose ``build`` refuses every operation."""

    @classmethod
    def build(cls, *_args: Any, **_kwargs: Any) -> Any:
        return [GraphQLError("refused")]


async def test_a_class_that_cannot_be_built_gives_what_graphql_core_gives() -> None:
    """On 3.3 the executor is built before the source, so the subscription does not
    start; on 3.2 the source is started by graphql-core's own context and every event
    gets the error from execute(), on the per-event fallback."""
    query = QUERIES["plain"]
    stream = await default_subscribe(args_for(query, executor_class=RefusingExecutor))
    expected = await graphql_core_results(
        make_schema(), query, **{EXECUTOR_CLASS_KEYWORD: RefusingExecutor}
    )
    refused = (None, [("refused", None, None)], None)
    if GRAPHQL_CORE_3_3:
        assert isinstance(stream, ExecutionResult)
        assert expected == refused
    else:
        assert isinstance(stream, EventResults) and not stream.reuses_executor
        assert expected == [refused] * len(EVENTS)
    assert await collect(stream) == expected


# -- Strawberry's executor class -----------------------------------------------------------

if HAS_STRAWBERRY:

    @strawberry.type
    class Tick:
        n: int

        @strawberry.field
        def label(self, info: strawberry.Info) -> str:
            return f"{info.variable_values.get('prefix', '#')}{self.n}"

        @strawberry.field
        def broken(self) -> str | None:
            if self.n % 2:
                raise ValueError(f"odd {self.n}")
            return "even"

    @strawberry.type
    class TickQuery:
        ok: bool = True

    @strawberry.type
    class TickSubscription:
        @strawberry.subscription
        async def ticks(self, start: int) -> AsyncGenerator[Tick, None]:
            for n in range(start, start + 3):
                yield Tick(n=n)


@pytest.mark.skipif(not HAS_STRAWBERRY, reason="needs strawberry-graphql")
async def test_strawberrys_executor_class_runs_on_the_fast_path() -> None:
    from gqlwire.execution import execution_context_class, unwrap_schema

    schema = strawberry.Schema(query=TickQuery, subscription=TickSubscription)
    graphql_schema = unwrap_schema(schema)
    executor_class = execution_context_class(schema)
    assert graphql_schema is not None and executor_class is not None
    query = "subscription S($prefix: String) { ticks(start: 1) { n label broken } }"
    variables = {"prefix": "@"}
    stream = await fast_stream(
        args_for(query, variables, schema=graphql_schema, executor_class=executor_class)
    )
    results = await collect(stream)
    assert isinstance(results, list) and results[1][0] == {
        "ticks": {"n": 2, "label": "@2", "broken": "even"}
    }
    assert results == await graphql_core_results(
        graphql_schema,
        query,
        variable_values=variables,
        **{EXECUTOR_CLASS_KEYWORD: executor_class},
    )


# -- what graphql-core 3.3 adds ---------------------------------------------------------------


def with_defer(schema: GraphQLSchema) -> GraphQLSchema:
    from graphql import GraphQLDeferDirective

    kwargs = schema.to_kwargs()
    kwargs["directives"] = (*schema.directives, GraphQLDeferDirective)
    return GraphQLSchema(**kwargs)


@only_on_3_3
@pytest.mark.parametrize(
    "query",
    [
        "subscription { ... @defer { items(start: 0) { n } } }",
        "subscription { items(start: 0) { n ... @defer { label } } }",
        "subscription { items(start: 0) { n ... @defer(if: false) { label } } }",
    ],
)
async def test_defer_in_a_subscription_gives_graphql_cores_answer(query: str) -> None:
    stream = await default_subscribe(args_for(query, schema=with_defer(make_schema())))
    expected = await graphql_core_results(with_defer(make_schema()), query)
    assert await collect(stream) == expected
    if "if: false" not in query:
        assert "`@defer` directive not supported on subscription" in str(expected)


@only_on_3_3
async def test_error_propagation_can_be_disabled_per_operation() -> None:
    from graphql import specified_directives
    from graphql.type.directives import GraphQLDisableErrorPropagationDirective

    kwargs = make_schema().to_kwargs()
    kwargs["directives"] = (*specified_directives, GraphQLDisableErrorPropagationDirective)
    schema = GraphQLSchema(**kwargs)
    query = "subscription @experimental_disableErrorPropagation { items(start: 0) { n strict } }"
    stream = await fast_stream(args_for(query, schema=schema))
    results = await collect(stream)
    assert isinstance(results, list) and results[0][0] == {"items": {"n": 1, "strict": None}}
    assert results == await graphql_core_results(schema, query)


@only_on_3_3
async def test_execution_hooks_run_for_every_event() -> None:
    from graphql import ExecutionHooks

    finished: list[Any] = []
    hooks = ExecutionHooks(async_work_finished=finished.append)
    stream = await fast_stream(args_for(QUERIES["async resolver"], hooks=hooks))
    results = await collect(stream)
    ours = len(finished)
    finished.clear()
    assert results == await graphql_core_results(
        make_schema(), QUERIES["async resolver"], hooks=hooks
    )
    assert ours == len(finished) == 3


@only_on_3_3
async def test_an_aborted_subscription_raises_the_abort_reason() -> None:
    from graphql.pyutils import AbortController

    sources: list[ClosableSource] = []

    def new_source() -> ClosableSource:
        sources.append(ClosableSource())
        return sources[-1]

    query = "subscription { custom { n } }"
    reason = RuntimeError("aborted by the server")
    for make in (
        lambda signal: default_subscribe(
            args_for(query, schema=make_schema(new_source), abort_signal=signal)
        ),
        lambda signal: maybe_await(
            subscribe(make_schema(new_source), parse(query), abort_signal=signal)
        ),
    ):
        controller = AbortController()
        stream = await make(controller.signal)
        assert not isinstance(stream, ExecutionResult), stream
        waiting = asyncio.ensure_future(anext(stream))
        await sources[-1].waited_on.wait()
        controller.abort(reason)
        with pytest.raises(RuntimeError, match="aborted by the server"):
            await waiting
        await stream.aclose()
    assert [source.closed for source in sources] == [True, True]
