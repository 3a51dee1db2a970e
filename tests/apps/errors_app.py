"""The app of ``tests/test_error_reporting.py``: resolvers and a source that raise.

Schema (graphql-core)::

    type Query {
      hello: String!
      boom(tag: String!): String      # raises RuntimeError("boom <tag>")
      detailed(tag: String!): String  # raises DetailedError("detailed <tag>"), whose
                                      # extensions repeat the message
      deliberate: String              # raises GraphQLError("deliberately refused")
    }
    type Subscription { tick(topic: String!): Int! }

``tick`` follows the events published to ``topic``: an event ``n >= 0`` resolves to ``n``,
an event ``n < 0`` makes the resolver raise ``RuntimeError("tick <topic> <n>")``, and the
event ``"crash"`` makes the source itself raise ``RuntimeError("source <topic> crashed")``.

Paths: ``/graphql`` (defaults) and ``/masked`` (``mask_errors=True``), and the same two
with every subscription shared (``share_key``): ``/shared`` and ``/shared-masked``.

Control endpoints: ``POST /_publish?topic=T&value=V`` (``V`` an int or ``crash``);
``GET /_subscribers?topic=T`` (the broker's local subscribers of ``T``: one per source);
``GET /_members?route=R`` (the shared subscriptions of route ``R``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import orjson
from graphql import GraphQLError, build_schema

from gqlwire import GraphQLServer
from gqlwire.asgi_types import Receive, Scope, Send
from gqlwire.fanout import MemoryBroker
from tests.harness.routes import Routes, respond

CRASH = "crash"

broker = MemoryBroker()

schema = build_schema(
    """
    type Query {
      hello: String!
      boom(tag: String!): String
      detailed(tag: String!): String
      deliberate: String
    }
    type Subscription { tick(topic: String!): Int! }
    """
)


class DetailedError(Exception):
    """An exception that carries GraphQL extensions, its own message among them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.extensions = {"code": "DETAILED", "detail": message}


def _boom(_root: Any, _info: Any, tag: str) -> str:
    raise RuntimeError(f"boom {tag}")


def _detailed(_root: Any, _info: Any, tag: str) -> str:
    raise DetailedError(f"detailed {tag}")


def _deliberate(_root: Any, _info: Any) -> str:
    raise GraphQLError("deliberately refused")


async def _tick_source(_root: Any, _info: Any, topic: str) -> AsyncIterator[Any]:
    async for event in broker.subscribe(topic):
        if event == CRASH:
            raise RuntimeError(f"source {topic} crashed")
        yield event


def _tick(event: int, _info: Any, topic: str) -> int:
    if event < 0:
        raise RuntimeError(f"tick {topic} {event}")
    return event


query_type = schema.query_type
assert query_type is not None
query_type.fields["hello"].resolve = lambda _root, _info: "world"
query_type.fields["boom"].resolve = _boom
query_type.fields["detailed"].resolve = _detailed
query_type.fields["deliberate"].resolve = _deliberate
tick = schema.subscription_type.fields["tick"]  # type: ignore[union-attr]
tick.subscribe = _tick_source
tick.resolve = _tick


def _everyone(_ctx: Any) -> str:
    return "everyone"


servers = {
    "/graphql": GraphQLServer(schema, keep_alive=None),
    "/masked": GraphQLServer(schema, keep_alive=None, mask_errors=True),
    "/shared": GraphQLServer(schema, keep_alive=None, share_key=_everyone),
    "/shared-masked": GraphQLServer(schema, keep_alive=None, share_key=_everyone, mask_errors=True),
}


def _parameters(scope: Scope) -> dict[str, str]:
    raw = bytes(scope.get("query_string") or b"").decode()
    return {name: values[-1] for name, values in parse_qs(raw).items()}


async def publish(scope: Scope, receive: Receive, send: Send) -> None:
    parameters = _parameters(scope)
    value = parameters["value"]
    await broker.publish(parameters["topic"], value if value == CRASH else int(value))
    await respond(send, 200, b"{}")


async def subscribers(scope: Scope, receive: Receive, send: Send) -> None:
    count = broker.stats()["topics"].get(_parameters(scope)["topic"], 0)
    await respond(send, 200, orjson.dumps(count))


async def members(scope: Scope, receive: Receive, send: Send) -> None:
    stats = servers[_parameters(scope)["route"]].stats()
    await respond(send, 200, orjson.dumps(stats["shared_members"]))


routes = Routes(
    servers,
    http={"/_publish": publish, "/_subscribers": subscribers, "/_members": members},
)
app = routes.asgi()
aiohttp_app = routes.aiohttp()
