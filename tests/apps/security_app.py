"""Abusive clients against default options, observable from outside the server process.

Routes:

- ``/graphql``: every option at its default (keep-alive off, so that the only frames a
  test sees are the ones it asked for); ``big(size)`` returns a string of ``size``
  characters, ``effect`` counts how often it ran (a query with a side effect, for the
  CSRF tests);
- ``/origins``: the same schema with ``allowed_origins=["https://app.example"]``;
- ``/unbounded``: ``max_pending_bytes=None`` (the outbox bounded in messages only);
- ``/capped``: ``max_connections=3``, ``max_operations=2``; ``forever`` is a
  subscription that sends 1 and then runs until it is completed.

Control endpoints: ``GET /_stats?route=/graphql`` returns the server's ``stats()``, the
process id (the worker's on granian) and how often ``effect`` ran.

With ``SECURITY_APP_GC=off`` in its environment, the process runs with the cyclic garbage
collector disabled: whatever a client leaves behind in reference cycles then stays, so
a test sees memory that only reference counting returns.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import orjson
from graphql import build_schema

from gqlwire import GraphQLServer
from tests.harness.routes import Routes, respond

if os.environ.get("SECURITY_APP_GC") == "off":
    gc.disable()

effects = {"count": 0}

schema = build_schema(
    """
    type Query { big(size: Int!): String!, effect: Int! }
    type Mutation { effect: Int! }
    type Subscription { forever: Int! }
    """
)


async def subscribe_forever(_root: Any, _info: Any) -> AsyncIterator[int]:
    yield 1
    await asyncio.Event().wait()  # until the client completes it or leaves
    yield 2  # pragma: no cover


def resolve_big(_root: Any, _info: Any, size: int) -> str:
    return "x" * size


def resolve_effect(_root: Any, _info: Any) -> int:
    effects["count"] += 1
    return effects["count"]


query_type = schema.query_type
assert query_type is not None
query_type.fields["big"].resolve = resolve_big
query_type.fields["effect"].resolve = resolve_effect
schema.mutation_type.fields["effect"].resolve = resolve_effect  # type: ignore[union-attr]
forever = schema.subscription_type.fields["forever"]  # type: ignore[union-attr]
forever.subscribe = subscribe_forever
forever.resolve = lambda value, _info: value

servers = {
    "/graphql": GraphQLServer(schema, keep_alive=None),
    "/origins": GraphQLServer(schema, keep_alive=None, allowed_origins=["https://app.example"]),
    # The outbox bounded in messages only, as before max_pending_bytes: the control.
    "/unbounded": GraphQLServer(schema, keep_alive=None, max_pending_bytes=None),
    # Process-wide caps, small enough for a test to reach.
    "/capped": GraphQLServer(schema, keep_alive=None, max_connections=3, max_operations=2),
}


async def stats(scope: Any, receive: Any, send: Any) -> None:
    raw = bytes(scope.get("query_string") or b"").decode()
    route = parse_qs(raw).get("route", ["/graphql"])[-1]
    body = {**servers[route].stats(), "pid": os.getpid(), "effects": effects["count"]}
    await respond(send, 200, orjson.dumps(body))


routes = Routes(servers, http={"/_stats": stats})
app = routes.asgi()
aiohttp_app = routes.aiohttp()

# Served as a GraphQLServer target, so that `serve` sets the server's own message limit
# from its max_message_size (1 MiB).
plain = GraphQLServer(schema, keep_alive=None)
