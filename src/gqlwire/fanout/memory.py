"""The in-process broker: publish and subscribe within one event loop.

Payloads go through one orjson round trip per publish, so subscribers see exactly what a
Redis broker would give them (lists for tuples, strings for datetimes, a ``TypeError`` for
what JSON cannot carry) and never the publisher's own mutable object. The decoded payload
is shared by the topic's local subscribers: treat it as read-only.

With ``history=N`` it keeps the last ``N`` events of each topic, so that a subscription
can resume after an event (a client that reconnects to the same process); ids name the
broker instance, so a cursor from before a restart is reported as lost, not misread.
"""

from __future__ import annotations

import bisect
import secrets
from collections import deque
from typing import Any

import orjson

from .broker import DEFAULT_MAX_QUEUED
from .history import Event, HistoryBroker, HistoryPage
from .resume import GapReason

__all__ = ["MemoryBroker"]


class MemoryBroker(HistoryBroker):
    """Publish and subscribe in one process; the default broker.

    ``publish`` never waits: it hands the payload to every subscriber's bounded queue
    (``max_queued`` per subscriber, default 1000, the oldest dropped when full) and returns.

    ``history``: events kept per topic for resuming (0, the default: none, and
    subscriptions start at "now"). A topic's history is kept while the broker lives,
    whether or not it has subscribers.
    """

    def __init__(self, *, max_queued: int = DEFAULT_MAX_QUEUED, history: int = 0) -> None:
        super().__init__(max_queued=max_queued)
        if not isinstance(history, int) or history < 0:
            raise ValueError(f"history must be a number of events >= 0, not {history!r}")
        self.keeps_history = history > 0
        self._history_length = history
        self._epoch = secrets.token_hex(4)
        self._sequence = 0
        self._histories: dict[str, deque[Event]] = {}
        # Per topic, the sequence number of the newest event its history let go of.
        self._trimmed: dict[str, int] = {}

    async def publish(self, topic: str, payload: Any) -> str | None:
        self._check_open()
        data = orjson.dumps(payload)
        self._published += 1
        if not self.keeps_history:
            if topic in self._topics:
                self._deliver(topic, orjson.loads(data))
            return None
        self._sequence += 1
        event_id = f"{self._epoch}-{self._sequence}"
        history = self._histories.get(topic)
        if history is None:
            history = self._histories[topic] = deque(maxlen=self._history_length)
        event = (event_id, orjson.loads(data))
        if len(history) == self._history_length:
            self._trimmed[topic] = self._event_order(history[0][0])[0]
        history.append(event)
        if topic in self._topics:
            self._deliver(topic, event)
        return event_id

    async def _read_after(self, topic: str, after: str | None, limit: int) -> HistoryPage:
        history = self._histories.get(topic, ())
        if after is None:
            return HistoryPage(list(_first(history, limit)))
        epoch, _, sequence = after.rpartition("-")
        if not _is_sequence(sequence) or not epoch:
            return HistoryPage(list(_first(history, limit)), GapReason.INVALID)
        if epoch != self._epoch:
            return HistoryPage(list(_first(history, limit)), GapReason.LOST)
        seq = int(sequence)
        if seq > self._sequence:
            return HistoryPage(list(_first(history, limit)), GapReason.INVALID)
        if seq < self._trimmed.get(topic, 0):
            return HistoryPage(list(_first(history, limit)), GapReason.EXPIRED)
        # The broker numbers all its events in one sequence: find the first one after.
        start = bisect.bisect_right(history, seq, key=lambda event: self._event_order(event[0])[0])
        return HistoryPage([history[i] for i in range(start, min(len(history), start + limit))])

    def _event_order(self, event_id: str) -> tuple[int, ...]:
        epoch, _, sequence = event_id.rpartition("-")
        if epoch != self._epoch or not _is_sequence(sequence):
            raise ValueError(f"not an event id of this broker: {event_id!r}")
        return (int(sequence),)


def _is_sequence(text: str) -> bool:
    # isdigit() alone also accepts digits int() refuses ("²") or reads ("٣"): a cursor is
    # the client's input, and only ids this broker wrote may reach int().
    return text.isascii() and text.isdigit()


def _first(history: deque[Event] | tuple[()], limit: int) -> list[Event]:
    return [event for _, event in zip(range(limit), history, strict=False)]
