"""What a user checks first on a served GraphQL endpoint, over each transport.

The example schema (``examples/hello.py``) answers ``{ hello }`` with ``"Hello, world!"``
and ``subscription { countdown(start: 0) }`` with one event, ``0``, then completes.
Every helper returns what the server answered, so a test states what it expects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from tests.harness.protocols import RESULT, SUBSCRIBE, TRANSPORT_WS
from tests.harness.servers import ServerProcess
from tests.harness.wsclient import WSClient, http_get, http_post_json, ws_client

HELLO = "{ hello }"
HELLO_RESULT = {"data": {"hello": "Hello, world!"}}
COUNTDOWN = "subscription { countdown(start: 0) }"
COUNTDOWN_EVENTS = [{"data": {"countdown": 0}}]
# The countdown waits a second after its last event before it completes.
_SUBSCRIPTION_WAIT = 5.0


async def post(
    proc: ServerProcess,
    query: str,
    path: str = "/graphql",
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Any]:
    """(status, JSON body or text) of a POST of `query`."""
    response = await http_post_json(proc.http_url(path), {"query": query}, headers)
    return response.status_code, _body(response.headers.get("content-type"), response.text)


async def get(
    proc: ServerProcess,
    query: str,
    path: str = "/graphql",
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Any]:
    """(status, JSON body or text) of a GET with `query` in the query string (with the
    header that tells gqlwire it is not a cross-site request)."""
    sent = {"accept": "application/json", "graphql-preflight": "1", **(headers or {})}
    response = await http_get(proc.http_url(path, urlencode({"query": query})), sent)
    return response.status_code, _body(response.headers.get("content-type"), response.text)


def _body(content_type: str | None, text: str) -> Any:
    media_type = (content_type or "").partition(";")[0].strip()
    return json.loads(text) if media_type.endswith("json") else text


class Refused(Exception):
    """The server did not acknowledge the connection: what it sent instead (legacy:
    ``connection_error``), and the (code, reason) it closed with."""

    def __init__(self, message: dict[str, Any] | None, closed: tuple[int, str]) -> None:
        super().__init__(f"refused: {message} then closed {closed}")
        self.message = message
        self.closed = closed


async def subscribe(
    proc: ServerProcess,
    protocol: str,
    query: str = COUNTDOWN,
    path: str = "/graphql",
    connection_params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The payloads of one operation on `protocol`, up to its completion. Raises
    `Refused` if the server does not acknowledge the connection."""
    async with ws_client(proc.ws_url(path), subprotocols=[protocol], extra_headers=headers) as c:
        assert c.subprotocol == protocol
        init: dict[str, Any] = {"type": "connection_init"}
        if connection_params is not None:
            init["payload"] = dict(connection_params)
        await c.send(init)
        acknowledgement = await _next(c, protocol)
        if acknowledgement is None or acknowledgement["type"] != "connection_ack":
            raise Refused(acknowledgement, await c.wait_closed())
        data = RESULT[protocol]
        await c.send({"id": "1", "type": SUBSCRIBE[protocol], "payload": {"query": query}})
        payloads: list[dict[str, Any]] = []
        while (message := await _next(c, protocol, _SUBSCRIPTION_WAIT)) is not None:
            if message["type"] == "complete":
                assert message == {"id": "1", "type": "complete"}
                return payloads
            assert message["type"] == data and message["id"] == "1", message
            payloads.append(message["payload"])
        raise AssertionError(f"closed before the subscription completed: {c.close_status()}")


async def _next(c: WSClient, protocol: str, timeout: float = 2.0) -> dict[str, Any] | None:  # noqa: ASYNC109
    """The next message that is not a keep-alive (legacy ``ka``, or a ``ping``, which is
    answered); ``None`` if the server closed instead."""
    while True:
        try:
            message = await c.receive(timeout)
        except AssertionError:
            if c.closed():
                return None
            raise
        if message["type"] == "ka":
            continue
        if message["type"] == "ping" and protocol == TRANSPORT_WS:
            await c.send({"type": "pong"})
            continue
        return message
