"""The legacy ``graphql-ws`` protocol (``subscriptions-transport-ws``) as a state machine.

Behaviour follows the reference ``SubscriptionServer`` where it is sound:
``start`` messages that arrive before the init is handled are queued, not refused
(legacy clients never wait for the ack); bad JSON and unknown types are answered with
a message and the socket stays open; ``ka`` follows the ack at once and then at every
interval; errors are single objects, and validation errors travel as ``data``.

Deliberate differences, for safety:

* a ``start`` that arrives with no ``connection_init`` at all is never executed: it
  waits for an init, and the init timeout (which the reference lacks) closes the
  socket with 4408 if none comes;
* operations are removed when they end, not only on ``stop`` (the reference leaks
  them), and their number is capped;
* a second ``connection_init`` is refused (``connection_error``, then close 4429, as
  ``graphql-transport-ws`` does) where the reference runs ``onConnect`` again: the new
  params would be the connection's before ``on_connect`` had checked them, and every
  operation's ``context`` or ``share_key`` reading identity from them would trust them;
* an id longer than ``MAX_OPERATION_ID_LENGTH`` characters is refused like a missing
  one (an ``error`` without the id, the socket stays open), never echoed.
"""

from __future__ import annotations

from typing import Any, Final

from .actions import (
    Action,
    Authenticate,
    CancelOperation,
    CancelTimer,
    OperationId,
    Send,
    StartOperation,
    Timer,
    start_timer,
)
from .codes import GRAPHQL_WS, CloseCode
from .machine import SUBSCRIPTION_LIMIT_MESSAGE, ErrorStage, ProtocolMachine
from .messages import (
    MAX_OPERATION_ID_LENGTH,
    InvalidMessage,
    JSONObject,
    LegacyMessageType,
    decode,
    encode,
    id_too_long,
)

_KEEP_ALIVE = encode({"type": LegacyMessageType.CONNECTION_KEEP_ALIVE})
_CANCEL_INIT = CancelTimer(Timer.INIT)  # frozen: made once
# The message types compared or sent on every message: as module constants, since an
# enum member read through its class costs several times more (on Python 3.11).
_CONNECTION_INIT: Final = LegacyMessageType.CONNECTION_INIT
_START: Final = LegacyMessageType.START
_STOP: Final = LegacyMessageType.STOP
_CONNECTION_TERMINATE: Final = LegacyMessageType.CONNECTION_TERMINATE
_DATA: Final = LegacyMessageType.DATA
PROHIBITED_CONNECTION = "Prohibited connection!"
INVALID_MESSAGE_TYPE = "Invalid message type!"
TOO_MANY_INITIALISATION_REQUESTS = "Too many initialisation requests"
ID_TOO_LONG = f"Operation ids are at most {MAX_OPERATION_ID_LENGTH} characters long"


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return (isinstance(value, str) and value != "" and not id_too_long(value)) or isinstance(
        value, int
    )


