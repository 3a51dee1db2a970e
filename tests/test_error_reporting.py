"""Unexpected errors, over real servers: what the client sees and what the server logs.

An ordinary exception raised by a resolver, or thrown by a subscription's source, reaches
the client as a GraphQL error exactly as the reference servers send it, and is logged
on the ``gqlwire`` logger at ERROR with its traceback, once per occurrence: once per HTTP
request, once per result on WebSocket, and once per event for a shared subscription,
however many members it has. With ``mask_errors=True`` its message (and any copy of it
in the extensions) becomes ``"Unexpected error."`` on every transport; deliberate
GraphQL errors (a resolver raising ``GraphQLError``, validation) keep their message and
are not logged. The app is ``tests/apps/errors_app.py``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from tests.harness.control import new_token
from tests.harness.protocols import LEGACY_WS, PROTOCOLS, TRANSPORT_WS
from tests.harness.servers import ServerPool, ServerProcess, assert_clean_log
from tests.harness.wsclient import WSClient, http_get, http_post_json, ws_client

# What the client sees and what gqlwire logs are gqlwire's own, so most cases run on one
# server per adapter (tests/conftest.py); a resolver error over HTTP and over WebSocket,
# logged through each server's logging setup, runs on every server.
pytestmark = pytest.mark.per_adapter

APP = "tests.apps.errors_app:app"
MASKED = "Unexpected error."

BOOM = "query($t: String!) { hello boom(tag: $t) }"
DETAILED = "query($t: String!) { detailed(tag: $t) }"
TICK = "subscription($t: String!) { tick(topic: $t) }"

ROUTES = pytest.mark.parametrize(
    ("path", "masked"), [("/graphql", False), ("/masked", True)], ids=["plain", "masked"]
)
ON_BOTH_PROTOCOLS = pytest.mark.parametrize("protocol", PROTOCOLS)


@pytest.fixture(scope="module")
def proc(server_name: str, server_pool: ServerPool) -> ServerProcess:
    return server_pool.get(APP, server_name)


class ExpectedLog:
    """The exceptions a test expects the server to log, each exactly once."""

    def __init__(self, proc: ServerProcess) -> None:
        self.proc = proc
        self.offset = proc.log_offset()
        self.exceptions: list[str] = []

    def expect(self, exception: str) -> None:
        """``exception``: how its traceback ends (``"RuntimeError: boom x"``)."""
        self.exceptions.append(exception)

    def check(self) -> None:
        proc, since = self.proc, self.offset
        for exception in self.exceptions:
            lines = [line for line in proc.error_lines(since) if line.endswith(exception)]
            tracebacks = [t for t in proc.tracebacks(since) if t.endswith(exception)]
            assert (len(lines), len(tracebacks)) == (1, 1), (
                f"{exception!r} logged {len(lines)} time(s) with {len(tracebacks)} "
                f"traceback(s), not once:\n{proc.log(since)}"
            )
            assert lines[0].startswith("ERROR:gqlwire:"), lines[0]
        allowed = [rf"{re.escape(exception)}$" for exception in self.exceptions]
        assert_clean_log(proc, since=since, allow=allowed)


@pytest.fixture(autouse=True)
def log(proc: ServerProcess) -> Iterator[ExpectedLog]:
    """Fails the test unless the server logged exactly the exceptions it expects, once
    each, and nothing else at error level."""
    expected = ExpectedLog(proc)
    yield expected
    expected.check()


def message(masked: bool, original: str) -> str:
    return MASKED if masked else original


def column_of(query: str, field: str) -> int:
    return query.index(field) + 1


# --------------------------------------------------------------------------- HTTP


@pytest.mark.every_server
@ROUTES
async def test_http_resolver_error(
    proc: ServerProcess, log: ExpectedLog, path: str, masked: bool
) -> None:
    tag = new_token()
    response = await http_post_json(proc.http_url(path), {"query": BOOM, "variables": {"t": tag}})
    assert response.status_code == 200
    assert response.json() == {
        "data": {"hello": "world", "boom": None},
        "errors": [
            {
                "message": message(masked, f"boom {tag}"),
                "locations": [{"line": 1, "column": column_of(BOOM, "boom")}],
                "path": ["boom"],
            }
        ],
    }
    log.expect(f"RuntimeError: boom {tag}")


@ROUTES
async def test_masking_drops_the_message_from_the_extensions(
    proc: ServerProcess, log: ExpectedLog, path: str, masked: bool
) -> None:
    tag = new_token()
    response = await http_post_json(
        proc.http_url(path), {"query": DETAILED, "variables": {"t": tag}}
    )
    [error] = response.json()["errors"]
    assert error["message"] == message(masked, f"detailed {tag}")
    expected = {"code": "DETAILED"} if masked else {"code": "DETAILED", "detail": f"detailed {tag}"}
    assert error["extensions"] == expected
    assert error["path"] == ["detailed"]
    log.expect(f"DetailedError: detailed {tag}")


@ROUTES
async def test_deliberate_errors_keep_their_message_and_are_not_logged(
    proc: ServerProcess, path: str, masked: bool
) -> None:
    response = await http_post_json(proc.http_url(path), {"query": "{ hello deliberate }"})
    assert response.json() == {
        "data": {"hello": "world", "deliberate": None},
        "errors": [
            {
                "message": "deliberately refused",
                "locations": [{"line": 1, "column": 9}],
                "path": ["deliberate"],
            }
        ],
    }
    response = await http_post_json(proc.http_url(path), {"query": "{ nope }"})
    [error] = response.json()["errors"]
    assert "nope" in error["message"]
    response = await http_post_json(
        proc.http_url(path), {"query": BOOM, "variables": {"t": 1}}
    )  # variables that do not coerce: the request's error, not the server's
    [error] = response.json()["errors"]
    assert "$t" in error["message"]


# --------------------------------------------------------------------------- WebSocket


async def connect(stack: AsyncExitStack, proc: ServerProcess, path: str, protocol: str) -> WSClient:
    client = await stack.enter_async_context(ws_client(proc.ws_url(path), [protocol]))
    await client.send({"type": "connection_init"})
    assert await client.receive() == {"type": "connection_ack"}
    return client


async def start(client: WSClient, id: str, query: str, variables: dict[str, Any]) -> None:
    kind = "subscribe" if client.subprotocol == TRANSPORT_WS else "start"
    payload = {"query": query, "variables": variables}
    await client.send({"id": id, "type": kind, "payload": payload})


async def next_payload(client: WSClient, id: str) -> Any:
    received = await client.receive()
    kind = "next" if client.subprotocol == TRANSPORT_WS else "data"
    assert (received["id"], received["type"]) == (id, kind), received
    return received["payload"]


async def error_payload(client: WSClient, id: str, text: str) -> None:
    """An ``error`` message for ``id`` whose one error says ``text`` (a list of errors on
    graphql-transport-ws, a single object on legacy graphql-ws)."""
    expected = [{"message": text}] if client.subprotocol == TRANSPORT_WS else {"message": text}
    assert await client.receive() == {"id": id, "type": "error", "payload": expected}


@pytest.mark.every_server
@ROUTES
@ON_BOTH_PROTOCOLS
async def test_websocket_resolver_error(
    proc: ServerProcess, log: ExpectedLog, path: str, masked: bool, protocol: str
) -> None:
    tag = new_token()
    async with AsyncExitStack() as stack:
        client = await connect(stack, proc, path, protocol)
        await start(client, "1", BOOM, {"t": tag})
        assert await next_payload(client, "1") == {
            "data": {"hello": "world", "boom": None},
            "errors": [
                {
                    "message": message(masked, f"boom {tag}"),
                    "locations": [{"line": 1, "column": column_of(BOOM, "boom")}],
                    "path": ["boom"],
                }
            ],
        }
        assert await client.receive() == {"id": "1", "type": "complete"}
    log.expect(f"RuntimeError: boom {tag}")


async def publish(proc: ServerProcess, topic: str, value: int | str) -> None:
    response = await http_post_json(proc.http_url("/_publish", f"topic={topic}&value={value}"), {})
    response.raise_for_status()


async def wait_until(proc: ServerProcess, endpoint: str, query: str, expected: int) -> None:
    """Poll a control endpoint until it counts ``expected``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (count := (await http_get(proc.http_url(endpoint, query))).json()) != expected:
        if loop.time() > deadline:
            raise AssertionError(f"{endpoint}?{query} counts {count}, not {expected}")
        await asyncio.sleep(0.02)


