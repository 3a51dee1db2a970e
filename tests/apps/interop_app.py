"""The app behind the interop tests: gqlwire as third-party clients see it.

Clients this project did not write (the graphql-ws and subscriptions-transport-ws npm
clients, the gql Python client) talk to it; what its hooks and sources saw is read back
over plain HTTP on the same port. Served two ways from the same ``GraphQLServer`` objects:
``app`` (ASGI) and ``aiohttp_app`` (see :mod:`tests.harness.routes`).

WebSocket paths:

``/graphql``
    the interop configuration: default options except ``keep_alive=None`` (so message
    sequences are exact), every hook below.
``/keepalive``
    the same, with ``keep_alive=KEEP_ALIVE`` seconds (``ping`` on graphql-transport-ws,
    ``ka`` on legacy graphql-ws) and a generous ``pong_timeout``.

HTTP paths:

``GET /_events?token=T``
    what was recorded under ``T``: a JSON list of ``[name, details]`` pairs, in order.
``GET /_stats?route=/graphql``
    ``stats()`` of the server at that path (open connections, running operations...).

A connection's token is ``connection_params["token"]`` (clients set it through their
connection params), so recording works the same on both subprotocols and both adapters.
``on_connect`` refuses connections whose params hold ``"reject": true``, and acknowledges
the others with the payload ``{"welcome": <token>}``.

The schema::

    type Query {
      hello(name: String = "world"): String!
      greeting(token: String!): String      # what setGreeting stored for the token
      fail: String                          # its resolver raises
    }
    type Mutation {
      setGreeting(token: String!, greeting: String!): String!
    }
    type Subscription {
      count(to: Int!, delayMs: Int = 0): Int!   # 1..to, delayMs apart, then ends
      forever(token: String!): Int!             # 0, 1, 2... every TICK s until stopped;
                                                # records source_start / source_finally
      boom(after: Int!): Int!                   # 1..after, then its source raises
      flaky(to: Int!): Int                      # 1..to; resolving an even number raises
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

from gqlwire import ConnectionContext, Context, GraphQLServer
from gqlwire.asgi_types import Receive, Scope, Send
from tests.harness.routes import Routes, respond

KEEP_ALIVE = 0.2
"""Seconds between keep-alive messages on ``/keepalive``."""
KEEP_ALIVE_PONG_TIMEOUT = 10.0
"""A client's pong may be slow on a loaded machine; the keep-alive tests are not about it."""
TICK = 0.05
"""Seconds between the values of ``Subscription.forever``."""

FAIL_MESSAGE = "the fail resolver failed"


def boom_message(after: int) -> str:
    return f"boom after {after}"


def flaky_message(value: int) -> str:
    return f"{value} is even"


# -- what tests observe ---------------------------------------------------------------------

EVENTS: defaultdict[str, list[list[Any]]] = defaultdict(list)
"""Hook calls and source events by token (one server process serves many tests)."""
GREETINGS: dict[str, str] = {}
"""The mutation's state, by token."""


def record(token: str | None, name: str, **details: Any) -> None:
    if token:
        EVENTS[token].append([name, details])


def connection_token(ctx: Context) -> str | None:
    params = ctx.connection_params
    token = params.get("token") if isinstance(params, dict) else None
    return token if isinstance(token, str) else None


# -- the schema -----------------------------------------------------------------------------


def _hello(_root: Any, _info: Any, name: str) -> str:
    return f"Hello, {name}!"


def _greeting(_root: Any, _info: Any, token: str) -> str | None:
    return GREETINGS.get(token)


def _fail(_root: Any, _info: Any) -> str:
    raise ValueError(FAIL_MESSAGE)


def _set_greeting(_root: Any, _info: Any, token: str, greeting: str) -> str:
    GREETINGS[token] = greeting
    record(token, "set_greeting", greeting=greeting)
    return greeting


async def _count(_root: Any, _info: Any, to: int, delayMs: int) -> AsyncIterator[int]:
    for value in range(1, to + 1):
        if value > 1 and delayMs:
            await asyncio.sleep(delayMs / 1000)
        yield value


async def _forever(_root: Any, _info: Any, token: str) -> AsyncIterator[int]:
    record(token, "source_start")
    try:
        value = 0
        while True:
            yield value
            value += 1
            await asyncio.sleep(TICK)
    finally:
        record(token, "source_finally")


async def _boom(_root: Any, _info: Any, after: int) -> AsyncIterator[int]:
    for value in range(1, after + 1):
        yield value
    raise RuntimeError(boom_message(after))


