"""The ASGI adapter's streamed responses against a scripted server, for what no real
server does on demand: a ``send()`` that raises mid-stream, a ``receive()`` that raises
(granian's "ASGI flow error"), one that never returns (hypercorn, daphne). Whatever the
server does, the operation ends, its source's cleanup runs, ``stats()`` returns to zero
and the app leaves no task behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from graphql import build_schema

from gqlwire import GraphQLServer
from gqlwire.asgi_types import Message

SCHEMA = build_schema("type Query { hello: String } type Subscription { ticks: Int! }")
ENDED: list[str] = []


async def _ticks(*_: Any) -> AsyncIterator[int]:
    try:
        n = 0
        while True:
            n += 1
            yield n
            await asyncio.sleep(0)
    finally:
        ENDED.append("ticks")


assert SCHEMA.subscription_type is not None
SCHEMA.subscription_type.fields["ticks"].subscribe = _ticks
SCHEMA.subscription_type.fields["ticks"].resolve = lambda value, *_a, **_k: value


def scope(accept: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "path": "/graphql",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"accept", accept.encode())],
    }


class ScriptedServer:
    """Delivers the request body, then does ``after_body`` on the next receive; its
    ``send`` raises ``OSError`` from the ``fail_at``-th body message on."""

    def __init__(self, query: str, after_body: str, fail_at: int | None = None) -> None:
        self.body = orjson.dumps({"query": query})
        self.after_body = after_body
        self.fail_at = fail_at
        self.sent: list[Message] = []
        self.received = 0

    async def receive(self) -> Message:
        self.received += 1
        if self.received == 1:
            return {"type": "http.request", "body": self.body, "more_body": False}
        if self.after_body == "raise":
            raise RuntimeError("ASGI flow error")
        if self.after_body == "disconnect":
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()  # blocks forever
        raise AssertionError("unreachable")

    async def send(self, message: Message) -> None:
        bodies = [m for m in self.sent if m["type"] == "http.response.body"]
        if self.fail_at is not None and len(bodies) + 1 >= self.fail_at:
            raise OSError("the client is gone")
        self.sent.append(message)
        await asyncio.sleep(0)


async def serve(server: GraphQLServer, script: ScriptedServer, accept: str) -> None:
    before = set(asyncio.all_tasks())
    app = server.asgi()
    async with asyncio.timeout(10):
        await app(scope(accept), script.receive, script.send)
    await asyncio.sleep(0)
    assert set(asyncio.all_tasks()) - before == set()
    stats = server.stats()
    assert (stats["http_streams"], stats["operations"]) == (0, 0)


@pytest.mark.parametrize("accept", ["text/event-stream", 'multipart/mixed;subscriptionSpec="1.0"'])
async def test_a_send_that_raises_mid_stream_ends_the_operation(accept: str) -> None:
    ENDED.clear()
    server = GraphQLServer(SCHEMA)
    script = ScriptedServer("subscription { ticks }", after_body="block", fail_at=3)
    await serve(server, script, accept)
    assert ENDED == ["ticks"]
    assert script.sent[0]["type"] == "http.response.start"


@pytest.mark.parametrize("after_body", ["raise", "disconnect"])
async def test_a_receive_that_raises_or_a_disconnect_ends_the_operation(after_body: str) -> None:
    ENDED.clear()
    server = GraphQLServer(SCHEMA)
    # Sends never fail here: only the watcher can end this endless stream.
    script = ScriptedServer("subscription { ticks }", after_body=after_body)
    await serve(server, script, "text/event-stream")
    assert ENDED == ["ticks"]


async def test_a_receive_that_never_returns_does_not_hold_a_finished_stream() -> None:
    server = GraphQLServer(SCHEMA)
    script = ScriptedServer("{ hello }", after_body="block")
    await serve(server, script, "text/event-stream")
    bodies = b"".join(m.get("body", b"") for m in script.sent if m["type"] == "http.response.body")
    assert bodies.endswith(b"event: complete\ndata:\n\n")
    assert script.sent[-1] == {"type": "http.response.body", "body": b""}
