"""A shared subscription waits for its group without a task of its own (it *parks*):
the rest of the operation still runs as before, when the group ends for it, when the
client completes it, and when the connection ends, in the context it had."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLSchema, build_schema

from gqlwire import GraphQLServer
from gqlwire.connection import Connection, ConnectionRegistry
from gqlwire.metrics import PrometheusMetrics
from gqlwire.protocol import GRAPHQL_TRANSPORT_WS
from tests.test_connection_state import INIT, ScriptedTransport

QUERY = "subscription { tick }"
REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


class Source:
    """The subscription's source: events put in, and whether it was closed."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[int | Exception | None] = asyncio.Queue()
        self.started = 0
        self.closed = 0

    async def subscribe(self, _root: Any, _info: Any) -> AsyncIterator[int]:
        self.started += 1
        try:
            while (item := await self.queue.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self.closed += 1


def schema_for(source: Source) -> GraphQLSchema:
    schema = build_schema("type Query { ok: Int } type Subscription { tick: Int }")
    assert schema.subscription_type is not None
    tick = schema.subscription_type.fields["tick"]
    tick.subscribe = source.subscribe
    tick.resolve = lambda event, _info: event
    return schema


class Client:
    """One connection of ``server`` over a scripted transport, being served."""

    def __init__(self, server: GraphQLServer, registry: ConnectionRegistry | None = None):
        self.transport = ScriptedTransport()
        self.connection = Connection(server.runtime, self.transport, {}, registry)
        self.task = asyncio.get_running_loop().create_task(
            self.connection.serve([GRAPHQL_TRANSPORT_WS])
        )
        self.read = 0

    def send(self, message: dict[str, Any] | str) -> None:
        self.transport.incoming.put_nowait(
            message if isinstance(message, str) else json.dumps(message)
        )

    def subscribe(self, id: str) -> None:
        self.send({"id": id, "type": "subscribe", "payload": {"query": QUERY}})

    async def next_message(self) -> dict[str, Any]:
        async with asyncio.timeout(5):
            while len(self.transport.sent) <= self.read:
                self.transport.sent_one.clear()
                await self.transport.sent_one.wait()
        message: dict[str, Any] = json.loads(self.transport.sent[self.read])
        self.read += 1
        return message

    async def ack(self) -> None:
        self.send(INIT)
        assert await self.next_message() == {"type": "connection_ack"}

    async def leave(self) -> None:
        self.transport.incoming.put_nowait(None)  # the peer goes away
        await asyncio.wait_for(self.task, 5)


async def settle() -> None:
    """Let what was just sent be handled (a group's source stopping takes a few turns)."""
    for _ in range(20):
        await asyncio.sleep(0)


def operation_tasks() -> list[asyncio.Task[Any]]:
    """The running tasks that run an operation's body."""
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_coro().__qualname__.startswith("Operation.")  # type: ignore[union-attr]
    ]


async def test_a_shared_subscription_waits_for_its_group_without_a_task() -> None:
    source = Source()
    server = GraphQLServer(schema_for(source), share_key=lambda _ctx: "all")
    clients = [Client(server) for _ in range(3)]
    for client in clients:
        await client.ack()
        client.subscribe("1")
    await settle()
    assert source.started == 1
    for client in clients:
        assert client.connection.operations["1"].task is None
    assert operation_tasks() == []
    source.queue.put_nowait(7)
    for client in clients:
        assert await client.next_message() == {
            "id": "1",
            "type": "next",
            "payload": {"data": {"tick": 7}},
        }
    for client in clients:
        await client.leave()
    assert source.closed == 1
    assert operation_tasks() == []


async def test_the_end_of_the_group_completes_every_parked_member() -> None:
    source = Source()
    completed: list[str | None] = []
    server = GraphQLServer(
        schema_for(source),
        share_key=lambda _ctx: "all",
        on_complete=lambda _ctx, id, _payload: completed.append(id),
    )
    first, second = Client(server), Client(server)
    for client in (first, second):
        await client.ack()
    first.subscribe("a")
    second.subscribe("b")
    await settle()
    source.queue.put_nowait(None)  # the source ends
    assert await first.next_message() == {"id": "a", "type": "complete"}
    assert await second.next_message() == {"id": "b", "type": "complete"}
    await settle()
    assert sorted(completed, key=str) == ["a", "b"]
    assert first.connection.operations == {} and second.connection.operations == {}
    for client in (first, second):
        await client.leave()
    assert completed == ["a", "b"] or completed == ["b", "a"]  # once each


