"""The legacy ``graphql-ws`` machine (subscriptions-transport-ws), with plain calls.

Where the reference server is unsafe the project chose differently, and these tests
pin the choices: a ``start`` is queued until the init is acknowledged and never runs
without one, the init timeout applies, operations are forgotten when they end.
"""

from __future__ import annotations

from typing import Any

import pytest

from gqlwire.protocol import (
    Authenticate,
    CancelOperation,
    CancelTimer,
    Close,
    ErrorStage,
    LegacyWSMachine,
    ProtocolSettings,
    Send,
    StartOperation,
    StartTimer,
    Timer,
)

from .support import closes, frame, sent, texts

INIT = frame({"type": "connection_init", "payload": {}})
QUERY = {"query": "subscription { greetings }"}
KA = '{"type":"ka"}'
ACK = '{"type":"connection_ack"}'
SETTINGS = ProtocolSettings(connection_init_wait_timeout=3, keep_alive=10)
INVALID_TYPE = {"message": "Invalid message type!"}


def start(id: Any, payload: dict[str, Any] | None = None) -> str:
    return frame({"id": id, "type": "start", "payload": payload or QUERY})


def stop(id: Any) -> str:
    return frame({"id": id, "type": "stop"})


def new_machine(settings: ProtocolSettings = SETTINGS) -> LegacyWSMachine:
    machine = LegacyWSMachine(settings)
    machine.opened()
    return machine


def acknowledged(settings: ProtocolSettings = SETTINGS) -> LegacyWSMachine:
    machine = new_machine(settings)
    machine.receive(INIT)
    machine.connect_result(True)
    return machine


def running(*ids: Any, settings: ProtocolSettings = SETTINGS) -> LegacyWSMachine:
    machine = acknowledged(settings)
    for id in ids:
        assert machine.receive(start(id)) == [StartOperation(id, QUERY)]
    return machine


# -- opening, init, ack, ka ----------------------------------------------------------------


def test_opening_arms_only_the_init_timer() -> None:
    # `ka` starts with the ack, not with the socket.
    assert LegacyWSMachine(SETTINGS).opened() == [StartTimer(Timer.INIT, 3)]


def test_init_cancels_the_init_timer_and_asks_for_authentication() -> None:
    machine = new_machine()
    payload = {"authToken": "t"}
    assert machine.receive(frame({"type": "connection_init", "payload": payload})) == [
        CancelTimer(Timer.INIT),
        Authenticate(payload),
    ]
    assert machine.connection_params == payload


@pytest.mark.parametrize("payload", ["text", [1], 5, None])
def test_an_init_payload_that_is_not_an_object_is_passed_on_but_is_no_params(
    payload: Any,
) -> None:
    machine = new_machine()
    assert machine.receive(frame({"type": "connection_init", "payload": payload}))[-1] == (
        Authenticate(payload)
    )
    assert machine.connection_params is None


def test_the_ack_is_followed_at_once_by_ka_and_the_keep_alive_timer() -> None:
    machine = new_machine()
    machine.receive(INIT)
    assert machine.connect_result(True) == [Send(ACK), Send(KA), StartTimer(Timer.KEEP_ALIVE, 10)]
    assert machine.acknowledged


def test_ka_is_sent_on_every_keep_alive_expiry() -> None:
    machine = acknowledged()
    for _ in range(3):
        assert machine.timer_fired(Timer.KEEP_ALIVE) == [
            Send(KA),
            StartTimer(Timer.KEEP_ALIVE, 10),
        ]


def test_no_ka_when_keep_alive_is_disabled() -> None:
    machine = acknowledged(ProtocolSettings(connection_init_wait_timeout=3, keep_alive=None))
    machine2 = new_machine(ProtocolSettings(connection_init_wait_timeout=3, keep_alive=None))
    machine2.receive(INIT)
    assert machine2.connect_result(True) == [Send(ACK)]
    assert machine.timer_fired(Timer.KEEP_ALIVE) == []


def test_a_stray_keep_alive_expiry_before_the_ack_sends_no_ka() -> None:
    machine = new_machine()
    assert machine.timer_fired(Timer.KEEP_ALIVE) == []
    machine.receive(INIT)
    assert machine.timer_fired(Timer.KEEP_ALIVE) == []


