"""The ``graphql-transport-ws`` protocol as a pure state machine.

Rules, codes and texts follow the reference server (npm ``graphql-ws``, ``makeServer``):
see *Protocol rules* in ``docs/design.md``. Two places go beyond it, both
documented: the server sends protocol-level pings (the reference relies on WebSocket
ping frames, which not every ASGI server sends), and operations per connection are
capped.
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
from .codes import GRAPHQL_TRANSPORT_WS, CloseCode
from .machine import SUBSCRIPTION_LIMIT_MESSAGE, ErrorStage, ProtocolMachine
from .messages import (
    MAX_OPERATION_ID_LENGTH,
    InvalidMessage,
    JSONObject,
    MessageType,
    encode,
    parse_message,
    ping_payload_too_big,
)

_PING = encode({"type": MessageType.PING})
_PONG = encode({"type": MessageType.PONG})
# Actions are frozen, so the ones that never vary are made once.
_ACK = Send(encode({"type": MessageType.CONNECTION_ACK}))
_CANCEL_INIT = CancelTimer(Timer.INIT)
_CANCEL_PONG = CancelTimer(Timer.PONG)
_CARRIES_AN_ID = frozenset({MessageType.SUBSCRIBE, MessageType.COMPLETE})
"""The client's messages with an operation id (``next`` and ``error`` have one too, but
only a server may send them)."""
# The client's message types, compared on every message: as module constants, since an
# enum member read through its class costs several times more (on Python 3.11).
_CONNECTION_INIT: Final = MessageType.CONNECTION_INIT
_PING_TYPE: Final = MessageType.PING
_PONG_TYPE: Final = MessageType.PONG
_SUBSCRIBE: Final = MessageType.SUBSCRIBE
_COMPLETE: Final = MessageType.COMPLETE


class TransportWSMachine(ProtocolMachine):
    """Protocol state of one ``graphql-transport-ws`` connection."""

    _next_type = "next"
    protocol = GRAPHQL_TRANSPORT_WS
    __slots__ = ()

    def opened(self) -> list[Action]:
        actions = super().opened()
        if not self.closed and self.settings.keep_alive is not None:
            actions.append(start_timer(Timer.KEEP_ALIVE, self.settings.keep_alive))
        return actions

    def receive(self, data: str | bytes, now: float | None = None) -> list[Action]:
        if self.closed:
            return []
        refused = self._screen(data, now)
        if refused is not None:
            return refused
        try:
            message = parse_message(data)
        except InvalidMessage:
            return self._close(CloseCode.BAD_REQUEST)
        kind = message["type"]
        # gqlwire's two bounds on top of the reference's schema (the id here, the ping
        # payload below), answered as the reference answers a message it refuses. The
        # schema made this id a string.
        if kind in _CARRIES_AN_ID and len(message["id"]) > MAX_OPERATION_ID_LENGTH:
            return self._close(CloseCode.BAD_REQUEST)
        if kind == _CONNECTION_INIT:
            return self._on_init(message.get("payload"))
        if kind == _PING_TYPE:
            payload = message.get("payload")
            if ping_payload_too_big(data, payload):
                return self._close(CloseCode.BAD_REQUEST)
            # A bare ping gets exactly {"type":"pong"}; a payload is echoed.
            if payload is None:
                return [Send(_PONG)]
            return [Send(encode({"type": MessageType.PONG, "payload": payload}))]
        if kind == _PONG_TYPE:
            if self._awaiting_pong:
                self._awaiting_pong = False
                return [_CANCEL_PONG]
            return []
        if kind == _SUBSCRIBE:
            return self._on_subscribe(message["id"], message["payload"])
        if kind == _COMPLETE:
            id = message["id"]
            if id not in self._active:
                return []  # unknown or finished: nothing to do
            # From here on nothing is sent for this id, not even a complete.
            del self._active[id]
            return [CancelOperation(id)]
        # connection_ack, next and error are valid messages, but only a server sends
        # them. The reference server throws here, which its adapters turn into 4500.
        return self._close(
            CloseCode.INTERNAL_SERVER_ERROR, f"Unexpected message of type {kind} received"
        )

    def _on_init(self, payload: Any) -> list[Action]:
        if self.init_received:
            return self._close(CloseCode.TOO_MANY_INITIALISATION_REQUESTS)
        self.init_received = True
        if isinstance(payload, dict):
            self.connection_params = payload
        return [_CANCEL_INIT, Authenticate(payload)]

    def _on_subscribe(self, id: str, payload: JSONObject) -> list[Action]:
        if not self.acknowledged:
            return self._close(CloseCode.UNAUTHORIZED)
        if id in self._active:
            return self._close(
                CloseCode.SUBSCRIBER_ALREADY_EXISTS, f"Subscriber for {id} already exists"
            )
        if self._at_limit():
            return [Send(self._error_text(id, [{"message": SUBSCRIPTION_LIMIT_MESSAGE}]))]
        self._active[id] = None
        return [StartOperation(id, payload)]

    def connect_result(self, result: Any) -> list[Action]:
        if self.closed:
            return []
        if result is False:
            return self._close(CloseCode.FORBIDDEN)
        # Acknowledged before the ack is sent, so that a subscribe racing the ack is
        # never refused with 4401 (graphql-ws#501).
        self.acknowledged = True
        if isinstance(result, dict):
            return [Send(encode({"type": MessageType.CONNECTION_ACK, "payload": result}))]
        return [_ACK]

    def connect_failed(self, reason: str) -> list[Action]:
        if self.closed:
            return []
        return self._close(CloseCode.INTERNAL_SERVER_ERROR, reason)

    def operation_next(self, id: OperationId, payload: JSONObject) -> list[Action]:
        if self.closed or id not in self._active:
            return []
        return [Send(encode({"id": id, "type": MessageType.NEXT, "payload": payload}))]

    def operation_errors(
        self, id: OperationId, errors: list[JSONObject], stage: ErrorStage
    ) -> list[Action]:
        if self.closed:
            return []
        if stage is ErrorStage.SYNTAX:
            # The reference server lets the parser's error escape, closing with 4500.
            message = errors[0].get("message", "") if errors else ""
            return self._close(CloseCode.INTERNAL_SERVER_ERROR, str(message))
        if id not in self._active:
            return []
        # `error` is terminal: the id is free again and no complete follows.
        del self._active[id]
        return [Send(self._error_text(id, errors))]

    def operation_failed(self, id: OperationId, reason: str) -> list[Action]:
        if self.closed:
            return []
        return self._close(CloseCode.INTERNAL_SERVER_ERROR, reason)

    def _keep_alive(self) -> list[Action]:
        interval = self.settings.keep_alive
        if interval is None:
            return []  # never armed: a stray expiry is not a reason to ping
        actions: list[Action] = [Send(_PING), start_timer(Timer.KEEP_ALIVE, interval)]
        if not self._awaiting_pong:
            self._awaiting_pong = True
            timeout = self.settings.pong_timeout
            actions.append(start_timer(Timer.PONG, interval if timeout is None else timeout))
        return actions

    @staticmethod
    def _error_text(id: OperationId, errors: list[JSONObject]) -> str:
        return encode({"id": id, "type": MessageType.ERROR, "payload": errors})
