"""Fan-out: carry events from whoever publishes them to every subscription that wants them.

Two parts: brokers (below) move events between publishers and subscription sources,
within a process or across processes; shared subscriptions (:mod:`.shared`, enabled
with ``GraphQLServer(share_key=...)``) execute and serialize each event once for every
identical subscription.

A broker is usable from any schema library's subscribe resolver. With graphql-core::

    from gqlwire.fanout import MemoryBroker

    broker = MemoryBroker()  # or RedisBroker("redis://127.0.0.1:6379/0") across processes

    async def subscribe_messages(root, info, room):
        async for m in broker.subscribe(f"room:{room}"):
            yield {"messages": m}

    # the field: GraphQLField(..., subscribe=subscribe_messages,
    #                         resolve=lambda event, info, **args: event["messages"])
    # and elsewhere, e.g. in a mutation resolver:
    await broker.publish(f"room:{room}", {"from": "ada", "text": "hello"})

When graphql-core closes the resolver, the ``async for`` is left and the subscription ends
(on CPython at once, through the event loop's async-generator finalizer). For an exit that
does not depend on that, hold the subscription explicitly::

    async def subscribe_messages(root, info, room):
        async with broker.subscription(f"room:{room}") as messages:
            async for m in messages:
                yield {"messages": m}

The contract every broker keeps (:mod:`.broker`):

- ``publish(topic, payload)``: payload is any value orjson serializes; subscribers get it
  decoded from JSON, in publish order per topic.
- every local subscriber has its own bounded queue (``max_queued``, default 1000); when it
  is full the subscriber's *oldest* payload is dropped and counted, so a slow subscriber
  never blocks ``publish`` or the others.
- leaving the iteration (``break``, cancellation, ``aclose()``, closing the subscription)
  unsubscribes; ``await broker.close()`` or ``async with broker:`` ends everything.
- ``broker.stats()``: local subscribers per topic and the counters ``published``,
  ``delivered``, ``dropped_oldest``, ``dropped_while_disconnected``, ``reconnects``, ``gaps``.

:class:`RedisBroker` (extra ``gqlwire[redis]``) shares events between processes; its module
documents how it survives Redis restarts and reports what an outage cost
(:class:`BrokerUnavailable` from ``publish``, ``on_gap`` for subscribers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .broker import (
    DEFAULT_MAX_QUEUED,
    Broker,
    BrokerClosed,
    BrokerError,
    BrokerGap,
    BrokerStats,
    BrokerUnavailable,
    Subscription,
)
from .memory import MemoryBroker

if TYPE_CHECKING:
    from .redis import RedisBroker

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "Broker",
    "BrokerClosed",
    "BrokerError",
    "BrokerGap",
    "BrokerStats",
    "BrokerUnavailable",
    "MemoryBroker",
    "RedisBroker",
    "Subscription",
]


def __getattr__(name: str) -> Any:
    # RedisBroker needs the optional redis package: import it only when asked for.
    if name == "RedisBroker":
        try:
            from .redis import RedisBroker
        except ModuleNotFoundError as missing:
            if missing.name != "redis" and not (missing.name or "").startswith("redis."):
                raise
            raise ImportError(
                "RedisBroker needs the redis package: pip install 'gqlwire[redis]'"
            ) from missing
        return RedisBroker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
