"""Queries run through a compiled plan over HTTP and WebSocket from their second time
(the same text and variables): the same answers as graphql-core's executor
(``compile_queries=False``), counted in ``stats()``, under the same time budget (slices
that let the loop run, and the deadline's one error), and mutations and a schema
library's executor class stay on graphql-core."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import httpx
import pytest
from graphql import ExecutionResult, GraphQLSchema, build_schema, parse

from gqlwire import Client, ExecutionArgs, GraphQLServer
from tests.harness.inprocess import serve_in_process

try:
    import strawberry
except ImportError:  # pragma: no cover - the dev extras install it
    HAS_STRAWBERRY = False
else:
    HAS_STRAWBERRY = True

SDL = """
type Query {
  items(count: Int!): [Item!]!
  item(id: ID!): Item
  slow: String
}
type Mutation { touch(id: ID!): Item }
type Item { id: ID! name: String! price: Float tags: [String!] broken: Int }
"""


async def execute(server: GraphQLServer, args: ExecutionArgs) -> ExecutionResult:
    """A query through the server's execute function, as an operation runs it."""
    result = server.runtime.execute_function(args)
    if inspect.isawaitable(result):
        result = await result
    assert isinstance(result, ExecutionResult)
    return result


ROWS = [
    {"id": str(n), "name": f"item {n}", "price": n / 4, "tags": ["a", str(n)]} for n in range(3000)
]


def make_schema() -> GraphQLSchema:
    schema = build_schema(SDL)
    query: Any = schema.query_type
    query.fields["items"].resolve = lambda _root, _info, count: ROWS[:count]
    query.fields["item"].resolve = lambda _root, _info, id: ROWS[int(id)]

    async def slow(_root: Any, _info: Any) -> str:
        await asyncio.sleep(0.01)
        return "late"

    query.fields["slow"].resolve = slow
    item: Any = schema.type_map["Item"]

    def broken(source: dict[str, Any], _info: Any) -> int:
        raise ValueError(f"no value for {source['id']}")

    item.fields["broken"].resolve = broken
    mutation: Any = schema.mutation_type
    mutation.fields["touch"].resolve = lambda _root, _info, id: ROWS[int(id)]
    return schema


REQUESTS: list[dict[str, Any]] = [
    {"query": "{ items(count: 1000) { id name price tags } }"},
    {"query": "query One($id: ID!) { item(id: $id) { id name } }", "variables": {"id": "7"}},
    {"query": "{ items(count: 2) { id broken } slow }"},
    {"query": '{ item(id: "1") { ...F } } fragment F on Item { __typename name }'},
    {"query": 'mutation { touch(id: "3") { id } }'},
]


async def answers(server: GraphQLServer) -> list[Any]:
    async with (
        serve_in_process(server, "aiohttp") as base,
        httpx.AsyncClient(base_url=base) as http,
    ):
        found = []
        for _round in range(2):  # the first time on graphql-core, then compiled
            for request in REQUESTS:
                response = await http.post("/graphql", json=request)
                found.append((response.status_code, response.json()))
        return found


async def test_compiled_queries_answer_what_graphql_core_answers() -> None:
    compiled = GraphQLServer(make_schema())
    interpreted = GraphQLServer(make_schema(), compile_queries=False)
    ours = await answers(compiled)
    assert ours == await answers(interpreted)
    assert ours[: len(REQUESTS)] == ours[len(REQUESTS) :]
    assert ours[0][1]["data"]["items"][999] == {
        "id": "999",
        "name": "item 999",
        "price": 249.75,
        "tags": ["a", "999"],
    }
    assert [error["path"] for error in ours[2][1]["errors"]] == [
        ["items", 0, "broken"],
        ["items", 1, "broken"],
    ]
    # Four queries, interpreted the first time, compiled the second; the mutation is
    # neither.
    assert compiled.stats()["queries_compiled"] == 4
    assert compiled.stats()["queries_interpreted"] == 4
    assert interpreted.stats()["queries_compiled"] == 0
    assert interpreted.stats()["queries_interpreted"] == 8


async def test_a_query_over_websocket_runs_compiled() -> None:
    server = GraphQLServer(make_schema())
    async with (
        serve_in_process(server, "aiohttp") as base,
        Client(base.replace("http", "ws", 1) + "/graphql") as client,
    ):
        results = [await client.execute('{ item(id: "2") { id name tags } }') for _ in "ab"]
    expected = {"data": {"item": {"id": "2", "name": "item 2", "tags": ["a", "2"]}}}
    assert results == [expected, expected]
    assert server.stats()["queries_compiled"] == 1