def test_the_pong_timer_means_nothing_to_the_legacy_protocol() -> None:
    machine = acknowledged()
    assert machine.timer_fired(Timer.PONG) == []
    assert not machine.closed


def test_an_object_from_on_connect_is_the_ack_payload() -> None:
    machine = new_machine(ProtocolSettings(keep_alive=None))
    machine.receive(INIT)
    assert sent(machine.connect_result({"user": "me"})) == [
        {"type": "connection_ack", "payload": {"user": "me"}}
    ]


def test_a_refused_connection_gets_connection_error_and_close_1011() -> None:
    machine = new_machine()
    machine.receive(INIT)
    actions = machine.connect_result(False)
    assert sent(actions[:1]) == [
        {"type": "connection_error", "payload": {"message": "Prohibited connection!"}}
    ]
    assert len(actions) == 2
    assert isinstance(actions[1], Close)
    assert actions[1].code == 1011
    assert not machine.acknowledged


def test_on_connect_raising_gets_connection_error_with_its_message_and_close_1011() -> None:
    machine = new_machine()
    machine.receive(INIT)
    actions = machine.connect_failed("Error")
    assert sent(actions) == [{"type": "connection_error", "payload": {"message": "Error"}}]
    assert [close.code for close in closes(actions)] == [1011]
    assert isinstance(actions[-1], Close)


def test_the_init_timeout_closes_with_4408_when_no_init_came() -> None:
    machine = new_machine()
    assert machine.timer_fired(Timer.INIT) == [Close(4408, "Connection initialisation timeout")]


def test_the_init_timeout_does_nothing_once_an_init_came() -> None:
    machine = new_machine()
    machine.receive(INIT)
    assert machine.timer_fired(Timer.INIT) == []
    machine.connect_result(True)
    assert machine.timer_fired(Timer.INIT) == []


REFUSED_INIT = {
    "type": "connection_error",
    "payload": {"message": "Too many initialisation requests"},
}


def test_a_second_init_after_the_ack_is_refused_and_closes_with_4429() -> None:
    # The reference runs onConnect again; its params would be the connection's before
    # on_connect checked them, so gqlwire refuses, as graphql-transport-ws does.
    machine = running("1")
    first = machine.connection_params
    actions = machine.receive(frame({"type": "connection_init", "payload": {"token": "admin"}}))
    assert sent(actions) == [REFUSED_INIT]
    assert closes(actions) == [Close(4429, "Too many initialisation requests")]
    assert machine.connection_params == first
    assert machine.active_operations == 0
    # A start right behind it never runs.
    assert machine.receive(start("2")) == []


def test_a_second_init_while_on_connect_runs_is_refused_and_queued_starts_never_run() -> None:
    machine = new_machine()
    machine.receive(frame({"type": "connection_init", "payload": {"token": "user"}}))
    assert machine.receive(start("1")) == []  # queued until the ack
    actions = machine.receive(frame({"type": "connection_init", "payload": {"token": "admin"}}))
    assert [close.code for close in closes(actions)] == [4429]
    assert machine.connection_params == {"token": "user"}
    assert machine.connect_result(True) == []  # the ack comes too late: nothing starts
    assert not machine.is_active("1")


def test_connection_terminate_closes_with_1000() -> None:
    machine = running("1")
    assert machine.receive('{"type":"connection_terminate"}') == [Close(1000, "")]
    assert machine.active_operations == 0


# -- start ---------------------------------------------------------------------------------------


def test_starts_before_the_ack_are_queued_and_started_in_order_on_ack() -> None:
    machine = new_machine()
    machine.receive(INIT)
    assert machine.receive(start("1")) == []
    assert machine.receive(start("2", {"query": "{ b }"})) == []
    assert machine.receive(start("3")) == []
    assert not machine.is_active("1")
    assert machine.connect_result(True) == [
        Send(ACK),
        Send(KA),
        StartTimer(Timer.KEEP_ALIVE, 10),
        StartOperation("1", QUERY),
        StartOperation("2", {"query": "{ b }"}),
        StartOperation("3", QUERY),
    ]
    assert machine.active_operations == 3


def test_starts_sent_before_the_init_itself_run_once_the_init_is_acked() -> None:
    machine = new_machine()
    assert machine.receive(start("1")) == []
    machine.receive(INIT)
    assert StartOperation("1", QUERY) in machine.connect_result(None)


