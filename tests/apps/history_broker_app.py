"""A schema whose subscription reads a history broker, for the end-to-end resume tests
(tests/e2e/test_resume_guarantee.py), served by ``gqlwire serve`` in several processes.

The broker comes from the environment, so that every process of one test shares it:

- ``GQLWIRE_TEST_BROKER``: ``redis-streams`` (:class:`RedisStreamBroker`) or ``nats``
  (:class:`NatsBroker`);
- ``GQLWIRE_TEST_BROKER_URL``: where it is;
- ``GQLWIRE_TEST_BROKER_NAME``: a name no other test uses: the Redis stream prefix, or
  the JetStream stream's name and subject prefix.

``subscription { numbers(topic: "t") }`` yields each number published to topic ``t``
(the test publishes them through a broker of its own). The resolver is the plain
``async for event in broker.subscribe(topic)`` of the resume contract: it writes nothing
for resuming, and each result still carries ``extensions.cursor``.
"""

from __future__ import annotations

import os
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

from gqlwire.fanout import HistoryBroker

# Short timeouts: a test kills the broker and wants its subscribers back quickly.
_TIMEOUT = 2.0
_RECONNECT_MAX_DELAY = 0.5


def history_broker(kind: str, url: str, name: str) -> HistoryBroker:
    """The broker a test process and its servers share (see the module)."""
    if kind == "redis-streams":
        from gqlwire.fanout import RedisStreamBroker

        return RedisStreamBroker(
            url,
            stream_prefix=f"{name}:",
            timeout=_TIMEOUT,
            block=1.0,
            reconnect_max_delay=_RECONNECT_MAX_DELAY,
        )
    if kind == "nats":
        from gqlwire.fanout import NatsBroker

        return NatsBroker(
            url,
            stream=name,
            subject_prefix=f"{name}.",
            timeout=_TIMEOUT,
            heartbeat=1.0,
            reconnect_max_delay=_RECONNECT_MAX_DELAY,
        )
    raise ValueError(f"unknown history broker kind {kind!r}")


broker = history_broker(
    os.environ.get("GQLWIRE_TEST_BROKER", "redis-streams"),
    os.environ.get("GQLWIRE_TEST_BROKER_URL", "redis://127.0.0.1:6379/0"),
    os.environ.get("GQLWIRE_TEST_BROKER_NAME", "gqlwire-test-history"),
)


async def _numbers(_root: object, _info: object, topic: str) -> AsyncIterator[Any]:
    async for number in broker.subscribe(topic):
        yield number


schema = GraphQLSchema(
    query=GraphQLObjectType("Query", {"ok": GraphQLField(GraphQLInt, resolve=lambda *_: 1)}),
    subscription=GraphQLObjectType(
        "Subscription",
        {
            "numbers": GraphQLField(
                GraphQLNonNull(GraphQLInt),
                args={"topic": GraphQLArgument(GraphQLNonNull(GraphQLString))},
                subscribe=_numbers,
                resolve=lambda number, _info, **_args: number,
            )
        },
    ),
)
