"""History brokers: subscriptions that start after a given event, and never drop one.

A history broker keeps recent events of each topic, in order, with an id each (a Redis
stream, a JetStream stream, a bounded deque in memory). What a backend provides is small:
reading a page of events after an id (:meth:`HistoryBroker._read_after`), ordering its
ids (:meth:`HistoryBroker._event_order`), and handing live events to
:meth:`Broker._deliver` as ``(event_id, payload)`` pairs. The rest is here and is the
same for every backend:

- A subscription opened with a cursor (given, or taken from the running operation's
  :class:`~gqlwire.fanout.resume.ResumePoint`) first registers for live events, then
  replays history after the cursor page by page as it is iterated, then goes on with
  the live events it has not yet yielded (ids already replayed are skipped). Registering
  before reading is what makes the hand-over lose nothing.
- Replay is lazy: one page at a time, so a subscriber far behind costs one page of
  memory, not its whole backlog.
- A subscriber too slow for its live queue goes back to replaying from its last event:
  within retention, a slow subscriber on a history broker loses nothing. (Its full
  queue turns the newest event away, rather than dropping the oldest as other brokers
  do, so that what it holds is always a run of consecutive events.)
- Every event yielded advances the operation's resume point, so each result carries the
  cursor to resume after it.
"""

from __future__ import annotations

import contextlib
from abc import abstractmethod
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Final

from .broker import Broker, Subscription
from .resume import MAX_CURSOR_LENGTH, GapReason, ResumeGap, ResumePoint, current_resume

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "FROM_CONTEXT",
    "HistoryBroker",
    "HistoryPage",
    "HistorySubscription",
]

DEFAULT_PAGE_SIZE: Final = 256


class _FromContext:
    """Start where the running operation's resume point says (the default)."""

    def __repr__(self) -> str:
        return "FROM_CONTEXT"


FROM_CONTEXT: Final = _FromContext()

Event = tuple[str, Any]
"""``(event_id, payload)``: what a history broker delivers to its subscriptions."""


@dataclass(slots=True)
class HistoryPage:
    """Events after an id, oldest first, as a backend read them."""

    events: list[Event] = field(default_factory=list)
    gap: GapReason | None = None
    """Set when the id asked for is not in the history: ``events`` then start at the
    oldest event retained."""


class HistoryBroker(Broker):
    """A broker whose subscriptions can start after a given event (see the module).

    Subclasses set :attr:`keeps_history` (a broker may be configured without history, in
    which case it behaves as any broker, at its cost) and implement the two hooks.
    """

    keeps_history: bool = True
    page_size: int = DEFAULT_PAGE_SIZE

    def subscription(
        self,
        topic: str,
        *,
        max_queued: int | None = None,
        after: str | _FromContext | None = FROM_CONTEXT,
    ) -> Subscription:
        """A not yet opened subscription to ``topic``; open it with ``async with``.

        ``after``: the id of the event to start after, ``None`` for "from now", or (the
        default) whatever the running operation's resume point says for this topic.
        """
        plain = super().subscription(topic, max_queued=max_queued)
        if not self.keeps_history:
            return plain
        point = current_resume.get()
        if isinstance(after, _FromContext):
            after = point.start_for(topic) if point is not None else None
        return HistorySubscription(self, topic, plain._max_queued, after, point)

    async def subscribe(
        self,
        topic: str,
        *,
        max_queued: int | None = None,
        after: str | _FromContext | None = FROM_CONTEXT,
    ) -> AsyncGenerator[Any, None]:
        """Yield the payloads of ``topic``, after ``after`` (see :meth:`subscription`)."""
        async with self.subscription(topic, max_queued=max_queued, after=after) as events:
            async for payload in events:
                yield payload

    @abstractmethod
    async def _read_after(self, topic: str, after: str | None, limit: int) -> HistoryPage:
        """Up to ``limit`` events of ``topic`` after the event ``after`` (``None``: from
        the oldest retained), oldest first.

        When ``after`` is not an id of this history (trimmed away, lost, or not one of
        ours), return the events from the oldest retained with the matching ``gap``.
        May raise :class:`~gqlwire.fanout.BrokerUnavailable`.
        """

    @abstractmethod
    def _event_order(self, event_id: str) -> tuple[int, ...]:
        """A sort key of an id this broker gave out (``ValueError`` for any other)."""


