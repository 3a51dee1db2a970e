"""Incremental delivery (``@defer``, ``@stream``) through the operation core, with no
transport: what an operation reports to its sink, on graphql-core 3.3 (the results one
by one, or one result where the transport carries only one) and on 3.2 (a refusal).

The schema is :mod:`tests.apps.incremental_app`'s; the real servers are in
``test_incremental_delivery.py``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from graphql import execution as graphql_execution
from graphql import parse

from gqlwire import Context, GraphQLServer, Headers
from gqlwire.execution import ExecutionArgs
from gqlwire.incremental import NEEDS_GRAPHQL_CORE_3_3, IncrementalResults, uses_incremental
from gqlwire.operation import Operation
from gqlwire.protocol import ErrorStage
from gqlwire.protocol.messages import JSONObject
from gqlwire.response_stream import GRAPHQL_CORE_3_3
from tests.apps.incremental_app import FAIL_MESSAGE, SCHEMA
from tests.apps.legacy_app import EVENTS
from tests.server.test_operation_core import SCHEMA as OTHER_SCHEMA

try:
    import strawberry
    from strawberry.schema.config import StrawberryConfig
except ImportError:  # pragma: no cover - the dev extras install it
    HAS_STRAWBERRY = False
else:
    HAS_STRAWBERRY = True

experimental_execute_incrementally: Any = getattr(
    graphql_execution, "experimental_execute_incrementally", None
)
"""graphql-core 3.3's incremental entry point (absent from 3.2)."""

only_on_3_3 = pytest.mark.skipif(
    not GRAPHQL_CORE_3_3, reason="incremental delivery needs graphql-core 3.3"
)
only_on_3_2 = pytest.mark.skipif(GRAPHQL_CORE_3_3, reason="the refusal of graphql-core 3.2")

DEFER = '{ hello ... @defer(label: "rest") { later } }'
STREAM = "{ numbers(to: 3) @stream(initialCount: 1) }"


class Sink:
    """What an operation reports, in order; ``first`` is set at the first result."""

    def __init__(self) -> None:
        self.reported: list[tuple[str, Any]] = []
        self.first = asyncio.Event()

    def is_active(self) -> bool:
        return True

    async def next(self, payload: JSONObject) -> None:
        self.reported.append(("next", payload))
        self.first.set()

    async def errors(self, errors: list[JSONObject], stage: ErrorStage) -> None:
        self.reported.append(("errors", (stage, [error["message"] for error in errors])))

    async def complete(self) -> None:
        self.reported.append(("complete", None))

    async def failed(self, error: Exception) -> None:
        self.reported.append(("failed", error))

    def results(self) -> list[JSONObject]:
        return [payload for kind, payload in self.reported if kind == "next"]


def operation(query: str, sink: Sink, *, delivered: bool = True, **options: Any) -> Operation:
    runtime = GraphQLServer(SCHEMA, **options).runtime
    return Operation(
        runtime,
        Context({}, Headers()),
        "1",
        {"query": query},
        sink,
        incremental_delivery=delivered,
    )


async def run(query: str, *, delivered: bool = True, **options: Any) -> Sink:
    sink = Sink()
    await operation(query, sink, delivered=delivered, **options).run()
    return sink


async def recorded(token: str, event: str) -> list[str]:
    """The events of ``token`` once ``event`` is among them (graphql-core cancels its
    work in the background); fails after a few seconds."""
    for _ in range(500):
        names = [entry["event"] for entry in EVENTS[token]]
        if event in names:
            return names
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {event!r} for {token}: {EVENTS[token]}")


def merged_items(results: list[JSONObject]) -> list[Any]:
    """The items of every ``incremental`` entry of ``results``, in order."""
    return [
        item
        for result in results
        for entry in result.get("incremental", ())
        for item in entry.get("items", ())
    ]