def test_a_start_with_no_init_at_all_never_runs_and_the_init_timeout_closes() -> None:
    machine = new_machine()
    assert machine.receive(start("1")) == []
    assert machine.receive(start("2")) == []
    assert machine.timer_fired(Timer.KEEP_ALIVE) == []
    assert machine.timer_fired(Timer.INIT) == [Close(4408, "Connection initialisation timeout")]
    assert machine.connect_result(True) == []
    assert machine.active_operations == 0


def test_queued_starts_are_dropped_when_the_connection_is_refused() -> None:
    machine = new_machine()
    machine.receive(INIT)
    machine.receive(start("1"))
    actions = machine.connect_result(False)
    assert not any(isinstance(action, StartOperation) for action in actions)
    assert machine.active_operations == 0


def test_a_start_after_the_ack_runs_at_once() -> None:
    machine = acknowledged()
    payload = {
        "query": "query Q($a: Int) { a(a: $a) }",
        "variables": {"a": 1},
        "operationName": "Q",
    }
    assert machine.receive(start("1", payload)) == [StartOperation("1", payload)]


def test_numeric_ids_are_kept_and_echoed_as_numbers() -> None:
    machine = running(7)
    assert machine.is_active(7)
    assert not machine.is_active("7")
    assert texts(machine.operation_next(7, {"data": {"a": 1}})) == [
        '{"id":7,"type":"data","payload":{"data":{"a":1}}}'
    ]
    assert texts(machine.operation_complete(7)) == ['{"id":7,"type":"complete"}']
    assert sent(machine.receive('{"id":8,"type":"nonsense"}')) == [
        {"type": "error", "payload": INVALID_TYPE, "id": 8}
    ]
    assert texts(machine.receive(stop(7))) == []


def test_a_start_with_a_used_id_replaces_the_running_operation() -> None:
    machine = running("d")
    new_query = {"query": "{ other }"}
    assert machine.receive(start("d", new_query)) == [
        CancelOperation("d"),
        StartOperation("d", new_query),
    ]
    assert machine.active_operations == 1


def test_a_start_with_a_queued_id_replaces_the_queued_one() -> None:
    machine = new_machine()
    machine.receive(INIT)
    machine.receive(start("1"))
    machine.receive(start("1", {"query": "{ second }"}))
    started = [a for a in machine.connect_result(True) if isinstance(a, StartOperation)]
    assert started == [StartOperation("1", {"query": "{ second }"})]


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        (
            {"type": "start", "payload": QUERY},
            {"type": "error", "payload": {"message": "A start message needs an id"}},
        ),
        (
            {"type": "start", "id": "", "payload": QUERY},
            {"type": "error", "payload": {"message": "A start message needs an id"}},
        ),
        (
            {"type": "start", "id": True, "payload": QUERY},
            {"type": "error", "payload": {"message": "A start message needs an id"}},
        ),
        (
            {"type": "start", "id": "1"},
            {"type": "error", "id": "1", "payload": {"message": "A start message needs a query"}},
        ),
        (
            {"type": "start", "id": "1", "payload": {"query": 5}},
            {"type": "error", "id": "1", "payload": {"message": "A start message needs a query"}},
        ),
        (
            {"type": "start", "id": "1", "payload": {"query": "{ a }", "variables": []}},
            {
                "type": "error",
                "id": "1",
                "payload": {"message": "Invalid variables or operationName"},
            },
        ),
        (
            {"type": "start", "id": "1", "payload": {"query": "{ a }", "operationName": 1}},
            {
                "type": "error",
                "id": "1",
                "payload": {"message": "Invalid variables or operationName"},
            },
        ),
    ],
)
def test_a_malformed_start_gets_an_error_and_the_socket_stays_open(
    message: dict[str, Any], reply: dict[str, Any]
) -> None:
    machine = acknowledged()
    assert sent(machine.receive(frame(message))) == [reply]
    assert not machine.closed
    assert machine.active_operations == 0


