"""The message codec shared by server and client: JSON in and out, and validation.

Validation follows graphql-ws ``validateMessage`` check for check and in the same
order, so the ``detail`` of an :class:`InvalidMessage` names the first rule a message
breaks. The detail is for logs and for the client's own errors; a server only ever
tells the peer the fixed text ``Invalid message received``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

import orjson

JSONObject = dict[str, Any]


MAX_OPERATION_ID_LENGTH: Final = 128
"""Longest operation id a server accepts, in characters. Reference clients send UUIDs
(36) or small integers; every result carries its id, so an unbounded id multiplies what
one request makes the server send (a 1 MiB id made 201 MiB of ``next`` frames)."""

MAX_PING_PAYLOAD_BYTES: Final = 4096
"""Largest ``ping`` payload a server echoes, in bytes of JSON: room for a timestamp or
a tag, not for using the pong as a free amplifier of what a client sends."""


class MessageType(StrEnum):
    """``type`` values of the ``graphql-transport-ws`` protocol."""

    CONNECTION_INIT = "connection_init"
    CONNECTION_ACK = "connection_ack"
    PING = "ping"
    PONG = "pong"
    SUBSCRIBE = "subscribe"
    NEXT = "next"
    ERROR = "error"
    COMPLETE = "complete"


class LegacyMessageType(StrEnum):
    """``type`` values of the legacy ``graphql-ws`` protocol."""

    CONNECTION_INIT = "connection_init"
    CONNECTION_ACK = "connection_ack"
    CONNECTION_ERROR = "connection_error"
    CONNECTION_KEEP_ALIVE = "ka"
    CONNECTION_TERMINATE = "connection_terminate"
    START = "start"
    DATA = "data"
    ERROR = "error"
    COMPLETE = "complete"
    STOP = "stop"


class InvalidMessage(ValueError):
    """A frame that is not a valid protocol message; ``detail`` says which rule failed."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


_PAYLOAD_OBJECT_OR_NULL: Final = frozenset(
    {
        MessageType.CONNECTION_INIT,
        MessageType.CONNECTION_ACK,
        MessageType.PING,
        MessageType.PONG,
    }
)


def encode(message: JSONObject) -> str:
    """Serialize one message to the text of a WebSocket frame."""
    return orjson.dumps(message).decode("utf-8")


def decode(data: str | bytes) -> Any:
    """Parse the JSON of one frame; raise :class:`InvalidMessage` if it is not JSON.

    Binary frames are decoded as UTF-8 like text frames: the reference server does the
    same, so a client that sends its JSON as bytes still works.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise InvalidMessage(f"Message is not valid JSON: {error}") from None


def type_name(value: Any) -> str:
    """Name a JSON value's type as JavaScript's ``extendedTypeof`` would."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if callable(value):
        return "function"
    return "object"


def _type_of_key(container: JSONObject, key: str) -> str:
    # A missing key reads as `undefined` in JavaScript, which is what the reference's
    # messages say; a present null is "null".
    return type_name(container[key]) if key in container else "undefined"


def _is_falsy(value: Any) -> bool:
    # JavaScript's `!value` for JSON values: "", 0, false and null are all falsy.
    return (
        value is None
        or value is False
        or value == ""
        or (isinstance(value, int | float) and not isinstance(value, bool) and value == 0)
    )


def _check_id(message: JSONObject, kind: str) -> None:
    value = message.get("id")
    if not isinstance(value, str):
        raise InvalidMessage(
            f"\"{kind}\" message expects the 'id' property to be a string, "
            f"but got {_type_of_key(message, 'id')}"
        )
    if not value:
        raise InvalidMessage(f"\"{kind}\" message requires a non-empty 'id' property")


_SUBSCRIBE_OPTIONAL: Final = (
    ("variables", dict, "a an object"),
    ("operationName", str, "a string"),
    ("extensions", dict, "a an object"),
)
"""The optional keys of a ``subscribe`` payload: the type each must have when present,
and how the reference's message names it."""


def _check_subscribe_optional(payload: JSONObject) -> None:
    for key, expected, what in _SUBSCRIBE_OPTIONAL:
        optional = payload.get(key)
        if optional is not None and not isinstance(optional, expected):
            raise InvalidMessage(
                f"\"subscribe\" message payload expects the '{key}' property to be "
                f"{what} or nullish or missing, but got {type_name(optional)}"
            )


