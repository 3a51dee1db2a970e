"""A connection's timers on the shared timer wheel: a ping costs no task, a timeout
still closes, and a connection that ended leaves nothing on the loop."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections.abc import Coroutine
from typing import Any

import aiohttp
from graphql import build_schema

from gqlwire import GraphQLServer
from gqlwire.connection import Connection, ConnectionState
from gqlwire.protocol import GRAPHQL_TRANSPORT_WS
from gqlwire.timers import wheel_for
from tests.harness.inprocess import serve_in_process
from tests.test_connection_state import INIT, ScriptedTransport

SCHEMA = build_schema("type Query { hello: String }")
PING = {"type": "ping"}


def serve(server: GraphQLServer) -> tuple[Connection, ScriptedTransport, asyncio.Task[None]]:
    """A connection of ``server`` over a scripted transport, being served."""
    transport = ScriptedTransport()
    connection = Connection(server.runtime, transport, {})
    task = asyncio.get_running_loop().create_task(connection.serve([GRAPHQL_TRANSPORT_WS]))
    return connection, transport, task


async def sent(transport: ScriptedTransport, count: int) -> list[dict[str, Any]]:
    """The first ``count`` frames sent, once they are."""
    async with asyncio.timeout(5):
        while len(transport.sent) < count:
            transport.sent_one.clear()
            await transport.sent_one.wait()
    return [json.loads(frame) for frame in transport.sent[:count]]


async def test_a_keep_alive_ping_starts_no_task() -> None:
    loop = asyncio.get_running_loop()
    created: list[Coroutine[Any, Any, Any]] = []

    def counting_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> Any:
        created.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    server = GraphQLServer(SCHEMA, keep_alive=0.05, pong_timeout=30)
    async with (
        serve_in_process(server, "aiohttp") as base,
        aiohttp.ClientSession() as session,
        session.ws_connect(base + "/graphql", protocols=[GRAPHQL_TRANSPORT_WS]) as ws,
    ):
        await ws.send_json({"type": "connection_init"})
        assert await ws.receive_json(timeout=5) == {"type": "connection_ack"}
        assert await ws.receive_json(timeout=5) == PING
        await ws.send_json({"type": "pong"})
        loop.set_task_factory(counting_factory)
        try:
            for _ in range(2):  # each re-arms the keep-alive: the next one comes too
                assert await ws.receive_json(timeout=5) == PING
                await ws.send_json({"type": "pong"})
        finally:
            loop.set_task_factory(None)
    assert [getattr(coro, "__qualname__", repr(coro)) for coro in created] == []


async def test_an_unanswered_ping_still_closes_the_connection() -> None:
    server = GraphQLServer(SCHEMA, keep_alive=0.02, pong_timeout=0.02)
    connection, transport, task = serve(server)
    transport.incoming.put_nowait(INIT)
    assert (await sent(transport, 2))[1] == PING
    await asyncio.wait_for(task, 5)
    assert transport.closes == [(1001, "Keep-alive timeout")]
    assert connection.state is ConnectionState.CLOSED


async def test_an_init_timeout_of_0_closes_at_once() -> None:
    server = GraphQLServer(SCHEMA, connection_init_wait_timeout=0)
    _, transport, task = serve(server)
    await asyncio.wait_for(task, 5)
    assert transport.closes == [(4408, "Connection initialisation timeout")]


async def test_a_connection_that_ended_leaves_nothing_on_the_loop() -> None:
    wheel = wheel_for(asyncio.get_running_loop())
    server = GraphQLServer(SCHEMA, keep_alive=30, pong_timeout=30)
    connection, transport, task = serve(server)
    await asyncio.sleep(0)  # the serving task accepts and arms its timers
    assert wheel.pending() == 2  # init and keep-alive
    transport.incoming.put_nowait(INIT)
    await sent(transport, 1)  # the ack: the init timer is cancelled
    assert wheel.pending() == 1 and wheel.armed() == 1
    gone = weakref.ref(connection)
    await connection.close()
    await asyncio.wait_for(task, 5)
    assert wheel.pending() == 0 and wheel.armed() == 0
    gc.disable()  # freed by reference counting: no slot or handle holds it
    try:
        del connection, task
        assert gone() is None
    finally:
        gc.enable()
