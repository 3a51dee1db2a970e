"""The client's pure parts, with plain calls: the codecs, the retry policy, the options."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gqlwire.client import Client, exponential_backoff, is_fatal_close_code
from gqlwire.client.errors import (
    BadResponse,
    ConnectionAckTimeout,
    ConnectionClosed,
    GraphQLErrors,
    copy_error,
)
from gqlwire.client.protocol import (
    Acknowledged,
    Completed,
    Errors,
    InitRefused,
    KeepAlive,
    LegacyCodec,
    Ping,
    Pong,
    Result,
    TransportWSCodec,
    Unexpected,
)
from gqlwire.client.retry import ConnectionEnd, Decision, decide
from gqlwire.protocol import InvalidMessage

# -- close codes and the retry decision (the reference's shouldRetryConnectOrThrow) ----------

FATAL = [4500, 4005, 4400, 4004, 4401, 4406, 4409, 4429, 1002, 1003, 1007, 1008, 1009, 1011]
RETRIED = [1000, 1001, 1005, 1006, 1012, 1013, 1014, 4403, 4408, 4504, 4499, 3000, 4000]


@pytest.mark.parametrize("code", FATAL)
def test_fatal_close_codes(code: int) -> None:
    assert is_fatal_close_code(code)
    end = ConnectionEnd(code, acknowledged=True)
    assert decide(end, wanted=True, retries=0, retry_attempts=5) is Decision.FAIL


@pytest.mark.parametrize("code", RETRIED)
def test_retried_close_codes(code: int) -> None:
    assert not is_fatal_close_code(code)
    assert decide(ConnectionEnd(code), wanted=True, retries=0, retry_attempts=5) is Decision.RETRY
    assert decide(ConnectionEnd(code), wanted=True, retries=5, retry_attempts=5) is Decision.FAIL
    assert decide(ConnectionEnd(code), wanted=True, retries=0, retry_attempts=0) is Decision.FAIL
    assert decide(ConnectionEnd(code), wanted=False, retries=0, retry_attempts=5) is Decision.STOP


def test_1000_after_the_ack_reconnects_at_once_if_wanted() -> None:
    acked = ConnectionEnd(1000, acknowledged=True)
    assert decide(acked, wanted=True, retries=9, retry_attempts=0) is Decision.RECONNECT
    assert decide(acked, wanted=False, retries=0, retry_attempts=5) is Decision.STOP
    # before the ack it is an ordinary failed attempt, so it cannot make the client spin
    assert decide(ConnectionEnd(1000), wanted=True, retries=0, retry_attempts=5) is Decision.RETRY
    assert decide(ConnectionEnd(1000), wanted=True, retries=5, retry_attempts=5) is Decision.FAIL


def test_a_connection_that_never_opened_is_retried_only_when_marked_so() -> None:
    assert decide(ConnectionEnd(None), wanted=True, retries=0, retry_attempts=5) is Decision.FAIL
    retryable = ConnectionEnd(None, retryable=True)
    assert decide(retryable, wanted=True, retries=0, retry_attempts=5) is Decision.RETRY
    assert decide(ConnectionEnd(1001, fatal=True), wanted=True, retries=0, retry_attempts=5) is (
        Decision.FAIL
    )


def test_what_a_connection_end_raises() -> None:
    assert (
        str(ConnectionEnd(1001, "Going away").exception()) == "connection closed: 1001 Going away"
    )
    error = ConnectionAckTimeout()
    assert ConnectionEnd(4504, error=error).exception() is error


@pytest.mark.parametrize("retries", [0, 1, 2, 5])
def test_the_default_back_off(retries: int) -> None:
    for _ in range(50):
        assert 2**retries + 0.3 <= exponential_backoff(retries) <= 2**retries + 3.0


def test_errors_are_copied_per_operation_with_their_attributes() -> None:
    cause = RuntimeError("cause")
    original = BadResponse(4004, "Bad response", "the whole story")
    original.__cause__ = cause
    copy = copy_error(original)
    assert copy is not original
    assert (copy.code, copy.reason, copy.detail, copy.__cause__) == (
        4004,
        "Bad response",
        "the whole story",
        cause,
    )
    errors = copy_error(GraphQLErrors([{"message": "a"}, {"message": "b"}]))
    assert errors.errors == [{"message": "a"}, {"message": "b"}] and str(errors) == "a; b"
    assert copy_error(ConnectionClosed(1006)).code == 1006


# -- codecs ----------------------------------------------------------------------------------


def frame(message: Any) -> str:
    return json.dumps(message)


def test_what_the_transport_ws_codec_sends() -> None:
    codec = TransportWSCodec()
    assert json.loads(codec.connection_init(None)) == {"type": "connection_init"}
    assert json.loads(codec.connection_init({"a": 1})) == {
        "type": "connection_init",
        "payload": {"a": 1},
    }
    assert json.loads(codec.subscribe("1", {"query": "{ a }"})) == {
        "id": "1",
        "type": "subscribe",
        "payload": {"query": "{ a }"},
    }
    assert json.loads(codec.complete("1")) == {"id": "1", "type": "complete"}
    assert json.loads(codec.ping()) == {"type": "ping"}
    assert json.loads(codec.pong(None)) == {"type": "pong"}
    assert json.loads(codec.pong({"x": 1})) == {"type": "pong", "payload": {"x": 1}}


@pytest.mark.parametrize(
    ("message", "event"),
    [
        ({"type": "connection_ack"}, Acknowledged(None)),
        ({"type": "connection_ack", "payload": {"a": 1}}, Acknowledged({"a": 1})),
        ({"type": "ping", "payload": None}, Ping(None)),
        ({"type": "pong"}, Pong(None)),
        ({"id": "1", "type": "next", "payload": {"data": 1}}, Result("1", {"data": 1})),
        (
            {"id": "1", "type": "error", "payload": [{"message": "x"}]},
            Errors("1", [{"message": "x"}]),
        ),
        ({"id": "1", "type": "complete"}, Completed("1")),
        ({"id": "1", "type": "subscribe", "payload": {"query": ""}}, Unexpected("subscribe")),
    ],
    ids=repr,
)
def test_what_the_transport_ws_codec_reads(message: Any, event: Any) -> None:
    assert TransportWSCodec().parse(frame(message)) == event
    assert TransportWSCodec().parse(frame(message).encode()) == event  # binary frames too


@pytest.mark.parametrize(
    "data",
    [
        "{",
        frame([]),
        frame({"type": "ka"}),
        frame({"type": "connection_error", "payload": {}}),
        frame({"id": "", "type": "complete"}),
        frame({"id": "1", "type": "next", "payload": []}),
        frame({"id": "1", "type": "error", "payload": [{"nomessage": 1}]}),
        frame({"type": "pong", "payload": 1}),
    ],
)
def test_the_transport_ws_codec_refuses_what_the_shared_validation_refuses(data: str) -> None:
    with pytest.raises(InvalidMessage):
        TransportWSCodec().parse(data)


def test_what_the_legacy_codec_sends() -> None:
    codec = LegacyCodec()
    assert json.loads(codec.subscribe("7", {"query": "{ a }"})) == {
        "id": "7",
        "type": "start",
        "payload": {"query": "{ a }"},
    }
    assert json.loads(codec.complete("7")) == {"id": "7", "type": "stop"}
    assert not codec.supports_ping


@pytest.mark.parametrize(
    ("message", "event"),
    [
        ({"type": "connection_ack"}, Acknowledged(None)),
        ({"type": "ka"}, KeepAlive()),
        (
            {"type": "connection_error", "payload": {"message": "no"}},
            InitRefused({"message": "no"}),
        ),
        ({"id": "1", "type": "data", "payload": {"data": 1}}, Result("1", {"data": 1})),
        ({"id": 1, "type": "data", "payload": {}}, Result("1", {})),
        (
            {"id": "1", "type": "error", "payload": {"message": "x"}},
            Errors("1", [{"message": "x"}]),
        ),
        (
            {"id": "1", "type": "error", "payload": [{"message": "x"}]},
            Errors("1", [{"message": "x"}]),
        ),
        ({"id": "1", "type": "complete", "payload": None}, Completed("1")),
        ({"id": "1", "type": "start", "payload": {}}, Unexpected("start")),
    ],
    ids=repr,
)
def test_what_the_legacy_codec_reads(message: Any, event: Any) -> None:
    assert LegacyCodec().parse(frame(message)) == event


@pytest.mark.parametrize(
    "message",
    [
        {"type": "ping"},
        {"type": ""},
        {"id": "1", "type": "data", "payload": None},
        {"type": "data", "payload": {}},
        {"id": "1", "type": "error", "payload": []},
        "text",
    ],
    ids=repr,
)
def test_the_legacy_codec_refuses_unknown_types_and_shapes(message: Any) -> None:
    with pytest.raises(InvalidMessage):
        LegacyCodec().parse(frame(message))


# -- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"protocol": "graphql-subscriptions"}, ValueError),
        ({"retry_attempts": -1}, ValueError),
        ({"retry_attempts": 1.5}, TypeError),
        ({"keep_alive": -1}, ValueError),
        ({"lazy_close_timeout": "1"}, TypeError),
        ({"connection_params": "token"}, TypeError),
        ({"retry_wait": 3}, TypeError),
    ],
    ids=repr,
)
def test_invalid_options_are_refused_at_once(options: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        Client("ws://127.0.0.1:1/graphql", **options)


def test_none_and_infinity_disable_timers() -> None:
    client = Client(
        "ws://127.0.0.1:1/graphql", keep_alive=float("inf"), connection_ack_timeout=None
    )
    assert client.options.keep_alive == 0.0
    assert client.options.connection_ack_timeout == 0.0
    assert repr(client) == "<Client ws://127.0.0.1:1/graphql graphql-transport-ws idle>"
