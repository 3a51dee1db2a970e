"""The in-process broker: publish and subscribe within one event loop.

Payloads go through one orjson round trip per publish, so subscribers see exactly what a
Redis broker would give them (lists for tuples, strings for datetimes, a ``TypeError`` for
what JSON cannot carry) and never the publisher's own mutable object. The decoded payload
is shared by the topic's local subscribers: treat it as read-only.
"""

from __future__ import annotations

from typing import Any

import orjson

from .broker import Broker

__all__ = ["MemoryBroker"]


class MemoryBroker(Broker):
    """Publish and subscribe in one process; the default broker.

    ``publish`` never waits: it hands the payload to every subscriber's bounded queue
    (``max_queued`` per subscriber, default 1000, the oldest dropped when full) and returns.
    """

    async def publish(self, topic: str, payload: Any) -> None:
        self._check_open()
        data = orjson.dumps(payload)
        self._published += 1
        if topic in self._topics:
            self._deliver(topic, orjson.loads(data))