async def _flaky_source(_root: Any, _info: Any, to: int) -> AsyncIterator[int]:
    for value in range(1, to + 1):
        yield value


def _flaky_resolve(value: int, _info: Any, **_args: Any) -> int:
    if value % 2 == 0:
        raise ValueError(flaky_message(value))
    return value


def _event(value: Any, _info: Any, **_args: Any) -> Any:
    return value  # a subscription field's value is the event itself


def _non_null(kind: Any) -> GraphQLNonNull[Any]:
    return GraphQLNonNull(kind)


def make_schema() -> GraphQLSchema:
    query = GraphQLObjectType(
        "Query",
        {
            "hello": GraphQLField(
                _non_null(GraphQLString),
                args={"name": GraphQLArgument(GraphQLString, default_value="world")},
                resolve=_hello,
            ),
            "greeting": GraphQLField(
                GraphQLString,
                args={"token": GraphQLArgument(_non_null(GraphQLString))},
                resolve=_greeting,
            ),
            "fail": GraphQLField(GraphQLString, resolve=_fail),
        },
    )
    mutation = GraphQLObjectType(
        "Mutation",
        {
            "setGreeting": GraphQLField(
                _non_null(GraphQLString),
                args={
                    "token": GraphQLArgument(_non_null(GraphQLString)),
                    "greeting": GraphQLArgument(_non_null(GraphQLString)),
                },
                resolve=_set_greeting,
            )
        },
    )
    subscription = GraphQLObjectType(
        "Subscription",
        {
            "count": GraphQLField(
                _non_null(GraphQLInt),
                args={
                    "to": GraphQLArgument(_non_null(GraphQLInt)),
                    "delayMs": GraphQLArgument(GraphQLInt, default_value=0),
                },
                subscribe=_count,
                resolve=_event,
            ),
            "forever": GraphQLField(
                _non_null(GraphQLInt),
                args={"token": GraphQLArgument(_non_null(GraphQLString))},
                subscribe=_forever,
                resolve=_event,
            ),
            "boom": GraphQLField(
                _non_null(GraphQLInt),
                args={"after": GraphQLArgument(_non_null(GraphQLInt))},
                subscribe=_boom,
                resolve=_event,
            ),
            "flaky": GraphQLField(
                GraphQLInt,
                args={"to": GraphQLArgument(_non_null(GraphQLInt))},
                subscribe=_flaky_source,
                resolve=_flaky_resolve,
            ),
        },
    )
    return GraphQLSchema(query=query, mutation=mutation, subscription=subscription)


SCHEMA = make_schema()


# -- hooks ----------------------------------------------------------------------------------


def _on_connect(ctx: Context) -> bool | dict[str, Any]:
    token = connection_token(ctx)
    params = ctx.connection_params
    # On HTTP transports (plain, SSE, multipart) there is no subprotocol: the transport.
    protocol = ctx.protocol if isinstance(ctx, ConnectionContext) else ctx.transport
    record(token, "on_connect", connection_params=params, protocol=protocol)
    if isinstance(params, dict) and params.get("reject") is True:
        return False
    return {"welcome": token}


def _on_subscribe(ctx: Context, id: str, payload: dict[str, Any]) -> None:
    record(connection_token(ctx), "on_subscribe", id=id)


def _on_complete(ctx: Context, id: str, payload: dict[str, Any]) -> None:
    record(connection_token(ctx), "on_complete", id=id)


def _on_close(ctx: Context, code: int, reason: str) -> None:
    record(connection_token(ctx), "on_close", code=code)


def _server(**options: Any) -> GraphQLServer:
    return GraphQLServer(
        SCHEMA,
        on_connect=_on_connect,
        on_subscribe=_on_subscribe,
        on_complete=_on_complete,
        on_close=_on_close,
        **options,
    )


SERVERS: dict[str, GraphQLServer] = {
    "/graphql": _server(keep_alive=None),
    "/keepalive": _server(keep_alive=KEEP_ALIVE, pong_timeout=KEEP_ALIVE_PONG_TIMEOUT),
}


# -- serving --------------------------------------------------------------------------------


async def _events_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    body = EVENTS.get(query.get("token", [""])[0], [])
    await respond(send, 200, json.dumps(body).encode())


async def _stats_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    server = SERVERS[query.get("route", ["/graphql"])[0]]
    await respond(send, 200, json.dumps(server.stats()).encode())


routes = Routes(SERVERS, http={"/_events": _events_endpoint, "/_stats": _stats_endpoint})
app = routes.asgi()
aiohttp_app = routes.aiohttp()
