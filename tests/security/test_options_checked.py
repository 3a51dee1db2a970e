"""The security options are checked when the server is built, naming the option."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import build_schema

from gqlwire import GraphQLServer

SCHEMA = build_schema("type Query { ok: Boolean }")


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("max_pending_bytes", 0, ValueError),
        ("max_pending_bytes", 1.5, ValueError),
        ("max_pending_bytes", True, ValueError),
        ("max_connections", 0, ValueError),
        ("max_connections", "10", ValueError),
        ("max_operations", -1, ValueError),
        ("csrf_prevention", "yes", TypeError),
    ],
)
def test_a_bad_value_is_refused_when_the_server_is_built(
    option: str, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match=option):
        GraphQLServer(SCHEMA, **{option: value})


def test_defaults_and_none() -> None:
    options = GraphQLServer(SCHEMA).options
    assert (options.max_pending_bytes, options.max_connections, options.max_operations) == (
        4 * 1024 * 1024,
        10_000,
        None,
    )
    assert options.csrf_prevention is True
    unbounded = GraphQLServer(
        SCHEMA, max_pending_bytes=None, max_connections=None, csrf_prevention=False
    ).options
    assert unbounded.max_pending_bytes is None and unbounded.max_connections is None