def test_uses_incremental_finds_the_directives_anywhere() -> None:
    assert uses_incremental(parse(DEFER))
    assert uses_incremental(parse(STREAM))
    assert uses_incremental(parse("query { ...F } fragment F on Query { ... @defer { hello } }"))
    assert not uses_incremental(parse("{ hello person { name } }"))
    assert not uses_incremental(parse("{ hello @include(if: true) }"))


# -- graphql-core 3.3 -------------------------------------------------------------------------


@only_on_3_3
async def test_a_deferred_fragment_comes_as_a_result_of_its_own() -> None:
    sink = await run(DEFER)
    assert sink.reported == [
        (
            "next",
            {
                "data": {"hello": "world"},
                "pending": [{"id": "0", "path": [], "label": "rest"}],
                "hasNext": True,
            },
        ),
        (
            "next",
            {
                "incremental": [{"id": "0", "data": {"later": "later"}}],
                "completed": [{"id": "0"}],
                "hasNext": False,
            },
        ),
        ("complete", None),
    ]


@only_on_3_3
async def test_a_streamed_list_comes_item_by_item() -> None:
    sink = await run(STREAM)
    first, *rest = sink.results()
    assert first == {
        "data": {"numbers": [1]},
        "pending": [{"id": "0", "path": ["numbers"]}],
        "hasNext": True,
    }
    assert merged_items(rest) == [2, 3]
    assert [result["hasNext"] for result in rest][-1] is False
    assert {"id": "0"} in rest[-1]["completed"]
    assert sink.reported[-1] == ("complete", None)


@only_on_3_3
@pytest.mark.parametrize(
    ("query", "data"),
    [
        (DEFER, {"hello": "world", "later": "later"}),
        (STREAM, {"numbers": [1, 2, 3]}),
        ("{ person { name ... @defer { friends { name } } } }", None),
    ],
    ids=["defer", "stream", "nested"],
)
async def test_a_transport_without_incremental_delivery_gets_one_whole_result(
    query: str, data: dict[str, Any] | None
) -> None:
    sink = await run(query, delivered=False)
    whole = {"person": {"name": "Ada", "friends": [{"name": "Grace"}, {"name": "Linus"}]}}
    assert sink.reported == [("next", {"data": data or whole}), ("complete", None)]


@only_on_3_3
@pytest.mark.parametrize("delivered", [True, False])
async def test_operations_that_do_not_defer_run_as_usual(delivered: bool) -> None:
    # graphql-core 3.3's execute() refuses every operation on a schema that declares
    # the directives: these go through its incremental entry point instead.
    sink = await run("{ hello person { name } }", delivered=delivered)
    assert sink.reported == [
        ("next", {"data": {"hello": "world", "person": {"name": "Ada"}}}),
        ("complete", None),
    ]
    without_budget = await run("{ hello }", max_execution_time=None, execution_time_slice=None)
    assert without_budget.reported == [("next", {"data": {"hello": "world"}}), ("complete", None)]


@only_on_3_3
async def test_without_a_time_budget_increments_still_arrive() -> None:
    sink = await run(DEFER, max_execution_time=None, execution_time_slice=None)
    assert [result["hasNext"] for result in sink.results()] == [True, False]
    assert sink.results()[1]["incremental"] == [{"id": "0", "data": {"later": "later"}}]


@only_on_3_3
@pytest.mark.parametrize("mask", [False, True])
async def test_an_increments_resolver_error_is_logged_and_masked_like_any(
    mask: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="gqlwire"):
        sink = await run("{ hello ... @defer { fail } }", mask_errors=mask)
    increment = sink.results()[1]
    [entry] = increment["incremental"]
    assert entry["data"] == {"fail": None}
    [error] = entry["errors"]
    assert error["message"] == ("Unexpected error." if mask else FAIL_MESSAGE)
    assert error["path"] == ["fail"]
    logged = [record for record in caplog.records if "The resolver of fail" in record.message]
    assert len(logged) == 1 and logged[0].exc_info is not None


