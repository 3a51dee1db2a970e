"""The client's lifecycle is explicit: nothing is left to ``__del__`` or the garbage collector.

A client dropped without closing, an iterator abandoned mid-stream, a task cancelled at
any await point: none of them may leave a pending task, an unclosed session or socket,
or anything in the loop's exception handler ("Task was destroyed but it is pending",
"Unclosed client session", "Task exception was never retrieved"), nor a
``ResourceWarning``; and the server must see its operations end.

The "dropped" scenarios run in an event loop of their own (``asyncio.run``: at its end,
it cancels the tasks left and finalizes the async generators left, as a program's end
would), followed by a garbage collection, with every report recorded.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import httpx
import pytest

from gqlwire.client import Client, ClientClosed
from tests.harness.control import event_names, fetch_events, wait_for_events
from tests.harness.servers import ServerProcess

from .leaks import Reports, run_isolated, settle
from .support import WAIT, client_close_codes, client_for, publish_until_delivered, wait_until_idle

QUERY = "subscription { channel }"


def server_events(server: ServerProcess, token: str) -> list[dict[str, Any]]:
    response = httpx.get(server.http_url("/_events", f"token={token}"), timeout=5.0)
    response.raise_for_status()
    events: list[dict[str, Any]] = response.json()
    return events


async def _first_value(server: ServerProcess, token: str, results: Any) -> None:
    first = asyncio.ensure_future(anext(results))
    await publish_until_delivered(server, token, "first")
    async with asyncio.timeout(WAIT):
        assert await first == {"data": {"channel": "first"}}


def test_a_dropped_lazy_client_with_an_abandoned_iterator_reports_nothing(
    app_server: ServerProcess, protocol: str, token: str, reports: Reports
) -> None:
    async def scenario() -> None:
        client = client_for(app_server, token, protocol)  # never entered, never closed
        results = client.subscribe(QUERY)
        await _first_value(app_server, token, results)
        del client, results
        gc.collect()
        # The abandoned generator is finalized: `complete`, then the lazy close.
        await wait_for_events(app_server, token, "source_finally", "complete", "close")
        await wait_until_idle(app_server)
        await settle()

    run_isolated(reports, scenario)
    assert reports.items == []
    events = server_events(app_server, token)
    (close,) = [e["code"] for e in events if e["event"] == "close"]
    assert close in client_close_codes(protocol)


def test_a_client_never_exited_is_cleaned_up_with_its_loop(
    app_server: ServerProcess, protocol: str, token: str, reports: Reports
) -> None:
    async def scenario() -> None:
        client = client_for(app_server, token, protocol, lazy=False)
        await client.__aenter__()
        results = client.subscribe(QUERY)
        await _first_value(app_server, token, results)
        background = client.subscribe(QUERY)
        asyncio.get_running_loop().create_task(_drain(background))  # left running
        await wait_for_events(app_server, token, "source_start", "source_start")
        del client, results, background
        gc.collect()
        # returning ends the loop with the socket open and a consumer task pending

    run_isolated(reports, scenario)
    assert reports.items == []

    async def ended() -> None:
        await wait_for_events(app_server, token, "source_finally", "source_finally", "close")
        await wait_until_idle(app_server)

    asyncio.run(ended())


async def _drain(results: Any) -> None:
    async for _ in results:
        pass


def test_a_client_dropped_while_connecting_reports_nothing(
    app_server: ServerProcess, protocol: str, token: str, reports: Reports
) -> None:
    async def scenario() -> None:
        client = client_for(app_server, token, protocol, lazy=False)
        asyncio.get_running_loop().create_task(client.__aenter__())
        results = client.subscribe(QUERY)
        first = asyncio.ensure_future(anext(results))
        await asyncio.sleep(0)
        del client, results, first
        gc.collect()

    run_isolated(reports, scenario)
    assert reports.items == []
    asyncio.run(wait_until_idle(app_server))


async def test_cancelling_an_operation_at_any_point_leaves_nothing_behind(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    loop = asyncio.get_running_loop()
    reports = Reports()
    previous = loop.get_exception_handler()
    loop.set_exception_handler(reports.exception_handler)
    try:
        # Cancel after growing delays: before the connection, while connecting, while
        # waiting for the ack, while the result is on its way, after it arrived.
        for step in range(24):
            client = client_for(app_server, token, protocol)
            query = asyncio.create_task(client.execute("{ slow(ms: 5) }"))
            await asyncio.sleep(step * 0.001)
            query.cancel()
            done, _ = await asyncio.wait({query}, timeout=WAIT)
            assert done, "the cancelled execute() did not end"
            if not query.cancelled():
                assert query.result() == {"data": {"slow": "slow"}}
            await client.close()
            await settle()
        await wait_until_idle(app_server)
    finally:
        loop.set_exception_handler(previous)
    assert reports.items == []
    events = await fetch_events(app_server, token)
    # every connection that got an operation also saw it end
    subscribes = event_names(events).count("subscribe")
    assert event_names(events).count("complete") == subscribes


async def test_cancelling_close_still_closes_the_socket(
    app_server: ServerProcess, protocol: str, token: str
) -> None:
    for step in range(6):
        client = client_for(app_server, token, protocol, lazy=False)
        await client.__aenter__()
        closing = asyncio.create_task(client.close())
        await asyncio.sleep(step * 0.002)
        closing.cancel()
        await asyncio.wait({closing}, timeout=WAIT)
        await settle()
        assert client.closed
        with pytest.raises(ClientClosed):
            await client.execute("{ hello }")
    await wait_until_idle(app_server)


async def test_close_is_idempotent_and_a_closed_client_cannot_be_entered(
    app_server: ServerProcess, token: str
) -> None:
    client = Client(app_server.ws_url())
    async with client:
        await client.execute("{ hello }")
    await client.close()
    with pytest.raises(ClientClosed):
        await client.__aenter__()
    with pytest.raises(ClientClosed):
        async for _ in client.subscribe(QUERY):
            pass  # pragma: no cover
