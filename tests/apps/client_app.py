"""The app behind the client tests: gqlwire's own server, seen through ``gqlwire.Client``.

``app`` (ASGI) and ``aiohttp_app`` (aiohttp) serve the same routes (see
:mod:`tests.harness.routes`). A connection's *token* is the ``token`` query parameter of
its WebSocket URL, so recording works on both subprotocols and both adapters, and for
clients that send no connection params at all.

WebSocket paths:

``/graphql``
    the default options except ``keep_alive=None``; every hook records under the token
    (``connect`` also records the handshake's ``X-Test`` header).
    ``on_connect`` refuses params holding ``"reject": true`` (4403 / legacy
    ``connection_error``), raises for ``"explode": true`` (``debug=True``, so the close
    reason is the message), and acknowledges the others with ``{"welcome": <token>}``.
``/keepalive``
    the same, with a server ``ping`` every ``KEEP_ALIVE`` s that must be answered within
    ``PONG_TIMEOUT`` s (else the server closes 1001).
``/noack``
    ``on_connect`` never returns: no ``connection_ack`` ever comes.

HTTP paths:

``GET /_events?token=T``
    what was recorded under ``T``: a JSON list of ``{"event": ..., ...}`` objects, in order.
``GET /_stats``
    ``stats()`` of every endpoint, summed: ``{"connections": n, "operations": n}``.
``POST /_close?token=T&code=C&reason=R``
    the server closes every open connection of ``T`` with ``C`` and ``R``.
``POST /_publish?token=T&value=V``
    every active ``channel`` subscription of ``T`` yields ``V``; answers how many got it.

The schema::

    type Query {
      hello(name: String = "world"): String!
      throwing: String                 # its resolver raises "Query Kaboom!"
      slow(ms: Int!): String!          # "slow", after ms milliseconds
    }
    type Subscription {
      greetings: String!               # Hi, Bonjour, Hola, Ciao, Zdravo
      count(to: Int!, delayMs: Int = 0): Int!   # 1..to, delayMs apart
      channel: String!                 # what /_publish sends; records source_start and,
                                       # in its finally, source_finally (with the op id)
      boom: Int!                       # 1, then its source raises "Boom!" (an `error`)
      flaky(to: Int!): Int             # 1..to; resolving an even number raises
    }
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
)

from gqlwire import ConnectionContext, GraphQLServer
from gqlwire.asgi_types import Receive, Scope, Send
from tests.apps.fixture_schema import GREETINGS
from tests.harness.routes import Routes, asgi_scope, respond

KEEP_ALIVE = 0.2
PONG_TIMEOUT = 0.6

EVENTS: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
CONNECTIONS: defaultdict[str, set[ConnectionContext]] = defaultdict(set)
CHANNELS: defaultdict[str, set[asyncio.Queue[str]]] = defaultdict(set)


def record(token: str, event: str, **details: Any) -> None:
    EVENTS[token].append({"event": event, **details})


def query_param(scope: Any, name: str) -> str:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    return values[0] if values else ""


def token_of(ctx: ConnectionContext) -> str:
    return query_param(asgi_scope(ctx.extra), "token")


def x_test_header(ctx: ConnectionContext) -> str | None:
    """The handshake's ``X-Test`` header, if it had one."""
    for name, value in asgi_scope(ctx.extra).get("headers", ()):
        if bytes(name).lower() == b"x-test":
            return bytes(value).decode("latin-1")
    return None


# -- the schema ------------------------------------------------------------------------------


def _hello(_root: Any, _info: Any, name: str) -> str:
    return f"Hello, {name}!"


def _throwing(_root: Any, _info: Any) -> str:
    raise RuntimeError("Query Kaboom!")


async def _slow(_root: Any, _info: Any, ms: int) -> str:
    await asyncio.sleep(ms / 1000)
    return "slow"


async def _greetings(_root: Any, _info: Any) -> AsyncIterator[dict[str, str]]:
    for greeting in GREETINGS:
        yield {"greetings": greeting}


async def _count(_root: Any, _info: Any, to: int, delayMs: int) -> AsyncIterator[dict[str, int]]:
    for number in range(1, to + 1):
        if number > 1 and delayMs:
            await asyncio.sleep(delayMs / 1000)
        yield {"count": number}


async def _channel(_root: Any, info: Any) -> AsyncIterator[dict[str, str]]:
    token, id = info.context["token"], info.context["id"]
    queue: asyncio.Queue[str] = asyncio.Queue()
    CHANNELS[token].add(queue)
    record(token, "source_start", id=id)
    try:
        while True:
            yield {"channel": await queue.get()}
    finally:
        CHANNELS[token].discard(queue)
        record(token, "source_finally", id=id)


async def _boom(_root: Any, _info: Any) -> AsyncIterator[dict[str, int]]:
    yield {"boom": 1}
    raise RuntimeError("Boom!")


async def _flaky_source(_root: Any, _info: Any, to: int) -> AsyncIterator[int]:
    for number in range(1, to + 1):
        yield number


def _flaky_resolve(number: int, _info: Any, to: int) -> int:
    if number % 2 == 0:
        raise ValueError(f"{number} is even")
    return number