async def loop_turns_while_executing(server: GraphQLServer, query: str) -> tuple[Any, int]:
    """The result of ``query`` through the server's execute function, and how many
    turns another task had meanwhile (none unless the execution let the loop run)."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    document = parse(query)
    schema = make_schema()
    # The first time runs on graphql-core's executor; this is the second.
    await execute(server, ExecutionArgs(schema=schema, document=document))
    running = asyncio.get_running_loop().create_task(ticker())
    await asyncio.sleep(0)
    try:
        before = ticks
        result = await execute(server, ExecutionArgs(schema=schema, document=document))
        return result, ticks - before
    finally:
        running.cancel()


async def test_a_compiled_query_gives_the_loop_its_turns_within_its_slice() -> None:
    """A tiny slice pauses the compiled query again and again (the loop runs other
    work between slices); the answer is whole. Without a slice it runs in one go."""
    query = "{ items(count: 3000) { id name price tags } }"
    sliced = GraphQLServer(make_schema(), execution_time_slice=0.0002)
    result, turns = await loop_turns_while_executing(sliced, query)
    assert result.data == {"items": ROWS} and result.errors is None
    assert turns > 0
    assert sliced.stats()["queries_compiled"] == 1
    whole = GraphQLServer(make_schema(), execution_time_slice=None)
    result, turns = await loop_turns_while_executing(whole, query)
    assert result.data == {"items": ROWS} and turns == 0
    assert whole.stats()["queries_compiled"] == 1


async def test_a_compiled_query_past_its_deadline_is_one_error() -> None:
    server = GraphQLServer(make_schema(), max_execution_time=0.001, execution_time_slice=0.0002)
    async with (
        serve_in_process(server, "aiohttp") as base,
        httpx.AsyncClient(base_url=base) as http,
    ):
        request = {"query": "{ items(count: 3000) { id name price tags } }"}
        bodies = [(await http.post("/graphql", json=request)).json() for _ in "ab"]
    for body in bodies:  # graphql-core's executor, then the compiled plan
        assert body == {
            "data": None,
            "errors": [{"message": "Execution time exceeds the limit of 0.001 s"}],
        }
    assert server.stats()["queries_compiled"] == 1


@pytest.mark.parametrize(
    ("query", "counted"),
    [('mutation { touch(id: "1") { id } }', 0), ("{ slow }", 1)],
)
async def test_which_operations_count_as_queries(query: str, counted: int) -> None:
    server = GraphQLServer(make_schema())
    async with (
        serve_in_process(server, "aiohttp") as base,
        httpx.AsyncClient(base_url=base) as http,
    ):
        response = await http.post("/graphql", json={"query": query})
    assert response.status_code == 200 and "errors" not in response.json()
    stats = server.stats()
    assert stats["queries_compiled"] + stats["queries_interpreted"] == counted


@pytest.mark.skipif(not HAS_STRAWBERRY, reason="strawberry-graphql is in the dev extras")
async def test_a_schema_librarys_executor_class_keeps_graphql_core() -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def double(self, n: int) -> int:
            return 2 * n

    server = GraphQLServer(strawberry.Schema(query=Query))
    async with (
        serve_in_process(server, "aiohttp") as base,
        httpx.AsyncClient(base_url=base) as http,
    ):
        response = await http.post("/graphql", json={"query": "{ double(n: 21) }"})
    assert response.json() == {"data": {"double": 42}}
    assert server.stats()["queries_compiled"] == 0
    assert server.stats()["queries_interpreted"] == 1


async def test_a_query_is_compiled_when_the_same_variables_come_again() -> None:
    """Compiling costs a few executions of a small query: one that comes once with
    variables of its own runs on graphql-core's executor."""
    server = GraphQLServer(make_schema())
    query = "query One($id: ID!) { item(id: $id) { id } }"
    for id in ("1", "2", "3", "3", "3"):
        result = await execute(
            server,
            ExecutionArgs(
                schema=server.runtime.graphql_schema,  # type: ignore[arg-type]
                document=server.runtime.documents.parse(query),
                variable_values={"id": id},
            ),
        )
        assert result.data == {"item": {"id": id}}
    assert server.stats()["queries_interpreted"] == 3  # each first sight
    assert server.stats()["queries_compiled"] == 2
