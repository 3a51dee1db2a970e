"""Ariadne's ASGI app with ``GraphQLTransportWSHandler``, written as its docs show: a
subscription source (an async generator fed by a per-subscriber queue) and a resolver."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from ariadne import QueryType, SubscriptionType, make_executable_schema
from ariadne.asgi import GraphQL
from ariadne.asgi.handlers import GraphQLTransportWSHandler

from ..feed import SDL, Broker, Control, Event, hello, items
from .control import with_control

broker = Broker()
subscription = SubscriptionType()


@subscription.source("tick")
async def tick_source(_obj: Any, _info: Any, channel: str) -> AsyncGenerator[Event, None]:
    queue = broker.subscribe(channel)
    try:
        while True:
            yield await queue.get()
    finally:
        broker.unsubscribe(channel, queue)


@subscription.field("tick")
def resolve_tick(event: Event, _info: Any, channel: str) -> Event:
    return event


query = QueryType()
query.set_field("hello", lambda _obj, _info, name: hello(name))
query.set_field("items", lambda _obj, _info, count: items(count))

schema = make_executable_schema(SDL, query, subscription)

control = Control(broker.publish, broker.subscriptions)

asgi_app = with_control(
    GraphQL(schema, websocket_handler=GraphQLTransportWSHandler()),
    control,
    app_handles_lifespan=False,
)
