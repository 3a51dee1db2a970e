"""Fan-out: carry events from whoever publishes them to every subscription that wants them.

Brokers (:class:`MemoryBroker`, :class:`RedisBroker`, :class:`RedisStreamBroker`,
:class:`NatsBroker`) move events between publishers and subscription sources, within a
process or across processes; shared subscriptions (:mod:`gqlwire.sharing`,
``GraphQLServer(share_key=...)``) execute and serialize each event once for every identical
subscription. How to use a broker and what it guarantees: docs/brokers.md.
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
from .history import HistoryBroker, HistoryPage, HistorySubscription
from .memory import MemoryBroker
from .resume import GapReason, ResumeGap, ResumePoint, current_resume

if TYPE_CHECKING:
    from .nats import NatsBroker
    from .redis import RedisBroker
    from .redis_streams import RedisStreamBroker

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "Broker",
    "BrokerClosed",
    "BrokerError",
    "BrokerGap",
    "BrokerStats",
    "BrokerUnavailable",
    "GapReason",
    "HistoryBroker",
    "HistoryPage",
    "HistorySubscription",
    "MemoryBroker",
    "NatsBroker",
    "RedisBroker",
    "RedisStreamBroker",
    "ResumeGap",
    "ResumePoint",
    "Subscription",
    "current_resume",
]


def __getattr__(name: str) -> Any:
    # The Redis brokers and NatsBroker need optional packages: import them only when asked.
    if name == "NatsBroker":
        try:
            from .nats import NatsBroker
        except ModuleNotFoundError as missing:
            if missing.name != "nats" and not (missing.name or "").startswith("nats."):
                raise
            raise ImportError(
                "NatsBroker needs the nats-py package: pip install 'gqlwire[nats]'"
            ) from missing
        return NatsBroker
    if name == "RedisBroker" or name == "RedisStreamBroker":
        try:
            if name == "RedisBroker":
                from .redis import RedisBroker

                return RedisBroker
            from .redis_streams import RedisStreamBroker

            return RedisStreamBroker
        except ModuleNotFoundError as missing:
            if missing.name != "redis" and not (missing.name or "").startswith("redis."):
                raise
            raise ImportError(
                f"{name} needs the redis package: pip install 'gqlwire[redis]'"
            ) from missing
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