def failed_tick(masked: bool, topic: str) -> dict[str, Any]:
    return {
        "data": None,
        "errors": [
            {
                "message": message(masked, f"tick {topic} -1"),
                "locations": [{"line": 1, "column": column_of(TICK, "tick")}],
                "path": ["tick"],
            }
        ],
    }


@ROUTES
@ON_BOTH_PROTOCOLS
async def test_subscription_resolver_and_source_errors(
    proc: ServerProcess, log: ExpectedLog, path: str, masked: bool, protocol: str
) -> None:
    topic = new_token()
    async with AsyncExitStack() as stack:
        client = await connect(stack, proc, path, protocol)
        await start(client, "s", TICK, {"t": topic})
        await wait_until(proc, "/_subscribers", f"topic={topic}", 1)
        for value in (1, -1, 2, "crash"):
            await publish(proc, topic, value)
        assert await next_payload(client, "s") == {"data": {"tick": 1}}
        assert await next_payload(client, "s") == failed_tick(masked, topic)
        assert await next_payload(client, "s") == {"data": {"tick": 2}}
        await error_payload(client, "s", message(masked, f"source {topic} crashed"))
        await client.expect_nothing()  # no complete after an error, and the socket stays
    log.expect(f"RuntimeError: tick {topic} -1")
    log.expect(f"RuntimeError: source {topic} crashed")


@pytest.mark.parametrize(
    ("path", "masked"), [("/shared", False), ("/shared-masked", True)], ids=["plain", "masked"]
)
async def test_a_shared_subscription_logs_each_error_once_for_all_its_members(
    proc: ServerProcess, log: ExpectedLog, path: str, masked: bool
) -> None:
    topic = new_token()
    protocols = [TRANSPORT_WS, TRANSPORT_WS, LEGACY_WS]
    async with AsyncExitStack() as stack:
        clients = [await connect(stack, proc, path, protocol) for protocol in protocols]
        for client in clients:
            await start(client, "s", TICK, {"t": topic})
        await wait_until(proc, "/_members", f"route={path}", len(clients))
        await wait_until(proc, "/_subscribers", f"topic={topic}", 1)  # one source for all
        for value in (1, -1, "crash"):
            await publish(proc, topic, value)
        for client in clients:
            assert await next_payload(client, "s") == {"data": {"tick": 1}}
            assert await next_payload(client, "s") == failed_tick(masked, topic)
            await error_payload(client, "s", message(masked, f"source {topic} crashed"))
    log.expect(f"RuntimeError: tick {topic} -1")
    log.expect(f"RuntimeError: source {topic} crashed")