@only_on_3_3
async def test_a_stream_whose_source_fails_completes_with_its_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="gqlwire"):
        sink = await run("{ broken(to: 2) @stream }", mask_errors=True)
    *_, last = sink.results()
    assert merged_items(sink.results()) == [1, 2]
    assert last["hasNext"] is False
    [completed] = last["completed"]
    assert [error["message"] for error in completed["errors"]] == ["Unexpected error."]
    assert sink.reported[-1] == ("complete", None)
    logged = [record for record in caplog.records if "The resolver of broken" in record.message]
    assert len(logged) == 1


@only_on_3_3
async def test_on_next_sees_every_result_and_may_replace_it() -> None:
    seen: list[bool] = []

    def on_next(ctx: Any, id: Any, payload: Any, args: Any, result: Any) -> Any:
        seen.append(result.has_next)
        return {"data": {"replaced": len(seen)}} if len(seen) == 2 else None

    sink = await run(DEFER, on_next=on_next)
    assert seen == [True, False]
    assert sink.results()[1] == {"data": {"replaced": 2}}
    assert sink.results()[0]["hasNext"] is True


@only_on_3_3
async def test_on_operation_gets_the_stream_of_results() -> None:
    streams: list[Any] = []

    def on_operation(ctx: Any, id: Any, payload: Any, args: Any, result: Any) -> None:
        streams.append(result)

    sink = await run(DEFER, on_operation=on_operation)
    assert len(streams) == 1 and hasattr(streams[0], "__aiter__")
    assert len(sink.results()) == 2


@only_on_3_3
@pytest.mark.parametrize(
    "query",
    [
        "subscription { ... @defer { count(to: 2) } }",
        "subscription { count(to: 2) @stream }",
    ],
    ids=["defer", "stream"],
)
async def test_a_subscription_that_defers_or_streams_is_refused(query: str) -> None:
    sink = await run(query)
    [(kind, (stage, messages))] = sink.reported
    assert (kind, stage) == ("errors", ErrorStage.VALIDATION)
    assert messages and all(message for message in messages)


@only_on_3_3
async def test_the_time_budget_covers_the_increments() -> None:
    token = uuid.uuid4().hex
    sink = await run(f'{{ hello ... @defer {{ hang(token: "{token}") }} }}', max_execution_time=0.2)
    first, last = sink.results()
    assert first["data"] == {"hello": "world"} and first["hasNext"] is True
    assert last == {
        "completed": [
            {"id": "0", "errors": [{"message": "Execution time exceeds the limit of 0.2 s"}]}
        ],
        "hasNext": False,
    }
    assert sink.reported[-1] == ("complete", None)
    assert await recorded(token, "hang_finally") == ["hang_start", "hang_finally"]


@only_on_3_3
async def test_cancelling_an_operation_mid_stream_cancels_its_deferred_work() -> None:
    token = uuid.uuid4().hex
    completed: list[Any] = []
    sink = Sink()
    running = asyncio.create_task(
        operation(
            f'{{ hello ... @defer {{ hang(token: "{token}") }} }}',
            sink,
            on_complete=lambda *args: completed.append(args[1]),
        ).run()
    )
    await asyncio.wait_for(sink.first.wait(), 5)
    await recorded(token, "hang_start")
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert await recorded(token, "hang_finally") == ["hang_start", "hang_finally"]
    assert completed == ["1"]
    assert [kind for kind, _ in sink.reported] == ["next"]


@only_on_3_3
async def test_merging_an_incremental_response_into_one_result() -> None:
    # What a transport that carries one result gets from an executor that defers anyway
    # (a schema library's): every increment merged where it belongs, every error kept.
    query = """{
      hello
      person { name ... @defer { friends { name ... @defer { friends { name } } } } }
      numbers(to: 4) @stream(initialCount: 1)
      ... @defer { fail }
    }"""
    response = await experimental_execute_incrementally(SCHEMA, parse(query))
    whole = await IncrementalResults(response).whole_result()
    friends = [{"name": "Grace", "friends": []}, {"name": "Linus", "friends": []}]
    assert whole.data == {
        "hello": "world",
        "person": {"name": "Ada", "friends": friends},
        "numbers": [1, 2, 3, 4],
        "fail": None,
    }
    assert [error.message for error in whole.errors or ()] == [FAIL_MESSAGE]