def _check_payload_object(message: JSONObject, kind: str) -> JSONObject:
    payload = message.get("payload")
    if not isinstance(payload, dict):
        raise InvalidMessage(
            f"\"{kind}\" message expects the 'payload' property to be an object, "
            f"but got {_type_of_key(message, 'payload')}"
        )
    return payload


# The message types compared on every message: as module constants, since an enum
# member read through its class costs several times more (on Python 3.11).
_SUBSCRIBE: Final = MessageType.SUBSCRIBE
_NEXT: Final = MessageType.NEXT
_ERROR: Final = MessageType.ERROR
_COMPLETE: Final = MessageType.COMPLETE


def validate_message(value: Any) -> JSONObject:
    """Check a parsed value against the ``graphql-transport-ws`` message schema.

    Returns the value (now known to be a valid message) or raises InvalidMessage.
    Every message type is checked, including those only a server sends, so the
    client uses the same function for what it receives.
    """
    if not isinstance(value, dict):
        raise InvalidMessage(f"Message is expected to be an object, but got {type_name(value)}")
    kind = value.get("type")
    if type(kind) is not str or not kind:  # a non-empty string goes straight on
        if _is_falsy(kind):
            raise InvalidMessage("Message is missing the 'type' property")
        if not isinstance(kind, str):
            raise InvalidMessage(
                f"Message is expects the 'type' property to be a string, but got {type_name(kind)}"
            )

    if kind in _PAYLOAD_OBJECT_OR_NULL:
        payload = value.get("payload")
        if payload is not None and not isinstance(payload, dict):
            raise InvalidMessage(
                f"\"{kind}\" message expects the 'payload' property to be an object or "
                f'nullish or missing, but got "{payload}"'
            )
    elif kind == _SUBSCRIBE:
        # The common shapes (a non-empty str id, a dict payload, a str query, a dict of
        # variables) pass by their exact types, without a call: every subscribe
        # passes here. Anything else takes the checks that name what is wrong.
        id = value.get("id")
        if type(id) is not str or not id:
            _check_id(value, kind)
        payload = value.get("payload")
        if type(payload) is not dict:
            payload = _check_payload_object(value, kind)
        if not isinstance(payload.get("query"), str):
            raise InvalidMessage(
                f"\"{kind}\" message payload expects the 'query' property to be a string, "
                f"but got {_type_of_key(payload, 'query')}"
            )
        if len(payload) > 1 and (type(payload.get("variables")) is not dict or len(payload) > 2):
            _check_subscribe_optional(payload)
    elif kind == _NEXT:
        _check_id(value, kind)
        _check_payload_object(value, kind)
    elif kind == _ERROR:
        _check_id(value, kind)
        errors = value.get("payload")
        if not (
            isinstance(errors, list)
            and errors
            and all(isinstance(error, dict) and "message" in error for error in errors)
        ):
            raise InvalidMessage(
                f"\"{kind}\" message expects the 'payload' property to be an array of "
                f"GraphQL errors, but got "
                f"{encode_value(errors) if 'payload' in value else 'undefined'}"
            )
    elif kind == _COMPLETE:
        _check_id(value, kind)
    else:
        raise InvalidMessage(f"Invalid message 'type' property \"{kind}\"")
    return value


def id_too_long(value: Any) -> bool:
    """Whether an operation id breaks :data:`MAX_OPERATION_ID_LENGTH` (only a string
    can: JSON numbers are at most 64-bit integers once parsed)."""
    return isinstance(value, str) and len(value) > MAX_OPERATION_ID_LENGTH


def ping_payload_too_big(frame: str | bytes, payload: Any) -> bool:
    """Whether a ``ping`` payload breaks :data:`MAX_PING_PAYLOAD_BYTES`. The frame holds
    the payload, so a small frame is decided without serializing anything (an ASCII
    ``str`` has as many bytes as characters, and CPython knows it without a scan)."""
    if payload is None:
        return False
    if len(frame) <= MAX_PING_PAYLOAD_BYTES and (isinstance(frame, bytes) or frame.isascii()):
        return False
    return len(orjson.dumps(payload)) > MAX_PING_PAYLOAD_BYTES


def parse_message(data: str | bytes) -> JSONObject:
    """Decode and validate one ``graphql-transport-ws`` frame."""
    try:  # decode()'s, in this frame: every frame passes here
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise InvalidMessage(f"Message is not valid JSON: {error}") from None
    return validate_message(value)


def encode_value(value: Any) -> str:
    """JSON text of any value, for messages that quote what they received."""
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:
        return repr(value)
