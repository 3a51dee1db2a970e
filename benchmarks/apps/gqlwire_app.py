"""gqlwire with shared subscriptions: every subscriber of a channel shares one source,
one execution and one serialization per event."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from graphql import GraphQLSchema, build_schema

from gqlwire import GraphQLServer
from gqlwire.options import DEFAULT_MAX_CONNECTIONS

from ..feed import SDL, Broker, Control, Event, hello, items
from .control import add_control_routes, with_control

broker = Broker()


async def tick_source(_root: Any, _info: Any, channel: str) -> AsyncIterator[Event]:
    queue = broker.subscribe(channel)
    try:
        while True:
            yield await queue.get()
    finally:
        broker.unsubscribe(channel, queue)


def _schema() -> GraphQLSchema:
    schema = build_schema(SDL)
    subscription = schema.subscription_type
    assert subscription is not None
    tick = subscription.fields["tick"]
    tick.subscribe = tick_source
    tick.resolve = lambda event, _info, **_args: event
    query = schema.query_type
    assert query is not None
    query.fields["hello"].resolve = lambda _root, _info, name: hello(name)
    query.fields["items"].resolve = lambda _root, _info, count: items(count)
    return schema


# GQLWIRE_BENCH_MAX_CONNECTIONS: the many-connections benchmark raises max_connections
# (10,000 by default) to its size, as a deployment holding that many would.
_MAX_CONNECTIONS = os.environ.get("GQLWIRE_BENCH_MAX_CONNECTIONS")
# GQLWIRE_BENCH_KEEP_ALIVE=off: no keep-alive pings, for the instruction count of connect +
# subscribe, whose rounds under callgrind last long enough for them to fire.
_KEEP_ALIVE_OFF = os.environ.get("GQLWIRE_BENCH_KEEP_ALIVE") == "off"

server = GraphQLServer(
    _schema(),
    share_key=lambda _ctx: "all",
    max_connections=int(_MAX_CONNECTIONS) if _MAX_CONNECTIONS else DEFAULT_MAX_CONNECTIONS,
    **({"keep_alive": None} if _KEEP_ALIVE_OFF else {}),
)


def _subscribers() -> int:
    # Ready only once every group's source has subscribed to the broker: a member that
    # joined a group whose source is not listening yet would miss the first events.
    stats = server.stats()
    if broker.subscriptions() < stats["shared_groups"]:
        return 0
    return stats["shared_members"]


control = Control(broker.publish, _subscribers, extra=server.stats)

asgi_app = with_control(server.asgi(), control, app_handles_lifespan=True)


def make_aiohttp_app() -> Any:
    app = server.aiohttp_app("/graphql")
    add_control_routes(app, control)
    return app
