"""The broker contract, and the local half of fan-out that every broker shares.

What happens inside one process is the same for every backend and lives here: a bounded
queue per subscriber that drops its oldest payload when full, delivery in order, and
unsubscribing when an iteration is left. Backends (:mod:`.memory`, :mod:`.redis`) only
say how a payload travels between processes. The contract is in docs/brokers.md.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self, TypedDict

__all__ = [
    "DEFAULT_MAX_QUEUED",
    "Broker",
    "BrokerClosed",
    "BrokerError",
    "BrokerGap",
    "BrokerStats",
    "BrokerUnavailable",
    "Subscription",
]

logger = logging.getLogger("gqlwire.fanout")

DEFAULT_MAX_QUEUED: Final = 1000


class BrokerError(Exception):
    """Base class of the errors a broker raises."""


class BrokerUnavailable(BrokerError):
    """The backend could not be reached in time.

    Raised by ``publish`` (the payload was *not* published, and it is counted in
    ``dropped_while_disconnected``) and by opening a subscription that the backend did not
    confirm within the broker's ``subscribe_timeout``.
    """


class BrokerClosed(BrokerError):
    """The broker was closed; it publishes and subscribes no more."""


@dataclass(frozen=True, slots=True)
class BrokerGap:
    """A stretch of time in which events for ``topics`` may have been missed.

    Passed to a broker's ``on_gap`` callback once the connection to the backend is back
    and ``topics`` are subscribed again. Events published to them between ``lost_at`` and
    ``resumed_at`` (``time.time()`` values) were not received by this process.
    """

    topics: frozenset[str]
    lost_at: float
    resumed_at: float
    error: str

    @property
    def duration(self) -> float:
        return self.resumed_at - self.lost_at


class BrokerStats(TypedDict):
    """What :meth:`Broker.stats` returns. Counters only grow, from the broker's creation."""

    topics: dict[str, int]  # local subscribers per topic
    subscribers: int  # local subscribers in all
    published: int  # successful publish() calls
    delivered: int  # payloads handed to local subscriber queues (one per subscriber)
    dropped_oldest: int  # payloads a full subscriber queue dropped
    dropped_while_disconnected: int  # publish() calls that raised BrokerUnavailable
    reconnects: int  # connections to the backend re-established after a loss
    gaps: int  # losses while topics were subscribed (see BrokerGap)
    # The subscriber side is connected: a RedisBroker's subscriber connection is up (it
    # opens with the first subscription); a MemoryBroker is connected until closed.
    connected: bool


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class Subscription:
    """One local subscriber of one topic: an async context manager and async iterator.

    Entering it registers the subscriber and returns once the backend delivers the topic
    (a Redis broker waits for the server's confirmation); iterating yields the payloads
    published after that; leaving it unsubscribes. Iteration ends when the subscription
    or its broker is closed.
    """

    __slots__ = (
        "_broker",
        "_dropped",
        "_gaps",
        "_max_queued",
        "_queue",
        "_state",
        "_waiter",
        "topic",
    )

    def __init__(self, broker: Broker, topic: str, max_queued: int) -> None:
        self.topic: Final = topic
        self._broker = broker
        self._max_queued = max_queued
        self._queue: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._state = _State.NEW
        self._dropped = 0
        self._gaps = 0

    replays_drops: bool = False
    """Whether payloads its full queue drops are read again from the broker's history
    (a history broker's subscription), rather than lost."""

    def __repr__(self) -> str:
        return f"<Subscription {self.topic!r} {self._state.value}>"

    @property
    def active(self) -> bool:
        return self._state is _State.OPEN

    @property
    def dropped(self) -> int:
        """Payloads dropped from this subscriber's full queue (oldest first)."""
        return self._dropped

    @property
    def gaps(self) -> int:
        """Backend outages during which this subscriber may have missed payloads."""
        return self._gaps

    async def __aenter__(self) -> Self:
        if self._state is not _State.NEW:
            raise RuntimeError("a Subscription can be entered only once")
        await self._broker._open(self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Any:
        queue = self._queue
        while not queue:
            if self._state is not _State.OPEN:
                if self._state is _State.NEW:
                    raise RuntimeError("enter the Subscription (async with) before iterating")
                raise StopAsyncIteration
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                self._waiter = None
        return queue.popleft()

    def close(self) -> None:
        """Unsubscribe now (idempotent). A waiting iteration ends."""
        if self._state is _State.OPEN:
            self._broker._remove(self)
        self._end()

    # -- called by the broker ----------------------------------------------------------

    def _opened(self) -> None:
        self._state = _State.OPEN

    def _end(self) -> None:
        self._state = _State.CLOSED
        self._queue.clear()
        self._wake()

    def _push(self, payload: Any) -> bool:
        """Queue ``payload``; True when the queue was full and the oldest was dropped."""
        queue = self._queue
        dropped = len(queue) >= self._max_queued
        if dropped:
            queue.popleft()
            self._dropped += 1
        queue.append(payload)
        self._wake()
        return dropped

    def _gap(self) -> None:
        self._gaps += 1

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Broker(ABC):
    """Publish JSON payloads to topics; subscribe to topics. Use one event loop per broker.

    The lifecycle is explicit: ``await broker.close()`` or ``async with broker:``. Closing
    ends every subscription's iteration and releases the backend's connections and tasks.
    """

    def __init__(self, *, max_queued: int = DEFAULT_MAX_QUEUED) -> None:
        _check_max_queued(max_queued)
        self._max_queued = max_queued
        # Insertion-ordered sets of subscribers, per topic; a topic is present while it
        # has at least one subscriber.
        self._topics: dict[str, dict[Subscription, None]] = {}
        self._closed = False
        self._published = 0
        self._delivered = 0
        self._dropped_oldest = 0
        self._dropped_while_disconnected = 0
        self._reconnects = 0
        self._gaps = 0

    # -- public API --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def subscription(self, topic: str, *, max_queued: int | None = None) -> Subscription:
        """A not yet opened subscription to ``topic``; open it with ``async with``.

        ``max_queued`` overrides the broker's per-subscriber queue bound.
        """
        if not isinstance(topic, str):
            raise TypeError(f"topic must be a str, not {type(topic).__name__}")
        if max_queued is None:
            max_queued = self._max_queued
        else:
            _check_max_queued(max_queued)
        return Subscription(self, topic, max_queued)

    async def subscribe(
        self, topic: str, *, max_queued: int | None = None
    ) -> AsyncGenerator[Any, None]:
        """Yield the payloads published to ``topic`` until the generator is left.

        The subscription opens at the first ``__anext__``. Leaving (``break``, an exception,
        cancellation, ``aclose()``) unsubscribes; after a ``break`` that happens when the
        generator is released (CPython: at once, through the event loop's async-generator
        finalizer) — call ``aclose()`` or use :meth:`subscription` for a deterministic exit.
        """
        async with self.subscription(topic, max_queued=max_queued) as subscription:
            async for payload in subscription:
                yield payload

    @abstractmethod
    async def publish(self, topic: str, payload: Any) -> str | None:
        """Send ``payload`` (any value orjson serializes) to every subscriber of ``topic``.

        Returns the event's id on a broker that keeps history (``None`` on others).

        Raises ``TypeError`` for a payload orjson cannot serialize, :class:`BrokerClosed`
        after :meth:`close`, and :class:`BrokerUnavailable` when the backend cannot take it.
        """

    async def close(self) -> None:
        """End every subscription and release the backend. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for subscribers in list(self._topics.values()):
            for subscription in list(subscribers):
                subscription._end()
        self._topics.clear()
        await self._close_backend()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def stats(self) -> BrokerStats:
        topics = {topic: len(subscribers) for topic, subscribers in self._topics.items()}
        return BrokerStats(
            topics=topics,
            subscribers=sum(topics.values()),
            published=self._published,
            delivered=self._delivered,
            dropped_oldest=self._dropped_oldest,
            dropped_while_disconnected=self._dropped_while_disconnected,
            reconnects=self._reconnects,
            gaps=self._gaps,
            connected=self._is_connected(),
        )

    # -- for subclasses ----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerClosed(f"{type(self).__name__} is closed")

    def _deliver(self, topic: str, payload: Any) -> None:
        """Hand ``payload`` to every local subscriber of ``topic``, without waiting."""
        subscribers = self._topics.get(topic)
        if not subscribers:
            return
        for subscription in subscribers:
            if subscription._push(payload):
                self._dropped_oldest += 1
                if subscription.dropped == 1 and not subscription.replays_drops:
                    logger.warning(
                        "a subscriber of %r is not keeping up: its queue is full, so its "
                        "oldest payloads are being dropped",
                        topic,
                    )
        self._delivered += len(subscribers)

    def _subscribers(self, topic: str) -> list[Subscription]:
        return list(self._topics.get(topic, ()))

    def _is_connected(self) -> bool:
        return not self._closed

    def _topic_added(self, topic: str) -> None:  # noqa: B027 - optional hook
        """A topic got its first local subscriber."""

    def _topic_removed(self, topic: str) -> None:  # noqa: B027 - optional hook
        """A topic lost its last local subscriber."""

    async def _until_delivering(self, topic: str) -> None:  # noqa: B027 - optional hook
        """Return once payloads published to ``topic`` reach this process."""

    async def _close_backend(self) -> None:  # noqa: B027 - optional hook
        """Release connections and tasks (after every subscription has ended)."""

    # -- called by Subscription ----------------------------------------------------------

    async def _open(self, subscription: Subscription) -> None:
        self._check_open()
        topic = subscription.topic
        subscribers = self._topics.setdefault(topic, {})
        subscribers[subscription] = None
        subscription._opened()
        if len(subscribers) == 1:
            self._topic_added(topic)
        try:
            await self._until_delivering(topic)
        except BaseException:
            subscription.close()
            raise
        if not subscription.active:  # the broker closed meanwhile
            raise BrokerClosed(f"{type(self).__name__} closed while subscribing")

    def _remove(self, subscription: Subscription) -> None:
        topic = subscription.topic
        subscribers = self._topics.get(topic)
        if subscribers is None or subscription not in subscribers:
            return
        del subscribers[subscription]
        if not subscribers:
            del self._topics[topic]
            self._topic_removed(topic)


def _check_max_queued(max_queued: int) -> None:
    if max_queued < 1:
        raise ValueError(f"max_queued must be at least 1, not {max_queued}")
