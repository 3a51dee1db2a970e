"""Strawberry's own ASGI app (``graphql-transport-ws``), written as its docs show: an
async generator per subscription, fed by a per-subscriber queue."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.asgi import GraphQL

from ..feed import Broker, Control
from .control import with_control

broker = Broker()


@strawberry.type
class Tick:
    seq: int
    ts: float
    payload: str


@strawberry.type
class Query:
    @strawberry.field
    def ok(self) -> bool | None:
        return True


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

asgi_app = with_control(GraphQL(schema), control, app_handles_lifespan=False)
