"""Resumable subscriptions over a history broker (``MemoryBroker(history=...)``),
observable from outside the server process.

Routes (each a GraphQLServer over the same schema, keep-alive off): ``/shared``
(``share_key``: every subscription of a topic shares one execution per event) and
``/unshared``.

Control endpoints: ``POST /_publish?topic=T&count=N&start=S`` publishes N events
``{"seq": S..S+N-1}`` to T and returns their ids; ``GET /_counts`` returns how often the
``tick`` resolver ran per topic (the executions).
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

HISTORY = 50
"""Events kept per topic: a cursor more than this many events old has expired."""

broker = MemoryBroker(history=HISTORY)
executions: Counter[str] = Counter()

schema = build_schema(
    """
    type Query { ok: Boolean }
    type Tick { seq: Int! }
    type Subscription { tick(topic: String!): Tick! }
    """
)


async def subscribe_tick(_root: Any, _info: Any, topic: str) -> AsyncIterator[dict[str, Any]]:
    # The documented resolver, with nothing about resuming in it.
    async for event in broker.subscribe(topic):
        yield event


def resolve_tick(event: dict[str, Any], _info: Any, topic: str) -> dict[str, Any]:
    executions[topic] += 1
    return event


tick = schema.subscription_type.fields["tick"]  # type: ignore[union-attr]
tick.subscribe = subscribe_tick
tick.resolve = resolve_tick

common: dict[str, Any] = {"keep_alive": None}
servers = {
    "/shared": GraphQLServer(schema, share_key=lambda ctx: "all", **common),
    "/unshared": GraphQLServer(schema, **common),
}


def _query(scope: Any) -> dict[str, str]:
    raw = bytes(scope.get("query_string") or b"").decode()
    return {key: values[-1] for key, values in parse_qs(raw).items()}


async def _respond(send: Any, value: Any) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": orjson.dumps(value)})


async def publish(scope: Any, receive: Any, send: Any) -> None:
    query = _query(scope)
    start = int(query.get("start", "0"))
    ids = [
        await broker.publish(query["topic"], {"seq": seq})
        for seq in range(start, start + int(query.get("count", "1")))
    ]
    await _respond(send, ids)


async def counts(scope: Any, receive: Any, send: Any) -> None:
    await _respond(send, dict(executions))


async def subscribers(scope: Any, receive: Any, send: Any) -> None:
    await _respond(send, broker.stats()["topics"])


routes = Routes(
    servers, http={"/_publish": publish, "/_counts": counts, "/_subscribers": subscribers}
)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
