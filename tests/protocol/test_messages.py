"""The message codec: a port of graphql-ws ``tests/common.test.ts`` plus framing cases.

The reference runs ``validateMessage`` over 45 invalid and 17 valid shapes and
snapshots the error text of each invalid one. The same shapes are written here as
Python values, and the expected texts are the snapshot's: our ``detail`` wording
mirrors the reference's, including its ``undefined`` for a missing key.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gqlwire.protocol import InvalidMessage, MessageType, encode, parse_message, validate_message
from gqlwire.protocol.messages import decode


def _a_function() -> None:
    """Stands in for the JavaScript function values of the reference table."""


INVALID: list[tuple[Any, str]] = [
    # straight up invalid
    ({}, "Message is missing the 'type' property"),
    ("", "Message is expected to be an object, but got string"),
    ([], "Message is expected to be an object, but got array"),
    (0, "Message is expected to be an object, but got number"),
    (9, "Message is expected to be an object, but got number"),
    # The reference passes `Symbol`, `Object` and an arrow function, three JavaScript
    # functions; a Python class, a builtin and a function are the nearest values.
    (object, "Message is expected to be an object, but got function"),
    (len, "Message is expected to be an object, but got function"),
    (_a_function, "Message is expected to be an object, but got function"),
    # invalid 'type' prop
    ({"type": ""}, "Message is missing the 'type' property"),
    # JavaScript's `{type: undefined}` is a missing key; None is its falsy neighbour.
    ({"type": None}, "Message is missing the 'type' property"),
    ({"type": 0}, "Message is missing the 'type' property"),
    ({"type": "nuxt"}, "Invalid message 'type' property \"nuxt\""),
    # invalid connection_init, connection_ack, ping and pong message
    (
        {"type": "connection_init", "payload": ""},
        "\"connection_init\" message expects the 'payload' property to be an object or "
        'nullish or missing, but got ""',
    ),
    (
        {"type": "connection_init", "payload": 0},
        "\"connection_init\" message expects the 'payload' property to be an object or "
        'nullish or missing, but got "0"',
    ),
    (
        {"type": "connection_ack", "payload": ""},
        "\"connection_ack\" message expects the 'payload' property to be an object or "
        'nullish or missing, but got ""',
    ),
    (
        {"type": "ping", "payload": 0},
        "\"ping\" message expects the 'payload' property to be an object or "
        'nullish or missing, but got "0"',
    ),
    # invalid subscribe message
    (
        {"type": "subscribe"},
        "\"subscribe\" message expects the 'id' property to be a string, but got undefined",
    ),
    (
        {"id": 0, "type": "subscribe"},
        "\"subscribe\" message expects the 'id' property to be a string, but got number",
    ),
    ({"id": "", "type": "subscribe"}, "\"subscribe\" message requires a non-empty 'id' property"),
    (
        {"id": "id", "type": "subscribe"},
        "\"subscribe\" message expects the 'payload' property to be an object, but got undefined",
    ),
    (
        {"id": "id", "type": "subscribe", "payload": []},
        "\"subscribe\" message expects the 'payload' property to be an object, but got array",
    ),
    (
        {"id": "id", "type": "subscribe", "payload": ""},
        "\"subscribe\" message expects the 'payload' property to be an object, but got string",
    ),
    (
        {"id": "id", "type": "subscribe", "payload": {}},
        "\"subscribe\" message payload expects the 'query' property to be a string, "
        "but got undefined",
    ),
    (
        {"id": "id", "type": "subscribe", "payload": {"query": 0}},
        "\"subscribe\" message payload expects the 'query' property to be a string, but got number",
    ),
    (
        {"id": "id", "type": "subscribe", "payload": {"query": {}}},
        "\"subscribe\" message payload expects the 'query' property to be a string, but got object",
    ),
    (
        {"id": "id", "type": "subscribe", "payload": {"operationName": 0, "query": ""}},
        "\"subscribe\" message payload expects the 'operationName' property to be a string "
        "or nullish or missing, but got number",
    ),
    (
        {"id": "id", "type": "subscribe", "payload": {"operationName": {}, "query": ""}},
        "\"subscribe\" message payload expects the 'operationName' property to be a string "
        "or nullish or missing, but got object",
    ),
    (
        {"id": "id", "type": "subscribe", "payload": {"query": "", "variables": ""}},
        "\"subscribe\" message payload expects the 'variables' property to be a an object "
        "or nullish or missing, but got string",
    ),
    (
        {"id": "id", "type": "subscribe", "payload": {"query": "", "extensions": ""}},
        "\"subscribe\" message payload expects the 'extensions' property to be a an object "
        "or nullish or missing, but got string",
    ),
    (
        {"id": "id", "type": "subscribe", "payload": {"query": "", "extensions": 0}},
        "\"subscribe\" message payload expects the 'extensions' property to be a an object "
        "or nullish or missing, but got number",
    ),
    # invalid next message
    (
        {"type": "next"},
        "\"next\" message expects the 'id' property to be a string, but got undefined",
    ),
    # JavaScript's `{id: undefined}` serializes as a missing key, and so it is here.
    (
        {"type": "next"},
        "\"next\" message expects the 'id' property to be a string, but got undefined",
    ),
    ({"id": "", "type": "next"}, "\"next\" message requires a non-empty 'id' property"),
    (
        {"id": "id", "type": "next"},
        "\"next\" message expects the 'payload' property to be an object, but got undefined",
    ),
    (
        {"id": "id", "type": "next", "payload": ""},
        "\"next\" message expects the 'payload' property to be an object, but got string",
    ),
    # invalid error message
    (
        {"type": "error"},
        "\"error\" message expects the 'id' property to be a string, but got undefined",
    ),
    ({"id": "", "type": "error"}, "\"error\" message requires a non-empty 'id' property"),
    (
        {"id": "id", "type": "error"},
        "\"error\" message expects the 'payload' property to be an array of GraphQL errors, "
        "but got undefined",
    ),
    (
        {"id": "id", "type": "error", "payload": {}},
        "\"error\" message expects the 'payload' property to be an array of GraphQL errors, "
        "but got {}",
    ),
    (
        {"id": "id", "type": "error", "payload": ""},
        "\"error\" message expects the 'payload' property to be an array of GraphQL errors, "
        'but got ""',
    ),
    (
        {"id": "id", "type": "error", "payload": []},
        "\"error\" message expects the 'payload' property to be an array of GraphQL errors, "
        "but got []",
    ),
    (
        {"id": "id", "type": "error", "payload": [{"iam": "invalid"}]},
        "\"error\" message expects the 'payload' property to be an array of GraphQL errors, "
        'but got [{"iam":"invalid"}]',
    ),
    # invalid complete message
    (
        {"type": "complete"},
        "\"complete\" message expects the 'id' property to be a string, but got undefined",
    ),
    ({"id": "", "type": "complete"}, "\"complete\" message requires a non-empty 'id' property"),
    (
        {"id": 0, "type": "complete"},
        "\"complete\" message expects the 'id' property to be a string, but got number",
    ),
]

_PAYLOADS: tuple[dict[str, Any], ...] = ({}, {"payload": {}}, {"payload": None})

VALID: list[dict[str, Any]] = [
    # connection_init, connection_ack, ping and pong: no payload, {} and null
    *(
        {"type": kind, **payload}
        for kind in ("connection_init", "connection_ack", "ping", "pong")
        for payload in _PAYLOADS
    ),
    # subscribe; JavaScript's explicit `undefined` fields are missing keys in JSON
    {"id": "id", "type": "subscribe", "payload": {"query": ""}},
    {"id": "id", "type": "subscribe", "payload": {"query": ""}},
    {
        "id": "id",
        "type": "subscribe",
        "payload": {"operationName": None, "variables": None, "extensions": None, "query": ""},
    },
    # error
    {"id": "id", "type": "error", "payload": [{"message": "I am Error"}]},
    # complete
    {"id": "id", "type": "complete"},
]


def test_the_tables_are_the_reference_size() -> None:
    assert (len(INVALID), len(VALID)) == (45, 17)


def _case_id(value: Any) -> str:
    return getattr(value, "__name__", None) or repr(value)


@pytest.mark.parametrize(("invalid", "detail"), INVALID, ids=[_case_id(v) for v, _ in INVALID])
def test_invalid_message_is_reported_with_a_descriptive_detail(invalid: Any, detail: str) -> None:
    with pytest.raises(InvalidMessage) as raised:
        validate_message(invalid)
    assert raised.value.detail == detail
    assert str(raised.value) == detail


@pytest.mark.parametrize("valid", VALID, ids=[orjson.dumps(v).decode() for v in VALID])
def test_valid_message_is_accepted_and_returned(valid: dict[str, Any]) -> None:
    assert validate_message(valid) is valid


@pytest.mark.parametrize(
    ("invalid", "detail"),
    [(v, d) for v, d in INVALID if isinstance(v, dict | list | str | int)],
    ids=[repr(v) for v, _ in INVALID if isinstance(v, dict | list | str | int)],
)
def test_invalid_message_in_a_frame_is_reported_the_same(invalid: Any, detail: str) -> None:
    with pytest.raises(InvalidMessage) as raised:
        parse_message(orjson.dumps(invalid).decode())
    assert raised.value.detail == detail


@pytest.mark.parametrize("valid", VALID, ids=[orjson.dumps(v).decode() for v in VALID])
def test_valid_message_survives_an_encode_decode_round_trip(valid: dict[str, Any]) -> None:
    text = encode(valid)
    assert isinstance(text, str)
    assert parse_message(text) == valid


def test_more_shapes_beyond_the_reference_table() -> None:
    cases: list[tuple[Any, str]] = [
        (None, "Message is expected to be an object, but got null"),
        (True, "Message is expected to be an object, but got boolean"),
        (1.5, "Message is expected to be an object, but got number"),
        ({"type": False}, "Message is missing the 'type' property"),
        ({"type": 1}, "Message is expects the 'type' property to be a string, but got number"),
        ({"type": []}, "Message is expects the 'type' property to be a string, but got array"),
        ({"type": {}}, "Message is expects the 'type' property to be a string, but got object"),
        ({"type": "Ping"}, "Invalid message 'type' property \"Ping\""),
        ({"type": "ka"}, "Invalid message 'type' property \"ka\""),
        ({"type": "connection_error"}, "Invalid message 'type' property \"connection_error\""),
        (
            {"type": "pong", "payload": "text"},
            "\"pong\" message expects the 'payload' property to be an object or "
            'nullish or missing, but got "text"',
        ),
        (
            {"id": None, "type": "complete"},
            "\"complete\" message expects the 'id' property to be a string, but got null",
        ),
        (
            {"id": "id", "type": "subscribe", "payload": None},
            "\"subscribe\" message expects the 'payload' property to be an object, but got null",
        ),
        (
            {"id": "id", "type": "subscribe", "payload": {"query": None}},
            "\"subscribe\" message payload expects the 'query' property to be a string, "
            "but got null",
        ),
        (
            {"id": "id", "type": "subscribe", "payload": {"query": "", "variables": []}},
            "\"subscribe\" message payload expects the 'variables' property to be a an object "
            "or nullish or missing, but got array",
        ),
        (
            {"id": "id", "type": "error", "payload": None},
            "\"error\" message expects the 'payload' property to be an array of GraphQL errors, "
            "but got null",
        ),
        (
            {"id": "id", "type": "error", "payload": [{"message": "ok"}, "nope"]},
            "\"error\" message expects the 'payload' property to be an array of GraphQL errors, "
            'but got [{"message":"ok"},"nope"]',
        ),
    ]
    for value, detail in cases:
        with pytest.raises(InvalidMessage) as raised:
            validate_message(value)
        assert raised.value.detail == detail, value


def test_unknown_fields_are_tolerated_and_kept() -> None:
    message = {
        "id": "1",
        "type": "subscribe",
        "payload": {"query": "{ a }", "extensions": {"x": 1}, "extra": True},
        "also": "here",
    }
    assert parse_message(encode(message)) == message


def test_every_message_type_value_is_a_plain_string() -> None:
    assert [str(kind) for kind in MessageType] == [
        "connection_init",
        "connection_ack",
        "ping",
        "pong",
        "subscribe",
        "next",
        "error",
        "complete",
    ]
    # Members compare equal to the wire text and serialize as it.
    assert encode({"type": MessageType.PING}) == '{"type":"ping"}'


def test_encode_is_compact_json_text_and_keeps_unicode() -> None:
    text = encode({"id": "é", "type": "next", "payload": {"data": {"x": "✓ 𝄞"}}})
    assert text == '{"id":"é","type":"next","payload":{"data":{"x":"✓ 𝄞"}}}'


def test_binary_frames_are_decoded_as_utf8_json() -> None:
    frame = '{"type":"connection_init","payload":{"name":"Zoë"}}'.encode()
    assert parse_message(frame) == {"type": "connection_init", "payload": {"name": "Zoë"}}


def test_invalid_utf8_in_a_binary_frame_is_an_invalid_message() -> None:
    with pytest.raises(InvalidMessage) as raised:
        parse_message(b'{"type":"ping","payload":{"x":"\xff\xfe"}}')
    assert raised.value.detail.startswith("Message is not valid JSON")


def test_a_lone_surrogate_in_a_text_frame_is_an_invalid_message() -> None:
    with pytest.raises(InvalidMessage):
        parse_message('{"type":"ping","payload":{"x":"\ud800"}}')


@pytest.mark.parametrize(
    "frame",
    ["", "not json", "{", '{"type":"ping"', "NaN", "1e400", "{'type':'ping'}", b"", b"\x00"],
)
def test_frames_that_are_not_json_are_invalid_messages(frame: str | bytes) -> None:
    with pytest.raises(InvalidMessage) as raised:
        decode(frame)
    assert raised.value.detail.startswith("Message is not valid JSON")
    # The detail must not chain the decoder's exception: it is meant to be shown alone.
    assert raised.value.__cause__ is None


def test_json_that_is_not_a_message_is_invalid_after_decoding() -> None:
    assert decode("[1, 2]") == [1, 2]
    with pytest.raises(InvalidMessage) as raised:
        parse_message("[1, 2]")
    assert raised.value.detail == "Message is expected to be an object, but got array"


def test_invalid_message_is_a_value_error() -> None:
    assert issubclass(InvalidMessage, ValueError)
