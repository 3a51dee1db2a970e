"""The operation core knows nothing of what carries it: a stub transport, a list that
collects what an operation reports, runs queries and subscriptions with no WebSocket
and no HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
)

from gqlwire import Context, GraphQLServer, Headers
from gqlwire.http import HTTPRequest, handle_http_request
from gqlwire.operation import Operation
from gqlwire.protocol import ErrorStage
from gqlwire.protocol.messages import JSONObject


async def count_to(_root: Any, _info: Any, to: int) -> AsyncIterator[int]:
    for value in range(1, to + 1):
        yield value


SCHEMA = GraphQLSchema(
    query=GraphQLObjectType(
        "Query", {"hello": GraphQLField(GraphQLString, resolve=lambda *_: "world")}
    ),
    subscription=GraphQLObjectType(
        "Subscription",
        {
            "count": GraphQLField(
                GraphQLNonNull(GraphQLInt),
                args={"to": GraphQLArgument(GraphQLNonNull(GraphQLInt))},
                subscribe=count_to,
                resolve=lambda value, *_, **__: value,
            )
        },
    ),
)


class Collected(list[tuple[str, Any]]):
    """A transport's whole implementation of :class:`~gqlwire.operation.ResultSink`."""

    def is_active(self) -> bool:
        return True

    async def next(self, payload: JSONObject) -> None:
        self.append(("next", payload))

    async def errors(self, errors: list[JSONObject], stage: ErrorStage) -> None:
        self.append(("errors", [error["message"] for error in errors]))

    async def complete(self) -> None:
        self.append(("complete", None))

    async def failed(self, error: Exception) -> None:
        self.append(("failed", error))


async def run(query: str, **options: Any) -> Collected:
    collected = Collected()
    runtime = GraphQLServer(SCHEMA, **options).runtime
    context = Context({}, Headers())
    await Operation(runtime, context, "1", {"query": query}, collected).run()
    return collected


async def test_a_query() -> None:
    assert await run("{ hello }") == [("next", {"data": {"hello": "world"}}), ("complete", None)]


async def test_a_subscription() -> None:
    assert await run("subscription { count(to: 3) }") == [
        ("next", {"data": {"count": 1}}),
        ("next", {"data": {"count": 2}}),
        ("next", {"data": {"count": 3}}),
        ("complete", None),
    ]


async def test_errors_and_hooks_reach_the_stub_too() -> None:
    seen: list[str] = []
    assert await run("{ nope }", on_complete=lambda *_: seen.append("on_complete")) == [
        ("errors", ["Cannot query field 'nope' on type 'Query'."])
    ]
    assert seen == []  # as on WebSocket: an operation refused by validation never ran


async def test_without_a_member_a_subscription_never_shares() -> None:
    # share_key asks for sharing; a transport that gives no Member runs it on its own.
    assert await run("subscription { count(to: 1) }", share_key=lambda _ctx: "all") == [
        ("next", {"data": {"count": 1}}),
        ("complete", None),
    ]


async def test_http_gives_no_member_so_its_subscriptions_are_refused_even_when_shared() -> None:
    # Before the split, HTTP offered no-op sharing methods: with share_key, a
    # subscription over HTTP joined a group and ran to its end (or forever).
    runtime = GraphQLServer(SCHEMA, share_key=lambda _ctx: "all").runtime
    body = b'{"query": "subscription { count(to: 1) }"}'
    request = HTTPRequest("POST", Headers([("content-type", "application/json")]), "", body, {})
    response = await handle_http_request(runtime, request)
    assert response.status == 426
