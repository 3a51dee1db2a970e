"""The client's side of the two subprotocols: what it sends, and what server frames mean.

Pure functions and small classes, no I/O. Both codecs reuse the shared message codec
(:mod:`gqlwire.protocol.messages`): ``graphql-transport-ws`` frames are checked with the
same ``validate_message`` the server uses, exactly as the reference client checks them.
The legacy protocol has no schema of its own in the reference, so its checks here are
the ones the legacy client relies on (a known ``type``, an ``id`` where one is needed,
an object ``payload`` for ``data``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

from ..protocol.codes import GRAPHQL_TRANSPORT_WS, GRAPHQL_WS
from ..protocol.messages import (
    InvalidMessage,
    JSONObject,
    LegacyMessageType,
    MessageType,
    decode,
    encode,
    type_name,
    validate_message,
)

__all__ = [
    "Acknowledged",
    "ClientCodec",
    "Completed",
    "Errors",
    "InitRefused",
    "KeepAlive",
    "LegacyCodec",
    "Ping",
    "Pong",
    "Result",
    "ServerEvent",
    "TransportWSCodec",
    "Unexpected",
    "codec_for",
]


# -- what a server frame means to the client -------------------------------------------


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """``connection_ack``."""

    payload: JSONObject | None


@dataclass(frozen=True, slots=True)
class Ping:
    """A protocol ``ping`` (``graphql-transport-ws``): answered with ``pong``."""

    payload: JSONObject | None


@dataclass(frozen=True, slots=True)
class Pong:
    """A protocol ``pong`` (``graphql-transport-ws``)."""

    payload: JSONObject | None


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """``ka`` (legacy): nothing to do."""


@dataclass(frozen=True, slots=True)
class Result:
    """``next`` / legacy ``data``: one execution result for operation ``id``."""

    id: str
    payload: JSONObject


@dataclass(frozen=True, slots=True)
class Errors:
    """``error``: the operation ``id`` failed; terminal."""

    id: str
    errors: list[JSONObject]


@dataclass(frozen=True, slots=True)
class Completed:
    """``complete``: the operation ``id`` ended normally."""

    id: str


@dataclass(frozen=True, slots=True)
class InitRefused:
    """Legacy ``connection_error``: the server refused the connection."""

    payload: Any


@dataclass(frozen=True, slots=True)
class Unexpected:
    """A valid message that only a client sends (``subscribe``, ``connection_init``)."""

    type: str


ServerEvent = (
    Acknowledged | Ping | Pong | KeepAlive | Result | Errors | Completed | InitRefused | Unexpected
)


class ClientCodec(Protocol):
    """Encodes what the client sends and decodes what the server sends, for one
    subprotocol."""

    @property
    def name(self) -> str: ...
    @property
    def supports_ping(self) -> bool: ...

    def connection_init(self, params: JSONObject | None) -> str: ...
    def subscribe(self, id: str, payload: JSONObject) -> str: ...
    def complete(self, id: str) -> str: ...
    def ping(self) -> str: ...
    def pong(self, payload: JSONObject | None) -> str: ...
    def parse(self, data: str | bytes) -> ServerEvent: ...
    def type_of(self, event: ServerEvent) -> str: ...


def _with_payload(kind: str, payload: JSONObject | None) -> str:
    # An absent payload stays absent on the wire, as the reference client sends it.
    if payload is None:
        return encode({"type": kind})
    return encode({"type": kind, "payload": payload})


class TransportWSCodec:
    """``graphql-transport-ws`` (npm graphql-ws)."""

    name: Final = GRAPHQL_TRANSPORT_WS
    supports_ping: Final = True
    _TYPES: Final = {Result: "next", Errors: "error", Completed: "complete"}

    def connection_init(self, params: JSONObject | None) -> str:
        return _with_payload(MessageType.CONNECTION_INIT, params)

    def subscribe(self, id: str, payload: JSONObject) -> str:
        return encode({"id": id, "type": MessageType.SUBSCRIBE, "payload": payload})

    def complete(self, id: str) -> str:
        return encode({"id": id, "type": MessageType.COMPLETE})

    def ping(self) -> str:
        return encode({"type": MessageType.PING})

    def pong(self, payload: JSONObject | None) -> str:
        return _with_payload(MessageType.PONG, payload)

    def parse(self, data: str | bytes) -> ServerEvent:
        message = validate_message(decode(data))
        kind = message["type"]
        if kind == MessageType.CONNECTION_ACK:
            return Acknowledged(message.get("payload"))
        if kind == MessageType.PING:
            return Ping(message.get("payload"))
        if kind == MessageType.PONG:
            return Pong(message.get("payload"))
        if kind == MessageType.NEXT:
            return Result(message["id"], message["payload"])
        if kind == MessageType.ERROR:
            return Errors(message["id"], list(message["payload"]))
        if kind == MessageType.COMPLETE:
            return Completed(message["id"])
        return Unexpected(str(kind))  # subscribe, connection_init: valid, but client-bound

    def type_of(self, event: ServerEvent) -> str:
        """The message type that `event` came as (for error messages)."""
        return _type_of(event, self._TYPES)


_LEGACY_CLIENT_TYPES: Final = frozenset(
    {
        LegacyMessageType.CONNECTION_INIT,
        LegacyMessageType.CONNECTION_TERMINATE,
        LegacyMessageType.START,
        LegacyMessageType.STOP,
    }
)


class LegacyCodec:
    """Legacy ``graphql-ws`` (subscriptions-transport-ws)."""

    name: Final = GRAPHQL_WS
    supports_ping: Final = False
    _TYPES: Final = {Result: "data", Errors: "error", Completed: "complete"}

    def connection_init(self, params: JSONObject | None) -> str:
        return _with_payload(LegacyMessageType.CONNECTION_INIT, params)

    def subscribe(self, id: str, payload: JSONObject) -> str:
        return encode({"id": id, "type": LegacyMessageType.START, "payload": payload})

    def complete(self, id: str) -> str:
        return encode({"id": id, "type": LegacyMessageType.STOP})

    def ping(self) -> str:
        raise InvalidMessage("the legacy graphql-ws protocol has no ping")

    def pong(self, payload: JSONObject | None) -> str:
        raise InvalidMessage("the legacy graphql-ws protocol has no pong")

    def parse(self, data: str | bytes) -> ServerEvent:
        message = decode(data)
        if not isinstance(message, dict):
            raise InvalidMessage(
                f"Message is expected to be an object, but got {type_name(message)}"
            )
        kind = message.get("type")
        if not isinstance(kind, str) or not kind:
            raise InvalidMessage("Message is missing the 'type' property")
        payload = message.get("payload")
        if kind == LegacyMessageType.CONNECTION_ACK:
            return Acknowledged(payload if isinstance(payload, dict) else None)
        if kind == LegacyMessageType.CONNECTION_KEEP_ALIVE:
            return KeepAlive()
        if kind == LegacyMessageType.CONNECTION_ERROR:
            return InitRefused(payload)
        if kind == LegacyMessageType.DATA:
            if not isinstance(payload, dict):
                raise InvalidMessage(
                    f"\"data\" message expects the 'payload' property to be an object, "
                    f"but got {type_name(payload)}"
                )
            return Result(_legacy_id(message, kind), payload)
        if kind == LegacyMessageType.ERROR:
            return Errors(_legacy_id(message, kind), _legacy_errors(payload))
        if kind == LegacyMessageType.COMPLETE:
            return Completed(_legacy_id(message, kind))
        if kind in _LEGACY_CLIENT_TYPES:
            return Unexpected(kind)
        raise InvalidMessage(f"Invalid message 'type' property \"{kind}\"")

    def type_of(self, event: ServerEvent) -> str:
        """The message type that `event` came as (for error messages)."""
        return _type_of(event, self._TYPES)


def _type_of(event: ServerEvent, names: dict[type, str]) -> str:
    if isinstance(event, Unexpected):
        return event.type
    return names.get(type(event), type(event).__name__)


def _legacy_id(message: JSONObject, kind: str) -> str:
    # The legacy server echoes ids as it got them; the client sends strings, but a
    # server that turns "1" into 1 still names the same operation.
    value = message.get("id")
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidMessage(f"\"{kind}\" message requires a non-empty 'id' property")


def _legacy_errors(payload: Any) -> list[JSONObject]:
    # The reference sends one error object; some servers send a list, as the new
    # protocol does. Both become a list, like the legacy client's `formatErrors`.
    if isinstance(payload, dict):
        return [payload]
    if isinstance(payload, list) and payload and all(isinstance(e, dict) for e in payload):
        return list(payload)
    raise InvalidMessage(
        f"\"error\" message expects the 'payload' property to be an error object, "
        f"but got {type_name(payload)}"
    )


def codec_for(protocol: str) -> ClientCodec:
    """The codec of a subprotocol name; ValueError for any other name."""
    if protocol == GRAPHQL_TRANSPORT_WS:
        return TransportWSCodec()
    if protocol == GRAPHQL_WS:
        return LegacyCodec()
    raise ValueError(
        f"unknown protocol {protocol!r}: choose {GRAPHQL_TRANSPORT_WS!r} or {GRAPHQL_WS!r}"
    )
