"""Where a resumable subscription is in its topics' history.

A history broker (one that keeps recent events with an id each) can start a subscription
*after* a given event instead of at "now". The operation core and the broker meet through
the :data:`current_resume` context variable, so that a subscribe resolver written as
``async for event in broker.subscribe(topic)`` resumes with no code of its own:

1. Before calling the subscribe function, the operation core sets ``current_resume`` to a
   :class:`ResumePoint` holding the cursor the client sent (``extensions.cursor`` of its
   request, or SSE's ``Last-Event-ID``), or ``None``.
2. The broker's subscription reads it when it opens: it starts after
   :meth:`ResumePoint.start_for` of its topic, reports what it could not replay with
   :meth:`ResumePoint.report_gap`, and calls :meth:`ResumePoint.advance` just before
   yielding each event.
3. Each result the operation sends carries :attr:`ResumePoint.cursor` (and, once, the
   gaps) in its ``extensions``; the client sends the last cursor back when it resubscribes.

The wire format is in docs/brokers.md ("Resuming a subscription").
"""

from __future__ import annotations

import enum
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

import orjson

__all__ = [
    "CURSOR_EXTENSION",
    "GAP_EXTENSION",
    "MAX_CURSOR_LENGTH",
    "GapReason",
    "ResumeGap",
    "ResumePoint",
    "current_resume",
    "requested_cursor",
    "with_resume_extensions",
]

CURSOR_EXTENSION: Final = "cursor"
"""The key of the cursor in a request's and in a result's ``extensions``."""
GAP_EXTENSION: Final = "gap"
"""The key of the gap notice in a result's ``extensions``."""
MAX_CURSOR_LENGTH: Final = 1024
"""Longer cursors are refused as ``invalid``: a client's cursor costs bounded memory."""


class GapReason(enum.StrEnum):
    """Why events after a cursor could not be replayed."""

    EXPIRED = "expired"
    """They are older than what the broker retains (a stream's length or age limit)."""
    LOST = "lost"
    """The broker lost its history (restarted without persistence, stream recreated)."""
    INVALID = "invalid"
    """The cursor is not one this broker gave out."""


@dataclass(frozen=True, slots=True)
class ResumeGap:
    """Events of ``topic`` after cursor ``after`` that the subscriber will not get."""

    topic: str
    after: str
    reason: GapReason

    def as_extension(self) -> dict[str, str]:
        return {"topic": self.topic, "after": self.after, "reason": self.reason.value}


class ResumePoint:
    """One operation's position in the history of each topic it subscribed to.

    ``after`` is the cursor the client resumed from (``None``: from now). A cursor names
    one event id when the operation reads one topic (the common case, and a readable SSE
    ``id:``); with several topics it is a JSON object of ids by topic.
    """

    __slots__ = ("_after_by_topic", "_gaps", "_positions", "after", "started")

    def __init__(self, after: str | None = None) -> None:
        self.after: Final = after
        self._after_by_topic: dict[str, str] | None = _decode(after)
        self._positions: dict[str, str] = {}
        self._gaps: list[ResumeGap] = []
        self.started = False
        """Whether a history broker handed over an event (so results carry a cursor). A
        plain attribute: every result of every subscription checks it, and it is all that
        a subscription without a history broker pays."""

    def __repr__(self) -> str:
        return f"<ResumePoint after={self.after!r} cursor={self.cursor!r}>"

    def start_for(self, topic: str) -> str | None:
        """The event id of ``topic`` to start after, or ``None`` to start at "now".

        A one-topic cursor applies to whichever topic asks first, and only to it.
        """
        if topic in self._positions:
            return self._positions[topic]  # the source subscribed again: keep its place
        after = self.after
        if after is None:
            return None
        by_topic = self._after_by_topic
        if by_topic is not None:
            return by_topic.get(topic)
        return after if not self._positions else None

    def advance(self, topic: str, event_id: str) -> None:
        """The event ``event_id`` of ``topic`` is being handed to the operation."""
        self._positions[topic] = event_id
        self.started = True

    def report_gap(self, gap: ResumeGap) -> None:
        """Events after ``gap.after`` could not be replayed; told with the next result."""
        self._gaps.append(gap)

    @property
    def cursor(self) -> str | None:
        """What the client sends back to resume after the last event handed over."""
        positions = self._positions
        if not positions:
            return self.after
        if len(positions) == 1 and self._after_by_topic is None:
            return next(iter(positions.values()))
        merged = dict(self._after_by_topic or {})
        merged.update(positions)
        return orjson.dumps(merged, option=orjson.OPT_SORT_KEYS).decode()

    def take_gaps(self) -> list[ResumeGap]:
        """The gaps not yet told to the client, once."""
        gaps, self._gaps = self._gaps, []
        return gaps

    def extensions(self) -> dict[str, Any] | None:
        """What a result adds to its ``extensions``: the cursor, and gaps not yet told."""
        if not self.started:
            return None
        extra: dict[str, Any] = {CURSOR_EXTENSION: self.cursor}
        gaps = self.take_gaps()
        if gaps:
            # One gap is the common case; several topics may each have one.
            extra[GAP_EXTENSION] = (
                gaps[0].as_extension() if len(gaps) == 1 else [g.as_extension() for g in gaps]
            )
        return extra


def with_resume_extensions(payload: dict[str, Any], point: ResumePoint) -> dict[str, Any]:
    """``payload`` (a formatted result) with the cursor of the event it carries, and a gap
    notice once, in its ``extensions``; ``payload`` itself when no history broker is
    involved. The ``extensions`` the result already had are kept."""
    extra = point.extensions()
    if extra is None:
        return payload
    extensions = payload.get("extensions")
    merged = {**extensions, **extra} if isinstance(extensions, dict) else extra
    return {**payload, "extensions": merged}


current_resume: Final[ContextVar[ResumePoint | None]] = ContextVar(
    "gqlwire_current_resume", default=None
)
"""The resume point of the subscription whose source is being iterated, if any."""


def requested_cursor(payload: Any) -> str | None:
    """The cursor a request asks to resume after (``extensions.cursor``), if any.

    Anything that is not a string is ignored: a request that cannot name a cursor simply
    starts at "now". An overlong one is passed on, and the broker reports it invalid.
    """
    if not isinstance(payload, dict):
        return None
    extensions = payload.get("extensions")
    if not isinstance(extensions, dict):
        return None
    cursor = extensions.get(CURSOR_EXTENSION)
    return cursor if isinstance(cursor, str) and cursor else None


def _decode(after: str | None) -> dict[str, str] | None:
    """A several-topic cursor's ids by topic; ``None`` for a one-topic cursor."""
    if after is None or not after.startswith("{") or len(after) > MAX_CURSOR_LENGTH:
        return None
    try:
        decoded = orjson.loads(after)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(decoded, dict) or not all(
        isinstance(value, str) for value in decoded.values()
    ):
        return None
    return decoded
