"""The app of the SSE single connection mode tests (``tests/test_sse_single.py``,
``tests/interop/test_sse_single_client.py``): several configurations by path.

Schema::

    type Query { hello(name: String! = "world"): String!  whoami: Who!  broken: String }
    type Who { transport: String! user: String operationId: String }
    type Mutation { touch: Int! }
    type Subscription {
      count(to: Int!): Int!        # 1..to, then the end
      tracked(key: String!): String!  # "ready", then waits until ended; records its
                                      # start and its ``finally`` under ``key``
      failing: String!             # "one", then its source raises
      throwing: String!            # its subscribe function raises: no source at all
    }

GraphQL paths (single connection mode on, keep-alive every ``KEEP_ALIVE`` s):

``/graphql``
    the defaults otherwise; ``on_connect`` records each request's transport and
    method under its ``x-key`` header, refuses ``x-user: stranger`` (403) and raises
    for ``x-user: explode``; the context names the user and the transport.
``/short``
    reservations expire after ``SHORT_RESERVATION`` seconds.
``/limited``
    ``sse_max_streams=2`` and ``max_subscriptions_per_connection=2``.
``/capped``
    ``max_operations=1``: one operation at a time in the whole server.
``/shared``
    every ``tracked`` and ``count`` subscription shares (``share_key``).
``/off``
    single connection mode off (the default).

Control endpoints: ``GET /_events?key=K`` (what was recorded under ``K``), ``GET
/_stats?route=R`` (``stats()`` of the server at ``R``).
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

from graphql import GraphQLSchema, build_schema

from gqlwire import GraphQLServer
from gqlwire.asgi_types import Receive, Scope, Send
from tests.harness.routes import Routes, respond

KEEP_ALIVE = 0.5
SHORT_RESERVATION = 0.3
STRANGER = "stranger"
EXPLODING_USER = "explode"
SECRET = "on_connect exploded (a secret)"
KABOOM = "Kaboom!"

EVENTS: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)


def record(key: str, event: str, **details: Any) -> None:
    EVENTS[key].append({"event": event, **details})


schema: GraphQLSchema = build_schema(
    """
    type Query {
      hello(name: String! = "world"): String!
      whoami: Who!
      broken: String
    }
    type Who {
      transport: String!
      user: String
      operationId: String
    }
    type Mutation {
      touch: Int!
    }
    type Subscription {
      count(to: Int!): Int!
      tracked(key: String!): String!
      failing: String!
      throwing: String!
    }
    """
)

_touches = 0


def _touch(_root: Any, _info: Any) -> int:
    global _touches
    _touches += 1
    return _touches


def _broken(_root: Any, _info: Any) -> str:
    raise RuntimeError("resolver failed")


async def _count(_root: Any, _info: Any, to: int) -> AsyncIterator[dict[str, int]]:
    for number in range(1, to + 1):
        yield {"count": number}


async def _tracked(_root: Any, _info: Any, key: str) -> AsyncIterator[dict[str, str]]:
    record(key, "source_start")
    try:
        yield {"tracked": "ready"}
        await asyncio.Event().wait()  # until the server ends the iteration
    finally:
        record(key, "source_finally")


async def _failing(_root: Any, _info: Any) -> AsyncIterator[dict[str, str]]:
    yield {"failing": "one"}
    raise RuntimeError("the source failed")


def _throwing(_root: Any, _info: Any) -> AsyncIterator[dict[str, str]]:
    raise RuntimeError(KABOOM)


def _install() -> None:
    assert schema.query_type and schema.mutation_type and schema.subscription_type
    schema.query_type.fields["hello"].resolve = lambda _r, _i, name: f"Hello {name}!"
    schema.query_type.fields["whoami"].resolve = lambda _r, info: info.context
    schema.query_type.fields["broken"].resolve = _broken
    schema.mutation_type.fields["touch"].resolve = _touch
    for name, source in (("count", _count), ("tracked", _tracked), ("failing", _failing)):
        field = schema.subscription_type.fields[name]
        field.subscribe = source
        field.resolve = lambda event, _info, _name=name, **_args: event[_name]
    schema.subscription_type.fields["throwing"].subscribe = _throwing


_install()


def _on_connect(ctx: Any) -> bool:
    key = ctx.headers.get("x-key")
    if key:
        record(key, "connect", transport=ctx.transport, method=ctx.method)
    user = ctx.headers.get("x-user")
    if user == EXPLODING_USER:
        raise RuntimeError(SECRET)
    return bool(user != STRANGER)


def _context(ctx: Any, id: Any, payload: Any, args: Any) -> dict[str, Any]:
    return {
        "transport": ctx.transport,
        "user": ctx.headers.get("x-user"),
        "operationId": None if id is None else str(id),
    }


def _server(**options: Any) -> GraphQLServer:
    return GraphQLServer(
        schema,
        **{
            "sse_single_connection": True,
            "sse_keep_alive": KEEP_ALIVE,
            "on_connect": _on_connect,
            "context": _context,
            **options,
        },
    )


servers = {
    "/graphql": _server(),
    "/short": _server(sse_reservation_timeout=SHORT_RESERVATION),
    "/limited": _server(sse_max_streams=2, max_subscriptions_per_connection=2),
    "/capped": _server(max_operations=1),
    "/shared": _server(share_key=lambda ctx: "everyone"),
    "/off": GraphQLServer(schema),
}


def _query_param(scope: Scope, name: str) -> str:
    values = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1")).get(name)
    return values[0] if values else ""


async def _events(scope: Scope, receive: Receive, send: Send) -> None:
    body = json.dumps(EVENTS.get(_query_param(scope, "key"), []))
    await respond(send, 200, body.encode())


async def _stats(scope: Scope, receive: Receive, send: Send) -> None:
    body = json.dumps(servers[_query_param(scope, "route")].stats())
    await respond(send, 200, body.encode())


routes = Routes(servers, http={"/_events": _events, "/_stats": _stats})
app = routes.asgi()
aiohttp_app = routes.aiohttp()
