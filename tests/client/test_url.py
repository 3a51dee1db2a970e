"""``Client(url)`` refuses, when it is created, a URL it could never connect to: the error
names the URL and what is expected, instead of a connection failure at the first operation."""

from __future__ import annotations

import pytest

from gqlwire import Client

EXPECTED = "expected ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not-a-url", "is not a URL"),
        ("", "is not a URL"),
        ("127.0.0.1:8000/graphql", "is not a URL"),
        (
            "http://127.0.0.1:8000/graphql",
            "is HTTP (http://): the client speaks GraphQL over WebSocket",
        ),
        (
            "https://api.example/graphql",
            "is HTTP (https://): the client speaks GraphQL over WebSocket",
        ),
        ("ftp://files.example/graphql", "has the scheme 'ftp'"),
        ("ws:///graphql", "has no host"),
        ("ws://:8000/graphql", "has no host"),
        ("ws://127.0.0.1:port/graphql", "has an invalid port"),
    ],
)
def test_a_url_that_is_not_a_websocket_url_is_refused_at_once(url: str, problem: str) -> None:
    with pytest.raises(ValueError) as refused:
        Client(url)
    assert str(refused.value) == f"Client URL {url!r} {problem}; {EXPECTED}"


def test_a_url_that_is_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="url must be a ws:// or wss:// URL string"):
        Client(b"ws://127.0.0.1/graphql")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:8000/graphql",
        "wss://api.example/graphql",
        "ws://[::1]:8000/",
        "WSS://API.example",
    ],
)
def test_websocket_urls_are_taken(url: str) -> None:
    assert Client(url).url == url