def _required(kind: Any) -> Any:
    return GraphQLNonNull(kind)


def make_schema() -> GraphQLSchema:
    query = GraphQLObjectType(
        "Query",
        {
            "hello": GraphQLField(
                _required(GraphQLString),
                args={"name": GraphQLArgument(GraphQLString, default_value="world")},
                resolve=_hello,
            ),
            "throwing": GraphQLField(GraphQLString, resolve=_throwing),
            "slow": GraphQLField(
                _required(GraphQLString),
                args={"ms": GraphQLArgument(_required(GraphQLInt))},
                resolve=_slow,
            ),
        },
    )
    subscription = GraphQLObjectType(
        "Subscription",
        {
            "greetings": GraphQLField(_required(GraphQLString), subscribe=_greetings),
            "count": GraphQLField(
                _required(GraphQLInt),
                args={
                    "to": GraphQLArgument(_required(GraphQLInt)),
                    "delayMs": GraphQLArgument(GraphQLInt, default_value=0),
                },
                subscribe=_count,
            ),
            "channel": GraphQLField(_required(GraphQLString), subscribe=_channel),
            "boom": GraphQLField(_required(GraphQLInt), subscribe=_boom),
            "flaky": GraphQLField(
                GraphQLInt,
                args={"to": GraphQLArgument(_required(GraphQLInt))},
                subscribe=_flaky_source,
                resolve=_flaky_resolve,
            ),
        },
    )
    return GraphQLSchema(query=query, subscription=subscription)


SCHEMA = make_schema()


# -- hooks -----------------------------------------------------------------------------------


def _on_connect(ctx: ConnectionContext) -> bool | dict[str, Any]:
    token = token_of(ctx)
    params = ctx.connection_params or {}
    record(
        token,
        "connect",
        params=ctx.connection_params,
        # An HTTP request (HTTPClient's queries) has no subprotocol.
        protocol=ctx.protocol if isinstance(ctx, ConnectionContext) else None,
        x_test=x_test_header(ctx),
    )
    if params.get("explode"):
        raise RuntimeError("on_connect exploded")
    if params.get("reject"):
        return False
    CONNECTIONS[token].add(ctx)
    return {"welcome": token}


async def _never_acknowledge(ctx: ConnectionContext) -> bool:
    record(token_of(ctx), "connect", params=ctx.connection_params, protocol=ctx.protocol)
    await asyncio.Event().wait()
    return True


def _on_close(ctx: ConnectionContext, code: int, reason: str) -> None:
    token = token_of(ctx)
    CONNECTIONS[token].discard(ctx)
    record(token, "close", code=code, reason=reason)


def _on_subscribe(ctx: ConnectionContext, id: str, payload: dict[str, Any]) -> None:
    record(token_of(ctx), "subscribe", id=id, payload=payload)


def _on_complete(ctx: ConnectionContext, id: str, payload: dict[str, Any]) -> None:
    record(token_of(ctx), "complete", id=id)


def _context(ctx: ConnectionContext, id: str, payload: Any, args: Any) -> dict[str, Any]:
    return {"token": token_of(ctx), "id": id}


HOOKS: dict[str, Any] = {
    "on_connect": _on_connect,
    "on_close": _on_close,
    "on_subscribe": _on_subscribe,
    "on_complete": _on_complete,
    "context": _context,
    "debug": True,
    "keep_alive": None,
}


# -- control endpoints -----------------------------------------------------------------------


async def _respond_json(send: Send, body: Any, status: int = 200) -> None:
    await respond(send, status, json.dumps(body).encode())


async def _events_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    await _respond_json(send, EVENTS.get(query_param(scope, "token"), []))


async def _close_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    token = query_param(scope, "token")
    code = int(query_param(scope, "code") or 1000)
    reason = query_param(scope, "reason")
    contexts = list(CONNECTIONS.get(token, ()))
    await asyncio.gather(*(ctx.close(code, reason) for ctx in contexts))
    await _respond_json(send, {"closed": len(contexts)})


async def _publish_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    queues = list(CHANNELS.get(query_param(scope, "token"), ()))
    for queue in queues:
        queue.put_nowait(query_param(scope, "value"))
    await _respond_json(send, {"delivered": len(queues)})


SERVERS = {
    "/graphql": GraphQLServer(SCHEMA, **HOOKS),
    "/keepalive": GraphQLServer(
        SCHEMA, **{**HOOKS, "keep_alive": KEEP_ALIVE, "pong_timeout": PONG_TIMEOUT}
    ),
    "/noack": GraphQLServer(SCHEMA, **{**HOOKS, "on_connect": _never_acknowledge}),
}


async def _stats_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    totals = {"connections": 0, "operations": 0}
    for server in SERVERS.values():
        stats = server.stats()
        for key in totals:  # the two counts the tests wait on; stats() has more
            totals[key] += stats[key]
    await _respond_json(send, totals)


routes = Routes(
    SERVERS,
    http={
        "/_events": _events_endpoint,
        "/_stats": _stats_endpoint,
        "/_close": _close_endpoint,
        "/_publish": _publish_endpoint,
    },
)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
