"""What one hostile client may make a protocol machine do, with plain calls.

The bounds gqlwire puts on top of the reference protocols: operation ids of at most
``MAX_OPERATION_ID_LENGTH`` characters, ``ping`` payloads of at most
``MAX_PING_PAYLOAD_BYTES``, incoming messages within ``max_messages_per_second`` (a
token bucket fed with the arrival times the runtime gives), and one ``connection_init``
per connection on both subprotocols.
"""

from __future__ import annotations

import orjson
import pytest

from gqlwire.protocol import (
    Close,
    LegacyWSMachine,
    ProtocolMachine,
    ProtocolSettings,
    Send,
    StartOperation,
    TransportWSMachine,
)
from gqlwire.protocol.messages import (
    MAX_OPERATION_ID_LENGTH,
    MAX_PING_PAYLOAD_BYTES,
    id_too_long,
    ping_payload_too_big,
)

from .support import frame, sent

QUERY = {"query": "{ a }"}
BAD_REQUEST = Close(4400, "Invalid message received")
TOO_MANY = Close(1008, "Too many messages")
NO_TIMERS = ProtocolSettings(connection_init_wait_timeout=None, keep_alive=None)


def acknowledged(
    kind: type[ProtocolMachine], settings: ProtocolSettings = NO_TIMERS
) -> ProtocolMachine:
    machine = kind(settings)
    machine.opened()
    machine.receive(frame({"type": "connection_init", "payload": {}}))
    machine.connect_result(True)
    return machine


def ping(payload: object) -> str:
    return frame({"type": "ping", "payload": payload})


