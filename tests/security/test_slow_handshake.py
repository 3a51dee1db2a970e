"""A client that sends half a request and then nothing does not hold a socket forever.

``serve`` gives aiohttp, uvicorn (both WebSocket implementations) and daphne a 10 s
limit for the first request's head, which they have no setting for, and sets granian's to
10 s (it starts at the first byte: a connection that sends nothing at all is kept);
hypercorn has its own (5 s).
"""

from __future__ import annotations

import asyncio

import pytest

from tests.harness.servers import ServerPool, ServerProcess, assert_clean_log

TARGET = "tests.apps.security_app:plain"


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(TARGET, server_name)


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /graphql HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"],
    ids=["nothing", "half-an-upgrade"],
)
async def test_an_unfinished_request_is_dropped(proc: ServerProcess, sent: bytes) -> None:
    if proc.server == "granian" and not sent:
        pytest.skip("granian's header timeout starts at the first byte")
    since = proc.log_offset()
    reader, writer = await asyncio.open_connection(proc.host, proc.port)
    try:
        writer.write(sent)
        await writer.drain()
        # The event: the server ends the connection.
        assert await asyncio.wait_for(reader.read(), 30) == b""
    finally:
        writer.close()
    assert_clean_log(proc, since=since)
