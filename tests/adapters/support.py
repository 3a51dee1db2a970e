"""Helpers of the adapter tests: a :class:`~gqlwire.GraphQLServer` app driven over the
scripted ASGI server of :mod:`tests.harness.fake_asgi`, in either subprotocol."""

from __future__ import annotations

import uuid
from typing import Any

from gqlwire import GraphQLServer
from gqlwire.asgi_types import ASGIApplication
from tests.apps.fixture_schema import pong
from tests.apps.legacy_app import EVENTS, SCHEMA
from tests.harness.fake_asgi import FakeWebSocket, HookRecorder
from tests.harness.protocols import LEGACY_WS, RESULT, SUBSCRIBE


def make_app(recorder: HookRecorder | None = None, **options: Any) -> ASGIApplication:
    hooks = recorder.hooks() if recorder is not None else {}
    return GraphQLServer(SCHEMA, **{"keep_alive": None, **hooks, **options}).asgi()


def start(protocol: str, id: str, query: str) -> dict[str, Any]:
    return {"id": id, "type": SUBSCRIBE[protocol], "payload": {"query": query}}


async def expect_result(ws: FakeWebSocket, protocol: str, id: str) -> dict[str, Any]:
    """The next message, which must be a result for ``id``; returns its payload."""
    message = await ws.receive_json()
    if protocol == LEGACY_WS and message["type"] == "ka":
        message = await ws.receive_json()
    assert message["type"] == RESULT[protocol] and message["id"] == id, message
    payload: dict[str, Any] = message["payload"]
    return payload


async def run_query(ws: FakeWebSocket, protocol: str) -> None:
    """A query works end to end: its result, then ``complete``."""
    ws.push_text(start(protocol, "q", "{ getValue }"))
    assert await expect_result(ws, protocol, "q") == {"data": {"getValue": "value"}}
    assert await ws.receive_json() == {"id": "q", "type": "complete"}


def assert_final_hooks(recorder: HookRecorder, *, acknowledged: bool = True) -> None:
    assert recorder.count("on_close") == 1, recorder.names()
    assert recorder.count("on_disconnect") == (1 if acknowledged else 0), recorder.names()
    assert recorder.names()[-1] == "on_close", recorder.names()


async def start_tracked(ws: FakeWebSocket, protocol: str) -> str:
    """Acknowledge, start ``tracked`` and wait for its first event; returns its token."""
    token = uuid.uuid4().hex
    await ws.handshake()
    ws.push_text(start(protocol, "t", f'subscription {{ tracked(token: "{token}") }}'))
    assert await expect_result(ws, protocol, "t") == {"data": {"tracked": "ready"}}
    return token


def assert_source_closed(token: str) -> None:
    events = [event["event"] for event in EVENTS[token]]
    assert events == ["source_start", "source_finally"], events


async def start_ping(ws: FakeWebSocket, protocol: str) -> str:
    """Acknowledge, start ``ping(key)`` and see one pong go through; returns the key."""
    key = uuid.uuid4().hex
    await ws.handshake()
    ws.push_text(start(protocol, "p", f'subscription {{ ping(key: "{key}") }}'))
    pong(key)  # buffered until the subscription listens
    assert await expect_result(ws, protocol, "p") == {"data": {"ping": "pong"}}
    return key
