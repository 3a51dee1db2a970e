"""A chat schema whose subscription resolver reads a broker, as the fan-out docs show it.

``schema_for(broker)`` builds it around any broker. ``schema`` (for ``gqlwire serve``) uses
a :class:`RedisBroker` at ``$GQLWIRE_TEST_REDIS_URL`` with channel prefix
``$GQLWIRE_TEST_CHANNEL_PREFIX``, so that several server processes share the rooms;
``streams_schema`` the same with a :class:`RedisStreamBroker` (stream prefix
``$GQLWIRE_TEST_CHANNEL_PREFIX`` too), whose subscriptions resume after a cursor:

- ``subscription { messages(room: "1") }`` yields each text sent to the room;
- ``mutation { send(room: "1", text: "hi") }`` publishes and returns true;
- ``query { subscribers(room: "1") }`` is this process's local subscriber count.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

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

from gqlwire.fanout import Broker, RedisBroker, RedisStreamBroker


def schema_for(broker: Broker) -> GraphQLSchema:
    async def subscribe_messages(root: Any, info: Any, room: str) -> AsyncIterator[Any]:
        async for m in broker.subscribe(f"room:{room}"):
            yield {"messages": m}

    async def send(root: Any, info: Any, room: str, text: str) -> bool:
        await broker.publish(f"room:{room}", text)
        return True

    def subscribers(root: Any, info: Any, room: str) -> int:
        return broker.stats()["topics"].get(f"room:{room}", 0)

    room = {"room": GraphQLArgument(GraphQLNonNull(GraphQLString))}
    return GraphQLSchema(
        query=GraphQLObjectType(
            "Query", {"subscribers": GraphQLField(GraphQLInt, args=room, resolve=subscribers)}
        ),
        mutation=GraphQLObjectType(
            "Mutation",
            {
                "send": GraphQLField(
                    GraphQLBoolean,
                    args={**room, "text": GraphQLArgument(GraphQLNonNull(GraphQLString))},
                    resolve=send,
                )
            },
        ),
        subscription=GraphQLObjectType(
            "Subscription",
            {
                "messages": GraphQLField(
                    GraphQLString,
                    args=room,
                    subscribe=subscribe_messages,
                    resolve=lambda event, info, **args: event["messages"],
                )
            },
        ),
    )


_url = os.environ.get("GQLWIRE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
_prefix = os.environ.get("GQLWIRE_TEST_CHANNEL_PREFIX", "gqlwire-test-chat:")
schema = schema_for(RedisBroker(_url, channel_prefix=_prefix))
streams_schema = schema_for(RedisStreamBroker(_url, stream_prefix=_prefix))
