"""The ``graphql-transport-ws`` machine, rule by rule, with plain calls.

Each test names the rule of the reference server it checks. 4406 (no acceptable
subprotocol) is decided before a machine exists, by the runtime, so it is not here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gqlwire.protocol import (
    Action,
    Authenticate,
    CancelOperation,
    CancelTimer,
    Close,
    CloseCode,
    ErrorStage,
    LegacyWSMachine,
    ProtocolSettings,
    Send,
    StartOperation,
    StartTimer,
    Timer,
    TransportWSMachine,
    limit_close_reason,
    machine_for,
)
from gqlwire.protocol.codes import REASONS

from .support import closes, frame, sent, texts
from .test_messages import INVALID

INIT = frame({"type": "connection_init"})
QUERY = {"query": "{ hello }"}
NO_TIMERS = ProtocolSettings(connection_init_wait_timeout=None, keep_alive=None)


def subscribe(id: Any, payload: dict[str, Any] | None = None) -> str:
    return frame({"id": id, "type": "subscribe", "payload": payload or QUERY})


def complete(id: Any) -> str:
    return frame({"id": id, "type": "complete"})


def new_machine(settings: ProtocolSettings | None = None) -> TransportWSMachine:
    machine = TransportWSMachine(settings or NO_TIMERS)
    machine.opened()
    return machine


def acknowledged(settings: ProtocolSettings | None = None) -> TransportWSMachine:
    machine = new_machine(settings)
    machine.receive(INIT)
    machine.connect_result(True)
    return machine


def running(*ids: str, settings: ProtocolSettings | None = None) -> TransportWSMachine:
    machine = acknowledged(settings)
    for id in ids:
        assert machine.receive(subscribe(id)) == [StartOperation(id, QUERY)]
    return machine


# -- opening and timers ------------------------------------------------------------------


def test_opening_arms_the_init_and_keep_alive_timers() -> None:
    machine = TransportWSMachine(ProtocolSettings(connection_init_wait_timeout=3, keep_alive=12))
    assert machine.opened() == [StartTimer(Timer.INIT, 3), StartTimer(Timer.KEEP_ALIVE, 12)]


def test_opening_with_both_timers_disabled_arms_nothing() -> None:
    assert TransportWSMachine(NO_TIMERS).opened() == []


def test_a_zero_init_timeout_is_armed_to_fire_at_once() -> None:
    machine = TransportWSMachine(ProtocolSettings(connection_init_wait_timeout=0, keep_alive=None))
    assert machine.opened() == [StartTimer(Timer.INIT, 0)]
    assert machine.timer_fired(Timer.INIT) == [Close(4408, "Connection initialisation timeout")]


def test_default_settings() -> None:
    settings = ProtocolSettings()
    assert settings.connection_init_wait_timeout == 3.0
    assert settings.keep_alive == 12.0
    assert settings.pong_timeout is None
    assert settings.max_operations == 100
    assert settings.max_message_size == 1024 * 1024
    assert settings.max_messages_per_second == 100
    assert settings.message_burst == 200


@pytest.mark.parametrize(
    "options",
    [
        {"connection_init_wait_timeout": -1},
        {"keep_alive": -1},
        {"keep_alive": 0},
        {"pong_timeout": -0.5},
        {"max_operations": 0},
        {"max_message_size": 0},
        {"max_messages_per_second": 0},
        {"max_messages_per_second": -1},
        {"message_burst": 0},
        {"message_burst": 1.5},
    ],
)
def test_nonsense_settings_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ProtocolSettings(**options)


def test_machine_for_picks_the_machine_of_a_subprotocol() -> None:
    assert isinstance(machine_for("graphql-transport-ws"), TransportWSMachine)
    assert isinstance(machine_for("graphql-ws"), LegacyWSMachine)
    with pytest.raises(ValueError):
        machine_for("graphql-TransPort-ws")


# -- 4400: invalid messages --------------------------------------------------------------

JSON_INVALID = [value for value, _ in INVALID if isinstance(value, dict | list | str | int)]


@pytest.mark.parametrize("invalid", JSON_INVALID, ids=[repr(v) for v in JSON_INVALID])
@pytest.mark.parametrize("when", ["before init", "after ack"])
def test_an_invalid_message_closes_with_4400(invalid: Any, when: str) -> None:
    machine = new_machine() if when == "before init" else running("1")
    assert machine.receive(frame(invalid)) == [Close(4400, "Invalid message received")]
    assert machine.closed
    assert machine.active_operations == 0


@pytest.mark.parametrize(
    "data",
    [
        "",
        "not json",
        "{",
        '{"type":"connection_init"',
        "null",
        "[]",
        '"connection_init"',
        b"\xff\xfe",
        b'{"type":"connection_init","payload":{"x":"\xc3"}}',
        '{"id":1,"type":"subscribe","payload":{"query":"{ a }"}}',
        '{"type":"connection_init","payload":"x"}',
        '{"type":"connection_init","payload":[1]}',
        '{"type":"foo"}',
        '{"type":"ka"}',
        '{"type":"start","id":"1","payload":{"query":"{ a }"}}',
    ],
)
def test_frames_that_are_not_valid_messages_close_with_4400(data: str | bytes) -> None:
    machine = acknowledged()
    assert machine.receive(data) == [Close(CloseCode.BAD_REQUEST, "Invalid message received")]


def test_a_binary_frame_is_read_like_a_text_frame() -> None:
    machine = new_machine()
    actions = machine.receive(b'{"type":"connection_init","payload":{"token":"t"}}')
    assert actions == [CancelTimer(Timer.INIT), Authenticate({"token": "t"})]


# -- connection_init, on_connect, 4403, 4429, 4408 ------------------------------------------


def test_init_cancels_the_init_timer_and_asks_for_authentication() -> None:
    machine = new_machine()
    payload = {"token": "secret"}
    assert machine.receive(frame({"type": "connection_init", "payload": payload})) == [
        CancelTimer(Timer.INIT),
        Authenticate(payload),
    ]
    assert machine.init_received
    assert not machine.acknowledged
    assert machine.connection_params == payload


@pytest.mark.parametrize("payload", [None, {}])
def test_connection_params_are_the_init_payload_only_when_it_is_an_object(
    payload: dict[str, Any] | None,
) -> None:
    machine = new_machine()
    message: dict[str, Any] = {"type": "connection_init"}
    if payload is not None:
        message["payload"] = payload
    assert machine.receive(frame(message))[-1] == Authenticate(payload)
    assert machine.connection_params == payload


@pytest.mark.parametrize("result", [True, None, [1, 2], "yes", 1])
def test_an_accepted_connection_is_acked_without_payload(result: Any) -> None:
    machine = new_machine()
    machine.receive(INIT)
    actions = machine.connect_result(result)
    assert texts(actions) == ['{"type":"connection_ack"}']
    assert actions == [Send('{"type":"connection_ack"}')]
    assert machine.acknowledged


@pytest.mark.parametrize("result", [{}, {"itsa": "me"}])
def test_an_object_from_on_connect_is_the_ack_payload(result: dict[str, Any]) -> None:
    machine = new_machine()
    machine.receive(INIT)
    assert sent(machine.connect_result(result)) == [{"type": "connection_ack", "payload": result}]


def test_a_refused_connection_closes_with_4403() -> None:
    machine = new_machine()
    machine.receive(INIT)
    assert machine.connect_result(False) == [Close(4403, "Forbidden")]
    assert not machine.acknowledged


def test_on_connect_raising_closes_with_4500_and_its_message() -> None:
    machine = new_machine()
    machine.receive(INIT)
    assert machine.connect_failed("I'm a teapot") == [Close(4500, "I'm a teapot")]


def test_a_second_init_while_the_first_is_pending_closes_with_4429() -> None:
    machine = new_machine()
    machine.receive(INIT)
    assert machine.receive(INIT) == [Close(4429, "Too many initialisation requests")]
    # The pending on_connect outcome arrives after the close: nothing is sent.
    assert machine.connect_result(True) == []


def test_a_second_init_after_the_ack_closes_with_4429() -> None:
    machine = running("1")
    assert machine.receive(frame({"type": "connection_init", "payload": {}})) == [
        Close(4429, "Too many initialisation requests")
    ]
    assert machine.active_operations == 0


def test_the_init_timeout_closes_with_4408_when_no_init_came() -> None:
    machine = new_machine(ProtocolSettings(connection_init_wait_timeout=3, keep_alive=None))
    assert machine.timer_fired(Timer.INIT) == [Close(4408, "Connection initialisation timeout")]


def test_the_init_timeout_does_nothing_while_on_connect_is_still_running() -> None:
    # Only "init received" matters, not "ack sent".
    machine = new_machine(ProtocolSettings(connection_init_wait_timeout=3, keep_alive=None))
    machine.receive(INIT)
    assert machine.timer_fired(Timer.INIT) == []
    assert sent(machine.connect_result(True)) == [{"type": "connection_ack"}]


def test_the_init_timeout_does_nothing_after_the_ack() -> None:
    machine = acknowledged(ProtocolSettings(connection_init_wait_timeout=3, keep_alive=None))
    assert machine.timer_fired(Timer.INIT) == []
    assert not machine.closed


# -- subscribe: 4401, 4409, limits -----------------------------------------------------------


def test_subscribe_before_any_init_closes_with_4401() -> None:
    assert new_machine().receive(subscribe("1")) == [Close(4401, "Unauthorized")]


def test_subscribe_while_on_connect_is_running_closes_with_4401() -> None:
    machine = new_machine()
    machine.receive(INIT)
    assert machine.receive(subscribe("1")) == [Close(4401, "Unauthorized")]


def test_subscribe_after_a_refused_connection_does_nothing() -> None:
    machine = new_machine()
    machine.receive(INIT)
    machine.connect_result(False)
    assert machine.receive(subscribe("1")) == []


def test_subscribe_after_the_ack_starts_the_operation_with_the_payload() -> None:
    machine = acknowledged()
    payload = {
        "query": "query Q($v: Int) { a(v: $v) }",
        "variables": {"v": 1},
        "operationName": "Q",
        "extensions": {"e": True},
        "extra": "kept",
    }
    assert machine.receive(subscribe("op-1", payload)) == [StartOperation("op-1", payload)]
    assert machine.is_active("op-1")
    assert machine.active_operations == 1


def test_an_empty_query_is_valid_at_this_stage() -> None:
    # Parsing is the runtime's job; it reports a syntax error back.
    assert acknowledged().receive(subscribe("1", {"query": ""})) == [
        StartOperation("1", {"query": ""})
    ]


def test_a_duplicate_id_of_a_reserved_operation_closes_with_4409() -> None:
    # Reserved: started, nothing reported yet (the reference's "still preparing").
    machine = running("not-unique")
    assert machine.receive(subscribe("not-unique")) == [
        Close(4409, "Subscriber for not-unique already exists")
    ]


def test_a_duplicate_id_of_a_streaming_operation_closes_with_4409() -> None:
    machine = running("1")
    assert sent(machine.operation_next("1", {"data": {"a": 1}}))
    assert machine.receive(subscribe("1")) == [Close(4409, "Subscriber for 1 already exists")]


def test_an_id_is_reusable_once_the_operation_completed() -> None:
    machine = running("1")
    assert sent(machine.operation_complete("1")) == [{"id": "1", "type": "complete"}]
    assert machine.receive(subscribe("1")) == [StartOperation("1", QUERY)]


def test_an_id_is_reusable_once_the_client_completed_it() -> None:
    machine = running("1")
    machine.receive(complete("1"))
    assert machine.receive(subscribe("1")) == [StartOperation("1", QUERY)]


def test_the_operation_limit_answers_with_an_error_and_keeps_the_id_free() -> None:
    machine = running("1", "2", settings=ProtocolSettings(max_operations=2, keep_alive=None))
    limit_error = '{"id":"3","type":"error","payload":[{"message":"Subscription limit reached"}]}'
    assert machine.receive(subscribe("3")) == [Send(limit_error)]
    assert not machine.is_active("3")
    assert machine.active_operations == 2
    # The refused id was never reserved: asking again is not a duplicate (no 4409).
    assert machine.receive(subscribe("3")) == [Send(limit_error)]
    assert not machine.closed
    # A running operation ending frees a slot.
    machine.operation_complete("1")
    assert machine.receive(subscribe("3")) == [StartOperation("3", QUERY)]


def test_the_operation_limit_counts_single_result_operations_too() -> None:
    machine = running("query", settings=ProtocolSettings(max_operations=1, keep_alive=None))
    assert sent(machine.receive(subscribe("next")))[0]["type"] == "error"
    machine.operation_next("query", {"data": {"a": 1}})
    machine.operation_complete("query")
    assert machine.receive(subscribe("next")) == [StartOperation("next", QUERY)]


def test_a_duplicate_is_4409_even_at_the_operation_limit() -> None:
    machine = running("1", settings=ProtocolSettings(max_operations=1, keep_alive=None))
    assert closes(machine.receive(subscribe("1"))) == [
        Close(4409, "Subscriber for 1 already exists")
    ]


def test_no_operation_limit_when_disabled() -> None:
    machine = running(
        *(str(n) for n in range(300)),
        settings=ProtocolSettings(max_operations=None, keep_alive=None),
    )
    assert machine.active_operations == 300


# -- ping / pong -------------------------------------------------------------------------------


def test_a_bare_ping_gets_exactly_a_bare_pong_even_before_init() -> None:
    assert new_machine().receive('{"type":"ping"}') == [Send('{"type":"pong"}')]


def test_a_ping_with_null_payload_gets_a_bare_pong() -> None:
    assert acknowledged().receive('{"type":"ping","payload":null}') == [Send('{"type":"pong"}')]


@pytest.mark.parametrize("payload", [{"iCome": "back"}, {}, {"nested": {"a": [1, 2.5, None]}}])
def test_a_ping_payload_is_echoed_in_the_pong(payload: dict[str, Any]) -> None:
    actions = new_machine().receive(frame({"type": "ping", "payload": payload}))
    assert sent(actions) == [{"type": "pong", "payload": payload}]
    assert len(actions) == 1


@pytest.mark.parametrize("message", [{"type": "pong"}, {"type": "pong", "payload": {"a": 1}}])
def test_a_pong_gets_no_answer(message: dict[str, Any]) -> None:
    machine = acknowledged()
    assert machine.receive(frame(message)) == []
    assert not machine.closed


def test_ping_and_pong_change_no_state() -> None:
    machine = new_machine()
    machine.receive('{"type":"ping"}')
    machine.receive('{"type":"pong"}')
    assert not machine.init_received
    assert machine.receive(subscribe("1")) == [Close(4401, "Unauthorized")]


# -- complete from the client ----------------------------------------------------------------


def test_complete_for_an_unknown_id_is_ignored() -> None:
    machine = running("1")
    assert machine.receive(complete("nope")) == []
    assert machine.receive(complete("nope")) == []
    assert machine.is_active("1")


def test_complete_before_the_ack_for_an_unknown_id_is_ignored() -> None:
    assert new_machine().receive(complete("1")) == []


def test_client_complete_cancels_the_operation_and_nothing_more_is_sent_for_it() -> None:
    machine = running("1")
    assert machine.receive(complete("1")) == [CancelOperation("1")]
    assert not machine.is_active("1")
    # The runtime's late reports for the id produce nothing: no complete back, no
    # late next of a single result.
    assert machine.operation_next("1", {"data": {"late": True}}) == []
    assert machine.operation_complete("1") == []
    assert machine.operation_errors("1", [{"message": "late"}], ErrorStage.STREAM) == []
    # Completing again is completing an unknown id.
    assert machine.receive(complete("1")) == []
    assert not machine.closed


# -- results and errors -------------------------------------------------------------------


def test_results_are_sent_as_next_and_the_server_end_as_complete() -> None:
    machine = running("1")
    assert texts(machine.operation_next("1", {"data": {"getValue": "value"}})) == [
        '{"id":"1","type":"next","payload":{"data":{"getValue":"value"}}}'
    ]
    assert texts(machine.operation_next("1", {"data": None, "errors": [{"message": "x"}]})) == [
        '{"id":"1","type":"next","payload":{"data":null,"errors":[{"message":"x"}]}}'
    ]
    assert machine.operation_complete("1") == [Send('{"id":"1","type":"complete"}')]
    assert machine.operation_complete("1") == []
    assert machine.operation_next("1", {"data": {}}) == []


def test_reports_for_ids_never_started_are_dropped() -> None:
    machine = running("1")
    assert machine.operation_next("2", {"data": {}}) == []
    assert machine.operation_complete("2") == []
    assert machine.operation_errors("2", [{"message": "x"}], ErrorStage.VALIDATION) == []
    assert machine.is_active("1")


@pytest.mark.parametrize("stage", [ErrorStage.VALIDATION, ErrorStage.REQUEST, ErrorStage.STREAM])
def test_error_is_terminal_no_complete_follows_and_the_id_is_free(stage: ErrorStage) -> None:
    machine = running("1")
    errors = [
        {
            "message": 'Cannot query field "nope" on type "Query".',
            "locations": [{"line": 1, "column": 3}],
        }
    ]
    assert sent(machine.operation_errors("1", errors, stage)) == [
        {"id": "1", "type": "error", "payload": errors}
    ]
    assert not machine.is_active("1")
    assert machine.operation_complete("1") == []
    assert not machine.closed
    assert machine.receive(subscribe("1")) == [StartOperation("1", QUERY)]


def test_a_syntax_error_closes_with_4500_and_its_message() -> None:
    machine = running("1", "2")
    actions = machine.operation_errors(
        "1", [{"message": "Syntax Error: Expected Name, found <EOF>."}], ErrorStage.SYNTAX
    )
    assert actions == [Close(4500, "Syntax Error: Expected Name, found <EOF>.")]
    assert machine.active_operations == 0


def test_a_syntax_error_message_too_long_for_a_close_frame_is_replaced() -> None:
    machine = running("1")
    actions = machine.operation_errors("1", [{"message": "S" * 124}], ErrorStage.SYNTAX)
    assert actions == [Close(4500, "Internal server error")]


def test_an_operation_failure_closes_with_4500_and_its_reason() -> None:
    assert running("1").operation_failed("1", "Stop") == [Close(4500, "Stop")]


def test_an_operation_failure_after_the_client_completed_still_closes() -> None:
    # The reference closes when on_complete raises, which runs after a client complete.
    machine = running("1")
    machine.receive(complete("1"))
    assert machine.operation_failed("1", "Stop") == [Close(4500, "Stop")]


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ({"type": "connection_ack"}, "connection_ack"),
        ({"type": "connection_ack", "payload": {"a": 1}}, "connection_ack"),
        ({"id": "1", "type": "next", "payload": {}}, "next"),
        ({"id": "1", "type": "error", "payload": [{"message": "x"}]}, "error"),
    ],
)
def test_server_only_messages_from_the_client_close_with_4500(
    message: dict[str, Any], kind: str
) -> None:
    for machine in (new_machine(), running("1")):
        assert machine.receive(frame(message)) == [
            Close(4500, f"Unexpected message of type {kind} received")
        ]


# -- close reasons -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("", ""),
        ("a" * 123, "a" * 123),
        ("a" * 124, "Internal server error"),
        ("é" * 61 + "a", "é" * 61 + "a"),  # 123 bytes
        ("é" * 62, "Internal server error"),  # 62 characters, 124 bytes
        ("𝄞" * 30 + "abc", "𝄞" * 30 + "abc"),  # 123 bytes
        ("𝄞" * 31, "Internal server error"),  # 31 characters, 124 bytes
    ],
)
def test_close_reasons_are_limited_to_123_utf8_bytes(reason: str, expected: str) -> None:
    assert limit_close_reason(reason) == expected
    assert running("1").operation_failed("1", reason) == [Close(4500, expected)]
    machine = new_machine()
    machine.receive(INIT)
    assert machine.connect_failed(reason) == [Close(4500, expected)]


def test_a_4409_reason_with_a_huge_id_is_limited_too() -> None:
    id = "x" * 120
    assert running(id).receive(subscribe(id)) == [Close(4409, "Internal server error")]


# graphql-ws's own CloseCode enum (server and client side), number for number.
REFERENCE_CLOSE_CODES = {
    "INTERNAL_SERVER_ERROR": 4500,
    "INTERNAL_CLIENT_ERROR": 4005,
    "BAD_REQUEST": 4400,
    "BAD_RESPONSE": 4004,
    "UNAUTHORIZED": 4401,
    "FORBIDDEN": 4403,
    "SUBPROTOCOL_NOT_ACCEPTABLE": 4406,
    "CONNECTION_INITIALISATION_TIMEOUT": 4408,
    "CONNECTION_ACKNOWLEDGEMENT_TIMEOUT": 4504,
    "SUBSCRIBER_ALREADY_EXISTS": 4409,
    "TOO_MANY_INITIALISATION_REQUESTS": 4429,
}

# The reason texts the reference server puts beside its fixed codes.
REFERENCE_REASONS = {
    4400: "Invalid message received",
    4401: "Unauthorized",
    4403: "Forbidden",
    4406: "Subprotocol not acceptable",
    4408: "Connection initialisation timeout",
    4429: "Too many initialisation requests",
}


def test_close_codes_and_fixed_reasons_are_the_reference_ones() -> None:
    assert {name: int(CloseCode[name]) for name in REFERENCE_CLOSE_CODES} == REFERENCE_CLOSE_CODES
    assert {code: REASONS[CloseCode(code)] for code in REFERENCE_REASONS} == REFERENCE_REASONS
    # Every other code gqlwire names is RFC 6455's, or the reference client's 4499.
    others = {int(code) for code in CloseCode} - set(REFERENCE_CLOSE_CODES.values())
    assert all(1000 <= code < 2000 for code in others - {4499})


# -- message size ---------------------------------------------------------------------------

SMALL = ProtocolSettings(connection_init_wait_timeout=None, keep_alive=None, max_message_size=64)


def _ping_of_size(size: int, char: str = "a") -> str:
    head, tail = '{"type":"ping","payload":{"p":"', '"}}'
    room = size - len(head) - len(tail)
    text = head + char * (room // len(char.encode())) + tail
    assert len(text.encode()) == size
    return text


def test_a_frame_at_the_size_limit_is_accepted() -> None:
    machine = new_machine(SMALL)
    assert len(machine.receive(_ping_of_size(64))) == 1
    assert len(machine.receive(_ping_of_size(64).encode())) == 1


@pytest.mark.parametrize(
    "data",
    [_ping_of_size(65), _ping_of_size(65).encode(), "x" * 1000, b"\xff" * 65],
    ids=["text", "binary", "garbage text", "garbage bytes"],
)
def test_a_frame_over_the_size_limit_closes_with_1009(data: str | bytes) -> None:
    assert new_machine(SMALL).receive(data) == [Close(1009, "Message too big")]


def test_the_size_limit_counts_utf8_bytes_not_characters() -> None:
    # 62 characters, 64 bytes: fits. 63 characters, 66 bytes: too big.
    fits = _ping_of_size(64, "é")
    assert len(new_machine(SMALL).receive(fits)) == 1
    too_big = fits.replace('"}}', 'é"}}')
    assert len(too_big) < 64 < len(too_big.encode())
    assert new_machine(SMALL).receive(too_big) == [Close(1009, "Message too big")]


def test_no_size_limit_when_disabled() -> None:
    machine = new_machine(
        ProtocolSettings(connection_init_wait_timeout=None, keep_alive=None, max_message_size=None)
    )
    big = _ping_of_size(2 * 1024 * 1024)
    assert len(machine.receive(big)) == 1


# -- keep-alive --------------------------------------------------------------------------------

KEEP_ALIVE = ProtocolSettings(connection_init_wait_timeout=None, keep_alive=12)


def test_keep_alive_sends_a_ping_and_arms_the_pong_timer() -> None:
    machine = acknowledged(KEEP_ALIVE)
    assert machine.timer_fired(Timer.KEEP_ALIVE) == [
        Send('{"type":"ping"}'),
        StartTimer(Timer.KEEP_ALIVE, 12),
        StartTimer(Timer.PONG, 12),
    ]


def test_the_pong_timeout_setting_is_used_for_the_pong_timer() -> None:
    machine = acknowledged(
        ProtocolSettings(connection_init_wait_timeout=None, keep_alive=12, pong_timeout=5)
    )
    assert StartTimer(Timer.PONG, 5) in machine.timer_fired(Timer.KEEP_ALIVE)


def test_no_pong_before_the_pong_timer_closes_with_1001() -> None:
    machine = acknowledged(KEEP_ALIVE)
    machine.timer_fired(Timer.KEEP_ALIVE)
    assert machine.timer_fired(Timer.PONG) == [Close(1001, "Keep-alive timeout")]


def test_a_pong_cancels_the_pong_timer() -> None:
    machine = acknowledged(KEEP_ALIVE)
    machine.timer_fired(Timer.KEEP_ALIVE)
    assert machine.receive('{"type":"pong"}') == [CancelTimer(Timer.PONG)]
    # A late expiry (already queued when cancelled) is harmless.
    assert machine.timer_fired(Timer.PONG) == []
    assert not machine.closed
    # The next round arms the pong timer again.
    assert StartTimer(Timer.PONG, 12) in machine.timer_fired(Timer.KEEP_ALIVE)


def test_a_pong_with_a_payload_answers_the_ping_too() -> None:
    machine = acknowledged(KEEP_ALIVE)
    machine.timer_fired(Timer.KEEP_ALIVE)
    assert machine.receive('{"type":"pong","payload":{"t":1}}') == [CancelTimer(Timer.PONG)]


def test_pings_keep_going_while_a_pong_is_awaited_without_rearming_its_timer() -> None:
    machine = acknowledged(KEEP_ALIVE)
    machine.timer_fired(Timer.KEEP_ALIVE)
    assert machine.timer_fired(Timer.KEEP_ALIVE) == [
        Send('{"type":"ping"}'),
        StartTimer(Timer.KEEP_ALIVE, 12),
    ]
    assert machine.timer_fired(Timer.PONG) == [Close(1001, "Keep-alive timeout")]


def test_keep_alive_runs_before_the_ack_too() -> None:
    # A ping is the one message a graphql-ws client accepts before connection_ack.
    machine = new_machine(KEEP_ALIVE)
    assert texts(machine.timer_fired(Timer.KEEP_ALIVE)) == ['{"type":"ping"}']


def test_an_unsolicited_pong_or_a_stray_pong_timer_does_nothing() -> None:
    machine = acknowledged(KEEP_ALIVE)
    assert machine.receive('{"type":"pong"}') == []
    assert machine.timer_fired(Timer.PONG) == []
    assert not machine.closed


def test_a_stray_keep_alive_expiry_with_keep_alive_disabled_does_nothing() -> None:
    machine = acknowledged(NO_TIMERS)
    assert machine.timer_fired(Timer.KEEP_ALIVE) == []
    assert machine.timer_fired(Timer.PONG) == []
    assert not machine.closed


# -- closing: nothing after a Close ---------------------------------------------------------

CLOSERS: dict[str, Callable[[TransportWSMachine], list[Action]]] = {
    "invalid message": lambda m: m.receive("{}"),
    "4401": lambda m: m.receive(subscribe("new")),
    "4409": lambda m: m.receive(subscribe("1")),
    "4429": lambda m: m.receive(INIT),
    "4403": lambda m: m.connect_result(False),
    "4408": lambda m: m.timer_fired(Timer.INIT),
    "1009": lambda m: m.receive("x" * 100),
    "syntax": lambda m: m.operation_errors("1", [{"message": "Syntax"}], ErrorStage.SYNTAX),
    "failure": lambda m: m.operation_failed("1", "boom"),
    "connect failure": lambda m: m.connect_failed("boom"),
    "server close": lambda m: m.close(1001, "Going away"),
    "unexpected": lambda m: m.receive('{"type":"connection_ack"}'),
    "pong timeout": lambda m: m.timer_fired(Timer.KEEP_ALIVE) + m.timer_fired(Timer.PONG),
}


def _machine_for_closer(name: str) -> TransportWSMachine:
    settings = ProtocolSettings(connection_init_wait_timeout=1, keep_alive=1, max_message_size=80)
    machine = TransportWSMachine(settings)
    machine.opened()
    if name in ("4401", "4403", "4408", "connect failure"):
        if name in ("4403", "connect failure"):
            machine.receive(INIT)
        return machine
    machine.receive(INIT)
    machine.connect_result(True)
    machine.receive(subscribe("1"))
    return machine


def _every_input(machine: TransportWSMachine) -> list[list[Action]]:
    return [
        machine.opened(),
        machine.receive(INIT),
        machine.receive('{"type":"ping"}'),
        machine.receive(subscribe("9")),
        machine.receive(complete("1")),
        machine.receive("garbage"),
        machine.receive(b"\xff"),
        machine.receive("x" * 1000),
        machine.timer_fired(Timer.INIT),
        machine.timer_fired(Timer.KEEP_ALIVE),
        machine.timer_fired(Timer.PONG),
        machine.connect_result(True),
        machine.connect_result({"a": 1}),
        machine.connect_result(False),
        machine.connect_failed("boom"),
        machine.operation_next("1", {"data": {}}),
        machine.operation_errors("1", [{"message": "x"}], ErrorStage.STREAM),
        machine.operation_errors("1", [{"message": "x"}], ErrorStage.SYNTAX),
        machine.operation_complete("1"),
        machine.operation_failed("1", "boom"),
        machine.close(1000, "bye"),
    ]


@pytest.mark.parametrize("name", list(CLOSERS))
def test_nothing_is_returned_after_a_close(name: str) -> None:
    machine = _machine_for_closer(name)
    actions = CLOSERS[name](machine)
    assert len(closes(actions)) == 1
    assert isinstance(actions[-1], Close)
    assert machine.closed
    assert machine.active_operations == 0
    assert not machine.is_active("1")
    results = _every_input(machine)
    assert results == [[]] * len(results)


def test_nothing_is_returned_after_the_connection_is_lost() -> None:
    machine = running("1", settings=ProtocolSettings(connection_init_wait_timeout=1, keep_alive=1))
    lost: Callable[[], object] = machine.connection_lost  # typed to return None
    assert lost() is None
    assert machine.closed
    assert machine.active_operations == 0
    assert all(actions == [] for actions in _every_input(machine))
    machine.connection_lost()  # twice is fine


def test_a_server_close_carries_the_code_and_reason() -> None:
    machine = running("1")
    assert machine.close(1001, "Going away") == [Close(1001, "Going away")]
    assert machine.close(1000) == []
