"""What a protocol machine asks its runtime to do.

A machine never performs I/O. Each call returns a list of these actions, in the order
the runtime must carry them out. Once a :class:`Close` has been returned, the machine
returns nothing more, whatever it is fed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

OperationId = str | int
"""``graphql-transport-ws`` ids are non-empty strings; the legacy protocol echoes any
JSON scalar it was given (its reference server sends a numeric id back as a number)."""


class Timer(StrEnum):
    """The timers a machine may arm. Time is an input: the runtime reports expiry."""

    INIT = "init"
    """``connection_init`` must arrive before it fires."""
    KEEP_ALIVE = "keep_alive"
    """Time to send the next ping (``graphql-transport-ws``) or ``ka`` (legacy)."""
    PONG = "pong"
    """A pong must arrive before it fires, else the peer is taken as gone."""


@dataclass(frozen=True, slots=True)
class Send:
    """Send one text frame."""

    text: str


@dataclass(frozen=True, slots=True)
class Close:
    """Close the socket with this code and reason; nothing is sent after it."""

    code: int
    reason: str


# Authenticate and StartOperation are made for every connection and every operation, and
# are not frozen: a frozen dataclass sets each field through object.__setattr__, which
# costs more than the rest of carrying the action out. Like every action, they are read,
# never changed.


@dataclass(slots=True)
class Authenticate:
    """Run the ``on_connect`` hook with the init payload, then report the outcome with
    ``connect_accepted``, ``connect_rejected`` or ``connect_failed``."""

    payload: Any


@dataclass(slots=True)
class StartOperation:
    """Start executing an operation; ``payload`` is the validated request."""

    id: OperationId
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CancelOperation:
    """Stop an operation: the client completed it, or a new one took its id."""

    id: OperationId


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Arm (or re-arm) a one-shot timer; report expiry with ``timer_fired``."""

    timer: Timer
    delay: float


@functools.lru_cache(maxsize=64)
def start_timer(timer: Timer, delay: float) -> StartTimer:
    """``StartTimer(timer, delay)``, made once per pair: a connection's delays are its
    server's few settings, and an action is frozen, so one serves every connection."""
    return StartTimer(timer, delay)


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Disarm a timer if it is armed."""

    timer: Timer


Action = Send | Close | Authenticate | StartOperation | CancelOperation | StartTimer | CancelTimer
