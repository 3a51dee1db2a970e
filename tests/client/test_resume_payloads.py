"""What a resubscription sends and what a result's cursor is, as plain calls (the real
reconnections are in test_resume.py)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from gqlwire.client.operations import Operation
from gqlwire.client.resume import result_cursor, warn_if_gap, with_cursor


def test_the_cursor_is_merged_into_the_callers_extensions() -> None:
    payload: dict[str, Any] = {"query": "subscription { a }", "extensions": {"tag": 1}}
    resumed = with_cursor(payload, "17-0")
    assert resumed == {"query": "subscription { a }", "extensions": {"tag": 1, "cursor": "17-0"}}
    assert payload == {"query": "subscription { a }", "extensions": {"tag": 1}}  # untouched


def test_a_cursor_given_by_the_caller_is_replaced_by_the_last_one_received() -> None:
    payload: dict[str, Any] = {"query": "q", "extensions": {"cursor": "old"}}
    assert with_cursor(payload, "new")["extensions"] == {"cursor": "new"}
    assert with_cursor(payload, None) is payload  # nothing received yet: as given


def test_an_operation_sends_its_last_cursor_only_when_resuming() -> None:
    operation = Operation("1", {"query": "q"})
    assert operation.subscribe_payload(resume=True) == {"query": "q"}
    operation.cursor = "5"
    assert operation.subscribe_payload(resume=True) == {"query": "q", "extensions": {"cursor": "5"}}
    assert operation.subscribe_payload(resume=False) == {"query": "q"}


@pytest.mark.parametrize(
    ("payload", "cursor"),
    [
        ({"data": {}, "extensions": {"cursor": "a"}}, "a"),
        ({"data": {}}, None),
        ({"data": {}, "extensions": None}, None),
        ({"data": {}, "extensions": {"cursor": 5}}, None),  # not the contract's string
        ({"data": {}, "extensions": ["cursor"]}, None),
    ],
)
def test_the_cursor_of_a_result(payload: dict[str, Any], cursor: str | None) -> None:
    assert result_cursor(payload) == cursor


def test_a_result_without_a_gap_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("gqlwire.client")
    with caplog.at_level(logging.DEBUG, logger="gqlwire.client"):
        warn_if_gap(logger, {"data": {}, "extensions": {"cursor": "1"}}, "1", {"query": "q"})
    assert caplog.records == []


def test_a_gap_that_is_not_an_object_is_still_reported(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("gqlwire.client")
    with caplog.at_level(logging.WARNING, logger="gqlwire.client"):
        warn_if_gap(logger, {"data": {}, "extensions": {"gap": True}}, "3", {"query": "q"})
    assert len(caplog.records) == 1
    assert "subscription 3 " in caplog.records[0].getMessage()
