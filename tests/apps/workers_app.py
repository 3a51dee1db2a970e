"""A schema for ``serve --workers`` tests: which process answered, and a room shared by
every worker through a :class:`RedisBroker` at ``$GQLWIRE_TEST_REDIS_URL`` with channel
prefix ``$GQLWIRE_TEST_CHANNEL_PREFIX``.

- ``query { pid }``: the id of the worker process that executed it;
- ``subscription { messages }``: each text sent to the room, as ``"<pid>:<text>"``
  where pid is the subscriber's worker, so a test sees which worker delivered it;
- ``mutation { send(text: "hi") }``: publishes to the room and returns true.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
)

from gqlwire import GraphQLServer
from gqlwire.fanout import RedisBroker

ROOM = "room"

broker = RedisBroker(
    os.environ.get("GQLWIRE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    channel_prefix=os.environ.get("GQLWIRE_TEST_CHANNEL_PREFIX", "gqlwire-test-workers:"),
)


async def _messages(_root: object, _info: object) -> AsyncIterator[str]:
    async for text in broker.subscribe(ROOM):
        yield f"{os.getpid()}:{text}"


async def _send(_root: object, _info: object, text: str) -> bool:
    await broker.publish(ROOM, text)
    return True


schema = GraphQLSchema(
    query=GraphQLObjectType(
        "Query", {"pid": GraphQLField(GraphQLInt, resolve=lambda *_: os.getpid())}
    ),
    mutation=GraphQLObjectType(
        "Mutation",
        {
            "send": GraphQLField(
                GraphQLBoolean,
                args={"text": GraphQLArgument(GraphQLNonNull(GraphQLString))},
                resolve=_send,
            )
        },
    ),
    subscription=GraphQLObjectType(
        "Subscription",
        {
            "messages": GraphQLField(
                GraphQLString, subscribe=_messages, resolve=lambda event, _info: event
            )
        },
    ),
)

single_connection_server = GraphQLServer(schema, sse_single_connection=True)
"""Serves the SSE single connection mode, which ``--workers`` refuses."""
