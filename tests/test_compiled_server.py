"""A real server (aiohttp, in-process) runs subscriptions on the compiled path, says so
in ``stats()``, and sends what graphql-core's executor sends; a Strawberry schema (its
own executor class) falls back to graphql-core."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from graphql import GraphQLSchema, build_schema

from gqlwire import Client, GraphQLServer
from tests.harness.inprocess import serve_in_process
from tests.harness.waiting import wait_until

try:
    import strawberry
except ImportError:  # pragma: no cover - the dev extras install it
    HAS_STRAWBERRY = False
else:
    HAS_STRAWBERRY = True

SDL = """
type Query { ok: Boolean }
type User { id: ID! name: String! tags: [String!] age: Int }
type Event { seq: Int! user: User, users: [User!], note: String }
type Subscription { events(count: Int = 3): Event! }
"""


def make_schema() -> GraphQLSchema:
    schema = build_schema(SDL)

    async def events(_root: Any, _info: Any, count: int) -> AsyncIterator[dict[str, Any]]:
        for seq in range(count):
            yield {
                "seq": seq,
                # the second event breaks a non-null field, the third an Int
                "user": {"id": seq, "name": None if seq == 1 else f"u{seq}", "tags": ["a"]},
                "users": [{"id": "x", "name": "n", "age": 2**40 if seq == 2 else seq}],
                "note": lambda info, seq=seq: f"{info.path.key}-{seq}",
            }

    field = schema.subscription_type.fields["events"]  # type: ignore[union-attr]
    field.subscribe = events
    field.resolve = lambda event, _info, **_args: event
    return schema


QUERY = """
subscription Watch($n: Int) {
  events(count: $n) { seq user { id name ...Tags } users { name age } note }
}
fragment Tags on User { tags __typename }
"""


async def run(server: GraphQLServer) -> list[Any]:
    async with serve_in_process(server, "aiohttp") as base:
        url = base.replace("http", "ws", 1) + "/graphql"
        async with Client(url) as client:
            return [r async for r in client.subscribe(QUERY, variables={"n": 3})]


async def test_the_compiled_path_sends_what_graphql_core_sends() -> None:
    compiled = GraphQLServer(make_schema())
    interpreted = GraphQLServer(make_schema(), compile_subscriptions=False)
    ours = await run(compiled)
    theirs = await run(interpreted)
    assert ours == theirs
    assert len(ours) == 3 and ours[0]["data"]["events"]["note"] == "note-0"
    assert ours[1]["errors"][0]["path"] == ["events", "user", "name"]
    assert ours[2]["errors"][0]["path"] == ["events", "users", 0, "age"]
    assert compiled.stats()["subscriptions_compiled"] == 1
    assert compiled.stats()["subscriptions_interpreted"] == 0
    assert interpreted.stats()["subscriptions_compiled"] == 0
    assert interpreted.stats()["subscriptions_interpreted"] == 1


@pytest.mark.skipif(not HAS_STRAWBERRY, reason="Strawberry is not installed")
async def test_a_strawberry_schema_falls_back_to_graphql_core() -> None:
    @strawberry.type
    class Query:
        ok: bool = True

    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def count(self, to: int) -> AsyncIterator[int]:
            for n in range(1, to + 1):
                yield n

    server = GraphQLServer(strawberry.Schema(query=Query, subscription=Subscription))
    async with serve_in_process(server, "aiohttp") as base:
        url = base.replace("http", "ws", 1) + "/graphql"
        async with Client(url) as client:
            results = [r async for r in client.subscribe("subscription { count(to: 2) }")]
    assert [r["data"]["count"] for r in results] == [1, 2]
    assert server.stats()["subscriptions_compiled"] == 0
    assert server.stats()["subscriptions_interpreted"] == 1


async def test_a_shared_group_compiles_once_for_its_members() -> None:
    schema = make_schema()
    release = asyncio.Event()
    events_field = schema.subscription_type.fields["events"]  # type: ignore[union-attr]
    source = events_field.subscribe

    async def held_events(root: Any, info: Any, count: int) -> AsyncIterator[dict[str, Any]]:
        await release.wait()  # until both members are in the group
        async for event in source(root, info, count):
            yield event

    events_field.subscribe = held_events
    server = GraphQLServer(schema, share_key=lambda _ctx: "everyone")

    async def member(url: str) -> list[Any]:
        async with Client(url) as client:
            return [r async for r in client.subscribe(QUERY, variables={"n": 3})]

    async with serve_in_process(server, "aiohttp") as base:
        url = base.replace("http", "ws", 1) + "/graphql"
        members = [asyncio.create_task(member(url)) for _ in range(2)]
        await wait_until(lambda: server.stats()["shared_members"] == 2, "two members")
        release.set()
        first, second = await asyncio.gather(*members)
    assert first == second and len(first) == 3
    assert first == await run(GraphQLServer(make_schema(), compile_subscriptions=False))
    assert server.stats()["subscriptions_compiled"] == 1  # one group, one stream
    assert server.stats()["subscriptions_interpreted"] == 0
