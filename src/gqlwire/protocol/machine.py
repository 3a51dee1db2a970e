"""What both protocol machines share: settings, error stages, and the closed state.

A machine holds the protocol state of one connection and nothing else. The runtime
feeds it what arrived (frames, timer expiries, hook and operation outcomes) and carries
out the actions it returns. Every public method is safe to call in any state: once the
machine has asked to close (or the peer has gone), each returns an empty list.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .actions import Action, Close, OperationId, Send, Timer, start_timer
from .codes import REASONS, CloseCode, limit_close_reason
from .messages import JSONObject, encode, encode_value

DEFAULT_MAX_MESSAGE_SIZE = 1024 * 1024
DEFAULT_MAX_MESSAGES_PER_SECOND = 100.0
"""Sustained rate of incoming messages per connection. Real clients send a few messages
per operation and a ping every few seconds; a hundred a second is far above that, and
far below the tens of thousands a looping client sends."""
DEFAULT_MESSAGE_BURST = 200
"""Messages a connection may send at once before the rate applies: a page that opens
its subscriptions together (``max_subscriptions_per_connection`` subscribes, then as
many completes) fits."""


@dataclass(frozen=True, slots=True)
class ProtocolSettings:
    """Per-connection protocol settings; times are in seconds, ``None`` disables."""

    connection_init_wait_timeout: float | None = 3.0
    keep_alive: float | None = 12.0
    """Interval of server pings (``graphql-transport-ws``) or ``ka`` messages (legacy)."""
    pong_timeout: float | None = None
    """How long a ping may go unanswered; ``None`` means the keep-alive interval."""
    max_operations: int | None = 100
    """Operations (queries, mutations, subscriptions) that may run at once."""
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    """Largest accepted frame in bytes; larger ones close the socket with 1009."""
    max_messages_per_second: float | None = DEFAULT_MAX_MESSAGES_PER_SECOND
    """Incoming messages per second, sustained (a token bucket); more close the socket
    with 1008. Applied only when the runtime gives each frame's arrival time."""
    message_burst: int = DEFAULT_MESSAGE_BURST
    """Messages that may arrive at once, on top of the rate (the bucket's size)."""

    def __post_init__(self) -> None:
        for name in ("connection_init_wait_timeout", "keep_alive", "pong_timeout"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 or None, got {value!r}")
        if self.keep_alive == 0:
            raise ValueError("keep_alive must be > 0 or None")
        for name in ("max_operations", "max_message_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1 or None, got {value!r}")
        rate = self.max_messages_per_second
        if rate is not None and (isinstance(rate, bool) or not rate > 0):
            raise ValueError(f"max_messages_per_second must be > 0 or None, got {rate!r}")
        burst = self.message_burst
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"message_burst must be an int >= 1, got {burst!r}")


class ErrorStage(Enum):
    """Where an operation's errors came from; each protocol routes them differently."""

    SYNTAX = "syntax"
    """The document did not parse."""
    VALIDATION = "validation"
    """The document is not valid against the schema."""
    REQUEST = "request"
    """Errors returned by ``on_subscribe``."""
    OPERATION = "operation"
    """No operation of the document could be identified (``operationName``)."""
    STREAM = "stream"
    """The subscription's source raised while streaming."""


SUBSCRIPTION_LIMIT_MESSAGE = "Subscription limit reached"


def result_tail(payload_json: bytes) -> bytes:
    """The end of every ``next`` (``data``) frame carrying this serialized result, in
    either protocol: the payload is the last member of the message object. Built once
    per shared event; :meth:`ProtocolMachine.encoded_next` puts each subscriber's head
    in front of it. (Also a compact copy: orjson's output keeps its 4 KB build buffer.)"""
    return payload_json + b"}"