@only_on_3_3
@pytest.mark.skipif(not HAS_STRAWBERRY, reason="needs strawberry-graphql")
@pytest.mark.parametrize("pipeline", [False, True], ids=["fast-path", "strawberry-pipeline"])
@pytest.mark.parametrize("delivered", [True, False], ids=["delivered", "one-result"])
async def test_a_strawberry_schema_with_incremental_execution_enabled(
    pipeline: bool, delivered: bool
) -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def hello(self) -> str:
            return "world"

        @strawberry.field
        async def later(self) -> str:
            await asyncio.sleep(0)
            return "later"

    schema = strawberry.Schema(
        Query, config=StrawberryConfig(enable_experimental_incremental_execution=True)
    )
    runtime = GraphQLServer(schema, strawberry_pipeline=pipeline).runtime
    sink = Sink()
    await Operation(
        runtime,
        Context({}, Headers()),
        "1",
        {"query": DEFER},
        sink,
        incremental_delivery=delivered,
    ).run()
    if delivered:
        assert [result["hasNext"] for result in sink.results()] == [True, False]
        assert sink.results()[1]["incremental"] == [{"id": "0", "data": {"later": "later"}}]
    else:
        assert sink.results() == [{"data": {"hello": "world", "later": "later"}}]
    assert sink.reported[-1] == ("complete", None)


# -- both releases -----------------------------------------------------------------------------


async def test_deferred_fields_count_toward_the_operation_limits() -> None:
    sink = await run("{ hello ... @defer { later person { name } } }", max_fields=3)
    assert sink.reported == [
        ("errors", (ErrorStage.VALIDATION, ["Field count 4 exceeds the limit of 3"]))
    ]


# -- graphql-core 3.2 -------------------------------------------------------------------------


@only_on_3_2
@pytest.mark.parametrize("query", [DEFER, STREAM])
@pytest.mark.parametrize("delivered", [True, False])
async def test_on_3_2_a_document_that_defers_or_streams_is_refused(
    query: str, delivered: bool
) -> None:
    sink = await run(query, delivered=delivered)
    [(kind, (stage, messages))] = sink.reported
    assert (kind, stage) == ("errors", ErrorStage.VALIDATION)
    assert messages == [NEEDS_GRAPHQL_CORE_3_3]


@only_on_3_2
async def test_on_3_2_a_document_that_skipped_validation_is_refused_too() -> None:
    def on_subscribe(ctx: Any, id: Any, payload: Any) -> ExecutionArgs:
        return ExecutionArgs(schema=SCHEMA, document=parse(DEFER))

    sink = await run("{ hello }", on_subscribe=on_subscribe)
    assert sink.reported == [("errors", (ErrorStage.VALIDATION, [NEEDS_GRAPHQL_CORE_3_3]))]


@only_on_3_2
async def test_on_3_2_the_refusal_comes_where_the_schema_declares_nothing_too() -> None:
    sink = Sink()
    runtime = GraphQLServer(OTHER_SCHEMA).runtime
    await Operation(runtime, Context({}, Headers()), "1", {"query": DEFER}, sink).run()
    [(kind, (stage, messages))] = sink.reported
    assert (kind, stage) == ("errors", ErrorStage.VALIDATION)
    assert NEEDS_GRAPHQL_CORE_3_3 in messages  # beside graphql-core's "Unknown directive"


@only_on_3_2
async def test_on_3_2_operations_that_do_not_defer_run() -> None:
    sink = await run("{ hello }")
    assert sink.reported == [("next", {"data": {"hello": "world"}}), ("complete", None)]
