"""How ``Accept`` and the kind of operation pick the transport (``gqlwire.http``'s
``negotiate_transports``), as plain calls: the rules of docs/http.md and docs/streams.md.
Over real servers, ``tests/test_http_streams.py`` checks that the choice is answered."""

from __future__ import annotations

import pytest
from graphql import build_schema

from gqlwire import GraphQLServer
from gqlwire.http import (
    APPLICATION_JSON,
    GRAPHQL_RESPONSE_JSON,
    OperationKind,
    Transport,
    acceptable_media_types,
    negotiate_transports,
)
from gqlwire.options import ServerOptions

SCHEMA = build_schema("type Query { hello: String }")
OPTIONS = GraphQLServer(SCHEMA).options
OFF = GraphQLServer(SCHEMA, sse=False, multipart=False).options
URQL = "multipart/mixed, application/graphql-response+json, application/json, text/event-stream"
APOLLO_SUBSCRIPTION = (
    "multipart/mixed;boundary=graphql;subscriptionSpec=1.0,"
    "application/graphql-response+json,application/json;q=0.9"
)
APOLLO_DEFER = (
    "multipart/mixed;incrementalSpec=v0.2, application/graphql-response+json,"
    " application/json;q=0.9"
)


def chosen(accept: str | None, kind: OperationKind, options: ServerOptions = OPTIONS) -> object:
    choice = negotiate_transports(accept, options, kind)
    return None if choice is None else (choice.transport, choice.media_type)


@pytest.mark.parametrize(
    ("accept", "kind", "expected"),
    [
        # Queries: JSON wins a tie, a streaming type needs a strictly higher q-value.
        (URQL, OperationKind.SINGLE, (Transport.JSON, GRAPHQL_RESPONSE_JSON)),
        (None, OperationKind.SINGLE, (Transport.JSON, APPLICATION_JSON)),
        ("*/*", OperationKind.SINGLE, (Transport.JSON, APPLICATION_JSON)),
        ("text/event-stream", OperationKind.SINGLE, (Transport.SSE, "text/event-stream")),
        (
            "text/event-stream, application/json;q=0.5",
            OperationKind.SINGLE,
            (Transport.SSE, "text/event-stream"),
        ),
        # A deferring query takes a named streaming type on a tie.
        (URQL, OperationKind.INCREMENTAL, (Transport.MULTIPART, "multipart/mixed")),
        (APOLLO_DEFER, OperationKind.INCREMENTAL, (Transport.MULTIPART, "multipart/mixed")),
        ("*/*", OperationKind.INCREMENTAL, (Transport.JSON, APPLICATION_JSON)),
        # Subscriptions: the best streaming type, the first named on a tie.
        (URQL, OperationKind.SUBSCRIPTION, (Transport.MULTIPART, "multipart/mixed")),
        (
            APOLLO_SUBSCRIPTION,
            OperationKind.SUBSCRIPTION,
            (Transport.MULTIPART_SUBSCRIPTION, "multipart/mixed"),
        ),
        (
            "text/event-stream, multipart/mixed",
            OperationKind.SUBSCRIPTION,
            (Transport.SSE, "text/event-stream"),
        ),
        (
            "text/event-stream;q=0.1, multipart/mixed;q=0.2",
            OperationKind.SUBSCRIPTION,
            (Transport.MULTIPART, "multipart/mixed"),
        ),
        # Asked as JSON only: JSON is chosen, for the operation to answer 426.
        ("application/json", OperationKind.SUBSCRIPTION, (Transport.JSON, APPLICATION_JSON)),
        ("*/*", OperationKind.SUBSCRIPTION, (Transport.JSON, APPLICATION_JSON)),
        # Nothing served: 406.
        ("image/png", OperationKind.SUBSCRIPTION, None),
        ("text/event-stream;q=0", OperationKind.SUBSCRIPTION, None),
        ("text/event-stream;charset=latin-1", OperationKind.SUBSCRIPTION, None),
        ("text/*", OperationKind.SINGLE, None),
    ],
)
def test_negotiation(accept: str | None, kind: OperationKind, expected: object) -> None:
    assert chosen(accept, kind) == expected


def test_a_transport_turned_off_is_never_chosen() -> None:
    assert chosen("text/event-stream", OperationKind.SINGLE, OFF) is None
    assert chosen(URQL, OperationKind.SUBSCRIPTION, OFF) == (Transport.JSON, GRAPHQL_RESPONSE_JSON)
    assert acceptable_media_types(OFF, OperationKind.SUBSCRIPTION) == []
    assert acceptable_media_types(OFF, OperationKind.SINGLE) == [
        GRAPHQL_RESPONSE_JSON,
        APPLICATION_JSON,
    ]


def test_json_turned_off_leaves_only_the_streams() -> None:
    no_json = GraphQLServer(SCHEMA, http_json=False).options
    assert chosen(None, OperationKind.SINGLE, no_json) is None
    assert chosen("application/json", OperationKind.SINGLE, no_json) is None
    assert chosen(URQL, OperationKind.SINGLE, no_json) == (Transport.MULTIPART, "multipart/mixed")
    assert chosen("application/json", OperationKind.SUBSCRIPTION, no_json) is None
    assert acceptable_media_types(no_json, OperationKind.SINGLE) == [
        "text/event-stream",
        "multipart/mixed",
    ]


def test_a_subscription_asked_as_json_without_websocket_is_not_acceptable() -> None:
    # With a WebSocket to upgrade to it is chosen as JSON, to be answered with 426.
    assert chosen("application/json", OperationKind.SUBSCRIPTION) == (
        Transport.JSON,
        APPLICATION_JSON,
    )
    no_websocket = GraphQLServer(SCHEMA, websocket=False).options
    assert chosen("application/json", OperationKind.SUBSCRIPTION, no_websocket) is None
    assert chosen("application/json", OperationKind.SINGLE, no_websocket) == (
        Transport.JSON,
        APPLICATION_JSON,
    )


def test_what_is_acceptable_per_kind() -> None:
    assert acceptable_media_types(OPTIONS, OperationKind.SINGLE) == [
        GRAPHQL_RESPONSE_JSON,
        APPLICATION_JSON,
        "text/event-stream",
        "multipart/mixed",
    ]
    assert acceptable_media_types(OPTIONS, OperationKind.SUBSCRIPTION) == [
        "text/event-stream",
        'multipart/mixed;subscriptionSpec="1.0"',
        "multipart/mixed",
    ]