def padded_payload(size: int, char: str = "a") -> dict[str, str]:
    """A payload whose JSON is exactly ``size`` bytes."""
    overhead = len(b'{"p":""}')
    unit = len(char.encode())
    assert (size - overhead) % unit == 0
    payload = {"p": char * ((size - overhead) // unit)}
    assert len(orjson.dumps(payload)) == size
    return payload


# -- operation ids -------------------------------------------------------------------------


def test_ids_of_the_limit_pass_and_longer_ones_do_not() -> None:
    assert not id_too_long("i" * MAX_OPERATION_ID_LENGTH)
    assert id_too_long("i" * (MAX_OPERATION_ID_LENGTH + 1))
    assert not id_too_long(2**63)  # a number is bounded once parsed


def test_a_subscribe_with_an_id_at_the_limit_starts() -> None:
    machine = acknowledged(TransportWSMachine)
    id = "i" * MAX_OPERATION_ID_LENGTH
    message = frame({"id": id, "type": "subscribe", "payload": QUERY})
    assert machine.receive(message) == [StartOperation(id, QUERY)]


@pytest.mark.parametrize("kind", ["subscribe", "complete"])
def test_a_longer_id_closes_with_4400_before_anything_runs(kind: str) -> None:
    machine = acknowledged(TransportWSMachine)
    message = {"id": "i" * (512 * 1024), "type": kind, "payload": QUERY}
    assert machine.receive(frame(message)) == [BAD_REQUEST]
    assert machine.active_operations == 0


def test_a_legacy_start_with_a_longer_id_is_answered_without_echoing_it() -> None:
    machine = acknowledged(LegacyWSMachine)
    long_id = "i" * (MAX_OPERATION_ID_LENGTH + 1)
    actions = machine.receive(frame({"id": long_id, "type": "start", "payload": QUERY}))
    assert sent(actions) == [
        {"type": "error", "payload": {"message": "Operation ids are at most 128 characters long"}}
    ]
    assert not machine.closed and machine.active_operations == 0
    # Nor is it echoed by the answer to an unknown type, nor to a stop.
    unknown = machine.receive(frame({"id": long_id, "type": "nonsense"}))
    assert sent(unknown) == [{"type": "error", "payload": {"message": "Invalid message type!"}}]
    assert machine.receive(frame({"id": long_id, "type": "stop"})) == []
    # An id at the limit still works.
    id = "i" * MAX_OPERATION_ID_LENGTH
    started = machine.receive(frame({"id": id, "type": "start", "payload": QUERY}))
    assert started == [StartOperation(id, QUERY)]


# -- ping payloads -------------------------------------------------------------------------


def test_a_ping_payload_at_the_limit_is_echoed() -> None:
    machine = TransportWSMachine(NO_TIMERS)
    payload = padded_payload(MAX_PING_PAYLOAD_BYTES)
    assert sent(machine.receive(ping(payload))) == [{"type": "pong", "payload": payload}]


@pytest.mark.parametrize("char", ["a", "é", "€"])
def test_a_larger_ping_payload_closes_with_4400(char: str) -> None:
    machine = TransportWSMachine(NO_TIMERS)  # before the init too, as pings are allowed
    unit = len(char.encode())
    size = MAX_PING_PAYLOAD_BYTES + 1
    size += -(size - 8) % unit  # the smallest size over the limit made of whole chars
    assert machine.receive(ping(padded_payload(size, char))) == [BAD_REQUEST]


def test_a_ping_of_nearly_one_mib_closes_with_4400_and_queues_nothing() -> None:
    machine = acknowledged(TransportWSMachine)
    actions = machine.receive(ping({"p": "a" * (1024 * 1024 - 100)}))
    assert actions == [BAD_REQUEST]
    assert not [action for action in actions if isinstance(action, Send)]


def test_the_payload_is_measured_in_utf8_bytes_and_a_small_frame_is_not_serialized() -> None:
    two_byte = padded_payload(MAX_PING_PAYLOAD_BYTES + 2, "é")
    text = ping(two_byte)
    assert len(text) < MAX_PING_PAYLOAD_BYTES + 40  # characters: near the limit
    assert ping_payload_too_big(text, two_byte)
    assert not ping_payload_too_big('{"type":"ping","payload":{"a":1}}', {"a": 1})
    assert not ping_payload_too_big('{"type":"ping"}', None)


def test_a_large_pong_is_not_answered_and_does_not_close() -> None:
    machine = acknowledged(TransportWSMachine)
    assert machine.receive(frame({"type": "pong", "payload": {"p": "a" * 100_000}})) == []
    assert not machine.closed


# -- one init per connection ---------------------------------------------------------------


@pytest.mark.parametrize("kind", [TransportWSMachine, LegacyWSMachine])
def test_a_second_init_is_refused_with_4429_and_keeps_the_params(
    kind: type[ProtocolMachine],
) -> None:
    machine = kind(NO_TIMERS)
    machine.receive(frame({"type": "connection_init", "payload": {"token": "user"}}))
    machine.connect_result(True)
    actions = machine.receive(frame({"type": "connection_init", "payload": {"token": "admin"}}))
    assert actions[-1] == Close(4429, "Too many initialisation requests")
    assert machine.connection_params == {"token": "user"}


# -- message rate --------------------------------------------------------------------------


RATE = ProtocolSettings(
    connection_init_wait_timeout=None, keep_alive=None, max_messages_per_second=8, message_burst=5
)


@pytest.mark.parametrize("kind", [TransportWSMachine, LegacyWSMachine])
def test_a_burst_over_the_bucket_closes_with_1008(kind: type[ProtocolMachine]) -> None:
    machine = kind(RATE)
    machine.opened()
    init = '{"type":"connection_init"}'
    machine.receive(init, 100.0)
    for _ in range(4):  # the rest of the burst, at the same instant
        assert TOO_MANY not in machine.receive('{"type":"pong"}', 100.0)
    assert machine.receive("{}", 100.0) == [TOO_MANY]
    assert machine.closed
    assert machine.receive("{}", 200.0) == []  # nothing after the close


def test_the_bucket_refills_at_the_rate() -> None:
    machine = TransportWSMachine(RATE)
    bare_ping = '{"type":"ping"}'
    for _ in range(5):
        assert machine.receive(bare_ping, 0.0) == [Send('{"type":"pong"}')]
    # Eight a second is one every 0.125 s: a client at that pace is never refused.
    for n in range(1, 1000):
        assert machine.receive(bare_ping, n * 0.125) == [Send('{"type":"pong"}')]
    # Twice as fast drains it again within a few messages.
    start, outcomes = 1000 * 0.125, []
    for n in range(20):
        outcomes.append(machine.receive(bare_ping, start + n * 0.0625))
        if machine.closed:
            break
    assert outcomes[-1] == [TOO_MANY]


def test_a_clock_going_back_refills_nothing() -> None:
    machine = TransportWSMachine(RATE)
    for _ in range(5):
        machine.receive('{"type":"ping"}', 50.0)
    assert machine.receive('{"type":"ping"}', 10.0) == [TOO_MANY]


def test_no_rate_limit_when_disabled_or_without_arrival_times() -> None:
    off = TransportWSMachine(
        ProtocolSettings(
            connection_init_wait_timeout=None, keep_alive=None, max_messages_per_second=None
        )
    )
    unknown_times = TransportWSMachine(RATE)
    for _ in range(10_000):
        assert off.receive('{"type":"ping"}', 1.0) == [Send('{"type":"pong"}')]
        assert unknown_times.receive('{"type":"ping"}') == [Send('{"type":"pong"}')]