async def test_a_failing_source_ends_every_parked_member_with_an_error() -> None:
    source = Source()
    server = GraphQLServer(schema_for(source), share_key=lambda _ctx: "all")
    client = Client(server)
    await client.ack()
    client.subscribe("1")
    await settle()
    source.queue.put_nowait(RuntimeError("the feed broke"))
    message = await client.next_message()
    assert message["id"] == "1" and message["type"] == "error"
    assert message["payload"][0]["message"] == "the feed broke"
    await settle()
    assert client.connection.operations == {}
    await client.leave()


async def test_a_parked_member_keeps_its_request_only_for_the_hooks_given_it() -> None:
    """A parked member lets go of its request (query text and variables) unless an
    ``on_complete`` or ``on_error`` hook will be given it; those hooks still see the
    request the client sent."""
    source = Source()
    request = {"query": QUERY, "variables": {"room": "a"}}
    bare = GraphQLServer(schema_for(source), share_key=lambda _ctx: "all")
    client = Client(bare)
    await client.ack()
    client.send({"id": "1", "type": "subscribe", "payload": request})
    await settle()
    parked = client.connection.operations["1"]
    assert parked._is_parked and parked.payload == {}
    await client.leave()

    seen: list[tuple[str, Any]] = []
    hooked = GraphQLServer(
        schema_for(source),
        share_key=lambda _ctx: "all",
        on_complete=lambda _ctx, _id, payload: seen.append(("complete", payload)),
        on_error=lambda _ctx, _id, payload, _errors: seen.append(("error", payload)),
    )
    first, second = Client(hooked), Client(hooked)
    for each in (first, second):
        await each.ack()
        each.send({"id": "1", "type": "subscribe", "payload": request})
    await settle()
    first.send({"id": "1", "type": "complete"})
    await settle()
    assert seen == [("complete", request)]
    source.queue.put_nowait(RuntimeError("the feed broke"))
    assert (await second.next_message())["type"] == "error"
    await settle()
    assert seen[:2] == [("complete", request), ("error", request)]
    assert all(payload == request for _hook, payload in seen)
    for each in (first, second):
        await each.leave()


async def test_completed_by_the_client_it_leaves_in_the_context_it_subscribed_in() -> None:
    source = Source()
    seen: list[tuple[str, str | None, str]] = []

    def on_subscribe(_ctx: Any, id: str, _payload: Any) -> None:
        REQUEST_ID.set(f"request-{id}")

    def on_complete(_ctx: Any, id: str, _payload: Any) -> None:
        seen.append(("complete", id, REQUEST_ID.get()))

    server = GraphQLServer(
        schema_for(source),
        share_key=lambda _ctx: "all",
        on_subscribe=on_subscribe,
        on_complete=on_complete,
    )
    client, other = Client(server), Client(server)
    for each in (client, other):
        await each.ack()
    client.subscribe("1")
    other.subscribe("2")
    await settle()
    assert client.connection.operations["1"].task is None
    client.send({"id": "1", "type": "complete"})
    await settle()
    assert seen == [("complete", "1", "request-1")]
    assert client.connection.operations == {}
    assert source.closed == 0  # the other member still holds the group
    source.queue.put_nowait(1)
    assert (await other.next_message())["payload"] == {"data": {"tick": 1}}
    assert len(client.transport.sent) == client.read  # nothing for the one that left
    await other.leave()  # the connection ends: cancelled while parked
    assert seen[1:] == [("complete", "2", "request-2")]
    assert source.closed == 1
    await client.leave()


async def test_an_id_reused_at_once_is_a_new_operation() -> None:
    source = Source()
    server = GraphQLServer(schema_for(source), share_key=lambda _ctx: "all")
    client = Client(server)
    await client.ack()
    client.subscribe("1")
    await settle()
    client.send({"id": "1", "type": "complete"})
    client.subscribe("1")
    await settle()
    source.queue.put_nowait(5)
    assert await client.next_message() == {
        "id": "1",
        "type": "next",
        "payload": {"data": {"tick": 5}},
    }
    assert list(client.connection.operations) == ["1"]
    await client.leave()
    # Whether the new "1" joined the old group before the old one left it, or began a
    # new group once the old one stopped, every source started was closed.
    assert source.started == source.closed >= 1


async def test_a_parked_operation_counts_against_max_operations_until_it_ends() -> None:
    source = Source()
    server = GraphQLServer(schema_for(source), share_key=lambda _ctx: "all", max_operations=1)
    registry = ConnectionRegistry()
    client = Client(server, registry)
    await client.ack()
    client.subscribe("1")
    await settle()
    assert registry.running == 1
    client.subscribe("2")
    refused = await client.next_message()
    assert refused["id"] == "2" and refused["type"] == "error"
    assert "Operation limit reached" in refused["payload"][0]["message"]
    client.send({"id": "1", "type": "complete"})
    await settle()
    assert registry.running == 0
    client.subscribe("3")
    await settle()
    assert registry.running == 1
    await client.leave()
    assert registry.running == 0
    assert registry.connections == set()