def test_the_operation_limit_counts_queued_starts() -> None:
    machine = new_machine(ProtocolSettings(max_operations=1, keep_alive=None))
    machine.receive(INIT)
    assert machine.receive(start("1")) == []
    assert sent(machine.receive(start("2"))) == [
        {"type": "error", "id": "2", "payload": {"message": "Subscription limit reached"}}
    ]
    assert [a for a in machine.connect_result(True) if isinstance(a, StartOperation)] == [
        StartOperation("1", QUERY)
    ]
    assert sent(machine.receive(start("2")))[0]["payload"] == {
        "message": "Subscription limit reached"
    }
    machine.operation_complete("1")
    assert machine.receive(start("2")) == [StartOperation("2", QUERY)]


def test_replacing_an_operation_at_the_limit_is_allowed() -> None:
    machine = running("1", settings=ProtocolSettings(max_operations=1, keep_alive=None))
    assert machine.receive(start("1")) == [CancelOperation("1"), StartOperation("1", QUERY)]


# -- stop -----------------------------------------------------------------------------------------


def test_stop_cancels_the_operation_and_sends_complete() -> None:
    machine = running("1")
    assert machine.receive(stop("1")) == [
        CancelOperation("1"),
        Send('{"id":"1","type":"complete"}'),
    ]
    assert not machine.is_active("1")
    # The cancelled operation's late reports produce nothing more.
    assert machine.operation_next("1", {"data": {}}) == []
    assert machine.operation_complete("1") == []
    assert machine.operation_errors("1", [{"message": "x"}], ErrorStage.STREAM) == []
    assert machine.operation_failed("1", "boom") == []


def test_stop_of_a_queued_start_completes_it_and_it_never_runs() -> None:
    machine = new_machine()
    machine.receive(INIT)
    machine.receive(start("1"))
    assert machine.receive(stop("1")) == [Send('{"id":"1","type":"complete"}')]
    assert not any(isinstance(a, StartOperation) for a in machine.connect_result(True))


@pytest.mark.parametrize("id", ["unknown", "toString", "__proto__", "constructor", 3])
def test_stop_of_an_unknown_id_is_ignored(id: Any) -> None:
    machine = running("1")
    assert machine.receive(stop(id)) == []
    assert machine.is_active("1")
    assert not machine.closed


@pytest.mark.parametrize("message", [{"type": "stop"}, {"type": "stop", "id": None}])
def test_stop_without_an_id_is_ignored(message: dict[str, Any]) -> None:
    assert running("1").receive(frame(message)) == []


# -- results and errors ---------------------------------------------------------------------


def test_results_are_sent_as_data_and_the_end_as_complete() -> None:
    machine = running("1")
    assert texts(machine.operation_next("1", {"data": {"greetings": "Hi"}})) == [
        '{"id":"1","type":"data","payload":{"data":{"greetings":"Hi"}}}'
    ]
    assert texts(machine.operation_complete("1")) == ['{"id":"1","type":"complete"}']
    assert not machine.is_active("1")
    assert machine.operation_next("1", {"data": {}}) == []


def test_validation_errors_are_sent_as_data_then_complete() -> None:
    machine = running("1")
    errors = [{"message": "Cannot query field", "locations": [{"line": 1, "column": 3}]}]
    assert sent(machine.operation_errors("1", errors, ErrorStage.VALIDATION)) == [
        {"id": "1", "type": "data", "payload": {"errors": errors}},
        {"id": "1", "type": "complete"},
    ]
    assert not machine.is_active("1")
    assert machine.receive(start("1")) == [StartOperation("1", QUERY)]


@pytest.mark.parametrize(
    "stage", [ErrorStage.SYNTAX, ErrorStage.REQUEST, ErrorStage.STREAM], ids=lambda s: s.value
)
def test_other_errors_are_a_single_error_object_without_complete(stage: ErrorStage) -> None:
    machine = running("1")
    errors = [{"message": "Syntax Error: Expected Name, found <EOF>."}, {"message": "second"}]
    assert sent(machine.operation_errors("1", errors, stage)) == [
        {
            "id": "1",
            "type": "error",
            "payload": {"message": "Syntax Error: Expected Name, found <EOF>."},
        }
    ]
    assert not machine.closed
    assert not machine.is_active("1")
    assert machine.operation_complete("1") == []


def test_an_operation_failure_is_an_error_message_and_the_socket_stays_open() -> None:
    machine = running("1", "2")
    assert sent(machine.operation_failed("1", "iter boom")) == [
        {"id": "1", "type": "error", "payload": {"message": "iter boom"}}
    ]
    assert not machine.closed
    assert machine.is_active("2")
    assert not machine.is_active("1")