class HistorySubscription(Subscription):
    """A subscription of a :class:`HistoryBroker`: replay, then live, without a gap."""

    __slots__ = (
        "_after",
        "_drops_seen",
        "_last_id",
        "_last_order",
        "_page",
        "_point",
        "_replaying",
    )

    _broker: HistoryBroker
    replays_drops = True

    def __init__(
        self,
        broker: HistoryBroker,
        topic: str,
        max_queued: int,
        after: str | None,
        point: ResumePoint | None,
    ) -> None:
        super().__init__(broker, topic, max_queued)
        self._after = after
        self._point = point
        self._replaying = after is not None
        self._page: deque[Event] = deque()
        self._last_id: str | None = None
        self._last_order: tuple[int, ...] | None = None
        self._drops_seen = 0

    @property
    def last_id(self) -> str | None:
        """The id of the last event yielded (``None`` before the first)."""
        return self._last_id

    @property
    def position(self) -> str | None:
        """Where this subscription is: its last event, or the cursor it starts after."""
        return self._last_id if self._last_id is not None else self._after

    @property
    def replaying(self) -> bool:
        """Whether it reads the history now (it then finds any gap by itself)."""
        return self._replaying

    def report_gap(self, reason: GapReason) -> None:
        """For a backend: the events after :attr:`position` are gone (``reason``); counted
        in :attr:`gaps` and told with the operation's next result."""
        self._gap()
        position = self.position
        if self._point is not None and position is not None:
            self._point.report_gap(ResumeGap(self.topic, position, reason))

    def _push(self, payload: Any) -> bool:
        # A full queue turns the *newest* event away: what it holds stays a run of
        # consecutive events, and what it turned away is read from the history after
        # the last one yielded (even before the first was yielded).
        if len(self._queue) >= self._max_queued:
            self._dropped += 1
            return True
        self._queue.append(payload)
        self._wake()
        return False

    async def __anext__(self) -> Any:
        while True:
            if self._page:
                return self._hand_over(*self._page.popleft())
            if self._replaying:
                if not self.active:
                    raise StopAsyncIteration
                await self._read_page()
                continue
            if not self._queue and self._dropped != self._drops_seen and self.position is not None:
                # The queue turned events away, and what it held was stale (replayed
                # already): they follow this subscription's position, in the history.
                self._drops_seen = self._dropped
                self._replaying = True
                continue
            event_id, payload = await super().__anext__()
            order = self._broker._event_order(event_id)
            if self._last_order is not None and order <= self._last_order:
                continue  # replayed already
            if self._dropped != self._drops_seen:
                # The queue turned events away after this one: read them from the history.
                self._drops_seen = self._dropped
                self._replaying = True
            return self._hand_over(event_id, payload, order)

    async def _read_page(self) -> None:
        broker = self._broker
        first = self._last_id is None
        after = self._after if first else self._last_id
        gap: GapReason | None = None
        if after is not None and len(after) > MAX_CURSOR_LENGTH:
            after, gap = None, GapReason.INVALID
        page = await broker._read_after(self.topic, after, broker.page_size)
        gap = gap or page.gap
        if gap is not None:
            asked = self._after if first and self._after is not None else (after or "")
            if self._point is not None:
                self._point.report_gap(ResumeGap(self.topic, asked[:MAX_CURSOR_LENGTH], gap))
        elif first and after is not None:
            # Live events up to the cursor itself are not to be yielded again.
            with contextlib.suppress(ValueError):
                self._last_order = broker._event_order(after)
        self._page.extend(page.events)
        if len(page.events) < broker.page_size:
            self._replaying = False  # caught up: the live queue has the rest

    def _end(self) -> None:
        # Ended (closed, or its broker closed): the page read ahead is not handed over.
        self._page.clear()
        self._replaying = False
        super()._end()

    def _hand_over(self, event_id: str, payload: Any, order: tuple[int, ...] | None = None) -> Any:
        self._last_id = event_id
        self._last_order = order if order is not None else self._broker._event_order(event_id)
        point = self._point
        if point is not None:
            point.advance(self.topic, event_id)
        return payload
