"""A chat served by several gqlwire processes at once: a message posted on one reaches
the subscribers of every other, through Redis (``gqlwire.fanout.RedisBroker``).

Start Redis, then as many servers as you like (each in its own terminal)::

    gqlwire serve examples.redis_chat:graphql --port 8001
    gqlwire serve examples.redis_chat:graphql --port 8002

They use the Redis at ``REDIS_URL`` (default ``redis://127.0.0.1:6379/0``). The author
of a message is the ``x-user`` header of an HTTP request, or the ``user`` of the
``connection_init`` payload on a WebSocket.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator

import strawberry

from gqlwire import GraphQLServer
from gqlwire.fanout import RedisBroker

broker = RedisBroker(
    os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), channel_prefix="chat:"
)


@strawberry.type
class Message:
    room: str
    author: str
    text: str


def author(info: strawberry.Info) -> str:
    """Who is asking: resolvers read ``info.context`` as Strawberry gives it."""
    params = info.context.get("connection_params")  # WebSocket
    if params is not None:
        return str(params.get("user", "anonymous"))
    return str(info.context["request"].headers.get("x-user", "anonymous"))  # HTTP


@strawberry.type
class Query:
    @strawberry.field
    def me(self, info: strawberry.Info) -> str:
        return author(info)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def post(self, info: strawberry.Info, room: str, text: str) -> Message:
        """Publishes to every server process; returns the message as it was sent."""
        message = Message(room=room, author=author(info), text=text)
        await broker.publish(room, {"room": room, "author": message.author, "text": text})
        return message


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def messages(self, room: str) -> AsyncGenerator[Message, None]:
        """Every message posted to ``room`` on any server process, from now on."""
        async for payload in broker.subscribe(room):
            yield Message(**payload)


schema = strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription)
graphql = GraphQLServer(schema)