async def test_with_instruments_the_operation_keeps_its_task() -> None:
    # Metrics and tracing observe an operation's whole life in its task.
    source = Source()
    server = GraphQLServer(
        schema_for(source), share_key=lambda _ctx: "all", metrics=PrometheusMetrics()
    )
    client = Client(server)
    await client.ack()
    client.subscribe("1")
    await settle()
    operation = client.connection.operations["1"]
    assert operation.task is not None and not operation.task.done()
    source.queue.put_nowait(3)
    assert (await client.next_message())["payload"] == {"data": {"tick": 3}}
    await client.leave()
    assert source.closed == 1


# -- started inline: the first steps in the connection's task ------------------------------


def counting_tasks(created: list[str]) -> Any:
    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        created.append(getattr(coro, "__qualname__", type(coro).__name__))
        return asyncio.Task(coro, loop=loop, **kwargs)

    return factory


async def test_joining_a_running_group_starts_no_task() -> None:
    source = Source()
    server = GraphQLServer(schema_for(source), share_key=lambda _ctx: "all")
    assert server.runtime.starts_operations_inline()
    first, second = Client(server), Client(server)
    for client in (first, second):
        await client.ack()
    created: list[str] = []
    loop = asyncio.get_running_loop()
    loop.set_task_factory(counting_tasks(created))
    try:
        first.subscribe("1")
        await settle()
        assert created == ["SharedSubscriptions._pump"]  # the group's, not the operation's
        second.subscribe("1")
        await settle()
        assert created == ["SharedSubscriptions._pump"]
    finally:
        loop.set_task_factory(None)
    source.queue.put_nowait(1)
    for client in (first, second):
        assert (await client.next_message())["payload"] == {"data": {"tick": 1}}
        await client.leave()


async def test_application_code_that_may_suspend_runs_in_the_operations_own_task() -> None:
    # share_key says "not shared" for one user: that subscription executes on its own,
    # and its source (application code) must run in a task of its own, where
    # asyncio.timeout() cancels the operation and not the connection.
    ran_in: list[asyncio.Task[Any] | None] = []

    async def subscribe(_root: Any, _info: Any) -> AsyncIterator[int]:
        ran_in.append(asyncio.current_task())
        async with asyncio.timeout(0.01):
            await asyncio.sleep(5)
        yield 1  # never reached: the timeout ends the source

    schema = build_schema("type Query { ok: Int } type Subscription { tick: Int }")
    assert schema.subscription_type is not None
    schema.subscription_type.fields["tick"].subscribe = subscribe
    server = GraphQLServer(schema, share_key=lambda _ctx: None)
    assert server.runtime.starts_operations_inline()
    client = Client(server)
    await client.ack()
    client.subscribe("1")
    message = await client.next_message()
    assert message["id"] == "1" and message["type"] == "error"
    assert ran_in and ran_in[0] is not client.task
    client.send({"id": "2", "type": "subscribe", "payload": {"query": "{ ok }"}})
    assert (await client.next_message())["type"] == "next"  # the connection lives on
    await client.leave()


async def test_asynchronous_hooks_or_instruments_keep_every_operation_in_a_task() -> None:
    source = Source()
    schema = schema_for(source)

    async def share_key(_ctx: Any) -> str:
        return "all"

    class AsyncContext:
        async def __call__(self, *_: Any) -> dict[str, Any]:
            return {}

    def on_subscribe(*_: Any) -> None:
        return None

    inline = GraphQLServer(schema, share_key=lambda _ctx: "all", context=lambda *_: {})
    assert inline.runtime.starts_operations_inline()
    for server in (
        GraphQLServer(schema),  # nothing shares
        GraphQLServer(schema, share_key=share_key),
        GraphQLServer(schema, share_key=lambda _ctx: "all", context=AsyncContext()),
        GraphQLServer(schema, share_key=lambda _ctx: "all", on_subscribe=on_subscribe),
        GraphQLServer(schema, share_key=lambda _ctx: "all", metrics=PrometheusMetrics()),
    ):
        assert not server.runtime.starts_operations_inline()
    server = GraphQLServer(schema, share_key=share_key)
    client = Client(server)
    await client.ack()
    client.subscribe("1")
    await settle()
    assert source.started == 1
    await client.leave()
    assert source.closed == 1
