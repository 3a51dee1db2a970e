"""GraphQL over SSE, single connection mode: reservations, tokens and operation ids,
sans-I/O.

graphql-sse's PROTOCOL.md: a ``PUT`` reserves a stream and gets its token, one event
stream opens the reservation, operations are posted with the token and an
``extensions.operationId``, a ``DELETE`` stops one, and closing the stream ends them
all. This module keeps that bookkeeping for one server and decides every refusal (the
status and message graphql-sse's handler answers with); the runtime in
:mod:`gqlwire.sse_single` carries the decisions out. Time is an input (``now``), as in
the WebSocket machines. The rules, and where gqlwire differs from the reference, are in
docs/streams.md.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

TOKEN_HEADER: Final = "x-graphql-event-stream-token"
TOKEN_PARAMETER: Final = "token"
OPERATION_ID_PARAMETER: Final = "operationId"


def new_token() -> str:
    """An unguessable token (192 random bits): it is the only credential a stream's
    requests share, so it is chosen by the server, never by the client."""
    return secrets.token_urlsafe(24)


class Phase(Enum):
    RESERVED = "reserved"
    """``PUT`` answered; no event stream yet (operations may be posted and wait)."""
    OPEN = "open"
    """An event stream carries the reservation's events."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """What to answer instead: a status and the message of a GraphQL error body."""

    status: int
    message: str
    retry_after: int | None = None
    """Seconds, for a ``Retry-After`` header (503)."""


STREAM_NOT_FOUND: Final = Refusal(404, "Stream not found")
STREAM_ALREADY_OPEN: Final = Refusal(409, "Stream already open")
OPERATION_ID_MISSING: Final = Refusal(400, "Operation ID is missing")
OPERATION_ID_TAKEN: Final = Refusal(409, "Operation with ID already exists")
TOO_MANY_STREAMS: Final = Refusal(
    503, "Too many event streams on this server: try again later", retry_after=1
)


def too_many_operations(limit: int) -> Refusal:
    return Refusal(429, f"Too many operations on this stream (at most {limit})")


@dataclass(eq=False, slots=True)
class Reservation:
    """One token: reserved, then open, until its stream ends (or it expires)."""

    token: str
    expires_at: float | None
    """When a reservation never opened lapses (``None``: once open, or never)."""
    phase: Phase = Phase.RESERVED
    operations: set[str] = field(default_factory=set)
    """The ids of the operations posted with this token and not yet ended."""


class SingleConnectionStreams:
    """The reservations and open streams of one server process."""

    def __init__(
        self,
        *,
        max_streams: int | None,
        reservation_timeout: float | None,
        max_operations: int | None,
        token_factory: Callable[[], str] = new_token,
    ) -> None:
        """``max_streams``: reservations plus open streams (``None``: no bound);
        ``reservation_timeout``: seconds a reservation may stay unopened;
        ``max_operations``: operations per stream at once."""
        self.max_streams = max_streams
        self.reservation_timeout = reservation_timeout
        self.max_operations = max_operations
        self._token_factory = token_factory
        self._reservations: dict[str, Reservation] = {}

    # -- what the runtime asks --------------------------------------------------------

    def reserve(self, now: float) -> Reservation | Refusal:
        """A ``PUT``: a new reservation, or 503 once the server holds ``max_streams``."""
        self.expire(now)
        if self.max_streams is not None and len(self._reservations) >= self.max_streams:
            return TOO_MANY_STREAMS
        token = self._token_factory()
        while token in self._reservations:  # a collision is astronomically unlikely
            token = self._token_factory()
        timeout = self.reservation_timeout
        reservation = Reservation(token, None if timeout is None else now + timeout)
        self._reservations[token] = reservation
        return reservation

    def find(self, token: str, now: float) -> Reservation | None:
        """The live reservation or stream of ``token`` (an expired one is dropped)."""
        self.expire(now)
        return self._reservations.get(token)

    def open(self, token: str, now: float) -> Reservation | Refusal:
        """An event stream request with ``token``: 404 for a token that names nothing
        (never issued, expired, or its stream ended), 409 if its stream is open."""
        reservation = self.find(token, now)
        if reservation is None:
            return STREAM_NOT_FOUND
        if reservation.phase is Phase.OPEN:
            return STREAM_ALREADY_OPEN
        reservation.phase = Phase.OPEN
        reservation.expires_at = None
        return reservation

    def start_operation(
        self, token: str, operation_id: object, now: float
    ) -> Reservation | Refusal:
        """An operation posted with ``token``: its id is taken until
        :meth:`operation_ended`. ``operation_id`` is ``extensions.operationId`` as sent:
        any JSON value, read as text the way the reference does (``String(...)``)."""
        reservation = self.find(token, now)
        if reservation is None:
            return STREAM_NOT_FOUND
        key = operation_key(operation_id)
        if not key:
            return OPERATION_ID_MISSING
        if key in reservation.operations:
            return OPERATION_ID_TAKEN
        limit = self.max_operations
        if limit is not None and len(reservation.operations) >= limit:
            return too_many_operations(limit)
        reservation.operations.add(key)
        return reservation

    def operation_ended(self, reservation: Reservation, operation_id: str) -> None:
        """The operation finished, was stopped, or its stream ended: its id is free."""
        reservation.operations.discard(operation_id)

    def stop_operation(
        self, token: str, operation_id: str | None, now: float
    ) -> Reservation | Refusal:
        """A ``DELETE``: the reservation whose operation the runtime stops (an id it
        does not run is no error: 200, as in the reference, which lets a client stop an
        operation that completed meanwhile)."""
        reservation = self.find(token, now)
        if reservation is None:
            return STREAM_NOT_FOUND
        if not operation_id:
            return OPERATION_ID_MISSING
        return reservation

    def close(self, reservation: Reservation) -> set[str]:
        """The stream ended (or the reservation expired): its token names nothing any
        more; returns the ids of its operations, for the runtime to stop."""
        if self._reservations.get(reservation.token) is reservation:
            del self._reservations[reservation.token]
        return set(reservation.operations)

    def expire(self, now: float) -> list[Reservation]:
        """Drop the reservations whose time to open ran out; returns them, so that the
        runtime stops the operations posted to them."""
        expired = [
            r
            for r in self._reservations.values()
            if r.expires_at is not None and r.expires_at <= now
        ]
        for reservation in expired:
            del self._reservations[reservation.token]
        return expired

    # -- what stats() reports ------------------------------------------------------------

    @property
    def streams(self) -> int:
        """Reservations and open streams."""
        return len(self._reservations)

    @property
    def operations(self) -> int:
        return sum(len(r.operations) for r in self._reservations.values())

    def reservations(self) -> list[Reservation]:
        return list(self._reservations.values())


def operation_key(operation_id: object) -> str:
    """``extensions.operationId`` as the text that names it on the stream (``""``:
    missing). A string is taken as is, an integer as its JSON text; anything else
    (an object, a list, ``true``, a fraction) is no id."""
    if isinstance(operation_id, str):
        return operation_id
    if isinstance(operation_id, int) and not isinstance(operation_id, bool):
        return str(operation_id)
    return ""


__all__ = [
    "OPERATION_ID_MISSING",
    "OPERATION_ID_PARAMETER",
    "OPERATION_ID_TAKEN",
    "STREAM_ALREADY_OPEN",
    "STREAM_NOT_FOUND",
    "TOKEN_HEADER",
    "TOKEN_PARAMETER",
    "TOO_MANY_STREAMS",
    "Phase",
    "Refusal",
    "Reservation",
    "SingleConnectionStreams",
    "new_token",
    "operation_key",
    "too_many_operations",
]