class ProtocolMachine(ABC):
    """State common to both protocols. Subclasses implement :meth:`receive` and the
    per-protocol reactions; the runtime only ever talks to this interface."""

    protocol: str
    _next_type: str  # the type of the message carrying a result

    __slots__ = (
        "_active",
        "_awaiting_pong",
        "_last_arrival",
        "_tokens",
        "acknowledged",
        "closed",
        "connection_params",
        "init_received",
        "settings",
    )

    def __init__(self, settings: ProtocolSettings | None = None) -> None:
        self.settings = settings or ProtocolSettings()
        self.closed = False
        self.init_received = False
        self.acknowledged = False
        self.connection_params: JSONObject | None = None
        # The active operations, each with the start of its result frames (UTF-8) once
        # the first shared result needed it: the id is encoded once, not per event.
        self._active: dict[OperationId, bytes | None] = {}
        self._awaiting_pong = False
        # The rate limit's token bucket: full at the start, refilled by arrival times.
        self._tokens = float(self.settings.message_burst)
        self._last_arrival: float | None = None

    # -- inputs from the runtime ------------------------------------------------------

    def opened(self) -> list[Action]:
        """The socket was accepted: arm the init timer."""
        timeout = self.settings.connection_init_wait_timeout
        if self.closed or timeout is None:
            return []
        return [start_timer(Timer.INIT, timeout)]

    @abstractmethod
    def receive(self, data: str | bytes, now: float | None = None) -> list[Action]:
        """One frame arrived, at ``now`` (seconds on any monotonic clock; ``None``:
        unknown, and the rate limit is not applied to it)."""

    def timer_fired(self, timer: Timer) -> list[Action]:
        if self.closed:
            return []
        if timer is Timer.INIT:
            if self.init_received:
                return []
            return self._close(CloseCode.CONNECTION_INITIALISATION_TIMEOUT)
        if timer is Timer.PONG:
            if not self._awaiting_pong:
                return []
            return self._close(CloseCode.GOING_AWAY, "Keep-alive timeout")
        return self._keep_alive()

    @abstractmethod
    def connect_result(self, result: Any) -> list[Action]:
        """``on_connect`` returned: ``False`` refuses, a dict is the ack payload."""

    @abstractmethod
    def connect_failed(self, reason: str) -> list[Action]:
        """``on_connect`` raised; ``reason`` is what may be shown to the client."""

    @abstractmethod
    def operation_next(self, id: OperationId, payload: JSONObject) -> list[Action]:
        """One execution result is ready (already formatted, hooks applied)."""

    def encoded_next(self, id: OperationId, tail: bytes) -> bytes | None:
        """The frame (UTF-8) carrying an already serialized result to ``id``, or ``None``
        if nothing may be sent for it. The fast path of shared subscriptions: ``tail``
        (see :func:`result_tail`) is built once for all subscribers and only the head,
        which holds the id, differs."""
        if self.closed or id not in self._active:
            return None
        head = self._active[id]
        if head is None:
            head = self._active[id] = (
                f'{{"id":{encode_value(id)},"type":"{self._next_type}","payload":'
            ).encode()
        return head + tail

    @abstractmethod
    def operation_errors(
        self, id: OperationId, errors: list[JSONObject], stage: ErrorStage
    ) -> list[Action]:
        """The operation ended with GraphQL errors (formatted) from ``stage``."""

    def operation_complete(self, id: OperationId) -> list[Action]:
        """The operation ended normally on the server side."""
        if self.closed or id not in self._active:
            return []
        del self._active[id]
        return [Send(self._complete_text(id))]

    @abstractmethod
    def operation_failed(self, id: OperationId, reason: str) -> list[Action]:
        """Something outside GraphQL (a hook, ``execute`` itself) raised."""

    def close(self, code: int, reason: str = "") -> list[Action]:
        """The server decided to close (shutdown, a transport error)."""
        if self.closed:
            return []
        return self._close(code, reason)

    def connection_lost(self) -> None:
        """The peer is gone: nothing is to be sent any more."""
        self.closed = True
        self._active.clear()

    # -- queries ------------------------------------------------------------------------

    def is_active(self, id: OperationId) -> bool:
        """Whether results for ``id`` would still be sent."""
        return not self.closed and id in self._active

    @property
    def active_operations(self) -> int:
        return len(self._active)

    # -- helpers for subclasses ---------------------------------------------------------

    def _close(self, code: int, reason: str | None = None) -> list[Action]:
        self.closed = True
        self._active.clear()
        text = REASONS.get(code, "") if reason is None else limit_close_reason(reason)
        return [Close(code, text)]

    def _screen(self, data: str | bytes, now: float | None) -> list[Action] | None:
        """The checks every frame passes before it is parsed, cheapest first: the rate,
        then the size. The close to return, or ``None`` to go on.

        The rate is a token bucket of ``message_burst`` tokens, refilled at
        ``max_messages_per_second`` by arrival times; each frame takes one. It is
        inlined here, since every frame passes."""
        settings = self.settings
        rate = settings.max_messages_per_second
        if rate is not None and now is not None:
            last = self._last_arrival
            tokens = self._tokens
            if last is None or now > last:
                if last is not None:
                    tokens = min(float(settings.message_burst), tokens + (now - last) * rate)
                self._last_arrival = now
            if tokens < 1.0:
                self._tokens = tokens
                return self._close(CloseCode.POLICY_VIOLATION)
            self._tokens = tokens - 1.0
        # Most frames are decided by their length alone, here (see _too_big).
        limit = settings.max_message_size
        if limit is not None and len(data) * 4 > limit and self._too_big(data):
            return self._close(CloseCode.MESSAGE_TOO_BIG)
        return None

    def _too_big(self, data: str | bytes) -> bool:
        limit = self.settings.max_message_size
        if limit is None:
            return False
        # A str never has more characters than its UTF-8 bytes, and at most 4 bytes
        # each, so most frames are decided without encoding them.
        size = len(data)
        if size > limit:
            return True
        if isinstance(data, str) and size * 4 > limit:
            return len(data.encode("utf-8", "surrogatepass")) > limit
        return False

    def _at_limit(self) -> bool:
        limit = self.settings.max_operations
        return limit is not None and self._pending_operations() >= limit

    def _pending_operations(self) -> int:
        return len(self._active)

    @abstractmethod
    def _keep_alive(self) -> list[Action]:
        """The keep-alive timer fired."""

    def _complete_text(self, id: OperationId) -> str:
        return encode({"id": id, "type": "complete"})
