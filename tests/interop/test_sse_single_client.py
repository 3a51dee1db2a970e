"""The npm graphql-sse client in single connection mode (``singleConnection: true``)
against gqlwire, on every server name: ``node/sse_single_client.mjs`` reserves a stream
with ``PUT``, opens it, posts its operations with the token, and stops them with
``DELETE``. The server is ``tests/apps/sse_single_app.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.harness.node import live_node, run_node
from tests.harness.servers import ServerPool, ServerProcess, assert_clean_log

APP = "tests.apps.sse_single_app:app"
SCRIPT = "sse_single_client.mjs"
WAIT = 5.0


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(APP, server_name)


def results(run: Any, op: str) -> list[Any]:
    return [event["result"] for event in run.named("next") if event["op"] == op]


def stats(proc: ServerProcess) -> dict[str, int]:
    response = httpx.get(proc.http_url("/_stats", "route=/graphql"), timeout=WAIT)
    return dict(response.json())


async def wait_until_idle(proc: ServerProcess) -> dict[str, int]:
    """Poll ``stats()`` until no stream and no operation is left."""
    async with httpx.AsyncClient(timeout=WAIT) as http, asyncio.timeout(WAIT):
        while True:
            response = await http.get(proc.http_url("/_stats", "route=/graphql"))
            current: dict[str, int] = response.json()
            if current["sse_streams"] == current["sse_operations"] == current["operations"] == 0:
                return current
            await asyncio.sleep(0.02)


def test_a_query(proc: ServerProcess) -> None:
    since = proc.log_offset()
    run = run_node(SCRIPT, "query", {"url": proc.http_url("/graphql")})
    run.assert_succeeded()
    assert results(run, "q") == [{"data": {"hello": "Hello world!"}}]
    assert run.named("complete") == [{"event": "complete", "op": "q"}]
    assert_clean_log(proc, since=since)


def test_a_subscription(proc: ServerProcess) -> None:
    since = proc.log_offset()
    run = run_node(SCRIPT, "subscription", {"url": proc.http_url("/graphql")})
    run.assert_succeeded()
    assert results(run, "s") == [{"data": {"count": n}} for n in (1, 2, 3)]
    assert not run.named("error"), str(run)
    assert_clean_log(proc, since=since)


def test_concurrent_operations_on_one_stream(proc: ServerProcess) -> None:
    since = proc.log_offset()
    key = uuid.uuid4().hex
    run = run_node(SCRIPT, "concurrent", {"url": proc.http_url("/graphql"), "key": key})
    run.assert_succeeded()
    assert results(run, "s1") == [{"data": {"count": n}} for n in (1, 2, 3)]
    assert results(run, "s2") == [{"data": {"count": n}} for n in (1, 2)]
    assert results(run, "q") == [{"data": {"hello": "Hello together!"}}]
    recorded = httpx.get(proc.http_url("/_events", f"key={key}"), timeout=WAIT).json()
    methods = [event["method"] for event in recorded if event["event"] == "connect"]
    # One reservation and one stream for the three operations.
    assert methods.count("PUT") == 1 and methods.count("GET") == 1, methods
    assert methods.count("POST") == 3, methods
    assert_clean_log(proc, since=since)


async def test_dispose_mid_stream_ends_the_server_operation(proc: ServerProcess) -> None:
    since = proc.log_offset()
    key = uuid.uuid4().hex
    await wait_until_idle(proc)  # the earlier scenarios' streams have ended
    async with live_node(SCRIPT, "dispose", {"url": proc.http_url("/graphql"), "key": key}) as live:
        await live.until("ready")
        busy = stats(proc)
        assert busy["sse_streams"] == 1 and busy["sse_operations"] == 1
        run = await live.finish()
    run.assert_succeeded()
    assert results(run, "t") == [{"data": {"tracked": "ready"}}]
    async with httpx.AsyncClient(timeout=WAIT) as http, asyncio.timeout(WAIT):
        while True:
            recorded = (await http.get(proc.http_url("/_events", f"key={key}"))).json()
            names = [event["event"] for event in recorded]
            if "source_finally" in names:
                break
            await asyncio.sleep(0.02)
    methods = [event["method"] for event in recorded if event["event"] == "connect"]
    assert "DELETE" in methods, methods
    await wait_until_idle(proc)
    assert_clean_log(proc, since=since)
