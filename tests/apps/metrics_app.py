"""A schema for the metrics and tracing tests, and a served app of it with metrics on.

- ``schema``: ``Query.hello`` is ``"world"``; ``Query.boom`` raises; ``Subscription.count
  (to)`` yields 1..to and ends; ``Subscription.messages`` yields what ``broker`` (a
  MemoryBroker of this module) publishes to ``"messages"``; ``Subscription.big(size)``
  yields strings of ``size`` characters without end, as fast as they are taken;
  ``Subscription.recent`` yields what ``history`` (a MemoryBroker keeping 10 events)
  publishes to ``"recent"``, and resumes after a cursor.
- ``server``: a ``GraphQLServer`` of that schema with ``PrometheusMetrics()`` (the
  ``gqlwire serve`` test with PROMETHEUS_MULTIPROC_DIR).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
)

from gqlwire import GraphQLServer
from gqlwire.fanout import MemoryBroker

broker = MemoryBroker()
history = MemoryBroker(history=10)


def _boom(_root: Any, _info: Any) -> str:
    raise RuntimeError("boom")


async def _count(_root: Any, _info: Any, to: int) -> AsyncIterator[int]:
    for n in range(1, to + 1):
        yield n


async def _messages(_root: Any, _info: Any) -> AsyncIterator[str]:
    async for payload in broker.subscribe("messages"):
        yield payload


async def _recent(_root: Any, _info: Any) -> AsyncIterator[str]:
    async for payload in history.subscribe("recent"):
        yield payload


async def _big(_root: Any, _info: Any, size: int) -> AsyncIterator[str]:
    text = "x" * size
    while True:
        yield text
        await asyncio.sleep(0)


def _same(value: Any, _info: Any, **_args: Any) -> Any:
    return value


schema = GraphQLSchema(
    query=GraphQLObjectType(
        "Query",
        {
            "hello": GraphQLField(GraphQLString, resolve=lambda *_: "world"),
            "boom": GraphQLField(GraphQLString, resolve=_boom),
        },
    ),
    subscription=GraphQLObjectType(
        "Subscription",
        {
            "count": GraphQLField(
                GraphQLInt,
                args={"to": GraphQLArgument(GraphQLNonNull(GraphQLInt))},
                subscribe=_count,
                resolve=_same,
            ),
            "messages": GraphQLField(GraphQLString, subscribe=_messages, resolve=_same),
            "recent": GraphQLField(GraphQLString, subscribe=_recent, resolve=_same),
            "big": GraphQLField(
                GraphQLString,
                args={"size": GraphQLArgument(GraphQLNonNull(GraphQLInt))},
                subscribe=_big,
                resolve=_same,
            ),
        },
    ),
)


def __getattr__(name: str) -> GraphQLServer:
    # Built when asked for: importing the schema alone imports no metrics library.
    if name != "server":
        raise AttributeError(name)
    from gqlwire.metrics import PrometheusMetrics

    return GraphQLServer(schema, metrics=PrometheusMetrics(brokers={"messages": broker}))