class LegacyWSMachine(ProtocolMachine):
    """Protocol state of one legacy ``graphql-ws`` connection."""

    _next_type = "data"
    protocol = GRAPHQL_WS
    __slots__ = ("_queued",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Starts received before the init was acknowledged, in arrival order.
        self._queued: dict[OperationId, JSONObject] = {}

    def receive(self, data: str | bytes, now: float | None = None) -> list[Action]:
        if self.closed:
            return []
        refused = self._screen(data, now)
        if refused is not None:
            return refused
        try:
            message = decode(data)
        except InvalidMessage as error:
            # The reference answers unparsable frames and keeps the socket open.
            return [Send(self._connection_error_text(error.detail, id=None))]
        if not isinstance(message, dict):
            return [Send(self._error_text(None, {"message": INVALID_MESSAGE_TYPE}))]

        kind = message.get("type")
        id = message.get("id")
        if kind == _CONNECTION_INIT:
            if self.init_received:
                return [
                    Send(self._connection_error_text(TOO_MANY_INITIALISATION_REQUESTS)),
                    *self._close(CloseCode.TOO_MANY_INITIALISATION_REQUESTS),
                ]
            self.init_received = True
            payload = message.get("payload")
            if isinstance(payload, dict):
                self.connection_params = payload
            return [_CANCEL_INIT, Authenticate(payload)]
        if kind == _START:
            return self._on_start(id, message.get("payload"))
        if kind == _STOP:
            return self._on_stop(id)
        if kind == _CONNECTION_TERMINATE:
            return self._close(CloseCode.NORMAL_CLOSURE, "")
        return [
            Send(self._error_text(id if _valid_id(id) else None, {"message": INVALID_MESSAGE_TYPE}))
        ]

    def _on_start(self, id: Any, payload: Any) -> list[Action]:
        if not _valid_id(id):
            message = ID_TOO_LONG if id_too_long(id) else "A start message needs an id"
            return [Send(self._error_text(None, {"message": message}))]
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return [Send(self._error_text(id, {"message": "A start message needs a query"}))]
        if not isinstance(payload.get("variables"), dict | None) or not isinstance(
            payload.get("operationName"), str | None
        ):
            return [Send(self._error_text(id, {"message": "Invalid variables or operationName"}))]
        actions: list[Action] = []
        # A start with a used id replaces the old operation (reference behaviour).
        if id in self._active:
            del self._active[id]
            actions.append(CancelOperation(id))
        self._queued.pop(id, None)
        if self._at_limit():
            actions.append(Send(self._error_text(id, {"message": SUBSCRIPTION_LIMIT_MESSAGE})))
            return actions
        if not self.acknowledged:
            self._queued[id] = payload
            return actions
        self._active[id] = None
        actions.append(StartOperation(id, payload))
        return actions

    def _on_stop(self, id: Any) -> list[Action]:
        if not _valid_id(id):
            return []
        if self._queued.pop(id, None) is not None:
            return [Send(self._complete_text(id))]
        if id not in self._active:
            return []  # unknown ids, including "toString", are ignored
        del self._active[id]
        # Legacy clients (gql among them) wait for this complete after a stop.
        return [CancelOperation(id), Send(self._complete_text(id))]

    def connect_result(self, result: Any) -> list[Action]:
        if self.closed:
            return []
        if result is False:
            return [
                Send(self._connection_error_text(PROHIBITED_CONNECTION)),
                *self._close(CloseCode.INTERNAL_ERROR, PROHIBITED_CONNECTION),
            ]
        self.acknowledged = True
        ack: JSONObject = {"type": LegacyMessageType.CONNECTION_ACK}
        if isinstance(result, dict):
            ack["payload"] = result
        actions: list[Action] = [Send(encode(ack))]
        if self.settings.keep_alive is not None:
            actions += [Send(_KEEP_ALIVE), start_timer(Timer.KEEP_ALIVE, self.settings.keep_alive)]
        queued, self._queued = self._queued, {}
        for id, payload in queued.items():
            self._active[id] = None
            actions.append(StartOperation(id, payload))
        return actions

    def connect_failed(self, reason: str) -> list[Action]:
        if self.closed:
            return []
        return [
            Send(self._connection_error_text(reason)),
            *self._close(CloseCode.INTERNAL_ERROR, reason),
        ]

    def operation_next(self, id: OperationId, payload: JSONObject) -> list[Action]:
        if self.closed or id not in self._active:
            return []
        return [Send(encode({"id": id, "type": _DATA, "payload": payload}))]

    def operation_errors(
        self, id: OperationId, errors: list[JSONObject], stage: ErrorStage
    ) -> list[Action]:
        if self.closed or id not in self._active:
            return []
        del self._active[id]
        if stage is ErrorStage.VALIDATION:
            # What the reference really sends (its PROTOCOL.md says `error`).
            data = encode({"id": id, "type": _DATA, "payload": {"errors": errors}})
            return [Send(data), Send(self._complete_text(id))]
        first = errors[0] if errors else {"message": "Unknown error"}
        return [Send(self._error_text(id, first))]

    def operation_failed(self, id: OperationId, reason: str) -> list[Action]:
        if self.closed or id not in self._active:
            return []
        del self._active[id]
        return [Send(self._error_text(id, {"message": reason}))]

    def timer_fired(self, timer: Timer) -> list[Action]:
        if timer is Timer.PONG:
            return []  # the legacy protocol has no pong
        return super().timer_fired(timer)

    def connection_lost(self) -> None:
        super().connection_lost()
        self._queued.clear()

    def _close(self, code: int, reason: str | None = None) -> list[Action]:
        self._queued.clear()
        return super()._close(code, reason)

    def _pending_operations(self) -> int:
        return len(self._active) + len(self._queued)

    def _keep_alive(self) -> list[Action]:
        interval = self.settings.keep_alive
        # The timer is armed by the ack; a stray expiry before it (or with keep-alive
        # off) must not put a `ka` ahead of the `connection_ack`.
        if interval is None or not self.acknowledged:
            return []
        return [Send(_KEEP_ALIVE), start_timer(Timer.KEEP_ALIVE, interval)]

    @staticmethod
    def _error_text(id: OperationId | None, error: JSONObject) -> str:
        message: JSONObject = {"type": LegacyMessageType.ERROR, "payload": error}
        if id is not None:
            message["id"] = id
        return encode(message)

    @staticmethod
    def _connection_error_text(message: str, id: Any = ...) -> str:
        frame: JSONObject = {
            "type": LegacyMessageType.CONNECTION_ERROR,
            "payload": {"message": message},
        }
        if id is not ...:
            frame["id"] = id
        return encode(frame)
