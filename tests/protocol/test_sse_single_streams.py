"""The single connection mode's bookkeeping (reservations, tokens, operation ids), with
plain calls and a clock that is an argument."""

from __future__ import annotations

import itertools

import pytest

from gqlwire.protocol.sse_single import (
    OPERATION_ID_MISSING,
    OPERATION_ID_TAKEN,
    STREAM_ALREADY_OPEN,
    STREAM_NOT_FOUND,
    TOO_MANY_STREAMS,
    Phase,
    Refusal,
    Reservation,
    SingleConnectionStreams,
    new_token,
    operation_key,
)


def streams(
    max_streams: int | None = 10, timeout: float | None = 10.0, max_operations: int | None = 3
) -> SingleConnectionStreams:
    counter = itertools.count()
    return SingleConnectionStreams(
        max_streams=max_streams,
        reservation_timeout=timeout,
        max_operations=max_operations,
        token_factory=lambda: f"t{next(counter)}",
    )


def reserved(table: SingleConnectionStreams, now: float = 0.0) -> Reservation:
    reservation = table.reserve(now)
    assert isinstance(reservation, Reservation)
    return reservation


def test_tokens_are_unguessable_and_distinct() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(token) >= 32 for token in tokens)


def test_reserve_then_open_once() -> None:
    table = streams()
    reservation = reserved(table)
    assert reservation.phase is Phase.RESERVED and reservation.expires_at == 10.0
    opened = table.open(reservation.token, 1.0)
    assert opened is reservation
    assert opened.phase is Phase.OPEN and opened.expires_at is None
    assert table.open(reservation.token, 2.0) == STREAM_ALREADY_OPEN
    assert table.open("unknown", 2.0) == STREAM_NOT_FOUND


def test_an_unopened_reservation_expires_and_then_names_nothing() -> None:
    table = streams(timeout=5.0)
    reservation = reserved(table)
    assert table.start_operation(reservation.token, "a", 4.0) is reservation
    assert table.expire(4.9) == []
    assert table.expire(5.0) == [reservation]
    assert table.streams == 0
    assert table.open(reservation.token, 5.0) == STREAM_NOT_FOUND
    assert table.start_operation(reservation.token, "b", 6.0) == STREAM_NOT_FOUND
    assert table.stop_operation(reservation.token, "a", 6.0) == STREAM_NOT_FOUND


def test_an_open_stream_does_not_expire() -> None:
    table = streams(timeout=5.0)
    reservation = reserved(table)
    table.open(reservation.token, 1.0)
    assert table.expire(1000.0) == []
    assert table.find(reservation.token, 1000.0) is reservation


def test_no_timeout_means_no_expiry() -> None:
    table = streams(timeout=None)
    reservation = reserved(table)
    assert reservation.expires_at is None
    assert table.expire(1e9) == []


def test_max_streams_counts_reservations_and_open_streams() -> None:
    table = streams(max_streams=2)
    first = reserved(table)
    reserved(table)
    table.open(first.token, 0.0)
    refusal = table.reserve(0.0)
    assert refusal == TOO_MANY_STREAMS
    assert isinstance(refusal, Refusal) and refusal.status == 503 and refusal.retry_after
    table.close(first)
    assert isinstance(table.reserve(0.0), Reservation)


def test_an_expired_reservation_frees_its_place() -> None:
    table = streams(max_streams=1, timeout=1.0)
    reserved(table)
    assert table.reserve(0.5) == TOO_MANY_STREAMS
    assert isinstance(table.reserve(1.0), Reservation)


def test_operation_ids() -> None:
    table = streams(max_operations=2)
    reservation = reserved(table)
    token = reservation.token
    assert table.start_operation(token, None, 0.0) == OPERATION_ID_MISSING
    assert table.start_operation(token, "", 0.0) == OPERATION_ID_MISSING
    assert table.start_operation(token, {"x": 1}, 0.0) == OPERATION_ID_MISSING
    assert table.start_operation(token, "a", 0.0) is reservation
    assert table.start_operation(token, "a", 0.0) == OPERATION_ID_TAKEN
    assert table.start_operation(token, 7, 0.0) is reservation
    assert reservation.operations == {"a", "7"}
    limited = table.start_operation(token, "c", 0.0)
    assert isinstance(limited, Refusal) and limited.status == 429
    table.operation_ended(reservation, "a")
    assert table.start_operation(token, "a", 0.0) is reservation
    assert table.operations == 2


def test_stop_needs_a_stream_and_an_id() -> None:
    table = streams()
    reservation = reserved(table)
    assert table.stop_operation("nope", "a", 0.0) == STREAM_NOT_FOUND
    assert table.stop_operation(reservation.token, None, 0.0) == OPERATION_ID_MISSING
    assert table.stop_operation(reservation.token, "", 0.0) == OPERATION_ID_MISSING
    # An id that runs nothing (it completed meanwhile) is no error, as in the reference.
    assert table.stop_operation(reservation.token, "gone", 0.0) is reservation


def test_closing_a_stream_returns_its_operations_and_forgets_its_token() -> None:
    table = streams()
    reservation = reserved(table)
    table.open(reservation.token, 0.0)
    table.start_operation(reservation.token, "a", 0.0)
    table.start_operation(reservation.token, "b", 0.0)
    assert table.close(reservation) == {"a", "b"}
    assert table.streams == 0
    assert table.find(reservation.token, 0.0) is None
    assert table.close(reservation) == {"a", "b"}  # twice: nothing else changes
    assert table.streams == 0


@pytest.mark.parametrize(
    ("given", "key"),
    [("a", "a"), ("", ""), (1, "1"), (0, "0"), (True, ""), (1.5, ""), (None, ""), ([], "")],
)
def test_operation_key(given: object, key: str) -> None:
    assert operation_key(given) == key