# -- what the client may send wrong -------------------------------------------------------


@pytest.mark.parametrize("data", ["not json", "{", "", b"\xff\xfe", b'{"type":"\xc3"}'])
def test_an_unparsable_frame_gets_connection_error_and_the_socket_stays_open(
    data: str | bytes,
) -> None:
    machine = running("1")
    replies = sent(machine.receive(data))
    assert len(replies) == 1
    assert replies[0]["type"] == "connection_error"
    assert replies[0]["id"] is None
    assert isinstance(replies[0]["payload"]["message"], str)
    assert replies[0]["payload"]["message"]
    assert not machine.closed
    assert machine.is_active("1")


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        ({}, {"type": "error", "payload": INVALID_TYPE}),
        ({"type": "nonsense", "id": "7"}, {"type": "error", "id": "7", "payload": INVALID_TYPE}),
        ({"type": "nonsense", "id": 7}, {"type": "error", "id": 7, "payload": INVALID_TYPE}),
        ({"type": "nonsense", "id": [1]}, {"type": "error", "payload": INVALID_TYPE}),
        # graphql-transport-ws messages mean nothing here, and are never answered in kind.
        ({"type": "ping"}, {"type": "error", "payload": INVALID_TYPE}),
        ({"type": "pong"}, {"type": "error", "payload": INVALID_TYPE}),
        (
            {"type": "subscribe", "id": "1", "payload": QUERY},
            {"type": "error", "id": "1", "payload": INVALID_TYPE},
        ),
        ({"type": "ka"}, {"type": "error", "payload": INVALID_TYPE}),
        (
            {"type": "data", "id": "1", "payload": {}},
            {"type": "error", "id": "1", "payload": INVALID_TYPE},
        ),
        ([], {"type": "error", "payload": INVALID_TYPE}),
        (5, {"type": "error", "payload": INVALID_TYPE}),
        (None, {"type": "error", "payload": INVALID_TYPE}),
    ],
)
def test_an_unknown_message_type_gets_an_error_and_the_socket_stays_open(
    message: Any, reply: dict[str, Any]
) -> None:
    machine = running("1")
    assert sent(machine.receive(frame(message))) == [reply]
    assert not machine.closed
    assert machine.is_active("1")


def test_a_frame_over_the_size_limit_closes_with_1009() -> None:
    machine = running("1", settings=ProtocolSettings(keep_alive=None, max_message_size=80))
    assert machine.receive("x" * 81) == [Close(1009, "Message too big")]
    assert machine.active_operations == 0


def test_a_binary_frame_is_read_like_a_text_frame() -> None:
    machine = new_machine()
    assert machine.receive(INIT.encode()) == [CancelTimer(Timer.INIT), Authenticate({})]


# -- closing --------------------------------------------------------------------------------


def test_nothing_is_returned_after_a_close() -> None:
    machine = running("1")
    machine.receive(start("q"))
    assert machine.close(1001, "Going away") == [Close(1001, "Going away")]
    assert machine.active_operations == 0
    outputs = [
        machine.opened(),
        machine.receive(INIT),
        machine.receive(start("2")),
        machine.receive(stop("1")),
        machine.receive("garbage"),
        machine.receive("{}"),
        machine.timer_fired(Timer.INIT),
        machine.timer_fired(Timer.KEEP_ALIVE),
        machine.connect_result(True),
        machine.connect_result(False),
        machine.connect_failed("x"),
        machine.operation_next("1", {"data": {}}),
        machine.operation_errors("1", [{"message": "x"}], ErrorStage.VALIDATION),
        machine.operation_complete("1"),
        machine.operation_failed("1", "x"),
        machine.close(1000),
    ]
    assert outputs == [[]] * len(outputs)


def test_nothing_is_returned_after_the_connection_is_lost() -> None:
    machine = new_machine()
    machine.receive(INIT)
    machine.receive(start("queued"))
    machine.connection_lost()
    assert machine.connect_result(True) == []
    assert machine.receive(start("1")) == []
    assert machine.timer_fired(Timer.KEEP_ALIVE) == []
    assert machine.active_operations == 0
