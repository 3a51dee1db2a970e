"""A connection's objects are freed when it ends, by reference counting alone.

What a connection holds (its context, machine, outbox, operations, and the messages
they still reference) must not wait for the garbage collector once the client is gone:
a hostile client that reconnects in a loop would otherwise make the server hold every
earlier connection's memory until a collection happens to run. Each scenario runs with
the collector off; whatever of gqlwire's it leaves only in reference cycles is reported
by a collection that keeps what it finds (``gc.DEBUG_SAVEALL``).
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import pytest

from gqlwire.asgi_types import ASGIApplication
from tests.harness.fake_asgi import FakeWebSocket, websocket_scope
from tests.harness.protocols import LEGACY_WS, PROTOCOLS, TRANSPORT_WS

from .support import make_app, run_query, start, start_tracked

Scenario = Callable[[ASGIApplication, str], Awaitable[None]]


def ours(kind: type) -> bool:
    """A class of gqlwire's own. Not the executors it derives from graphql-core's, whose
    instances refer to themselves (graphql-core 3.3's ``async_helpers``, bound methods
    of the executor): that cycle is graphql-core's, one per execution, whoever runs it."""
    return kind.__module__.startswith("gqlwire") and not any(
        base.__module__.startswith("graphql.") for base in kind.__mro__[1:]
    )


@contextmanager
def collector_off() -> Iterator[list[str]]:
    """Run the block with the collector off; the list then names gqlwire's classes
    whose instances were left only in reference cycles."""
    gc.collect()
    gc.disable()
    left: list[str] = []
    try:
        yield left
    finally:
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            left += sorted(
                {
                    f"{type(found).__module__}.{type(found).__qualname__}"
                    for found in gc.garbage
                    if ours(type(found))
                }
            )
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            gc.enable()


async def query_then_leave(app: ASGIApplication, protocol: str) -> None:
    async with FakeWebSocket(app, websocket_scope(subprotocols=[protocol])) as ws:
        await ws.handshake()
        await run_query(ws, protocol)
        ws.leave()


async def leave_mid_subscription(app: ASGIApplication, protocol: str) -> None:
    async with FakeWebSocket(app, websocket_scope(subprotocols=[protocol])) as ws:
        await start_tracked(ws, protocol)
        ws.leave()


async def complete_a_subscription(app: ASGIApplication, protocol: str) -> None:
    async with FakeWebSocket(app, websocket_scope(subprotocols=[protocol])) as ws:
        await start_tracked(ws, protocol)
        stop = "complete" if protocol == TRANSPORT_WS else "stop"
        ws.push_text({"id": "t", "type": stop})
        ws.push_text(start(protocol, "q", "{ getValue }"))
        while (await ws.receive_json()).get("id") != "q":
            pass
        ws.leave()


async def break_the_protocol(app: ASGIApplication, protocol: str) -> None:
    async with FakeWebSocket(app, websocket_scope(subprotocols=[protocol])) as ws:
        await ws.handshake()
        ws.push_text({"type": "no such message"})
        if protocol == LEGACY_WS:  # an error message; the socket stays open
            assert (await ws.receive_json())["type"] == "error"
            ws.leave()
        else:
            await ws.expect_close()


async def refused_before_init(app: ASGIApplication, protocol: str) -> None:
    async with FakeWebSocket(app, websocket_scope(subprotocols=[protocol])) as ws:
        await ws.expect_accept()
        ws.push_text({"id": "x", "type": "subscribe" if protocol == TRANSPORT_WS else "start"})
        if protocol == LEGACY_WS:
            ws.leave()
        else:
            await ws.expect_close()


SCENARIOS = [
    query_then_leave,
    leave_mid_subscription,
    complete_a_subscription,
    break_the_protocol,
    refused_before_init,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_finished_connection_leaves_nothing_for_the_collector(
    scenario: Scenario, protocol: str
) -> None:
    app = make_app(protocols=(protocol,))
    await scenario(app, protocol)  # the first run builds what the server keeps for good
    with collector_off() as left:
        for _ in range(3):
            await scenario(app, protocol)
    assert left == [], left


@pytest.mark.parametrize(
    "scenario", [leave_mid_subscription, complete_a_subscription], ids=lambda s: s.__name__
)
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_shared_subscription_leaves_nothing_for_the_collector(
    scenario: Scenario, protocol: str
) -> None:
    """A shared subscription parks (no task) and is its connection's operation, sink and
    member at once: ended by a complete or by the client leaving, it lets go of itself."""
    app = make_app(protocols=(protocol,), share_key=lambda _ctx: "all")
    await scenario(app, protocol)
    with collector_off() as left:
        for _ in range(3):
            await scenario(app, protocol)
    assert left == [], left
