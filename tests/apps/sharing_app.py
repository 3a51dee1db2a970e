"""Shared subscriptions and slow consumers, observable from outside the server process.

Routes (each a GraphQLServer over the same schema, keep-alive off):

- ``/shared``: ``share_key`` is the ``user`` connection param (``"all"`` without one);
- ``/unshared``: no ``share_key``, so every subscription executes on its own;
- ``/slow-close`` and ``/slow-drop``: shared, with an outbox of 20 results and each
  overflow policy.

Control endpoints: ``POST /_publish?topic=T&count=N&size=S[&text=X]`` publishes N
events to T, each with ``X`` (default ``x``) repeated S times as its payload;
``GET /_counts`` returns how often the ``tick`` resolver ran per topic (the executions);
``GET /_stats?route=/shared`` the server's ``stats()``; ``GET /_broker`` the broker's
local subscribers per topic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import orjson
from graphql import build_schema

from gqlwire import GraphQLServer
from gqlwire.fanout import MemoryBroker
from tests.harness.routes import Routes

broker = MemoryBroker(max_queued=100_000)
executions: Counter[str] = Counter()

schema = build_schema(
    """
    type Query { ok: Boolean }
    type Tick { seq: Int!, payload: String! }
    type Subscription { tick(topic: String!): Tick! }
    """
)


async def subscribe_tick(_root: Any, _info: Any, topic: str) -> AsyncIterator[dict[str, Any]]:
    async for event in broker.subscribe(topic):
        yield event


def resolve_tick(event: dict[str, Any], _info: Any, topic: str) -> dict[str, Any]:
    executions[topic] += 1
    return event


tick = schema.subscription_type.fields["tick"]  # type: ignore[union-attr]
tick.subscribe = subscribe_tick
tick.resolve = resolve_tick


def user_of(ctx: Any) -> str:
    return str((ctx.connection_params or {}).get("user", "all"))


common: dict[str, Any] = {"keep_alive": None}
servers = {
    "/shared": GraphQLServer(schema, share_key=user_of, **common),
    "/unshared": GraphQLServer(schema, **common),
    "/slow-close": GraphQLServer(
        schema, share_key=user_of, max_pending_messages=20, overflow_policy="close", **common
    ),
    "/slow-drop": GraphQLServer(
        schema, share_key=user_of, max_pending_messages=20, overflow_policy="drop_oldest", **common
    ),
}


def _query(scope: Any) -> dict[str, str]:
    raw = bytes(scope.get("query_string") or b"").decode()
    return {key: values[-1] for key, values in parse_qs(raw).items()}


async def _respond(send: Any, value: Any) -> None:
    body = orjson.dumps(value)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def publish(scope: Any, receive: Any, send: Any) -> None:
    query = _query(scope)
    payload = query.get("text", "x") * int(query.get("size", "10"))
    for seq in range(int(query.get("count", "1"))):
        await broker.publish(query["topic"], {"seq": seq, "payload": payload})
    await _respond(send, {"published": int(query.get("count", "1"))})


async def counts(scope: Any, receive: Any, send: Any) -> None:
    await _respond(send, dict(executions))


async def stats(scope: Any, receive: Any, send: Any) -> None:
    await _respond(send, servers[_query(scope)["route"]].stats())


async def broker_stats(scope: Any, receive: Any, send: Any) -> None:
    await _respond(send, broker.stats()["topics"])


routes = Routes(
    servers,
    http={"/_publish": publish, "/_counts": counts, "/_stats": stats, "/_broker": broker_stats},
)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
