"""Subprotocol choice: the reference's ``handleProtocols`` table plus the legacy route."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from gqlwire.protocol import (
    GRAPHQL_TRANSPORT_WS,
    GRAPHQL_WS,
    choose_among,
    choose_subprotocol,
    parse_protocol_header,
)

# The reference's table (tests/server.test.ts, "should only accept a Set, Array or string
# in handleProtocol"). Its object, number, null, undefined and function rows test
# JavaScript's lack of types; here they are type errors that mypy reports, so they are
# left out. A mapping stands for the object row: iterating it gives its keys.
REFERENCE_TABLE: list[tuple[str | Iterable[str], str | None]] = [
    ({"not", "me"}, None),
    ({"maybe", "me", "graphql-transport-wsnah"}, None),
    ({"almost", "next", "graphql-transport-ws", "one"}, GRAPHQL_TRANSPORT_WS),
    ([""], None),
    (["123", "graphql-transport-ws"], GRAPHQL_TRANSPORT_WS),
    (["graphql-transport-ws", "graphql-transport-ws"], GRAPHQL_TRANSPORT_WS),
    ("some, graphql-transport-ws   , other-one,third", GRAPHQL_TRANSPORT_WS),
    ("no, graphql-TransPort-ws", None),
    ({"iAm": "unacceptable"}, None),
]


@pytest.mark.parametrize(("offered", "chosen"), REFERENCE_TABLE, ids=repr)
def test_the_reference_handle_protocols_table(
    offered: str | Iterable[str], chosen: str | None
) -> None:
    assert choose_subprotocol(offered) == chosen


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        # The use.test offers that must get no subprotocol.
        (["notme", "notmeither"], None),
        ("notme", None),
        (["graphql", "json"], None),
        ("graphql-transport-wsgibberish", None),
        (["this", "graphql-transport-ws", "one"], GRAPHQL_TRANSPORT_WS),
        # Exact and case-sensitive, for the legacy name as well.
        (["Graphql-WS"], None),
        (["graphql-ws-x"], None),
        (["graphql-subscriptions"], None),
        ([], None),
        ("", None),
        (" , ,", None),
        # Legacy only when it is offered and the current protocol is not.
        (["graphql-ws"], GRAPHQL_WS),
        ("graphql-ws", GRAPHQL_WS),
        ([" graphql-ws "], GRAPHQL_WS),
        # The current protocol wins whatever the client's order.
        (["graphql-ws", "graphql-transport-ws"], GRAPHQL_TRANSPORT_WS),
        (["graphql-transport-ws", "graphql-ws"], GRAPHQL_TRANSPORT_WS),
        ("graphql-ws, graphql-transport-ws", GRAPHQL_TRANSPORT_WS),
        ("graphql-transport-ws,graphql-ws", GRAPHQL_TRANSPORT_WS),
        # Several header lines, each possibly a list.
        (["graphql-ws", "x, graphql-transport-ws"], GRAPHQL_TRANSPORT_WS),
        (("a, b", "graphql-ws"), GRAPHQL_WS),
        ({"graphql-ws": 1}.keys(), GRAPHQL_WS),
    ],
    ids=repr,
)
def test_choosing_a_subprotocol(offered: str | Iterable[str], chosen: str | None) -> None:
    assert choose_subprotocol(offered) == chosen


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ([], []),
        ([""], []),
        (["graphql-ws"], ["graphql-ws"]),
        ("graphql-ws", ["graphql-ws"]),
        (["a,b", " c , d ", "e"], ["a", "b", "c", "d", "e"]),
        (
            "some, graphql-transport-ws   , other-one,third",
            ["some", "graphql-transport-ws", "other-one", "third"],
        ),
        ([" , a,,b , "], ["a", "b"]),
        (["Graphql-WS"], ["Graphql-WS"]),
        # One name per value (the usual header) is split like any other.
        (["  graphql-transport-ws  ", "   "], ["graphql-transport-ws"]),
        (["graphql-ws", "graphql-ws"], ["graphql-ws", "graphql-ws"]),
    ],
    ids=repr,
)
def test_parsing_protocol_header_values(values: str | list[str], names: list[str]) -> None:
    assert parse_protocol_header(values) == names


def test_the_protocol_names() -> None:
    assert (GRAPHQL_TRANSPORT_WS, GRAPHQL_WS) == ("graphql-transport-ws", "graphql-ws")


@pytest.mark.parametrize(("offered", "chosen"), REFERENCE_TABLE, ids=repr)
def test_choosing_among_split_names_agrees_with_the_header(
    offered: str | Iterable[str], chosen: str | None
) -> None:
    # What the connection does with the names an adapter already split.
    assert choose_among(parse_protocol_header(offered)) == chosen


@pytest.mark.parametrize(
    ("offered", "enabled", "chosen"),
    [
        (
            [GRAPHQL_WS, GRAPHQL_TRANSPORT_WS],
            (GRAPHQL_TRANSPORT_WS, GRAPHQL_WS),
            GRAPHQL_TRANSPORT_WS,
        ),
        ([GRAPHQL_WS, GRAPHQL_TRANSPORT_WS], (GRAPHQL_WS,), GRAPHQL_WS),
        ([GRAPHQL_TRANSPORT_WS], (GRAPHQL_WS,), None),
        ([GRAPHQL_WS], (GRAPHQL_TRANSPORT_WS,), None),
        ([GRAPHQL_WS, GRAPHQL_TRANSPORT_WS], (), None),
    ],
    ids=repr,
)
def test_choosing_only_among_the_enabled_protocols(
    offered: list[str], enabled: tuple[str, ...], chosen: str | None
) -> None:
    # The server's `protocols` option: the preference holds among what it enables.
    assert choose_among(offered, enabled) == chosen
