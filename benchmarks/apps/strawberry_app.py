"""Strawberry's own ASGI app (``graphql-transport-ws``, and GraphQL over SSE in distinct
connections mode, which Strawberry enables through ``subscription_protocols``), written
as its docs show: an async generator per subscription, fed by a per-subscriber queue."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.asgi import GraphQL
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
)

from ..feed import ITEMS, Broker, Control, hello
from .control import with_control

broker = Broker()


@strawberry.type
class Tick:
    seq: int
    ts: float
    payload: str


@strawberry.type
class Item:
    id: int
    name: str
    price: float
    tags: list[str]


# Built once, as the other apps hold their list once: the benchmark measures serving it.
STRAWBERRY_ITEMS = [
    Item(id=item["id"], name=item["name"], price=item["price"], tags=item["tags"]) for item in ITEMS
]


@strawberry.type
class Query:
    @strawberry.field
    def ok(self) -> bool | None:
        return True

    @strawberry.field(name="hello")  # type: ignore[untyped-decorator]
    def hello_field(self, name: str) -> str:
        return hello(name)

    @strawberry.field
    def items(self, count: int) -> list[Item]:
        return STRAWBERRY_ITEMS[: max(0, min(count, len(STRAWBERRY_ITEMS)))]


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def tick(self, channel: str) -> AsyncGenerator[Tick, None]:
        queue = broker.subscribe(channel)
        try:
            while True:
                event = await queue.get()
                yield Tick(**event)
        finally:
            broker.unsubscribe(channel, queue)


schema = strawberry.Schema(query=Query, subscription=Subscription)

control = Control(broker.publish, broker.subscriptions)

app = GraphQL(
    schema,
    subscription_protocols=(
        GRAPHQL_TRANSPORT_WS_PROTOCOL,
        GRAPHQL_WS_PROTOCOL,
        GRAPHQL_SSE_PROTOCOL,
    ),
)
asgi_app = with_control(app, control, app_handles_lifespan=False)
